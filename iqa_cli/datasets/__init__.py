"""Subjective-score databases for ``iqa evaluate`` and ``iqa fit``: official folder layouts and a generic CSV.

Every loader returns (reference, distorted, score) samples whose score is oriented higher = better.
Direction policy (databases that store DMOS are negated, ``score = -dmos``, which keeps the scale and does not
depend on which rows are present):

- LIVE release 2 (:mod:`.live`): ``dmos_realigned.mat`` (``dmos_new``) or ``dmos.mat`` (``dmos``), LOWER = better
  -> ``-dmos``; entries flagged ``orgs == 1`` (the undistorted originals) are dropped.
- CSIQ (:mod:`.csiq`): DMOS 0..1, LOWER = better -> ``-dmos``.
- TID2008 / TID2013 (:mod:`.tid`): MOS 0..9, higher = better -> kept.
- KADID-10k (:mod:`.kadid10k`): the column of ``dmos.csv`` is named ``dmos`` but holds a MOS 1..5, HIGHER = better
  -> kept.
- PIPAL (:mod:`.pipal`): Elo scores, higher = better -> kept.
- Generic CSV ``ref,dist,score`` (:mod:`.generic`): kept, or negated with ``lower_better=True`` (a DMOS column).

File and folder names are matched case-insensitively (TID ships ``I01.BMP`` next to ``i01_01_1.bmp``).
:mod:`.table` is the one ``ref,dist[,score]`` CSV reader, shared with ``iqa batch --pairs`` and
``iqa attack --labels``; :mod:`.loader` detects a layout and dispatches.
"""

from iqa_cli.datasets.common import KINDS, Dataset, DatasetKind, Sample
from iqa_cli.datasets.live import LIVE_COUNTS, LIVE_FOLDERS
from iqa_cli.datasets.loader import detect, load_dataset
from iqa_cli.datasets.table import TableRow, read_pair_table

__all__ = [
    "KINDS",
    "LIVE_COUNTS",
    "LIVE_FOLDERS",
    "Dataset",
    "DatasetKind",
    "Sample",
    "TableRow",
    "detect",
    "load_dataset",
    "read_pair_table",
]

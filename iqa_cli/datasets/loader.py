"""Which database a folder holds (:func:`detect`), and :func:`load_dataset`, the one entry point for all of them."""

from __future__ import annotations

import logging
from pathlib import Path

from iqa_cli.datasets.common import KINDS, Dataset, child
from iqa_cli.datasets.csiq import CSIQ_CSV_FILE, CSIQ_TEXT_FILES, CSIQ_XLSX_FILE, csiq_score_file, load_csiq
from iqa_cli.datasets.generic import load_csv
from iqa_cli.datasets.kadid10k import is_kadid_score_file, load_kadid10k
from iqa_cli.datasets.live import load_live
from iqa_cli.datasets.pipal import load_pipal, pipal_label_dir
from iqa_cli.datasets.tid import load_tid, tid_rows, tid_version
from iqa_cli.errors import DatasetError, UsageError

logger = logging.getLogger(__name__)

_SCORE_FILES_LOOKED_FOR = (
    "live: dmos_realigned.mat or dmos.mat (+ refnames_all.mat, refimgs/, jp2k/ jpeg/ wn/ gblur/ fastfading/)",
    f"csiq: {' or '.join(CSIQ_TEXT_FILES)} or {CSIQ_CSV_FILE} (+ src_imgs/, dst_imgs/)",
    "tid2008/tid2013: mos_with_names.txt (+ reference_images/, distorted_images/)",
    "kadid10k: dmos.csv with header dist_img,ref_img,dmos,var (+ images/)",
    "pipal: Train_MOS/*.txt or Train_Label/*.txt (+ Train_Ref/, Distortion_*/)",
)


def detect(root: Path) -> str:
    """Which official layout a folder holds, judged by the score file found in it.

    Args:
        root: Database folder.

    Returns:
        One of ``"live"``, ``"csiq"``, ``"tid2008"``, ``"tid2013"``, ``"kadid10k"``, ``"pipal"``.

    Raises:
        DatasetError: The folder is missing, holds no known score file (the message lists what was looked
            for), or holds the score files of more than one database.
    """
    root = Path(root)
    if not root.exists():
        raise DatasetError(f"dataset folder {root} does not exist")
    if not root.is_dir():
        raise DatasetError(f"{root} is a file, not a dataset folder (a ref,dist,score CSV is read with kind 'csv')")
    hits: list[str] = []
    if child(root, "dmos_realigned.mat") or child(root, "dmos.mat"):
        hits.append("live")
    if csiq_score_file(root) is not None:
        hits.append("csiq")
    tid_file = child(root, "mos_with_names.txt")
    if tid_file is not None and tid_file.is_file():
        hits.append(tid_version(root, tid_rows(tid_file)))
    if is_kadid_score_file(child(root, "dmos.csv")):
        hits.append("kadid10k")
    if pipal_label_dir(root) is not None:
        hits.append("pipal")
    if len(hits) == 1:
        return hits[0]
    if len(hits) > 1:
        raise DatasetError(f"{root} holds score files of several databases ({', '.join(hits)}): pass the kind")
    if child(root, CSIQ_XLSX_FILE) is not None:
        raise DatasetError(
            f"{root}: only {CSIQ_XLSX_FILE} found, and Excel files are not read — save its sheet as "
            f"{CSIQ_CSV_FILE} (columns image,dst_type,dst_lev,dmos) or write csiq_label.txt "
            "('name.png dmos' lines)"
        )
    looked = "; ".join(_SCORE_FILES_LOOKED_FOR)
    raise DatasetError(f"{root}: no known score file found. Looked for {looked}")


_LOADERS = {
    "live": load_live,
    "csiq": load_csiq,
    "kadid10k": load_kadid10k,
    "pipal": load_pipal,
}


def load_dataset(path: Path, kind: str = "auto", lower_better: bool = False) -> Dataset:
    """Load a database folder in its official layout, or a generic ``ref,dist,score`` CSV.

    Args:
        path: Database folder, or a CSV file with a header containing ``ref,dist,score`` (paths relative to
            the CSV's folder, or absolute).
        kind: ``"auto"`` (a file is read as CSV, a folder is :func:`detect`-ed), ``"csv"``, or one of
            :data:`KINDS`.
        lower_better: The CSV's score is lower = better (DMOS); it is negated. Only valid for a CSV: the
            direction of each official database is known (see the module docstring).

    Returns:
        The dataset, scores oriented higher = better.

    Raises:
        UsageError: Unknown ``kind``, ``kind`` does not fit the path, or ``lower_better`` with an official
            layout.
        DatasetError: The folder or score file is missing or malformed, or names images that are not there.
    """
    path = Path(path)
    if kind not in ("auto", "csv", *KINDS):
        raise UsageError(f"unknown dataset kind {kind!r}; expected one of auto, csv, {', '.join(KINDS)}")
    if not path.exists():
        raise DatasetError(f"dataset path {path} does not exist")
    if path.is_file():
        if kind not in ("auto", "csv"):
            raise UsageError(f"kind {kind!r} needs the database folder, but {path} is a file")
        dataset = load_csv(path, lower_better)
    else:
        if kind == "csv":
            raise UsageError(f"kind 'csv' needs a CSV file, but {path} is a folder")
        resolved = detect(path) if kind == "auto" else kind
        if lower_better:
            raise UsageError(
                f"lower_better applies to a generic CSV only; the score direction of {resolved} is known "
                "and handled by its loader"
            )
        if resolved in ("tid2008", "tid2013"):
            dataset = load_tid(path, resolved)
        else:
            dataset = _LOADERS[resolved](path)
    if not dataset.samples:
        raise DatasetError(f"{path}: the score file lists no samples")
    logger.info("loaded %s from %s: %d samples, %s", dataset.name, path, len(dataset), dataset.score_kind)
    return dataset

"""``iqa batch``: discover pairs and score them in order into a :class:`~iqa_cli.results.ResultSink`.

Library code: nothing here prints or picks exit codes; the CLI renders the summary and maps it to an exit code.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, cast

from iqa_cli.errors import UsageError
from iqa_cli.pairs import Pairing, pair_folders, read_pairs_csv
from iqa_cli.results import ResultSink, SinkSummary

if TYPE_CHECKING:
    from iqa_cli.api import PairResult, Resize, Scorer
    from iqa_cli.pairs import Pair


def discover(ref_dir: Path | None, dist_dir: Path | None, pairs_csv: Path | None, match: str) -> Pairing:
    """Pairs from two folders or a pairs CSV (never by position)."""
    if pairs_csv is not None:
        return read_pairs_csv(pairs_csv)
    if ref_dir is None or dist_dir is None:
        raise UsageError("give two folders (REF_DIR DIST_DIR) or --pairs FILE")
    return pair_folders(ref_dir, dist_dir, mode=match)  # type: ignore[arg-type]


@dataclass(frozen=True)
class BatchSummary:
    """What a batch did: the sink's tally plus timing and the scorer it used."""

    rows: SinkSummary
    elapsed: float
    model: str
    weights_id: str
    device: str


def run_batch(
    scorer: Scorer,
    todo: list[Pair],
    sink: ResultSink,
    *,
    resize: Resize = "none",
    max_pixels: int = 100_000_000,
    workers: int = 2,
    on_result: Callable[[PairResult], None] | None = None,
) -> BatchSummary:
    """Score ``todo`` (from ``sink.plan``) and write every result through ``sink``; ``on_result`` sees each row."""
    from iqa_cli.api import score_pairs

    t0 = time.perf_counter()
    # closed when a write fails (stdout closed by its reader): the decoding threads stop now, not at exit
    scored = cast(
        "Generator[PairResult, None, None]",
        score_pairs(scorer, todo, resize=resize, max_pixels=max_pixels, workers=workers),
    )
    with sink, closing(scored) as results:
        for result in results:
            sink.write(result)
            if on_result is not None:
                on_result(result)
    return BatchSummary(sink.summary(), time.perf_counter() - t0, scorer.name, scorer.weights_id, str(scorer.device))

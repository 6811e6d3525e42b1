"""``iqa batch``: discover pairs and score them into a :class:`~iqa_cli.results.ResultSink`, on either engine.

The local engine (:mod:`iqa_cli.pipeline`, through :func:`iqa_cli.api.score_pairs`) yields rows in input order; the
Ray engine (:mod:`iqa_cli.ray_engine`) in order of completion. Both yield :class:`~iqa_cli.api.PairResult` rows
that go through the same sink, so resume, retry, the weights check and the exit code do not depend on the engine.

Library code: nothing here prints or picks exit codes; the CLI renders the summary and maps it to an exit code.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Generator
from contextlib import AbstractContextManager, closing, nullcontext, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, cast

from iqa_cli.errors import UsageError
from iqa_cli.pairs import Pairing, pair_folders, read_pairs_csv
from iqa_cli.results import ResultSink, SinkSummary

if TYPE_CHECKING:
    from iqa_cli.api import Resize, Scorer
    from iqa_cli.pairs import Pair
    from iqa_cli.ray_engine import RayOptions
    from iqa_cli.results import PairResult


def discover(ref_dir: Path | None, dist_dir: Path | None, pairs_csv: Path | None, match: str) -> Pairing:
    """Pairs from two folders or a pairs table, CSV or Parquet (never by position)."""
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
    batch_size: int | None = None,
    ray: RayOptions | None = None,
    on_result: Callable[[PairResult], None] | None = None,
) -> BatchSummary:
    """Score ``todo`` (from ``sink.plan``) and write every result through ``sink``; ``on_result`` sees each row.

    Args:
        scorer: the loaded model (with ``ray``, the driver's copy: it names the model and weights the actors load,
            and ``sink.check_identity`` was called with it).
        todo: pairs to score.
        sink: where rows go.
        resize, max_pixels: as for :func:`iqa_cli.api.score_pairs`.
        workers: local engine threads.
        batch_size: at most this many same-size pairs per forward pass (default 1, exact).
        ray: run on Ray Data with these options instead of locally.
        on_result: called with each row after it is written.
    """
    t0 = time.perf_counter()
    if ray is not None:
        from iqa_cli.ray_engine import score_pairs_ray

        produced = score_pairs_ray(
            todo,
            model=scorer.name,
            weights=scorer.weights,
            device=ray.device,
            resize=resize,
            max_pixels=max_pixels,
            batch_size=batch_size or 1,
            address=ray.address,
            actor_cpus=ray.actor_cpus,
        )
        where = f"Ray ({ray.address or 'local instance'})"
    else:
        from iqa_cli.api import score_pairs

        produced = score_pairs(
            scorer, todo, resize=resize, max_pixels=max_pixels, workers=workers, batch_size=batch_size
        )
        where = str(scorer.device)
    # closed when a write fails (stdout closed by its reader): the engine stops now, not at exit
    scored = cast("Generator[PairResult, None, None]", produced)
    # stdout carries rows only: Ray's driver prints its raylet error messages (e.g. "A worker died ...") on
    # sys.stdout whatever log_to_driver says, so while the Ray engine runs everything else printed there goes to
    # stderr; the sink has bound its stream (the real stdout) when it was entered, just before
    quiet: AbstractContextManager[object] = redirect_stdout(sys.stderr) if ray is not None else nullcontext()
    with sink, quiet, closing(scored) as results:
        for result in results:
            sink.write(result)
            if on_result is not None:
                on_result(result)
    return BatchSummary(sink.summary(), time.perf_counter() - t0, scorer.name, scorer.weights_id, where)

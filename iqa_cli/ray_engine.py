"""The Ray Data engine of ``iqa batch --engine ray``: pairs in, :class:`~iqa_cli.api.PairResult` out, on a cluster.

The pairs (already planned by the shared :class:`~iqa_cli.results.ResultSink`: resume, retry of failed rows)
become a Ray dataset of ``(ref, dist)`` path rows. ``map_batches`` runs them through a pool of actors; each actor
loads the model once (``num_gpus=1`` per actor when the cluster has GPUs and the device allows them, else one CPU
and one torch thread per actor) and decodes and scores its rows with :func:`iqa_cli.pipeline.run_pipeline`, the
local engine, so batching, scores, the ``weights`` column and error rows are the same. Rows come back to the driver
as actors finish them (order of completion), where :func:`iqa_cli.batch.run_batch` writes each one through the
same sink as the local engine's.

Paths must be readable by every node under the same name (shared storage): the actors open the files themselves.
Relative paths are taken from the driver's working folder (each actor changes to it where it exists).
Ray is imported only here and only when this engine is asked for (the optional extra ``iqa-cli[ray]``).
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from iqa_cli.errors import IQAError, UsageError
from iqa_cli.io import DEFAULT_MAX_PIXELS

if TYPE_CHECKING:
    from iqa_cli.api import Resize
    from iqa_cli.pairs import Pair
    from iqa_cli.results import PairResult

log = logging.getLogger(__name__)

INSTALL_HINT = 'pip install "iqa-cli[ray]"'
ROWS_PER_TASK = 32  # rows handed to an actor per call: small enough to spread, large enough to amortise a call


@dataclass(frozen=True)
class RayOptions:
    """How ``iqa batch --engine ray`` runs: the cluster (None: a local instance) and the actors' device."""

    address: str | None = None
    device: str = "auto"


def import_ray() -> Any:
    """The ``ray`` module with Ray Data, or an :class:`IQAError` saying how to install it."""
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError as exc:
        raise IQAError(f"--engine ray needs Ray Data, which is not installed ({exc}) — {INSTALL_HINT}") from None
    return ray


class PairScorer:
    """Ray actor: loads the model once, then decodes and scores rows of ``ref``/``dist`` paths with the local
    pipeline (``workers`` threads: 1 for a one-CPU actor, more beside a GPU)."""

    def __init__(
        self,
        model: str | None,
        weights: str | None,
        device: str,
        resize: Resize,
        max_pixels: int,
        batch_size: int,
        workers: int = 1,
        cwd: str | None = None,
    ) -> None:
        import torch

        from iqa_cli.api import load_model

        if cwd is not None and os.path.isdir(cwd):
            os.chdir(cwd)  # relative paths (and their error texts) as on the driver; an actor is its own process

        self.scorer = load_model(model, weights=weights, device=device)
        if self.scorer.device.type == "cpu":
            torch.set_num_threads(1)  # one actor per CPU: the actors already use the cores
        self.resize, self.max_pixels, self.batch_size, self.workers = resize, max_pixels, batch_size, workers

    def __call__(self, batch: dict[str, Any]) -> Any:
        import pyarrow as pa  # type: ignore[import-untyped]

        from iqa_cli.pairs import Pair
        from iqa_cli.pipeline import run_pipeline

        pairs = [Pair(Path(str(r)), Path(str(d))) for r, d in zip(batch["ref"], batch["dist"])]
        results = run_pipeline(
            self.scorer,
            pairs,
            resize=self.resize,
            max_pixels=self.max_pixels,
            workers=self.workers,
            batch_size=self.batch_size,
        )
        rows = [r.as_dict() for r in results]
        return pa.Table.from_pylist(rows, schema=_schema(rows))


def _schema(rows: Sequence[dict[str, Any]]) -> Any:
    """Arrow schema of result rows: ``score`` float64 (exact for the models' float32), the rest strings."""
    import pyarrow as pa  # type: ignore[import-untyped]

    from iqa_cli.results import PairResult

    names = list(rows[0]) if rows else list(PairResult.__dataclass_fields__)
    return pa.schema([(n, pa.float64() if n == "score" else pa.string()) for n in names])


def _package_root() -> str:
    return str(Path(__file__).resolve().parents[1])


def _init(ray: Any, address: str | None) -> None:
    if ray.is_initialized():
        return
    kwargs: dict[str, Any] = {"include_dashboard": False, "logging_level": logging.WARNING, "log_to_driver": False}
    if address is None:  # a local instance: its workers import this very package
        path = os.pathsep.join(p for p in (_package_root(), os.environ.get("PYTHONPATH", "")) if p)
        kwargs["runtime_env"] = {"env_vars": {"PYTHONPATH": path}}
    try:
        ray.init(address=address, **kwargs)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = f"the Ray cluster at {address}" if address else "a local Ray instance"
        hint = "check --address (e.g. auto, or ray://HEAD:10001)"
        raise IQAError(f"cannot start or reach {where}: {exc} — {hint}") from None


def _use_gpus(ray: Any, device: str) -> bool:
    if device == "cpu" or device.startswith("mps"):
        return False
    gpus = float(ray.cluster_resources().get("GPU", 0))
    if device.startswith("cuda") and gpus == 0:
        raise IQAError(f"--device {device} asked for, but the Ray cluster has no GPU — use --device cpu or auto")
    return gpus > 0


def score_pairs_ray(
    pairs: Sequence[Pair],
    *,
    model: str | None,
    weights: Path | None,
    device: str = "auto",
    resize: Resize = "none",
    max_pixels: int = DEFAULT_MAX_PIXELS,
    batch_size: int = 1,
    address: str | None = None,
    actors: int | None = None,
) -> Iterator[PairResult]:
    """Score pairs on a Ray cluster (a local one without ``address``); results in order of completion.

    Args:
        pairs: (ref, dist) paths readable from every node.
        model, weights, device: as for :func:`iqa_cli.api.load_model`, applied in each actor.
        resize, max_pixels: as for the local engine.
        batch_size: at most this many same-size pairs per forward pass (as locally).
        address: a running cluster (``auto``, ``ray://host:10001``, ``host:6379``); None starts a local instance.
        actors: size of the actor pool (default: one per GPU, else one per CPU of the cluster).

    Raises:
        IQAError: Ray is not installed, the cluster cannot be reached, or it lacks the asked-for GPU.
        UsageError: ``batch_size`` or ``actors`` below 1.
    """
    from iqa_cli.results import PairResult

    if batch_size < 1:
        raise UsageError(f"batch size must be at least 1, got {batch_size}")
    if actors is not None and actors < 1:
        raise UsageError(f"actors must be at least 1, got {actors}")
    if not pairs:
        return
    ray = import_ray()
    _init(ray, address)
    gpu = _use_gpus(ray, device)
    resources = ray.cluster_resources()
    pool = actors or max(1, int(resources.get("GPU" if gpu else "CPU", 1)))
    # beside a GPU an actor decodes in several threads; a CPU actor is one process on one core
    cpus = max(1, min(8, int(resources.get("CPU", 1) / pool))) if gpu else 1
    ray.data.DataContext.get_current().enable_progress_bars = False  # stderr: the runner's progress and summary
    logging.getLogger("ray.data").setLevel(logging.WARNING)  # no per-run execution plans on stderr
    rows = [{"ref": str(p.ref), "dist": str(p.dist)} for p in pairs]
    per_task = max(batch_size, min(ROWS_PER_TASK, math.ceil(len(rows) / pool)))
    ds = ray.data.from_items(rows, override_num_blocks=math.ceil(len(rows) / per_task))
    ds = ds.map_batches(
        PairScorer,
        fn_constructor_kwargs={
            "model": model,
            "weights": str(Path(weights).resolve()) if weights is not None else None,
            "device": device,
            "resize": resize,
            "max_pixels": max_pixels,
            "batch_size": batch_size,
            "workers": cpus,
            "cwd": os.getcwd(),
        },
        batch_size=per_task,
        batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(size=pool),
        num_cpus=cpus,
        num_gpus=1 if gpu else 0,
    )
    log.debug("ray engine: %d pairs, %d actors, gpu=%s", len(rows), pool, gpu)
    for table in ds.iter_batches(batch_size=None, batch_format="pyarrow"):
        for row in table.to_pylist():
            yield PairResult(**row)

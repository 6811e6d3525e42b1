"""The Ray Data engine of ``iqa batch --engine ray``: pairs in, :class:`~iqa_cli.api.PairResult` out, on a cluster.

The pairs (already planned by the shared :class:`~iqa_cli.results.ResultSink`: resume, retry of failed rows)
become a Ray dataset of ``(ref, dist)`` path rows. ``map_batches`` runs blocks of them through a pool of actors;
each actor loads the model once and runs the local engine, :func:`iqa_cli.pipeline.run_pipeline`, on its block:
its own threads decode and score, overlapped, as ``iqa batch`` does on one machine, so batching, scores, the
``weights`` column and error rows are the same. Only paths go into ``map_batches`` and only result rows come out:
no pixels pass through Ray's object store. Layout (:func:`plan_layout`): on CPUs one actor per node that reserves
the node's CPUs and runs one decode-and-score thread per CPU (``actor_cpus`` sets another size); with GPUs one actor
per GPU (``num_gpus=1``) with several threads. Like the ``iqa`` command's own process, each actor keeps freed memory
in glibc's allocator (:func:`iqa_cli.runtime.keep_freed_memory`; ``IQA_KEEP_FREED_MEMORY=0`` on the driver opts
out). Rows come back to the driver as actors finish their blocks (order of completion), where
:func:`iqa_cli.batch.run_batch` writes each one through the same sink as the local engine's.

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
ROWS_PER_THREAD = 32  # rows per block and actor thread: small enough to spread and flush often, large enough to
# amortise a call (each block ends with the actor's threads draining)
MAX_GPU_ACTOR_CPUS = 8  # decode threads beside one GPU


@dataclass(frozen=True)
class RayOptions:
    """How ``iqa batch --engine ray`` runs: the cluster (None: a local instance), the actors' device and the CPUs
    (decode-and-score threads) per actor (None: see :func:`plan_layout`)."""

    address: str | None = None
    device: str = "auto"
    actor_cpus: int | None = None


@dataclass(frozen=True)
class Layout:
    """The actor pool: ``actors`` actors, each reserving ``cpus`` CPUs (its threads) and one GPU if ``gpu``."""

    actors: int
    cpus: int
    gpu: bool


def import_ray() -> Any:
    """The ``ray`` module with Ray Data, or an :class:`IQAError` saying how to install it."""
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError as exc:
        raise IQAError(f"--engine ray needs Ray Data, which is not installed ({exc}) — {INSTALL_HINT}") from None
    return ray


class PairScorer:
    """Ray actor: loads the model once, then decodes and scores blocks of ``ref``/``dist`` paths with the local
    pipeline in ``workers`` threads (one per CPU the actor reserved)."""

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
        keep_freed_memory: bool = True,
    ) -> None:
        import torch

        from iqa_cli.api import load_model

        if keep_freed_memory:  # the actor's process is this engine's, as the iqa command's is its own
            from iqa_cli.runtime import keep_freed_memory as keep

            keep()
        if cwd is not None and os.path.isdir(cwd):
            os.chdir(cwd)  # relative paths (and their error texts) as on the driver; an actor is its own process

        self.scorer = load_model(model, weights=weights, device=device)
        if self.scorer.device.type == "cpu":
            torch.set_num_threads(1)  # one thread per reserved CPU decodes and scores (the pipeline keeps it so)
        self.resize, self.max_pixels, self.batch_size, self.workers = resize, max_pixels, batch_size, workers

    def __call__(self, batch: Any) -> Any:
        import pyarrow as pa  # type: ignore[import-untyped]

        from iqa_cli.pairs import Pair
        from iqa_cli.pipeline import run_pipeline

        refs, dists = batch.column("ref").to_pylist(), batch.column("dist").to_pylist()
        pairs = [Pair(Path(r), Path(d)) for r, d in zip(refs, dists)]
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


def _node_cpus(ray: Any) -> list[int]:
    """Whole CPUs of each live node that has any (the cluster's total when Ray lists no such node)."""
    cpus = [int(n.get("Resources", {}).get("CPU", 0)) for n in ray.nodes() if n.get("Alive")]
    return [c for c in cpus if c >= 1] or [max(1, int(ray.cluster_resources().get("CPU", 1)))]


def plan_layout(ray: Any, device: str, actors: int | None = None, actor_cpus: int | None = None) -> Layout:
    """The actor pool for this cluster.

    On CPUs: each actor reserves ``actor_cpus`` CPUs (default: those of the smallest node, so one actor per node of
    a uniform cluster) and runs that many decode-and-score threads; ``actors`` defaults to as many as the nodes hold.
    With GPUs (and a device that allows them): one actor per GPU, each with ``actor_cpus`` threads (default: its
    share of the cluster's CPUs, at most :data:`MAX_GPU_ACTOR_CPUS`).

    Raises:
        IQAError: the cluster lacks the asked-for GPU, or no node has ``actor_cpus`` CPUs.
    """
    resources = ray.cluster_resources()
    if _use_gpus(ray, device):
        pool = actors or max(1, int(resources.get("GPU", 1)))
        cpus = actor_cpus or max(1, min(MAX_GPU_ACTOR_CPUS, int(resources.get("CPU", 1)) // pool))
        return Layout(pool, cpus, gpu=True)
    nodes = _node_cpus(ray)
    cpus = actor_cpus or min(nodes)
    if cpus > max(nodes):
        raise IQAError(
            f"{cpus} CPUs per actor asked for, but no node of the Ray cluster has that many (largest: {max(nodes)}) "
            "— lower --actor-cpus"
        )
    return Layout(actors or max(1, sum(n // cpus for n in nodes)), cpus, gpu=False)


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
    actor_cpus: int | None = None,
) -> Iterator[PairResult]:
    """Score pairs on a Ray cluster (a local one without ``address``); results in order of completion.

    Args:
        pairs: (ref, dist) paths readable from every node.
        model, weights, device: as for :func:`iqa_cli.api.load_model`, applied in each actor.
        resize, max_pixels: as for the local engine.
        batch_size: at most this many same-size pairs per forward pass (as locally).
        address: a running cluster (``auto``, ``ray://host:10001``, ``host:6379``); None starts a local instance.
        actors: size of the actor pool (default: see :func:`plan_layout`).
        actor_cpus: CPUs each actor reserves and decode-and-score threads it runs (default: see :func:`plan_layout`).

    Raises:
        IQAError: Ray is not installed, the cluster cannot be reached, it lacks the asked-for GPU, or no node has
            ``actor_cpus`` CPUs.
        UsageError: ``batch_size``, ``actors`` or ``actor_cpus`` below 1.
    """
    from iqa_cli.results import PairResult
    from iqa_cli.runtime import opted_out

    if batch_size < 1:
        raise UsageError(f"batch size must be at least 1, got {batch_size}")
    for name, value in (("actors", actors), ("actor CPUs", actor_cpus)):
        if value is not None and value < 1:
            raise UsageError(f"{name} must be at least 1, got {value}")
    if not pairs:
        return
    ray = import_ray()
    _init(ray, address)
    layout = plan_layout(ray, device, actors, actor_cpus)
    ray.data.DataContext.get_current().enable_progress_bars = False  # stderr: the runner's progress and summary
    logging.getLogger("ray.data").setLevel(logging.WARNING)  # no per-run execution plans on stderr
    rows = [{"ref": str(p.ref), "dist": str(p.dist)} for p in pairs]
    # a block keeps each of the actor's threads busy with several chunks; at least one block per actor
    per_block = max(batch_size * layout.cpus, min(ROWS_PER_THREAD * layout.cpus, math.ceil(len(rows) / layout.actors)))
    ds = ray.data.from_items(rows, override_num_blocks=math.ceil(len(rows) / per_block))
    ds = ds.map_batches(
        PairScorer,
        fn_constructor_kwargs={
            "model": model,
            "weights": str(Path(weights).resolve()) if weights is not None else None,
            "device": device,
            "resize": resize,
            "max_pixels": max_pixels,
            "batch_size": batch_size,
            "workers": layout.cpus,
            "cwd": os.getcwd(),
            "keep_freed_memory": not opted_out(),  # the driver's setting decides for the actors
        },
        batch_size=per_block,
        batch_format="pyarrow",
        compute=ray.data.ActorPoolStrategy(size=layout.actors),
        num_cpus=layout.cpus,
        num_gpus=1 if layout.gpu else 0,
    )
    log.debug("ray engine: %d pairs in blocks of %d, %s", len(rows), per_block, layout)
    for table in ds.iter_batches(batch_size=None, batch_format="pyarrow"):
        for row in table.to_pylist():
            yield PairResult(**row)

"""The local batch engine: pairs in, :class:`~iqa_cli.api.PairResult` out, decoding overlapped with scoring.

How it runs:

- The pairs are cut into **chunks** of ``batch_size`` consecutive pairs. A pool of ``workers`` threads takes
  chunks in order. On the CPU a thread decodes its chunk's pairs (OpenCV releases the GIL), then scores them: while
  one thread scores, the others decode, so every core stays busy. On a GPU the workers only decode, pair by pair,
  and the thread that consumes the results gathers the same chunks and scores each as it comes, in order: one
  thread drives the device, so many threads no longer contend for the GIL to launch kernels nor spin waiting on
  each other's work (on an H200 with 16 workers, the old way used ~13 ms more CPU per pair than decoding alone;
  bench/RESULTS.md), and the decoded pixels held stay within ``2 * workers + batch_size`` pairs plus the chunk being
  scored instead of ``2 * workers`` whole chunks.
- Inside a chunk, runs of **consecutive pairs of the same shape** go through the model in one forward pass
  (:func:`score_chunk`); a pair of another shape, a huge pair (scored tile by tile) or a bad pair breaks the run.
  Batch composition is therefore a pure function of the input order, the shapes and ``batch_size`` — never of
  timing — and the same function serves the Ray engine.
- Results are yielded in **input order** (a bounded window of chunks is in flight), one per pair, so the caller
  can write and flush each row as it comes and a killed run resumes where it stopped.
- A bad pair (unreadable, sizes differ, too small, ...) becomes a result with its error, as in
  :meth:`Scorer.score`; a forward pass that fails for a batch is retried pair by pair so each pair gets its own
  score or error.

Exactness: with the default ``batch_size=1`` every pair goes through the model alone, exactly as
:meth:`Scorer.score` does, so scores are bit-identical to ``iqa score``, across engines and across resumed runs;
running torch at one intra-op thread (below) keeps them so (``tests/test_pipeline.py`` compares every registered
model with scoring alone at two threads). A larger batch runs same-shape pairs in one forward pass; convolution
libraries (oneDNN on CPU, cuDNN on CUDA) may then pick another algorithm, whose scores can differ by float rounding
(on CPU, for small images); on CUDA ``bench/batch.py`` counts the batched scores that stay bit-identical. So
batching is opt-in (``--batch-size``), meant for GPUs; on the CPU it is also slower (a larger working set for the
same arithmetic).

On the CPU with more than one worker the pipeline sets torch's intra-op threads to 1 while it runs (restored
afterwards): the workers already use the cores, and torch's own threads would compete with the decoders.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Generator, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import TYPE_CHECKING

import numpy as np

from iqa_cli.errors import IQAError, UsageError
from iqa_cli.io import DEFAULT_MAX_PIXELS, align_pair, read_image

if TYPE_CHECKING:
    from iqa_cli.api import Resize, Scorer
    from iqa_cli.pairs import Pair
    from iqa_cli.results import PairResult

log = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 1
"""Pairs per forward pass unless asked otherwise: 1, the exact path (see the module docstring)."""


def make_result(scorer: Scorer, pair: Pair, score: float | None, error: str | None) -> PairResult:
    """The one place a batch row is built (both engines call it)."""
    from iqa_cli.results import PairResult

    return PairResult(str(pair.ref), str(pair.dist), scorer.name, score, error, scorer.weights_id)


def _error_text(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, IQAError) else f"{type(exc).__name__}: {exc}"


_FAILURES = (IQAError, RuntimeError, ValueError, MemoryError)  # torch/numpy failures on odd inputs included


def _decode(pair: Pair, resize: Resize, max_pixels: int) -> tuple[np.ndarray, np.ndarray] | str:
    """Aligned (ref, dist) pixels, or the error text of a bad pair."""
    try:
        return align_pair(
            read_image(pair.ref, max_pixels=max_pixels), read_image(pair.dist, max_pixels=max_pixels), resize=resize
        )
    except _FAILURES as exc:
        log.debug("pair %s failed to load", pair, exc_info=True)
        return _error_text(exc)


def _score_one(scorer: Scorer, ref: np.ndarray, dist: np.ndarray) -> float | str:
    try:
        return scorer._score_arrays(ref, dist)
    except _FAILURES as exc:
        log.debug("scoring failed", exc_info=True)
        return _error_text(exc)


def _score_run(scorer: Scorer, run: list[tuple[np.ndarray, np.ndarray]]) -> list[float | str]:
    """Scores of same-shape pairs in one forward pass; pair by pair if the batch fails."""
    import torch

    from iqa_cli.io import to_tensor

    h, w = run[0][0].shape[:2]
    tile_pixels = getattr(scorer.module, "tile_pixels", None)  # huge pairs: scored alone (the model tiles them)
    if len(run) == 1 or (tile_pixels is not None and h * w > tile_pixels):
        return [_score_one(scorer, r, d) for r, d in run]
    try:
        scorer._check_size(h, w)
        # each pair to the device, then one concatenation there: no large host-side copy of the whole batch
        ref = torch.cat([to_tensor(r).to(scorer.device) for r, _ in run])
        dist = torch.cat([to_tensor(d).to(scorer.device) for _, d in run])
        values = scorer.infer(ref, dist).cpu().tolist()  # the model's inference path, as Scorer.score uses it
        if len(values) != len(run):
            raise RuntimeError(f"model returned {len(values)} scores for a batch of {len(run)}")
        return [float(v) for v in values]
    except _FAILURES:
        log.debug("batch of %d failed; scoring pair by pair", len(run), exc_info=True)
        return [_score_one(scorer, r, d) for r, d in run]


def score_decoded(
    scorer: Scorer, pairs: Sequence[Pair], decoded: list[tuple[np.ndarray, np.ndarray] | str]
) -> list[PairResult]:
    """Score decoded pairs, batching runs of the same shape; one result per pair, in order. Frees ``decoded``'s
    pixels as they are scored."""
    outcome: list[float | str] = [""] * len(pairs)
    i = 0
    while i < len(pairs):
        item = decoded[i]
        if isinstance(item, str):
            outcome[i] = item
            i += 1
            continue
        run = [item]
        while i + len(run) < len(pairs):
            nxt = decoded[i + len(run)]
            if isinstance(nxt, str) or nxt[0].shape != item[0].shape:
                break
            run.append(nxt)
        j = i + len(run)
        outcome[i:j] = _score_run(scorer, run)
        decoded[i:j] = [""] * len(run)  # free the pixels as soon as they are scored
        del run, item
        i = j
    return [
        make_result(scorer, p, None, o) if isinstance(o, str) else make_result(scorer, p, o, None)
        for p, o in zip(pairs, outcome)
    ]


def score_chunk(
    scorer: Scorer,
    pairs: Sequence[Pair],
    *,
    resize: Resize = "none",
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> list[PairResult]:
    """Decode and score consecutive pairs, batching runs of the same shape; one result per pair, in order."""
    return score_decoded(scorer, pairs, [_decode(p, resize, max_pixels) for p in pairs])


@contextmanager
def _torch_threads(n: int | None) -> Iterator[None]:
    if n is None:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def run_pipeline(
    scorer: Scorer,
    pairs: Iterable[Pair],
    *,
    resize: Resize = "none",
    max_pixels: int = DEFAULT_MAX_PIXELS,
    workers: int = 2,
    batch_size: int | None = None,
    score_in_workers: bool | None = None,
) -> Generator[PairResult, None, None]:
    """Score pairs with ``workers`` threads that decode chunks and, on the CPU, score them; results in input order.

    Args:
        scorer: a loaded model.
        pairs: (ref, dist) paths.
        resize: size-mismatch policy.
        max_pixels: decompression-bomb guard per image.
        workers: threads, each decoding (and on the CPU scoring) its own chunk.
        batch_size: pairs per chunk and at most per forward pass (default :data:`DEFAULT_BATCH_SIZE`).
        score_in_workers: whether the workers score their chunks too (default: on the CPU only), or only decode
            them while the consuming thread scores.

    Raises:
        UsageError: ``workers`` or ``batch_size`` below 1.
    """
    if workers < 1:
        raise UsageError(f"workers must be at least 1, got {workers}")
    size = DEFAULT_BATCH_SIZE if batch_size is None else batch_size
    if size < 1:
        raise UsageError(f"batch size must be at least 1, got {size}")
    items = list(pairs)
    on_cpu = scorer.device.type == "cpu"
    in_workers = on_cpu if score_in_workers is None else score_in_workers
    threads = 1 if on_cpu and workers > 1 else None
    with _torch_threads(threads), ThreadPoolExecutor(max_workers=workers, thread_name_prefix="iqa-pipe") as pool:
        if in_workers:
            yield from _workers_score(pool, scorer, items, size, resize, max_pixels, window=2 * workers)
        else:
            yield from _one_thread_scores(pool, scorer, items, size, resize, max_pixels, window=2 * workers + size)


def _workers_score(
    pool: ThreadPoolExecutor,
    scorer: Scorer,
    items: list[Pair],
    size: int,
    resize: Resize,
    max_pixels: int,
    window: int,
) -> Generator[PairResult, None, None]:
    """Each worker decodes and scores a chunk of ``size`` pairs; at most ``window`` chunks in flight."""
    pending: deque[Future[list[PairResult]]] = deque()
    try:
        for i in range(0, len(items), size):
            chunk = items[i : i + size]
            pending.append(pool.submit(score_chunk, scorer, chunk, resize=resize, max_pixels=max_pixels))
            if len(pending) >= window:
                yield from pending.popleft().result()
        while pending:
            yield from pending.popleft().result()
    finally:
        for f in pending:  # a consumer that stops early (or Ctrl-C) does not wait for the whole window
            f.cancel()


def _one_thread_scores(
    pool: ThreadPoolExecutor,
    scorer: Scorer,
    items: list[Pair],
    size: int,
    resize: Resize,
    max_pixels: int,
    window: int,
) -> Generator[PairResult, None, None]:
    """The workers decode pair by pair, at most ``window`` pairs ahead; this thread takes them in order, ``size`` at
    a time (the same chunks as :func:`_workers_score`), and scores each chunk. Decoded pixels held: at most
    ``window`` pairs plus the chunk being scored, whatever the batch size."""
    pending: deque[Future[tuple[np.ndarray, np.ndarray] | str]] = deque()
    todo = iter(items)

    def fill() -> None:
        while len(pending) < window and (pair := next(todo, None)) is not None:
            pending.append(pool.submit(_decode, pair, resize, max_pixels))

    try:
        for i in range(0, len(items), size):
            chunk = items[i : i + size]
            fill()
            decoded = [pending.popleft().result() for _ in chunk]
            fill()  # the workers decode the next pairs while this thread scores
            yield from score_decoded(scorer, chunk, decoded)
    finally:
        for f in pending:
            f.cancel()

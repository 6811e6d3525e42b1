"""Collecting the pooled masked degradation features that every head fit reads, one way for all of them.

:func:`collect_features` is the one place features are computed for training: (ref, dist) ``HxWxC`` float arrays
in, an ``(N, F)`` array out, pairs of one size batched, on the device the model is on, whole images of any size
(:meth:`~iqa_cli.models.causal.CausalIQA.image_features` tiles very large ones). :func:`pair_features` feeds it
image files, matched and converted as scoring matches and converts them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from iqa_cli.errors import ImageError, TrainingError

if TYPE_CHECKING:
    from iqa_cli.models.causal import CausalIQA
    from iqa_cli.pairs import Pair

Progress = Callable[[str, int, int], None]
"""``progress(phase, done, total)`` of a long-running training step."""


def to_batch(images: Sequence[np.ndarray], device: torch.device | None = None) -> torch.Tensor:
    """``(B, C, H, W)`` float32 tensor (on ``device``, else the CPU) of ``HxWxC`` arrays of one size: a view of the
    stacked arrays (channels-last in memory), how training crops enter the model."""
    batch = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float()
    return batch if device is None else batch.to(device)


def to_scored_batch(images: Sequence[np.ndarray], device: torch.device | None = None) -> torch.Tensor:
    """Like :func:`to_batch`, but each image converted as scoring converts it (:func:`iqa_cli.io.to_tensor`, a
    contiguous ``(1, C, H, W)`` tensor), so features of image files are the ones ``iqa score`` computes to the
    last bit (the two memory layouts can differ in float rounding)."""
    from iqa_cli.io import to_tensor

    batch = torch.cat([to_tensor(im) for im in images])
    return batch if device is None else batch.to(device)


@torch.inference_mode()
def collect_features(
    model: CausalIQA,
    pairs: Iterable[tuple[np.ndarray, np.ndarray]],
    batch: int = 8,
    on_rows: Callable[[int], None] | None = None,
    stack: Callable[[Sequence[np.ndarray], torch.device], torch.Tensor] = to_batch,
) -> np.ndarray:
    """Pooled masked degradation features (N, F) of (ref, dist) ``HxWxC`` float arrays, in order.

    Consecutive pairs of the same size are computed ``batch`` at a time, converted to tensors by ``stack``
    (:func:`to_batch` or :func:`to_scored_batch`); ``on_rows(n)`` is told the number of rows done after each
    batch."""
    model.eval()
    device = model.fl_bias.device
    rows: list[np.ndarray] = []
    buf_r: list[np.ndarray] = []
    buf_d: list[np.ndarray] = []
    done = 0

    def flush() -> None:
        nonlocal done
        if not buf_r:
            return
        rows.append(model.image_features(stack(buf_r, device), stack(buf_d, device)).cpu().numpy())
        done += len(buf_r)
        buf_r.clear()
        buf_d.clear()
        if on_rows is not None:
            on_rows(done)

    for ref, dist in pairs:
        if buf_r and ref.shape != buf_r[0].shape:
            flush()
        buf_r.append(ref)
        buf_d.append(dist)
        if len(buf_r) >= batch:
            flush()
    flush()
    return np.concatenate(rows) if rows else np.zeros((0, model.config.n_features), np.float32)


def pair_features(
    model: CausalIQA,
    pairs: Sequence[Pair],
    *,
    max_side: int | None = None,
    min_side: int = 16,
    progress: Progress | None = None,
) -> tuple[np.ndarray, list[str]]:
    """Pooled masked degradation features (N, F) of (ref, dist) image files, at their own resolution.

    Grey/colour are matched as in scoring (:func:`iqa_cli.io.align_pair`); pairs of different size are refused.
    ``max_side``: pairs whose longer side is larger are area-shrunk to it first.

    Returns:
        (features, resolved reference paths).

    Raises:
        TrainingError: listing every pair that cannot be read, differs in size, or is too small.
    """
    from iqa_cli.io import align_pair, downsize_to, read_image

    refs: list[str] = []
    problems: list[str] = []

    def arrays() -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for pair in pairs:
            try:
                r, d = align_pair(read_image(pair.ref), read_image(pair.dist), resize="none")
                if min(r.shape[:2]) < min_side:
                    raise ImageError(
                        f"pair {pair.ref} / {pair.dist} is {r.shape[1]}x{r.shape[0]}, smaller than {min_side} px"
                    )
            except ImageError as exc:
                problems.append(str(exc))
                continue
            if max_side is not None and max(r.shape[:2]) > max_side:
                r, d = downsize_to(r, max_side), downsize_to(d, max_side)
            refs.append(str(Path(pair.ref).resolve()))
            yield r, d

    def on_rows(done: int) -> None:
        if progress is not None:
            progress("features", done + len(problems), len(pairs))

    features = collect_features(model, arrays(), batch=1, on_rows=on_rows, stack=to_scored_batch)
    if problems:
        raise TrainingError(f"{len(problems)} of {len(pairs)} pair(s) cannot be used: " + "; ".join(problems))
    return features, refs

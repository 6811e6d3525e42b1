"""Which of the causal model's feature groups a head needs, read from its weights.

The fitted few-label heads are sparse (the shipped causal-iqa and causal-iqa-robust heads use 1 of 142 features: the
masked Haar block's calibrated one), so at inference the model computes only the groups with a non-zero head
weight — the learned path, the pixel branch up to a stride, the Haar block, the masked Haar block and, within it,
its label-free map — and sets the skipped features to 0. The
pruning is exact: a skipped feature has weight 0, and ``0 * log1p(0 / scale)`` (few-label head) or
``0 / scale * 0`` (label-free head) is the same 0 as the unpruned ``0 * log1p(f / scale)`` for any finite ``f``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from iqa_cli.models.causal.config import CausalConfig
from iqa_cli.models.causal.fixed import PixelDegradation


@dataclass(frozen=True)
class Branches:
    """Which feature groups :meth:`CausalIQA.masked_degradation` computes; the others' pooled features are 0.

    The default is everything (what fitting a head needs); :func:`needed_branches` gives the groups a head uses.

    Attributes:
        learned: the learned path (encoder, content and degradation heads, masking): all three scales or none.
        pixel_strides: how many of the pixel branch's strides (2, 4, 8, 16) are computed, from the finest (each is
            made from the one before by 2x2 means); 0 = none.
        haar: the Haar block.
        masked_haar: the masked Haar block.
        masked_haar_label_free: with it, its label-free feature too (else only the calibrated one is computed).
    """

    learned: bool = True
    pixel_strides: int = len(PixelDegradation.STRIDES)
    haar: bool = True
    masked_haar: bool = True
    masked_haar_label_free: bool = True

    def __post_init__(self) -> None:
        if not 0 <= self.pixel_strides <= len(PixelDegradation.STRIDES):
            raise ValueError(f"pixel_strides must be in 0..{len(PixelDegradation.STRIDES)}, got {self.pixel_strides}")

    def computed_maps(self, cfg: CausalConfig) -> list[bool]:
        """Per masked degradation map of ``cfg`` (learned scales, then pixel strides): whether it is computed."""
        pixel = [i < self.pixel_strides for i in range(len(PixelDegradation.STRIDES))] if cfg.pixel_branch else []
        return [self.learned] * len(cfg.degradation) + pixel


def needed_branches(cfg: CausalConfig, head_weights: torch.Tensor) -> Branches:
    """The feature groups a head with ``head_weights`` (F,) on the pooled features of ``cfg`` has a non-zero weight
    on.

    A group is needed when any of its features' means or deviations has a weight; the pixel branch up to its last
    stride that has one. A head with no non-zero weight at all (unfitted: a constant score) gets every group, so
    its score stays connected to the inputs.
    """
    nz = (head_weights != 0).tolist()  # NaN counts as non-zero
    if not any(nz):
        return Branches()
    n_mean, n_learned, c = sum(cfg.map_channels), sum(cfg.degradation), PixelDegradation.CHANNELS
    used = [a or b for a, b in zip(nz[:n_mean], nz[n_mean : 2 * n_mean])]  # per map channel
    masked = nz[2 * n_mean + cfg.n_haar_features :]  # the masked Haar block's: label-free, calibrated
    pixel = [any(used[i : i + c]) for i in range(n_learned, n_mean, c)]  # per pixel stride
    return Branches(
        learned=any(used[:n_learned]),
        pixel_strides=max((i + 1 for i, on in enumerate(pixel) if on), default=0),
        haar=any(nz[2 * n_mean : 2 * n_mean + cfg.n_haar_features]),
        # a model without the masked Haar block has nothing to skip there: keep the default
        masked_haar=not cfg.masked_haar or any(masked),
        masked_haar_label_free=not cfg.masked_haar or masked[0],
    )

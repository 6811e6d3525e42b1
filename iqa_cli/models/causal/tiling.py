"""Tile-by-tile pooling of the causal model's features, so memory stays bounded on huge images.

Each tile is extended by ``halo`` pixels (beyond the receptive field) on every side that has neighbours; only the
tile's own positions of every map are accumulated (sums and sums of squares per channel, and the sums of the Haar
block's six maps and the masked Haar block's three, whose means pool exactly), so the result matches the untiled
:meth:`CausalIQA.pooled_features` to float rounding.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch

from iqa_cli.models.causal.pruning import Branches
from iqa_cli.models.functional import smooth_sqrt

if TYPE_CHECKING:
    from iqa_cli.models.causal.model import CausalIQA


def tiled_pooled_features(
    model: CausalIQA, ref: torch.Tensor, dist: torch.Tensor, *, tile: int, halo: int, branches: Branches | None
) -> torch.Tensor:
    """(B, F) pooled features of ``model`` for (ref, dist), computed on ``tile`` x ``tile`` tiles with a ``halo``;
    ``branches`` as in :meth:`CausalIQA.pooled_features` (skipped features are exactly 0).

    Raises:
        ValueError: ``tile`` or ``halo`` is not a multiple of 16 (the coarsest stride).
    """
    h, w = ref.shape[-2:]
    if tile % 16 or halo % 16:
        raise ValueError("tile and halo must be multiples of 16 (the coarsest stride)")
    channels, strides = model.config.map_channels, model.config.map_strides
    n_mean = sum(channels)
    sums = ref.new_zeros((ref.shape[0], n_mean))
    sq = ref.new_zeros((ref.shape[0], n_mean))
    block_sums: dict[str, torch.Tensor] = {}  # per-position sums of the Haar blocks' maps (their means pool exactly)
    for y0 in range(0, h, tile):
        for x0 in range(0, w, tile):
            y1, x1 = min(y0 + tile, h), min(x0 + tile, w)
            ya, xa = max(0, y0 - halo), max(0, x0 - halo)
            yb, xb = min(h, y1 + halo), min(w, x1 + halo)
            r_tile, d_tile = ref[..., ya:yb, xa:xb], dist[..., ya:yb, xa:xb]
            masked, codes = model.masked_degradation(r_tile, d_tile, branches)
            box = (y0, y1, ya, x0, x1, xa)
            start = 0
            for s, c, m in zip(strides, channels, model.align_maps(masked, branches)):
                if m is not None:  # a skipped map keeps its sums at 0: mean and deviation exactly 0
                    part = _own_positions(m, s, box, (h, w))
                    sums[:, start : start + c] += part.sum(dim=(2, 3))
                    sq[:, start : start + c] += part.pow(2).sum(dim=(2, 3))
                start += c
            for key in ("haar", "masked_haar"):
                if key in codes:
                    part = _own_positions(codes[key], 2, box, (h, w)).sum(dim=(2, 3))
                    block_sums[key] = block_sums[key] + part if key in block_sums else part
    counts = torch.cat(
        [ref.new_full((c,), float(math.ceil(h / s) * math.ceil(w / s))) for c, s in zip(channels, strides)]
    )
    means = sums / counts
    stds = smooth_sqrt((sq / counts - means.pow(2)).clamp_min(0.0))
    n_half = float(math.ceil(h / 2) * math.ceil(w / 2))
    blocks = model.block_features({k: v / n_half for k, v in block_sums.items()}, ref.shape[0])
    return torch.cat([means, stds, *blocks], dim=1)


def _own_positions(m: torch.Tensor, s: int, box: tuple[int, ...], size: tuple[int, int]) -> torch.Tensor:
    """A tile's own positions of its stride-``s`` map (the halo cut off); ``box`` = (y0, y1, ya, x0, x1, xa): the
    tile's rows y0:y1 and columns x0:x1, computed from ya, xa on; ``size`` = the whole image's (h, w)."""
    y0, y1, ya, x0, x1, xa = box
    top, left = (y0 - ya) // s, (x0 - xa) // s
    bottom = top + math.ceil((y1 - y0) / s) if y1 < size[0] else m.shape[-2]
    right = left + math.ceil((x1 - x0) / s) if x1 < size[1] else m.shape[-1]
    return m[..., top:bottom, left:right]

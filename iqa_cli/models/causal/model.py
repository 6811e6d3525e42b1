"""The causal-disentanglement quality model: content / degradation split, visual masking, two quality heads.

One encoder is shared by the reference and the distorted image and gives features at three scales (1/2, 1/4, 1/8).
At each scale a *content* code is read from an image's own features and a *degradation* code from the change of
features between reference and distorted image (through bias-free layers, so the degradation code of a reference
against itself is exactly the null code). The *masking module* lets the reference content set a gain in (0, 1] on
each degradation channel at each position (noise hides in texture, contrast masking, luminance adaptation). Two fixed
branches (:mod:`~iqa_cli.models.causal.fixed`: pixel maps and HaarPSI terms) add parameter-free degradation maps.
The masked degradation is pooled (mean and deviation per channel) into a feature vector, from which a head
(:mod:`~iqa_cli.models.causal.heads`) gives the score: 0-100, higher is better, 100 = identical to the reference.

At inference only the feature groups the head uses are computed (:mod:`~iqa_cli.models.causal.pruning`), and large
images are pooled tile by tile (:meth:`CausalIQA.score`). The training-only intervention decoder is
:mod:`iqa_cli.train.decoder`.

References:
    Z. Zhang et al. Causal Disentanglement for Full-Reference Image Quality Assessment, 2026.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from iqa_cli.models.causal.config import CausalConfig
from iqa_cli.models.causal.fixed import HaarDegradation, PixelDegradation, fixed_colour
from iqa_cli.models.causal.heads import HEADS, few_label_score, label_free_score, register_head_buffers
from iqa_cli.models.causal.learned import DegradationHead, Encoder, MaskingModule
from iqa_cli.models.causal.masked_haar import MaskedHaar
from iqa_cli.models.causal.pruning import Branches, needed_branches
from iqa_cli.models.causal.tiling import tiled_pooled_features
from iqa_cli.models.functional import smooth_sqrt

TILE_PIXELS = 2048 * 2048
"""Above this many pixels :meth:`CausalIQA.score` pools tile by tile (bounded memory, same result to rounding)."""


class CausalIQA(nn.Module):
    """The causal-disentanglement quality model. See the module docstring.

    Shape: ref, dist (B, 3, H, W) in [0, 1] (grey: 1 channel, replicated) -> scores (B,).
    """

    tile_pixels = TILE_PIXELS
    # head buffers (:func:`~iqa_cli.models.causal.heads.register_head_buffers`)
    feature_scale: torch.Tensor
    lf_direction: torch.Tensor
    lf_tau: torch.Tensor
    fl_weights: torch.Tensor
    fl_bias: torch.Tensor
    fl_floor: torch.Tensor

    def __init__(self, config: CausalConfig | dict | None = None) -> None:
        super().__init__()
        if isinstance(config, dict):
            config = CausalConfig.from_dict(config)
        self.config = config or CausalConfig()
        cfg = self.config
        self.encoder = Encoder(cfg)
        self.content_heads = nn.ModuleList(nn.Conv2d(w, c, 1) for w, c in zip(cfg.widths, cfg.content))
        self.degradation_heads = nn.ModuleList(
            DegradationHead(w, d, cfg.activation) for w, d in zip(cfg.widths, cfg.degradation)
        )
        self.masking = nn.ModuleList(MaskingModule(c, d) for c, d in zip(cfg.content, cfg.degradation))
        self.pixel = PixelDegradation(cfg.visibility) if cfg.pixel_branch else None
        self.haar = HaarDegradation(cfg.visibility) if cfg.haar else None
        self.masked_haar = (
            MaskedHaar(cfg.visibility, cfg.rank_keep, cfg.rank_tau, cfg.jnd, cfg.pool_weight)
            if cfg.masked_haar
            else None
        )
        register_head_buffers(self, cfg.n_features)  # fitted after training, saved with the weights

    def with_config(self, **changes: Any) -> CausalIQA:
        """A new model (on the CPU, in train mode) with ``changes`` to the config (e.g. ``head="few_label"``) and
        this model's parameters and head buffers, loaded strictly."""
        out = CausalIQA(replace(self.config, **changes))
        out.load_state_dict(self.state_dict())
        return out

    # -- representation -------------------------------------------------------------------------------------------
    @staticmethod
    def _rgb(x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] == 1:
            return x.expand(-1, 3, -1, -1)
        if x.shape[1] != 3:
            raise ValueError(f"expected 1 or 3 channels, got {x.shape[1]}")
        return x

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Encoder features of one image at three scales."""
        return self.encoder(self._rgb(x))

    def content(self, feats: list[torch.Tensor]) -> list[torch.Tensor]:
        """Content codes from an image's features."""
        return [h(f) for h, f in zip(self.content_heads, feats)]

    def degradation(self, f_ref: list[torch.Tensor], f_dist: list[torch.Tensor]) -> list[torch.Tensor]:
        """Degradation codes of the distorted image relative to the reference (null for dist == ref)."""
        return [h(a, b) for h, a, b in zip(self.degradation_heads, f_ref, f_dist)]

    def masked_degradation(
        self, ref: torch.Tensor, dist: torch.Tensor, branches: Branches | None = None
    ) -> tuple[list[torch.Tensor], dict]:
        """Masked degradation maps per scale, plus the intermediate codes (for training and inspection).

        Args:
            ref, dist: the pair.
            branches: the feature groups to compute (default: all); the maps are then those of the computed groups
                only, in the usual order, and ``codes`` holds only the computed codes.
        """
        want = branches or Branches()
        masked: list[torch.Tensor] = []
        codes: dict = {}
        if want.learned:
            # two encoder passes, not one over cat([ref, dist]): on CPU the joint pass's larger working set makes
            # it slower
            f_ref, f_dist = self.features(ref), self.features(dist)
            c_ref = self.content(f_ref)
            d = self.degradation(f_ref, f_dist)
            masked += [m(c, dd) for m, c, dd in zip(self.masking, c_ref, d)]
            codes |= {"f_ref": f_ref, "f_dist": f_dist, "c_ref": c_ref, "d": d}
        pixel = self.pixel is not None and want.pixel_strides > 0
        haar = self.haar is not None and want.haar
        masked_haar = self.masked_haar is not None and want.masked_haar
        if pixel or haar or masked_haar:
            r, t = self._rgb(ref), self._rgb(dist)
            half = fixed_colour(r, t)  # all five channels (the blocks slice theirs): one small matrix product
            if self.pixel is not None and pixel:
                masked += self.pixel(r, t, half, strides=want.pixel_strides)
            if self.haar is not None and haar:
                codes["haar"] = self.haar(r, t, half)
            if self.masked_haar is not None and masked_haar:
                codes["masked_haar"] = self.masked_haar(r, t, half, label_free=want.masked_haar_label_free)
        return masked, codes

    def align_maps(self, masked: list[torch.Tensor], branches: Branches | None) -> list[torch.Tensor | None]:
        """``masked`` aligned with the config's maps (:attr:`CausalConfig.map_channels`): None where skipped."""
        maps = iter(masked)
        return [next(maps) if on else None for on in (branches or Branches()).computed_maps(self.config)]

    @staticmethod
    def pool(masked: list[torch.Tensor]) -> torch.Tensor:
        """Pooled features (B, F): per channel the spatial mean and standard deviation of masked degradation
        (the deviation catches localised loss, as GMSD's pooling does)."""
        means = [m.mean(dim=(2, 3)) for m in masked]
        stds = [smooth_sqrt((m.pow(2).mean(dim=(2, 3)) - mu.pow(2)).clamp_min(0.0)) for m, mu in zip(masked, means)]
        return torch.cat(means + stds, dim=1)

    def pooled_features(self, ref: torch.Tensor, dist: torch.Tensor, branches: Branches | None = None) -> torch.Tensor:
        """(B, F) pooled masked degradation features, the input of both quality heads.

        Args:
            ref, dist: the pair.
            branches: the feature groups to compute (default: all, as fitting a head needs); the features of the
                skipped ones are exactly 0.
        """
        masked, codes = self.masked_degradation(ref, dist, branches)
        b = ref.shape[0]
        channels = self.config.map_channels
        maps = self.align_maps(masked, branches)
        computed = [m for m in maps if m is not None]
        if len(computed) == len(maps):
            pooled = self.pool(computed)
        else:  # a skipped map's mean and deviation are exactly 0; the others pool as they would with all maps
            pooled = ref.new_zeros((b, 2 * sum(channels)))
            if computed:
                parts = self.pool(computed).split([c for m, c in zip(maps, channels) if m is not None] * 2, dim=1)
                starts = [sum(channels[:i]) for i, m in enumerate(maps) if m is not None]
                for part, start in zip(parts, starts + [s + sum(channels) for s in starts]):
                    pooled[:, start : start + part.shape[1]] = part
        means = {k: codes[k].mean(dim=(2, 3)) for k in ("haar", "masked_haar") if k in codes}
        return torch.cat([pooled, *self.block_features(means, b)], dim=1)

    def block_features(self, means: dict[str, torch.Tensor], b: int) -> list[torch.Tensor]:
        """The Haar and masked Haar blocks' features (those present in the config) from the spatial means of their
        maps (``means`` keyed ``haar`` / ``masked_haar``); a block without means (skipped) gives exact zeros."""
        out = []
        for key, block, n in (
            ("haar", self.haar, HaarDegradation.FEATURES),
            ("masked_haar", self.masked_haar, MaskedHaar.FEATURES),
        ):
            if block is None:
                continue
            out.append(block.features(means[key]) if key in means else self.feature_scale.new_zeros((b, n)))
        return out

    def tiled_pooled_features(
        self,
        ref: torch.Tensor,
        dist: torch.Tensor,
        tile: int = 1024,
        halo: int = 128,
        branches: Branches | None = None,
    ) -> torch.Tensor:
        """Same as :meth:`pooled_features` but computed tile by tile, so memory stays bounded on huge images
        (:func:`~iqa_cli.models.causal.tiling.tiled_pooled_features`: the same features to float rounding)."""
        return tiled_pooled_features(self, ref, dist, tile=tile, halo=halo, branches=branches)

    def image_features(self, ref: torch.Tensor, dist: torch.Tensor, branches: Branches | None = None) -> torch.Tensor:
        """:meth:`pooled_features` of whole images of any size: tile by tile above :attr:`tile_pixels` pixels."""
        if ref.shape[-2] * ref.shape[-1] > self.tile_pixels:
            return self.tiled_pooled_features(ref, dist, branches=branches)
        return self.pooled_features(ref, dist, branches)

    # -- heads ----------------------------------------------------------------------------------------------------
    def head_label_free(self, feats: torch.Tensor) -> torch.Tensor:
        return label_free_score(feats, self.feature_scale, self.lf_direction, self.lf_tau)

    def head_few_label(self, feats: torch.Tensor) -> torch.Tensor:
        return few_label_score(feats, self.feature_scale, self.fl_weights, self.fl_bias, self.fl_floor)

    def score_features(self, feats: torch.Tensor, head: str | None = None) -> torch.Tensor:
        head = head or self.config.head
        if head == "label_free":
            return self.head_label_free(feats)
        if head == "few_label":
            return self.head_few_label(feats)
        raise ValueError(f"unknown head {head!r}: expected one of {HEADS}")

    def head_weights(self, head: str | None = None) -> torch.Tensor:
        """(F,) weights of a head on the pooled features (default: the configured head): the few-label head's
        ``fl_weights``, the label-free head's ``lf_direction``."""
        head = head or self.config.head
        if head == "label_free":
            return self.lf_direction
        if head == "few_label":
            return self.fl_weights
        raise ValueError(f"unknown head {head!r}: expected one of {HEADS}")

    def needed_branches(self, head: str | None = None) -> Branches:
        """The feature groups ``head`` (default: the configured one) has a non-zero weight on
        (:func:`~iqa_cli.models.causal.pruning.needed_branches`)."""
        return needed_branches(self.config, self.head_weights(head))

    # -- scoring --------------------------------------------------------------------------------------------------
    def forward(self, ref: torch.Tensor, dist: torch.Tensor) -> torch.Tensor:
        """Scores (B,) from the configured head, differentiable with respect to the inputs.

        In eval mode only the feature groups the head has a non-zero weight on are computed (exact, see
        :mod:`~iqa_cli.models.causal.pruning`): the scores equal ``score_features(pooled_features(ref, dist))``
        bitwise, and so do their gradients. In train mode everything is computed, so every parameter gets its
        gradient (zero where unused), as training's optimiser step (weight decay) expects.
        """
        branches = None if self.training else self.needed_branches()
        return self.score_features(self.pooled_features(ref, dist, branches))

    def score(self, ref: torch.Tensor, dist: torch.Tensor) -> torch.Tensor:
        """Scores (B,) for inference on images of any size: as :meth:`forward` in eval mode, but pooled tile by
        tile above :attr:`tile_pixels` pixels (bounded memory; the same scores to float rounding)."""
        return self.score_features(self.image_features(ref, dist, self.needed_branches()))

    def quality_map(self, ref: torch.Tensor, dist: torch.Tensor, prune: bool = True) -> torch.Tensor:
        """Where quality was lost: (B, 1, H, W), >= 0, larger = more visible degradation (head-weighted).

        ``prune``: compute only the feature groups the head has a non-zero weight on (exact, as in
        :meth:`forward`: a skipped map would add 0 everywhere); False computes them all.
        """
        branches = self.needed_branches() if prune else None
        masked, codes = self.masked_degradation(ref, dist, branches)
        h, w = ref.shape[-2:]
        n_mean = sum(self.config.map_channels)
        weights = self.head_weights() / self.feature_scale
        out = ref.new_zeros((ref.shape[0], 1, h, w))
        start = 0
        for m, c in zip(self.align_maps(masked, branches), self.config.map_channels):
            wm = weights[start : start + c] + weights[n_mean + start : n_mean + start + c]
            start += c
            if m is None:  # skipped: its weights are 0
                continue
            contrib = (m * wm.view(1, -1, 1, 1)).sum(dim=1, keepdim=True)
            out = out + F.interpolate(contrib, size=(h, w), mode="bilinear", align_corners=False)
        if "haar" in codes:
            # the three deficits with their own weights; 1 - HaarPSI (a function of all three) shares out equally
            deficits = HaarDegradation.deficit_map(codes["haar"])
            wh = weights[2 * n_mean : 2 * n_mean + 3] + weights[2 * n_mean + 3] / 3.0
            contrib = (deficits * wh.view(1, -1, 1, 1)).sum(dim=1, keepdim=True)
            out = out + F.interpolate(contrib, size=(h, w), mode="bilinear", align_corners=False)
        if "masked_haar" in codes:
            start = 2 * n_mean + self.config.n_haar_features
            wm = weights[start : start + MaskedHaar.FEATURES]
            contrib = (MaskedHaar.deficit_map(codes["masked_haar"]) * wm.view(1, -1, 1, 1)).sum(dim=1, keepdim=True)
            out = out + F.interpolate(contrib, size=(h, w), mode="bilinear", align_corners=False)
        return out

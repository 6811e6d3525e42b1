"""The causal-disentanglement model (``causal-iqa`` and its robust variant), registered with the model registry.

Modules: :mod:`.config` (architecture), :mod:`.fixed` (parameter-free pixel and Haar branches), :mod:`.learned`
(encoder, degradation code, masking), :mod:`.heads` (the two head formulas and their buffers), :mod:`.pruning`
(which branches a head needs), :mod:`.tiling` (bounded-memory pooling), :mod:`.model` (:class:`CausalIQA`:
features, heads, pruned and tiled scoring).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from iqa_cli.models.causal.config import CausalConfig
from iqa_cli.models.causal.fixed import HaarDegradation, PixelDegradation, fixed_colour
from iqa_cli.models.causal.heads import HEAD_BUFFERS, HEADS
from iqa_cli.models.causal.model import CausalIQA
from iqa_cli.models.causal.pruning import Branches
from iqa_cli.models.registry import ModelSpec, register

__all__ = [
    "HEADS",
    "HEAD_BUFFERS",
    "Branches",
    "CausalConfig",
    "CausalIQA",
    "ROBUST_CONFIG",
    "HaarDegradation",
    "PixelDegradation",
    "build",
    "build_robust",
    "fixed_colour",
]


def build(config: CausalConfig | dict | None = None) -> CausalIQA:
    """Factory used by the registry (the config comes from the weights metadata)."""
    return CausalIQA(config)


ROBUST_CONFIG = CausalConfig(masked_haar=True, rank_keep=0.6, rank_tau=0.25, jnd=2.0, pool_weight="ref")
"""The robust variant's architecture (its weights' metadata carries it; this is the fallback): the masked Haar block
with the soft-ranking channel gate, a just-noticeable difference of 2 levels and the reference's pooling weights
(bench/experiments/robust_rank.py)."""


def build_robust(config: CausalConfig | dict | None = None) -> CausalIQA:
    """Factory of the CPRL variant (masked Haar block with the soft-ranking channel gate) used by the registry."""
    return CausalIQA(config or ROBUST_CONFIG)


def _register(name: str, description: str, factory: Callable[..., CausalIQA], weights: str, **extra: Any) -> None:
    spec = ModelSpec(
        name=name,
        description=description,
        higher_is_better=True,
        scale=(0.0, 100.0),
        unit="quality 0-100 (100 = identical)",
        factory=factory,
        weights=weights,
        min_size=16,
        **extra,
    )
    register(spec)


_register(
    "causal-iqa-robust",
    "Robust variant of causal-iqa: its score is the masked Haar block's calibrated feature, whose degradation "
    "channels pass a CPRL soft-ranking channel gate at each position and a just-noticeable difference of 2 8-bit "
    "levels, pooled with the reference's weights (chosen on training images); one calibration weight fitted to 65 "
    "condition means",
    build_robust,
    "causal-iqa-robust.safetensors",
    tags=("learned", "robust"),
)
_register(
    "causal-iqa",
    "Masked Haar model: learned degradation code (structure removed vs added, chroma visibility) and masking on "
    "HaarPSI's perceptual front end; 3 learned parameters and a calibration to 65 KADID condition means",
    build,
    "causal-iqa.safetensors",
    default=True,
    tags=("learned",),
)

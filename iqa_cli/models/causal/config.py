"""The causal model's architecture hyper-parameters (stored in the weights metadata) and the feature layout they
imply."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from iqa_cli.models.causal.fixed import HaarDegradation, PixelDegradation
from iqa_cli.models.causal.heads import HEADS
from iqa_cli.models.causal.masked_haar import MaskedHaar


@dataclass(frozen=True)
class CausalConfig:
    """Architecture hyper-parameters (stored in the weights metadata)."""

    widths: tuple[int, int, int] = (16, 32, 48)
    content: tuple[int, int, int] = (8, 16, 24)
    degradation: tuple[int, int, int] = (8, 16, 24)
    activation: str = "relu"
    head: str = "few_label"
    pixel_branch: bool = True
    haar: bool = True
    visibility: float = 1.0  # multiplies the fixed branches' stabilising constants (see PixelDegradation)
    masked_haar: bool = False  # the masked Haar block (learned codes and masking on HaarPSI's front end)
    rank_keep: float = 1.0  # masked Haar block's soft-ranking gate: fraction of channels kept (1 = no gate)
    rank_tau: float = 0.25  # its temperature (relative to the channels' mean at a position)
    jnd: float = 0.0  # masked Haar block's just-noticeable difference (soft threshold on its changes, 8-bit units)
    pool_weight: str = "max"  # masked Haar block's pooling weight: "max" (HaarPSI's) or "ref" (the reference's alone)

    def __post_init__(self) -> None:
        if self.head not in HEADS:
            raise ValueError(f"unknown head {self.head!r}: expected one of {HEADS}")

    @classmethod
    def from_dict(cls, d: dict) -> CausalConfig:
        """From stored metadata; a missing ``haar`` key means a model without the Haar block (False), a missing
        ``visibility`` the default 1.0 (SSIM's and GMSD's constants), a missing ``masked_haar`` a model without the
        masked Haar block, a missing ``rank_keep`` / ``rank_tau`` no soft-ranking gate, a missing ``jnd`` no
        threshold, a missing ``pool_weight`` HaarPSI's ("max")."""
        fields: dict[str, Any] = {"haar": False} | {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}
        return cls(**fields)

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def map_channels(self) -> tuple[int, ...]:
        """Channels of each masked degradation map (learned scales, then the pixel branch's scales)."""
        pixel = (PixelDegradation.CHANNELS,) * len(PixelDegradation.STRIDES)
        return tuple(self.degradation) + (pixel if self.pixel_branch else ())

    @property
    def map_strides(self) -> tuple[int, ...]:
        """Stride (in input pixels) of each masked degradation map."""
        return (2, 4, 8) + (PixelDegradation.STRIDES if self.pixel_branch else ())

    @property
    def n_learned_features(self) -> int:
        return 2 * sum(self.degradation)

    @property
    def n_haar_features(self) -> int:
        return HaarDegradation.FEATURES if self.haar else 0

    @property
    def n_masked_haar_features(self) -> int:
        return MaskedHaar.FEATURES if self.masked_haar else 0

    @property
    def n_features(self) -> int:
        """Pooled features: mean and deviation of every map channel, then the Haar block and the masked Haar block
        (each if present)."""
        return 2 * sum(self.map_channels) + self.n_haar_features + self.n_masked_haar_features

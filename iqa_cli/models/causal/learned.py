"""The causal model's learned blocks: the shared encoder, the degradation code and the masking module.

With the shipped few-label heads these are not computed at inference (the heads put no weight on their features,
see :mod:`iqa_cli.models.causal.pruning`); the label-free head and training use them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

from iqa_cli.models.functional import smooth_abs
from iqa_cli.models.layers import make_activation, opponent_init

if TYPE_CHECKING:
    from iqa_cli.models.causal.config import CausalConfig


def conv(cin: int, cout: int, stride: int = 1, k: int = 3, bias: bool = True) -> nn.Conv2d:
    """k x k convolution with 'same' padding (at stride 1)."""
    return nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2, bias=bias)


class Encoder(nn.Module):
    """Shared multi-scale feature extractor.

    Shape: (B, 3, H, W) -> [(B, w0, H/2, W/2), (B, w1, H/4, W/4), (B, w2, H/8, W/8)].
    """

    def __init__(self, cfg: CausalConfig) -> None:
        super().__init__()
        w0, w1, w2 = cfg.widths
        act = cfg.activation
        self.colour = nn.Conv2d(3, 3, 1)
        opponent_init(self.colour)
        self.stage1 = nn.Sequential(conv(3, w0, 2), make_activation(act, w0), conv(w0, w0), make_activation(act, w0))
        self.stage2 = nn.Sequential(conv(w0, w1, 2), make_activation(act, w1), conv(w1, w1), make_activation(act, w1))
        self.stage3 = nn.Sequential(conv(w1, w2, 2), make_activation(act, w2), conv(w2, w2), make_activation(act, w2))

    def _colour(self, x: torch.Tensor) -> torch.Tensor:
        """``self.colour`` (a 1x1 convolution) as one batched matrix product: same values, far cheaper on CPU than
        the 3-channel 1x1 convolution."""
        n, c, h, w = x.shape
        weight = self.colour.weight.view(1, 3, c).expand(n, 3, c)
        bias = self.colour.bias
        assert bias is not None  # built with one
        return torch.baddbmm(bias.view(1, 3, 1), weight, x.reshape(n, c, h * w)).view(n, 3, h, w)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        # channels-last (NHWC) convolutions: on CPU oneDNN runs these narrow 3x3 convolutions faster than NCHW ones
        # (same values to float rounding); every later layer keeps the layout
        f1 = self.stage1(self._colour(x).contiguous(memory_format=torch.channels_last))
        f2 = self.stage2(f1)
        f3 = self.stage3(f2)
        return [f1, f2, f3]


class DegradationHead(nn.Module):
    """Degradation code from the feature change, bias-free so ``d(ref, ref) == 0`` exactly."""

    def __init__(self, cin: int, cout: int, activation: str) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(cin, cout, 1, bias=False),
            make_activation(activation, cout),
            nn.Conv2d(cout, cout, 1, bias=False),
        )

    def forward(self, f_ref: torch.Tensor, f_dist: torch.Tensor) -> torch.Tensor:
        return self.net(f_dist - f_ref)


class MaskingModule(nn.Module):
    """Content modulates degradation: ``masked = |d| * exp(-softplus(conv(content)))`` (= ``sigmoid(-conv)``).

    The gain depends on the reference content around each position (texture and contrast energy in the content
    code), as in human visual masking. Shape: content (B, Cc, h, w), degradation (B, Cd, h, w) -> (B, Cd, h, w).
    """

    def __init__(self, content_ch: int, degradation_ch: int) -> None:
        super().__init__()
        self.gain = nn.Conv2d(content_ch, degradation_ch, 3, padding=1)
        nn.init.zeros_(self.gain.weight)
        assert self.gain.bias is not None  # built with one
        nn.init.constant_(self.gain.bias, -2.0)

    def forward(self, content: torch.Tensor, degradation: torch.Tensor) -> torch.Tensor:
        gain = torch.sigmoid(-self.gain(content))  # exp(-softplus(z)) in one op
        return smooth_abs(degradation) * gain

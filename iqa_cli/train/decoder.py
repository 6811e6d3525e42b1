"""The intervention decoder of self-supervised training (not part of the inference model).

It decodes a (content, degradation) pair of code lists into the residual image ``dist - ref``, so degradation codes
can be swapped between images (decode one image's content with another's degradation) and nulled (the null
degradation must decode to no change).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from iqa_cli.models.causal.config import CausalConfig
from iqa_cli.models.causal.learned import conv


class InterventionDecoder(nn.Module):
    """(content codes, degradation codes) at three scales -> residual image ``dist - ref`` of ``size``."""

    def __init__(self, cfg: CausalConfig) -> None:
        super().__init__()
        c1, c2, c3 = cfg.content
        d1, d2, d3 = cfg.degradation
        self.up3 = nn.Sequential(conv(c3 + d3, 32), nn.ReLU())
        self.up2 = nn.Sequential(conv(32 + c2 + d2, 24), nn.ReLU())
        self.up1 = nn.Sequential(conv(24 + c1 + d1, 16), nn.ReLU())
        self.out = conv(16, 3)

    def forward(
        self, content: list[torch.Tensor], degradation: list[torch.Tensor], size: tuple[int, int]
    ) -> torch.Tensor:
        x = self.up3(torch.cat([content[2], degradation[2]], dim=1))
        x = F.interpolate(x, size=content[1].shape[-2:], mode="bilinear", align_corners=False)
        x = self.up2(torch.cat([x, content[1], degradation[1]], dim=1))
        x = F.interpolate(x, size=content[0].shape[-2:], mode="bilinear", align_corners=False)
        x = self.up1(torch.cat([x, content[0], degradation[0]], dim=1))
        x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
        return self.out(x)

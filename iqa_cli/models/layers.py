"""Building blocks of the learned networks: the activation factory (ReLU or CPRL soft-ranking) and the opponent
colour initialisation.

Every activation in a learned model is built by :func:`make_activation`, so the CPRL channel activation can replace
ReLUs without touching the architectures.
"""

from __future__ import annotations

import torch
from torch import nn

from iqa_cli.models.functional import OPPONENT

ACTIVATIONS = ("relu", "softrank")


class SoftRankActivation(nn.Module):
    """CPRL soft-ranking channel-wise activation.

    Channels are ranked by their (spatially pooled) response with a differentiable soft rank
    ``r_i = sum_j sigmoid((m_i - m_j) / tau)``; channels ranked in the top fraction ``keep`` pass (after a ReLU),
    the rest are damped towards zero by a smooth gate. Ranking makes the gate depend on the *order* of channel
    responses rather than their size, so a small perturbation that nudges magnitudes changes few gates.

    Shape: (B, C, H, W) -> (B, C, H, W).

    Args:
        channels: number of channels C.
        keep: fraction of channels kept open (the causally sufficient/necessary set).
        tau: temperature of the soft rank, relative to the mean channel response.
        sharpness: slope of the gate per rank unit around the threshold.

    References:
        L. Wang, D. Yuan. Causal Perception Inspired Representation Learning for Trustworthy Image Quality
        Assessment (CPRL).
    """

    def __init__(self, channels: int, keep: float = 0.5, tau: float = 0.1, sharpness: float = 8.0) -> None:
        super().__init__()
        if not 0.0 < keep <= 1.0:
            raise ValueError(f"keep must be in (0, 1], got {keep}")
        self.channels = channels
        self.keep = keep
        self.tau = tau
        self.sharpness = sharpness
        # learnable per-channel importance added to the pooled response before ranking (PNS-trained)
        self.importance = nn.Parameter(torch.zeros(channels))

    def soft_rank(self, x: torch.Tensor) -> torch.Tensor:
        """Soft rank in [0, 1] of each channel (1 = largest response), shape (B, C)."""
        pooled = torch.relu(x).mean(dim=(2, 3)) + self.importance
        scale = pooled.detach().abs().mean(dim=1, keepdim=True).clamp_min(1e-6) * self.tau
        diff = (pooled.unsqueeze(2) - pooled.unsqueeze(1)) / scale.unsqueeze(2)
        ranks = torch.sigmoid(diff).sum(dim=2) - 0.5  # self-comparison contributes 0.5
        return ranks / max(self.channels - 1, 1)

    def gate(self, x: torch.Tensor) -> torch.Tensor:
        """Gate in (0, 1) per channel, shape (B, C): ~1 for the top ``keep`` fraction of channels, ~0 below.

        Works in rank units: the soft rank is scaled to [0, C-1] and compared with the threshold
        ``(1 - keep) * C - 0.5``, so with C = 8 and keep = 0.5 the 4th-largest channel (rank 4) opens and the 5th
        (rank 3) closes, each half a rank unit from the threshold.
        """
        c = self.channels
        ranks = self.soft_rank(x) * max(c - 1, 1)
        threshold = (1.0 - self.keep) * c - 0.5
        return torch.sigmoid(self.sharpness * (ranks - threshold))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x) * self.gate(x)[:, :, None, None]


def make_activation(kind: str, channels: int) -> nn.Module:
    """Build an activation by name: ``relu`` or ``softrank`` (CPRL).

    The ReLU works in place: every one follows a convolution whose output nothing else reads (and autograd keeps
    what the convolution's backward needs), and a fresh full-size output costs more than the ReLU on CPU.
    """
    if kind == "relu":
        return nn.ReLU(inplace=True)
    if kind == "softrank":
        return SoftRankActivation(channels)
    raise ValueError(f"unknown activation {kind!r}: expected one of {ACTIVATIONS}")


def opponent_init(conv: nn.Conv2d) -> None:
    """Initialise a 1x1 conv 3->3 to an opponent colour transform (luminance, red-green, yellow-blue)."""
    w = torch.tensor(OPPONENT, dtype=conv.weight.dtype)
    with torch.no_grad():
        conv.weight.zero_()
        conv.weight[:3, :3, 0, 0] = w
        if conv.bias is not None:
            conv.bias.zero_()

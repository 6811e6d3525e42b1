"""The soft-ranking channel gate of the masked Haar block (CPRL's channel-wise activation, per position).

At each position the block's degradation channels (:meth:`MaskedHaar.maps`: gain and loss per orientation, chroma)
are ranked by their size with a differentiable soft rank

    ``r_i = sum_{j != i} sigmoid((u_i - u_j) / (tau * mean_j u_j))``  (in [0, C - 1], C - 1 = largest),

and each channel is multiplied by ``g_i = sigmoid(SHARPNESS * (r_i - ((1 - keep) C - 0.5)))``: the top ``keep``
fraction of channels (the change that dominates there: the causally relevant degradation) passes almost untouched,
the rest are damped towards 0. The temperature is relative to the channels' mean at that position, so the gate
depends on the *order* of the channels, not on their size: a perturbation too faint to change which degradation
dominates a position barely moves it.

Properties (tests/test_rank_gate.py): ``0 < g < 1`` so a gated channel is never larger than the channel and keeps
its sign (>= 0 here); a zero channel stays exactly 0 (identical images still score 100); the gate is per position,
so spatial means of gated maps pool exactly tile by tile; the gradient is exact (nothing detached: no gradient
masking, the attack sees the real function). ``keep >= 1`` is no gate at all (the identity, not computed).

Two parameters: ``keep`` (fraction of channels kept open) and ``tau`` (temperature); ``SHARPNESS`` is fixed.

References:
    L. Wang, D. Yuan. Causal Perception Inspired Representation Learning for Trustworthy Image Quality
    Assessment (CPRL): soft-ranking channel-wise activation.
"""

from __future__ import annotations

import torch

SHARPNESS = 4.0
"""Slope of the gate per rank unit around its threshold."""
EPS = 1e-12
"""Floor of the temperature's scale where every channel is 0 (there the gated channels are 0 whatever the gate)."""


def soft_rank(u: torch.Tensor, tau: float) -> torch.Tensor:
    """Soft rank of each channel of ``u`` (B, C, h, w) among the C channels at its position, in [0, C - 1]."""
    scale = (u.mean(dim=1, keepdim=True) * tau).clamp_min(EPS)
    diff = (u.unsqueeze(2) - u.unsqueeze(1)) / scale.unsqueeze(2)
    return torch.sigmoid(diff).sum(dim=2) - 0.5  # the self-comparison contributes 0.5


def rank_gate(u: torch.Tensor, keep: float, tau: float) -> torch.Tensor:
    """Gates in (0, 1) of ``u``'s channels (B, C, h, w): ~1 for the top ``keep`` fraction at each position."""
    c = u.shape[1]
    return torch.sigmoid(SHARPNESS * (soft_rank(u, tau) - ((1.0 - keep) * c - 0.5)))


def gated(u: torch.Tensor, keep: float, tau: float) -> torch.Tensor:
    """``u * rank_gate(u)``; ``u`` itself (the same tensor) when ``keep >= 1`` (no gate)."""
    if keep >= 1.0:
        return u
    return u * rank_gate(u, keep, tau)

"""The gradient the attack steps along: d score / d dist, with a fallback where it is NaN or zero everywhere."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from iqa_cli.attack.pgd import ball_noise

if TYPE_CHECKING:
    import torch

    from iqa_cli.api import Scorer

log = logging.getLogger(__name__)

JITTER = (0.25, 0.5, 1.0)  # fallback jitter amplitudes, as fractions of eps


def score_grad(scorer: Scorer, ref: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Score of ``(ref, x)`` and its gradient with respect to ``x`` (zero where the score ignores ``x``)."""
    import torch

    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        s = scorer.score_tensors(ref, x).reshape(-1)
        if not s.requires_grad:  # the score ignores dist entirely
            return s.detach(), torch.zeros_like(x)
        (g,) = torch.autograd.grad(s.sum(), x, allow_unused=True)
    return s.detach(), torch.zeros_like(x) if g is None else g


def _usable(g: torch.Tensor) -> bool:
    return bool(g.isfinite().all()) and bool(g.abs().amax() > 0)


def safe_grad(
    scorer: Scorer, ref: torch.Tensor, x: torch.Tensor, eps: float, gen: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Score and d score / d x at ``x``; a NaN or all-zero gradient is replaced by one taken at a jittered point
    (uniform noise of eps/4, eps/2, eps), and as a last resort by random signs. Returns (score, grad, fallback)."""
    s, g = score_grad(scorer, ref, x)
    if _usable(g):
        return s, g, 0
    for amp in JITTER:
        _, g = score_grad(scorer, ref, (x + ball_noise(x, eps * amp, gen)).clamp(0.0, 1.0))
        if _usable(g):
            return s, g, 1
    log.debug("gradient unusable even at jittered points; stepping in a random direction")
    return s, ball_noise(x, 1.0, gen), 1

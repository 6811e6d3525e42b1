"""The signed-gradient PGD step loop (Madry et al.), used by ``iqa attack``,
with its L-inf ball helpers: random points in the ball, projection into it, and 8-bit rounding inside it.

References:
    A. Madry et al. Towards deep learning models resistant to adversarial attacks. ICLR 2018 (PGD).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


def sign_steps(
    start: torch.Tensor,
    ascent: Callable[[torch.Tensor], torch.Tensor],
    sizes: Iterable[float],
    project: Callable[[torch.Tensor], torch.Tensor],
) -> Iterator[torch.Tensor]:
    """Signed-gradient ascent: for each step size ``alpha``, ``x <- project(x + alpha * sign(ascent(x)))``, starting
    at ``start``; yields every iterate (detached).

    Args:
        start: the first iterate (an image, or a perturbation of one).
        ascent: a tensor whose sign is the step direction at ``x`` (the objective's gradient, times -1 to descend);
            it gets ``x`` detached and may take the gradient with respect to it.
        sizes: the step sizes, one a step.
        project: maps a stepped iterate back into the feasible set (:func:`project`, or a clamp of a perturbation).
    """
    x = start.detach()
    for alpha in sizes:
        x = project(x + alpha * ascent(x).sign()).detach()
        yield x


def ball_noise(like: torch.Tensor, radius: float, generator: torch.Generator) -> torch.Tensor:
    """Uniform noise in [-radius, radius] of ``like``'s shape, dtype and device, drawn on the CPU from
    ``generator`` (the same numbers on every device)."""
    import torch

    return (torch.rand(like.shape, generator=generator) * 2.0 - 1.0).to(like) * radius


def project(x: torch.Tensor, clean: torch.Tensor, eps: float) -> torch.Tensor:
    """Clip ``x`` to the L-inf ball of radius ``eps`` around ``clean`` and to [0, 1]."""
    import torch

    return torch.minimum(torch.maximum(x, clean - eps), clean + eps).clamp(0.0, 1.0)


def round_in_ball(x: torch.Tensor, clean: torch.Tensor, eps: float) -> torch.Tensor:
    """Round to the 8-bit levels k/255 inside the eps ball around ``clean`` and inside [0, 1]: the nearest level,
    or, where that would leave the ball, the last level inside it toward the clean value; where no level lies
    inside the ball (eps < 1/255 off the grid), the clean value. Level arithmetic in float64."""
    import torch

    c, e = clean.double() * 255.0, eps * 255.0
    lo = torch.ceil(c - e - 1e-6).clamp_min(0.0)  # 1e-6 level: k/255 in float32 is not exactly k/255
    hi = torch.floor(c + e + 1e-6).clamp_max(255.0)
    q = torch.minimum(torch.maximum(torch.round(x.double() * 255.0), lo), hi)
    return (torch.where(lo > hi, c, q) / 255.0).to(x.dtype)

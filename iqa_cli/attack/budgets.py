"""Perturbation budgets: ``--eps`` parsing, the ladder of budgets the PGD attacks climb, and their step sizes."""

from __future__ import annotations

import math
from collections.abc import Iterable

from iqa_cli.errors import UsageError


def parse_eps(value: str | float) -> float:
    """Perturbation budget in [0, 1] units: ``"2/255"``, a fraction < 1 (``0.008``) or 8-bit levels >= 1 (``2``).

    Raises:
        UsageError: not a number, or not in (0, 1] after conversion.
    """
    text = str(value).strip()
    try:
        if "/" in text:
            num, den = text.split("/", 1)
            eps = float(num) / float(den)
        else:
            eps = float(text)
            eps = eps / 255.0 if eps >= 1.0 else eps
    except (ValueError, ZeroDivisionError):
        raise UsageError(f"--eps must be like 2/255, 0.008 or 2 (8-bit levels), got {value!r}") from None
    if not (math.isfinite(eps) and 0.0 < eps <= 1.0):
        raise UsageError(f"--eps must be in (0, 1] of the pixel range, got {value!r} = {eps:g}")
    return eps


def parse_eps_list(value: str) -> list[float]:
    """One or several budgets separated by commas (each as :func:`parse_eps`), ascending, duplicates dropped.

    Raises:
        UsageError: an empty list or entry, or a bad budget (named in the message).
    """
    parts = [p.strip() for p in str(value).split(",")]
    if not any(parts) or not all(parts):
        raise UsageError(f"--eps must be one budget or several separated by commas (2/255,4/255), got {value!r}")
    return sorted({parse_eps(p) for p in parts})


def eps_ladder(budgets: Iterable[float]) -> list[float]:
    """Budgets the PGD attacks climb, ascending: every power of two ``2**k / 255`` (k >= 0) below the largest
    budget, then the budgets themselves (a rung within 1e-9 of a budget is that budget).

    The rungs do not depend on which budgets are asked for, only on the largest one: a call at 64/255 goes through
    exactly the computation of a call at 8/255 first (same rungs, steps and seed), then climbs on."""
    wanted = sorted(set(budgets))
    top = wanted[-1]
    rungs = list(wanted)
    k = 0
    while (r := 2.0**k / 255.0) < top - 1e-9:
        if all(abs(r - b) > 1e-9 for b in wanted):
            rungs.append(r)
        k += 1
    return sorted(rungs)


def step_sizes(eps: float, steps: int) -> list[float]:
    """PGD step sizes at budget ``eps``: a cosine decay from ``4 * eps / steps`` to a tenth of that (their sum is
    about 2.2 eps: enough to cross the ball, with small steps at the end where large ones overshoot); one step is
    ``eps``."""
    if steps == 1:
        return [eps]
    top = 4.0 * eps / steps
    return [top * (0.1 + 0.45 * (1.0 + math.cos(math.pi * k / (steps - 1)))) for k in range(steps)]

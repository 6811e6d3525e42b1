"""What every trainer's step shares: the cosine learning-rate schedule, the optimiser step and the step report."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterable

import torch

StepCallback = Callable[[int, dict[str, float]], None]
"""``on_step(step, loss values)``, called after every step (``step`` counts from 1)."""


def cosine_lr(base: float, step: int, steps: int) -> float:
    """Learning rate at ``step`` (0-based) of ``steps``: ``base`` at step 0, falling along a half cosine to 0.

    A pure function of the step, so a resumed run follows the same schedule as an uninterrupted one."""
    return base * 0.5 * (1.0 + math.cos(math.pi * step / max(steps, 1)))


def set_lr(opt: torch.optim.Optimizer, lr: float) -> None:
    """Set the learning rate of every parameter group of ``opt``."""
    for group in opt.param_groups:
        group["lr"] = lr


def descend(
    opt: torch.optim.Optimizer, params: Iterable[torch.Tensor], loss: torch.Tensor, lr: float, max_norm: float = 5.0
) -> None:
    """One optimiser step on ``loss`` at learning rate ``lr``, the gradients clipped to a total norm of
    ``max_norm``."""
    set_lr(opt, lr)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, max_norm)
    opt.step()


def report_step(
    log: logging.Logger,
    label: str,
    step: int,
    steps: int,
    losses: dict[str, torch.Tensor],
    started: float,
    every: int,
    on_step: StepCallback | None = None,
) -> None:
    """Hand the loss values of ``step`` (0-based) to ``on_step``, and log them every ``every`` steps with the time
    since ``started`` (a :func:`time.perf_counter` reading)."""
    values = {k: float(v.detach()) for k, v in losses.items()}
    if on_step is not None:
        on_step(step + 1, values)
    if step % every == 0:
        log.info(
            "%s %d/%d %.1fs %s",
            label,
            step + 1,
            steps,
            time.perf_counter() - started,
            " ".join(f"{k}={v:.4f}" for k, v in values.items()),
        )

"""The learning-rate schedule of every trainer: cosine decay from the base rate to 0 over the run."""

from __future__ import annotations

import math

import torch


def cosine_lr(base: float, step: int, steps: int) -> float:
    """Learning rate at ``step`` (0-based) of ``steps``: ``base`` at step 0, falling along a half cosine to 0.

    A pure function of the step, so a resumed run follows the same schedule as an uninterrupted one."""
    return base * 0.5 * (1.0 + math.cos(math.pi * step / max(steps, 1)))


def set_lr(opt: torch.optim.Optimizer, lr: float) -> None:
    """Set the learning rate of every parameter group of ``opt``."""
    for group in opt.param_groups:
        group["lr"] = lr

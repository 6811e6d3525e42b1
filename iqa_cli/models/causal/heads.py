"""The causal model's two quality heads: their formulas (written once, here) and their buffers.

Both read the (B, F) pooled masked degradation features and give a score on the iqa scale (0-100, 100 = identical):

- label-free: a projection on a non-negative direction of the scaled features, ``100 * exp(-proj / tau)``;
- few-label: a non-negative (monotone) linear model on ``log1p(features / scale)`` predicting the human score
  (MOS scale, :func:`few_label_mos`), mapped so that identical images score 100: linear in the predicted MOS down
  to 5, then a smooth positive tail (:func:`few_label_score`).

The fitted parameters live in buffers of the model (saved with the weights): ``feature_scale`` (shared),
``lf_direction``, ``lf_tau``, ``fl_weights``, ``fl_bias``, ``fl_floor``. :func:`write_heads` and the readers below
are the only code that touches them from outside the model. Fitting the heads is :mod:`iqa_cli.train.heads`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import torch
from torch import nn

from iqa_cli.models.functional import soft_floor

HEADS = ("label_free", "few_label")
HEAD_BUFFERS = ("feature_scale", "lf_direction", "lf_tau", "fl_weights", "fl_bias", "fl_floor")

Array = TypeVar("Array", np.ndarray, torch.Tensor)


@dataclass(frozen=True)
class FewLabelHead:
    """Few-label head parameters: weights (F,) >= 0 on the transformed features, bias = the MOS of an identical
    pair, floor = the MOS that maps to a score of 0 (below it the soft tail)."""

    weights: np.ndarray
    bias: float
    floor: float


def fl_transform(features: Array, scale: Array) -> Array:
    """The few-label head's feature transform ``log1p(features / scale)`` (monotone, 0 at 0), for numpy arrays
    (head fitting) and tensors (the model) alike."""
    if isinstance(features, torch.Tensor):
        return torch.log1p(features / scale)
    return np.log1p(features / scale)


def few_label_mos(features: Array, scale: Array, weights: Array, bias: float | Array) -> Array:
    """The few-label head's prediction on the human-score scale: ``bias - fl_transform(features, scale) @ weights``."""
    return bias - fl_transform(features, scale) @ weights


def few_label_score(
    features: torch.Tensor,
    scale: torch.Tensor,
    weights: torch.Tensor,
    bias: float | torch.Tensor,
    floor: float | torch.Tensor,
) -> torch.Tensor:
    """Few-label scores 0-100: the predicted MOS relative to (floor, bias), through :func:`soft_floor` (identity
    down to 5, a positive tail below). 100 for identical images (zero features)."""
    rel = (few_label_mos(features, scale, weights, bias) - floor) / (bias - floor)
    return 100.0 * soft_floor(rel)


def label_free_score(
    features: torch.Tensor, scale: torch.Tensor, direction: torch.Tensor, tau: float | torch.Tensor
) -> torch.Tensor:
    """Label-free scores 0-100: ``100 * exp(-((features / scale) . direction) / tau)``."""
    proj = (features / scale) @ direction
    return 100.0 * torch.exp(-proj / tau)


# -- buffers --------------------------------------------------------------------------------------------------------
def register_head_buffers(model: nn.Module, n_features: int) -> None:
    """The heads' buffers, unfitted: scale 1, a uniform label-free direction, a few-label head with no weight (a
    constant score of 100)."""
    model.register_buffer("feature_scale", torch.ones(n_features))
    model.register_buffer("lf_direction", torch.full((n_features,), 1.0 / math.sqrt(n_features)))
    model.register_buffer("lf_tau", torch.tensor(1.0))
    model.register_buffer("fl_weights", torch.zeros(n_features))
    model.register_buffer("fl_bias", torch.tensor(5.0))
    model.register_buffer("fl_floor", torch.tensor(1.0))


def write_heads(
    model: nn.Module,
    *,
    scale: np.ndarray | None = None,
    label_free: tuple[np.ndarray, float] | None = None,
    few_label: FewLabelHead | None = None,
) -> None:
    """Write fitted parameters into ``model``'s head buffers (float32, on the model's device); what is not given
    is kept."""

    def put(name: str, value: np.ndarray | float) -> None:
        buf = model.get_buffer(name)
        if isinstance(value, np.ndarray):
            buf.copy_(torch.from_numpy(value.astype(np.float32)))
        else:
            buf.fill_(value)

    with torch.no_grad():
        if scale is not None:
            put("feature_scale", scale)
        if label_free is not None:
            put("lf_direction", label_free[0])
            put("lf_tau", label_free[1])
        if few_label is not None:
            put("fl_weights", few_label.weights)
            put("fl_bias", few_label.bias)
            put("fl_floor", few_label.floor)


def read_scale(model: nn.Module) -> np.ndarray:
    """The fitted ``feature_scale`` (F,), float32 as stored."""
    return model.get_buffer("feature_scale").detach().cpu().numpy()


def read_few_label(model: nn.Module) -> FewLabelHead:
    """The fitted few-label head (weights float32 as stored)."""
    return FewLabelHead(
        model.get_buffer("fl_weights").detach().cpu().numpy(),
        float(model.get_buffer("fl_bias")),
        float(model.get_buffer("fl_floor")),
    )

"""Fitting the two quality heads on pooled masked degradation features (:mod:`iqa_cli.train.features`).

- :func:`fit_feature_scale`: per-feature scale (mean response over synthetic degradations), shared by both heads.
- :func:`fit_label_free`: principal direction of the scaled features (uncentred, so a zero feature vector — an
  identical pair — projects to 0 and scores 100); non-negative by Perron-Frobenius since features are >= 0,
  hence quality falls as any degradation feature grows. ``tau`` puts the median training degradation at 50.
- :func:`fit_few_label`: non-negative ridge regression ``mos = b - w . log1p(features / scale)``, ``w >= 0``
  (more degradation never raises quality); the intercept is free. :func:`fit_few_label_on` restricts it to a
  feature group (:func:`feature_groups`); :func:`fit_head` adds the floor where the score reaches 0.

The heads' formulas and their buffers are :mod:`iqa_cli.models.causal.heads` (``write_heads`` installs a fit);
:func:`predict` evaluates that same formula on numpy features.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy.optimize import nnls  # type: ignore[import-untyped]

from iqa_cli.models.causal import CausalIQA
from iqa_cli.models.causal.heads import FewLabelHead, few_label_score, fl_transform, write_heads

FLOOR_MARGIN = 0.1
"""The 0 of a fitted few-label scale lies this fraction of the score range below the worst-rated pair."""


def fit_feature_scale(features: np.ndarray) -> np.ndarray:
    """Per-feature scale: the mean response over a set of degradations (floored to stay positive)."""
    scale = features.mean(axis=0)
    return np.maximum(scale, 1e-6 + 1e-3 * float(scale.max(initial=0.0)))


def fit_label_free(features: np.ndarray, scale: np.ndarray) -> tuple[np.ndarray, float]:
    """Principal direction (unit, >= 0) of scaled features and the tau mapping the median to a score of 50."""
    x = features / scale
    _, _, vt = np.linalg.svd(x, full_matrices=False)
    direction = vt[0]
    if direction.sum() < 0:
        direction = -direction
    direction = np.clip(direction, 0.0, None)
    direction /= np.linalg.norm(direction) + 1e-12
    proj = x @ direction
    tau = float(np.median(proj)) / math.log(2.0)
    return direction.astype(np.float32), max(tau, 1e-6)


def refit_label_free(model: CausalIQA, features: np.ndarray) -> float:
    """Refit ``feature_scale`` and the label-free projection of ``model`` in place (the few-label weights are
    kept); returns the new tau."""
    scale = fit_feature_scale(features)
    direction, tau = fit_label_free(features, scale)
    write_heads(model, scale=scale, label_free=(direction, tau))
    return tau


def fit_few_label(
    features: np.ndarray, mos: np.ndarray, scale: np.ndarray, ridge: float = 1.0
) -> tuple[np.ndarray, float]:
    """Non-negative ridge regression ``mos ~ b - z . w`` with ``w >= 0``; returns (w, b).

    Args:
        features: (N, F) pooled features.
        mos: (N,) human scores, higher = better.
        scale: per-feature scale.
        ridge: L2 penalty on w, relative to the number of samples.
    """
    z = fl_transform(features, scale)
    z_mean = z.mean(axis=0)
    y_mean = float(mos.mean())
    zc = z - z_mean
    yc = mos - y_mean
    n, f = zc.shape
    a = np.vstack([-zc, math.sqrt(ridge * n / f) * np.eye(f) * zc.std(axis=0).mean()])
    b = np.concatenate([yc, np.zeros(f)])
    w, _ = nnls(a, b, maxiter=50 * f)
    bias = y_mean + float(z_mean @ w)
    return w.astype(np.float32), bias


def fit_few_label_on(
    features: np.ndarray, mos: np.ndarray, scale: np.ndarray, columns: np.ndarray, ridge: float = 1.0
) -> tuple[np.ndarray, float]:
    """:func:`fit_few_label` using only ``columns`` (the other weights are 0)."""
    w_sub, b = fit_few_label(features[:, columns], mos, scale[columns], ridge)
    w = np.zeros(features.shape[1], np.float32)
    w[columns] = w_sub
    return w, b


def fit_head(features: np.ndarray, mos: np.ndarray, scale: np.ndarray, ridge: float) -> FewLabelHead:
    """:func:`fit_few_label` on every feature plus the floor: :data:`FLOOR_MARGIN` of the score range below the
    worst-rated pair is where the score reaches 0."""
    w, b = fit_few_label(features, mos, scale, ridge=ridge)
    floor = float(mos.min() - FLOOR_MARGIN * np.ptp(mos))
    if b <= floor:  # degenerate fit (all-zero weights); keep the mapping well defined
        b = floor + 1e-6
    return FewLabelHead(w, float(b), floor)


def predict(head: FewLabelHead, features: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Scores 0-100 of the model's few-label head formula (:func:`~iqa_cli.models.causal.heads.few_label_score`),
    in float64."""
    f, s, w = (torch.from_numpy(np.asarray(a, dtype=np.float64)) for a in (features, scale, head.weights))
    return few_label_score(f, s, w, head.bias, head.floor).numpy()


def feature_groups(model: CausalIQA) -> dict[str, np.ndarray]:
    """Column indices of the pooled features: ``all``, ``learned`` (encoder scales), ``pixel`` (the fixed,
    training-free branches: pixel maps and the Haar block) and ``masked_haar`` (the masked Haar block, if any)."""
    cfg = model.config
    n_mean = sum(cfg.map_channels)
    n_learned = sum(cfg.degradation)
    learned = np.r_[0:n_learned, n_mean : n_mean + n_learned]
    masked = np.arange(cfg.n_features - cfg.n_masked_haar_features, cfg.n_features)
    pixel = np.setdiff1d(np.arange(cfg.n_features), np.r_[learned, masked])
    groups = {"all": np.arange(cfg.n_features), "learned": learned}
    if len(pixel):
        groups["pixel"] = pixel
    if len(masked):
        groups["masked_haar"] = masked
    return groups

"""Fitting the two quality heads on pooled masked degradation features.

- :func:`fit_feature_scale`: per-feature scale (mean response over synthetic degradations), shared by both heads.
- :func:`fit_label_free`: principal direction of the scaled features (uncentred, so a zero feature vector — an
  identical pair — projects to 0 and scores 100); non-negative by Perron-Frobenius since features are >= 0,
  hence quality falls as any degradation feature grows. ``tau`` puts the median training degradation at 50.
- :func:`fit_few_label`: non-negative ridge regression ``mos = b - w . log1p(features / scale)``, ``w >= 0``
  (more degradation never raises quality); the intercept is free.

The heads' formulas and their buffers are :mod:`iqa_cli.models.causal.heads` (``write_heads`` installs a fit).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import torch
from scipy.optimize import nnls

from iqa_cli.models.causal import CausalIQA
from iqa_cli.models.causal.heads import fl_transform


@torch.inference_mode()
def collect_features(model: CausalIQA, pairs: Iterable[tuple[np.ndarray, np.ndarray]], batch: int = 8) -> np.ndarray:
    """Pooled masked degradation features (N, F) for (ref, dist) HxWxC float arrays (same size within a batch),
    computed on the device the model is on."""
    model.eval()
    device = model.fl_bias.device
    rows: list[np.ndarray] = []
    buf_r: list[np.ndarray] = []
    buf_d: list[np.ndarray] = []

    def flush() -> None:
        if not buf_r:
            return
        r = torch.from_numpy(np.stack(buf_r)).permute(0, 3, 1, 2).float().to(device)
        d = torch.from_numpy(np.stack(buf_d)).permute(0, 3, 1, 2).float().to(device)
        rows.append(model.pooled_features(r, d).cpu().numpy())
        buf_r.clear()
        buf_d.clear()

    for ref, dist in pairs:
        if buf_r and (ref.shape != buf_r[0].shape or len(buf_r) >= batch):
            flush()
        buf_r.append(ref)
        buf_d.append(dist)
    flush()
    return np.concatenate(rows) if rows else np.zeros((0, model.config.n_features), np.float32)


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

"""Agreement between a metric's predictions and subjective scores: SRCC, KRCC, PLCC and RMSE.

Sign convention: every reported correlation is positive when the metric agrees with people. Callers pass
subjective scores oriented so that higher = better (see :mod:`iqa_cli.datasets`) and predictions passed
through :func:`orient` with the model's ``higher_is_better`` flag.

PLCC and RMSE are computed after the usual monotonic 4-parameter logistic mapping of the predictions onto the
subjective scale (VQEG FR-TV Phase II, 2003). Because the fitted logistic may be decreasing, PLCC is given the
sign of the fitted mapping's slope, so a metric whose order is reversed reads negative, like its SRCC.

References:
    VQEG, "Final report from the Video Quality Experts Group on the validation of objective models of video
    quality assessment, Phase II", 2003.
    H. R. Sheikh, M. F. Sabir, A. C. Bovik, "A statistical evaluation of recent full reference image quality
    assessment algorithms", IEEE TIP 15(11), 2006.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
from numpy.typing import ArrayLike

from iqa_cli.errors import UsageError

logger = logging.getLogger(__name__)

Mapping = Callable[[ArrayLike], np.ndarray]

_MIN_N = 3
_MAXFEV = 20000


@dataclass(frozen=True)
class Correlations:
    """Agreement of one metric with one set of subjective scores.

    Attributes:
        srcc: Spearman rank correlation of the raw predictions.
        plcc: Pearson correlation after the logistic mapping, signed by the mapping's slope.
        krcc: Kendall tau-b of the raw predictions.
        rmse: Root mean squared error of the mapped predictions, in subjective-score units.
        n: Number of (prediction, score) pairs.
    """

    srcc: float
    plcc: float
    krcc: float
    rmse: float
    n: int

    def as_dict(self) -> dict[str, float | int]:
        """Fields as a plain dict in the fixed order srcc, plcc, krcc, rmse, n."""
        return asdict(self)


def orient(pred: ArrayLike, higher_is_better: bool) -> np.ndarray:
    """Orient predictions so that higher = better quality.

    Args:
        pred: Raw metric outputs.
        higher_is_better: The metric's own direction; lower-is-better outputs (distances) are negated.

    Returns:
        Float64 array, negated when ``higher_is_better`` is False.
    """
    arr = np.asarray(pred, dtype=np.float64)
    return arr.copy() if higher_is_better else -arr


def logistic4(x: ArrayLike, b1: float, b2: float, b3: float, b4: float) -> np.ndarray:
    """The VQEG 4-parameter logistic ``(b1 - b2) / (1 + exp(-(x - b3) / |b4|)) + b2``.

    Args:
        x: Predictions.
        b1: Upper asymptote (reached as x grows when b1 > b2).
        b2: Lower asymptote.
        b3: Midpoint.
        b4: Scale; its sign is ignored.

    Returns:
        Mapped values, same shape as ``x``.
    """
    from scipy.special import expit  # type: ignore[import-untyped]

    z = (np.asarray(x, dtype=np.float64) - b3) / max(abs(b4), 1e-300)
    return (b1 - b2) * expit(z) + b2


def _check_pair(pred: ArrayLike, mos: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Validate and convert a (pred, mos) pair to finite 1-D float64 arrays of equal length."""
    arrays = []
    for name, values in (("pred", pred), ("mos", mos)):
        try:
            arr = np.asarray(values, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise UsageError(f"{name} must be numeric: {exc}") from exc
        if arr.ndim != 1:
            raise UsageError(f"{name} must be one-dimensional, got shape {arr.shape}")
        bad = np.flatnonzero(~np.isfinite(arr))
        if bad.size:
            raise UsageError(
                f"{name} has {bad.size} non-finite value(s) (NaN/inf), first at index {int(bad[0])} — "
                "drop or fix those entries before computing correlations"
            )
        arrays.append(arr)
    p, m = arrays
    if p.shape != m.shape:
        raise UsageError(f"pred and mos differ in length: {p.size} vs {m.size}")
    if p.size < _MIN_N:
        raise UsageError(f"correlations need at least {_MIN_N} pairs, got {p.size}")
    for name, arr in (("pred", p), ("mos", m)):
        if np.ptp(arr) == 0:
            raise UsageError(f"{name} is constant ({arr[0]:g} for all {arr.size} items): correlations are undefined")
    return p, m


def _linear_fit(pred: np.ndarray, mos: np.ndarray) -> tuple[np.ndarray, Mapping]:
    slope, intercept = np.polyfit(pred, mos, 1)
    params = np.array([slope, intercept], dtype=np.float64)

    def mapping(x: ArrayLike) -> np.ndarray:
        return slope * np.asarray(x, dtype=np.float64) + intercept

    return params, mapping


def fit_logistic(pred: ArrayLike, mos: ArrayLike) -> tuple[np.ndarray, Mapping]:
    """Fit the 4-parameter logistic mapping predictions onto subjective scores.

    Starts from b1 = max(mos), b2 = min(mos) (swapped when pred and mos are negatively rank-correlated),
    b3 = mean(pred), b4 = std(pred) (constant inputs are rejected, so std > 0); up to 20000 evaluations. If
    the fit fails or yields a degenerate curve, falls back to a least-squares line and logs a warning.

    Args:
        pred: Predictions, 1-D.
        mos: Subjective scores, 1-D, same length.

    Returns:
        ``(params, mapping)``: params are ``[b1, b2, b3, b4]`` for the logistic, or ``[slope, intercept]``
        after the linear fallback; ``mapping`` applies the fitted function to new predictions.

    Raises:
        UsageError: Inputs are not finite 1-D arrays of equal length >= 3, or one of them is constant.
    """
    from scipy.optimize import OptimizeWarning, curve_fit  # type: ignore[import-untyped]
    from scipy.stats import spearmanr  # type: ignore[import-untyped]

    p, m = _check_pair(pred, mos)
    # Fit in standardised units (pred and mos each to mean 0, std 1) for conditioning: Elo scores in the
    # thousands and distances near 1e-3 then fit alike. The initial guess is the one named above.
    p_mean, p_std, m_mean, m_std = float(p.mean()), float(p.std()), float(m.mean()), float(m.std())
    u, v = (p - p_mean) / p_std, (m - m_mean) / m_std
    hi, lo = float(v.max()), float(v.min())
    if float(spearmanr(p, m).statistic) < 0:
        hi, lo = lo, hi
    reason = ""
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore", OptimizeWarning)
            c, _ = curve_fit(logistic4, u, v, p0=[hi, lo, 0.0, 1.0], maxfev=_MAXFEV)
        params = np.array(
            [m_mean + m_std * c[0], m_mean + m_std * c[1], p_mean + p_std * c[2], p_std * c[3]],
            dtype=np.float64,
        )
        fitted = logistic4(p, *params)
        if not np.all(np.isfinite(params)) or not np.all(np.isfinite(fitted)):
            reason = "non-finite parameters"
        elif np.ptp(fitted) == 0:
            reason = "flat curve"
    except (RuntimeError, ValueError, TypeError, FloatingPointError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if reason:
        logger.warning("logistic fit failed (%s) on %d points; using a linear fit instead", reason, p.size)
        return _linear_fit(p, m)
    b1, b2, b3, b4 = (float(b) for b in params)

    def mapping(x: ArrayLike) -> np.ndarray:
        return logistic4(x, b1, b2, b3, b4)

    return params, mapping


def srcc(a: ArrayLike, b: ArrayLike) -> float:
    """Spearman rank correlation of two 1-D arrays.

    Raises:
        UsageError: Inputs are not finite 1-D arrays of equal length >= 3, or one of them is constant.
    """
    from scipy.stats import spearmanr  # type: ignore[import-untyped]

    x, y = _check_pair(a, b)
    return float(spearmanr(x, y).statistic)


def correlations(pred: ArrayLike, mos: ArrayLike) -> Correlations:
    """SRCC and KRCC on the raw predictions; PLCC and RMSE after the logistic mapping onto ``mos``.

    Args:
        pred: Predictions oriented higher = better (see :func:`orient`), 1-D.
        mos: Subjective scores oriented higher = better, 1-D, same length.

    Returns:
        The four figures and the number of pairs.

    Raises:
        UsageError: Inputs contain NaN/inf, differ in length, have fewer than 3 pairs, or are constant.
    """
    from scipy.stats import kendalltau, pearsonr, spearmanr  # type: ignore[import-untyped]

    p, m = _check_pair(pred, mos)
    _, mapping = fit_logistic(p, m)
    mapped = mapping(p)
    slope_sign = float(np.sign(mapping(np.array([p.max()]))[0] - mapping(np.array([p.min()]))[0]))
    if np.ptp(mapped) == 0 or slope_sign == 0:
        plcc = 0.0
    else:
        plcc = slope_sign * float(pearsonr(mapped, m).statistic)
    rmse = float(np.sqrt(np.mean((mapped - m) ** 2)))
    return Correlations(
        srcc=float(spearmanr(p, m).statistic),
        plcc=plcc,
        krcc=float(kendalltau(p, m).statistic),
        rmse=rmse,
        n=int(p.size),
    )

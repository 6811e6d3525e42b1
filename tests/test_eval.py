"""Tests of iqa_cli.eval: correlations against known values, orientation, and input validation."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from scipy.stats import kendalltau, pearsonr, spearmanr

from iqa_cli.errors import UsageError
from iqa_cli.eval import Correlations, correlations, fit_logistic, logistic4, orient, srcc


def test_perfect_monotone_nonlinear_agrees() -> None:
    x = np.linspace(0.0, 1.0, 40)
    mos = 1.0 + 8.0 * np.tanh(3.0 * x)  # monotone but far from linear
    result = correlations(x, mos)
    assert result.srcc == pytest.approx(1.0)
    assert result.krcc == pytest.approx(1.0)
    assert result.plcc == pytest.approx(1.0, abs=1e-6)
    assert result.plcc > float(pearsonr(x, mos).statistic)  # the mapping removed the non-linearity
    assert result.rmse == pytest.approx(0.0, abs=1e-4)
    assert result.n == 40


def test_reversed_prediction_reads_negative_everywhere() -> None:
    x = np.linspace(0.0, 1.0, 40)
    mos = 1.0 + 8.0 * np.tanh(3.0 * x)
    result = correlations(-x, mos)
    assert result.srcc == pytest.approx(-1.0)
    assert result.krcc == pytest.approx(-1.0)
    assert result.plcc == pytest.approx(-1.0, abs=1e-6)


def test_orient_makes_a_distance_agree() -> None:
    x = np.linspace(0.0, 1.0, 30)
    mos = 5.0 - 4.0 * x**2
    distance = x  # lower = better, as for a distance-like metric
    assert correlations(orient(distance, higher_is_better=False), mos).srcc == pytest.approx(1.0)
    assert correlations(orient(distance, higher_is_better=False), mos).plcc > 0.999
    np.testing.assert_array_equal(orient([1.0, -2.0], higher_is_better=True), [1.0, -2.0])
    np.testing.assert_array_equal(orient([1.0, -2.0], higher_is_better=False), [-1.0, 2.0])
    assert orient([1, 2], True).dtype == np.float64


def test_small_case_matches_scipy_and_hand_values() -> None:
    pred = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    mos = np.array([2.0, 1.0, 4.0, 3.0, 5.0])
    # By hand: rank differences d = (1, -1, 1, -1, 0), sum d^2 = 4, SRCC = 1 - 6*4 / (5*24) = 0.8;
    # pairs: 8 concordant, 2 discordant, KRCC = (8 - 2) / 10 = 0.6.
    result = correlations(pred, mos)
    assert result.srcc == pytest.approx(0.8)
    assert result.krcc == pytest.approx(0.6)
    assert result.srcc == pytest.approx(float(spearmanr(pred, mos).statistic))
    assert result.krcc == pytest.approx(float(kendalltau(pred, mos).statistic))
    assert srcc(pred, mos) == pytest.approx(0.8)
    # PLCC after the logistic is at least the raw Pearson correlation (the line is nearly a logistic).
    assert result.plcc >= float(pearsonr(pred, mos).statistic) - 1e-6


def test_noisy_data_scale_free() -> None:
    rng = np.random.default_rng(0)
    pred = rng.normal(size=200)
    mos = 2.0 * pred + rng.normal(size=200)
    base = correlations(pred, mos)
    shifted = correlations(pred * 1000.0 + 1500.0, mos)  # Elo-like scale
    assert shifted.srcc == pytest.approx(base.srcc)
    assert shifted.plcc == pytest.approx(base.plcc, abs=1e-5)
    assert 0.8 < base.plcc < 0.95
    assert base.rmse == pytest.approx(float(np.sqrt(np.mean((fit_logistic(pred, mos)[1](pred) - mos) ** 2))))


def test_logistic4_formula_and_fit_recovers_parameters() -> None:
    x = np.array([-1.0, 0.0, 2.0])
    expected = (9.0 - 1.0) / (1.0 + np.exp(-(x - 0.5) / 0.7)) + 1.0
    np.testing.assert_allclose(logistic4(x, 9.0, 1.0, 0.5, -0.7), expected)  # |b4|
    grid = np.linspace(-3.0, 4.0, 60)
    params, mapping = fit_logistic(grid, logistic4(grid, 9.0, 1.0, 0.5, 0.7))
    assert params.shape == (4,)
    np.testing.assert_allclose(params[:3], [9.0, 1.0, 0.5], atol=1e-4)
    assert abs(params[3]) == pytest.approx(0.7, abs=1e-4)
    np.testing.assert_allclose(mapping(grid), logistic4(grid, 9.0, 1.0, 0.5, 0.7), atol=1e-6)


def test_fit_falls_back_to_linear_and_logs(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="iqa_cli.eval"):
        params, mapping = fit_logistic([1.0, 2.0, 3.0], [1.0, 3.0, 2.0])  # 3 points < 4 parameters
    assert params.shape == (2,)
    assert "linear fit" in caplog.text
    np.testing.assert_allclose(mapping(np.array([1.0, 3.0])), [1.5, 2.5])
    assert correlations([1.0, 2.0, 3.0], [1.0, 3.0, 2.0]).plcc == pytest.approx(0.5)


def test_as_dict_order_and_types() -> None:
    result = Correlations(srcc=0.9, plcc=0.8, krcc=0.7, rmse=0.1, n=10)
    assert list(result.as_dict()) == ["srcc", "plcc", "krcc", "rmse", "n"]
    assert result.as_dict()["n"] == 10
    with pytest.raises(AttributeError):
        result.srcc = 0.0  # type: ignore[misc]


@pytest.mark.parametrize(
    ("pred", "mos", "match"),
    [
        ([1.0, np.nan, 3.0, 4.0], [1.0, 2.0, 3.0, 4.0], r"pred has 1 non-finite value.*index 1"),
        ([1.0, 2.0, 3.0, 4.0], [1.0, 2.0, np.inf, 4.0], r"mos has 1 non-finite value.*index 2"),
        ([1.0, 2.0], [1.0, 2.0], r"at least 3 pairs, got 2"),
        ([1.0, 2.0, 3.0], [1.0, 2.0, 3.0, 4.0], r"differ in length: 3 vs 4"),
        ([[1.0, 2.0, 3.0]], [1.0, 2.0, 3.0], r"pred must be one-dimensional"),
        ([2.0, 2.0, 2.0, 2.0], [1.0, 2.0, 3.0, 4.0], r"pred is constant"),
        ([1.0, 2.0, 3.0, 4.0], [5.0, 5.0, 5.0, 5.0], r"mos is constant"),
        (["a", "b", "c"], [1.0, 2.0, 3.0], r"pred must be numeric"),
    ],
)
def test_bad_inputs_raise_usage_error(pred: list, mos: list, match: str) -> None:
    with pytest.raises(UsageError, match=match):
        correlations(pred, mos)


def test_srcc_validates_too() -> None:
    with pytest.raises(UsageError, match="non-finite"):
        srcc([1.0, 2.0, float("nan")], [1.0, 2.0, 3.0])

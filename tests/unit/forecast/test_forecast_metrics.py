"""Per-horizon metrics against scipy, the undefined cases, and the two baselines."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from kabucast.forecast.metrics import METRIC_NAMES, horizon_metrics, momentum_baseline, zero_baseline


def panel(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """12 dates with 2..31 tickers each (dates with 2 tickers must be skipped), ties in both arrays."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(2, 32, 12)
    sizes[[0, 5]] = 2
    dates = np.repeat(np.datetime64("2024-01-05") + 7 * np.arange(12), sizes)
    y_true = np.round(rng.normal(0.0, 0.05, (len(dates), 12)), 2)  # coarse: many ties
    y_pred = np.round(0.3 * y_true + rng.normal(0.0, 0.05, y_true.shape), 2)
    return y_true, y_pred, dates


def scipy_means(y_true: np.ndarray, y_pred: np.ndarray, dates: np.ndarray, h: int) -> tuple[float, float]:
    ic, rankic = [], []
    for d in np.unique(dates):
        rows = dates == d
        if rows.sum() >= 3:
            ic.append(stats.pearsonr(y_true[rows, h], y_pred[rows, h])[0])
            rankic.append(stats.spearmanr(y_true[rows, h], y_pred[rows, h])[0])
    return float(np.mean(ic)), float(np.mean(rankic))


def test_ic_and_rankic_match_scipy_per_date() -> None:
    # GIVEN an uneven panel with ties WHEN the metrics are computed THEN each horizon matches scipy to 1e-9
    y_true, y_pred, dates = panel()
    got = horizon_metrics(y_true, y_pred, dates)
    for h in range(12):
        ic, rankic = scipy_means(y_true, y_pred, dates, h)
        assert got["ic"][h] == pytest.approx(ic, abs=1e-9)
        assert got["rankic"][h] == pytest.approx(rankic, abs=1e-9)


def test_pooled_metrics() -> None:
    y_true, y_pred, dates = panel(seed=3)
    got = horizon_metrics(y_true, y_pred, dates)
    assert set(got) == set(METRIC_NAMES)
    assert all(len(v) == 12 for v in got.values())
    np.testing.assert_allclose(got["mae"], np.abs(y_pred - y_true).mean(axis=0), atol=1e-12)
    np.testing.assert_allclose(got["pred_std"], y_pred.std(axis=0), atol=1e-12)
    np.testing.assert_allclose(got["dir_acc"], (np.sign(y_pred) == np.sign(y_true)).mean(axis=0), atol=1e-12)


def test_constant_predictions_have_no_ic_and_zero_std() -> None:
    # GIVEN a collapsed model: the same prediction for every ticker, on one date only for horizon 2
    y_true, y_pred, dates = panel(seed=1)
    y_pred[:, 0] = 0.1
    y_pred[dates == dates[-1], 1] = 0.1
    got = horizon_metrics(y_true, y_pred, dates)
    # THEN horizon 1 has no IC at all and a zero std: the collapse is flagged
    assert math.isnan(got["ic"][0]) and math.isnan(got["rankic"][0])
    assert got["pred_std"][0] == pytest.approx(0.0, abs=1e-12)
    assert got["pred_xs_std"][0] == pytest.approx(0.0, abs=1e-12)
    # AND horizon 2's constant date is left out of the mean, not counted as zero
    keep = dates != dates[-1]
    ic, rankic = scipy_means(y_true[keep], y_pred[keep], dates[keep], 1)
    assert got["ic"][1] == pytest.approx(ic, abs=1e-9)
    assert got["rankic"][1] == pytest.approx(rankic, abs=1e-9)


def test_dates_with_fewer_than_three_tickers_give_nan() -> None:
    y = np.array([[0.1], [0.2], [0.3], [0.4]])
    got = horizon_metrics(y, y, np.array([1, 1, 2, 2]))
    assert math.isnan(got["ic"][0]) and math.isnan(got["rankic"][0]) and math.isnan(got["pred_xs_std"][0])


def test_a_zero_return_is_its_own_direction() -> None:
    # GIVEN outcomes up, down and flat
    y_true = np.array([[0.1], [-0.1], [0.0], [0.0]])
    # WHEN the zero baseline predicts THEN only the flat outcomes count as hits
    got = horizon_metrics(y_true, zero_baseline(4, horizons=1), np.zeros(4))
    assert got["dir_acc"] == [0.5]


def test_momentum_baseline_scales_with_the_horizon() -> None:
    pred = momentum_baseline(np.array([0.24, -0.12]), shrink=0.5)
    assert pred.shape == (2, 12) and pred.dtype == np.float32
    np.testing.assert_allclose(pred[0], 0.24 * 0.5 * np.arange(1, 13) / 12, rtol=1e-6)
    np.testing.assert_allclose(pred[1, -1], -0.06, rtol=1e-6)


def test_a_one_month_trailing_return_is_carried_for_one_month_at_every_horizon() -> None:
    # GIVEN minus last month's log return (the 1-month reversal signal)
    # WHEN it is turned into forecasts with a 1-month lookback THEN every horizon gets the same shrunk month
    pred = momentum_baseline(np.array([0.05, -0.02]), shrink=0.5, lookback_months=1)
    assert pred.shape == (2, 12)
    np.testing.assert_allclose(pred, np.repeat([[0.025], [-0.01]], 12, axis=1), rtol=1e-6)


def test_mismatched_shapes_are_refused() -> None:
    with pytest.raises(ValueError, match="need y_true"):
        horizon_metrics(np.zeros((3, 12)), np.zeros((3, 11)), np.zeros(3))

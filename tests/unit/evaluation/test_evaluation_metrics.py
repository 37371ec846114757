"""Metrics against independent references: empyrical for return series, scipy for per-date correlations."""

from __future__ import annotations

import math

import empyrical
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from kabucast.evaluation import metrics as m


def daily_returns(seed: int, n: int = 600, drift: float = 0.0004) -> pd.Series:
    rng = np.random.default_rng(seed)
    return pd.Series(rng.normal(drift, 0.012, n), index=pd.bdate_range("2021-01-04", periods=n))


def panel(seed: int = 0, n_dates: int = 40, n_tickers: int = 30) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Scores and outcomes with coarse values (many ties), scattered NaN, a 2-pair date and a constant date."""
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range("2024-01-01", periods=n_dates, name="date")
    tickers = [f"T{i}" for i in range(n_tickers)]
    realised = np.round(rng.normal(0.0, 0.02, (n_dates, n_tickers)), 2)
    scores = np.round(0.5 * realised + rng.normal(0.0, 0.02, realised.shape), 2)
    scores[rng.uniform(size=scores.shape) < 0.1] = np.nan
    realised[rng.uniform(size=realised.shape) < 0.1] = np.nan
    scores[3, 2:] = np.nan  # date 3: two pairs, no IC
    scores[5] = 0.01  # date 5: constant scores, no IC
    frame = {"index": dates, "columns": tickers}
    return pd.DataFrame(scores, **frame), pd.DataFrame(realised, **frame)


@pytest.mark.parametrize(("seed", "drift"), [(0, 0.0004), (1, -0.0003), (2, 0.0), (3, 0.002)])
def test_return_metrics_match_empyrical(seed: int, drift: float) -> None:
    # GIVEN a random daily return series WHEN every metric is computed THEN it equals empyrical's to 1e-9
    r = daily_returns(seed, drift=drift)
    expected = {
        "sharpe": empyrical.sharpe_ratio(r),
        "sortino": empyrical.sortino_ratio(r),
        "calmar": empyrical.calmar_ratio(r),
        "max_drawdown": empyrical.max_drawdown(r),
        "annual_return": empyrical.annual_return(r),
        "volatility": empyrical.annual_volatility(r),
    }
    got = m.return_metrics(r)
    assert got.keys() == expected.keys()
    for name, value in expected.items():
        assert got[name] == pytest.approx(value, rel=1e-9, abs=1e-12), name
    assert m.return_metrics(r.to_numpy()) == got  # an array gives the same numbers as a Series


def test_return_metrics_skip_nan_days_as_empyrical_does() -> None:
    r = daily_returns(4)
    r.iloc[[3, 50, 51]] = np.nan
    assert m.sharpe_ratio(r) == pytest.approx(empyrical.sharpe_ratio(r), rel=1e-9)
    assert m.sortino_ratio(r) == pytest.approx(empyrical.sortino_ratio(r), rel=1e-9)
    assert m.annual_return(r) == pytest.approx(empyrical.annual_return(r), rel=1e-9)
    assert m.max_drawdown(r) == pytest.approx(empyrical.max_drawdown(r), rel=1e-9)


def test_drawdown_conventions() -> None:
    # a first-day loss is a drawdown from the starting equity of 1; the number is negative
    assert m.max_drawdown(np.array([-0.1, 0.05, 0.05])) == pytest.approx(-0.1)
    assert m.max_drawdown(np.array([0.1, -0.5, 0.2])) == pytest.approx(-0.5)
    # a series that never falls has no drawdown, hence no Calmar ratio
    rising = np.full(30, 0.001)
    assert m.max_drawdown(rising) == 0.0
    assert math.isnan(m.calmar_ratio(rising))
    np.testing.assert_allclose(m.drawdown_series([0.1, -0.5, 0.2]), [0.0, -0.5, -0.4])


def test_sortino_downside_deviation_counts_every_day() -> None:
    # two days up, two days down: the downside deviation averages min(r, 0)^2 over all four days
    r = np.array([0.02, -0.01, 0.03, -0.02])
    assert m.downside_risk(r) == pytest.approx(math.sqrt((0.01**2 + 0.02**2) / 4) * math.sqrt(252))
    assert m.sortino_ratio(r) == pytest.approx(empyrical.sortino_ratio(r), rel=1e-12)


def test_ic_and_rankic_match_scipy_per_date() -> None:
    # GIVEN a panel with NaN pairs, ties, a 2-pair date and a constant date
    scores, realised = panel()
    # WHEN per-date IC and RankIC are computed
    ic, rankic = m.ic_series(scores, realised), m.rank_ic_series(scores, realised)
    # THEN each date matches scipy on the pairs where both sides exist, and the degenerate dates are NaN
    for date in scores.index:
        x, y = scores.loc[date].to_numpy(), realised.loc[date].to_numpy()
        both = np.isfinite(x) & np.isfinite(y)
        if both.sum() < 3 or np.ptp(x[both]) == 0:
            assert math.isnan(ic[date]) and math.isnan(rankic[date])
            continue
        assert ic[date] == pytest.approx(stats.pearsonr(x[both], y[both])[0], abs=1e-9)
        assert rankic[date] == pytest.approx(stats.spearmanr(x[both], y[both])[0], abs=1e-9)
    assert ic.isna().sum() == 2 and rankic.isna().sum() == 2


def test_a_multiindex_series_gives_the_same_ic_as_the_wide_frame() -> None:
    scores, realised = panel(seed=2)
    long_scores, long_realised = scores.stack(), realised.stack()
    assert isinstance(long_scores.index, pd.MultiIndex)
    pd.testing.assert_series_equal(m.rank_ic_series(long_scores, long_realised), m.rank_ic_series(scores, realised))


def test_row_ranks_match_scipy_rankdata() -> None:
    scores, _ = panel(seed=5)
    x = scores.to_numpy()
    ranks = m.row_ranks(x)
    for row, got in zip(x, ranks, strict=True):
        finite = np.isfinite(row)
        np.testing.assert_allclose(got[finite], stats.rankdata(row[finite]))
        assert np.isnan(got[~finite]).all()


def test_ic_summary() -> None:
    summary = m.ic_summary(pd.Series([0.1, 0.2, 0.3, np.nan]))
    assert summary["mean"] == pytest.approx(0.2)
    assert summary["std"] == pytest.approx(0.1)
    assert summary["ir"] == pytest.approx(2.0)
    assert summary["n"] == 3


def test_ic_summary_t_stat_respects_overlapping_labels() -> None:
    import statsmodels.api as sm

    # GIVEN 600 per-date ICs on 20-session labels: each shares 19 sessions of outcome with the next
    rng = np.random.default_rng(0)
    ic = pd.Series(0.02 + np.convolve(rng.normal(0, 0.1, 619), np.ones(20) / 20, mode="valid"))
    summary = m.ic_summary(ic, label_sessions=20)
    # THEN its t-stat divides by the Newey-West error with lag 40 (statsmodels as the reference),
    # far smaller than the i.i.d. IR * sqrt(n)
    hac = sm.OLS(ic.to_numpy(), np.ones(len(ic))).fit(cov_type="HAC", cov_kwds={"maxlags": 40, "use_correction": False})
    assert summary["se"] == pytest.approx(float(hac.bse[0]), rel=1e-9)
    assert summary["t_stat"] == pytest.approx(summary["mean"] / summary["se"])
    assert summary["t_stat"] < 0.5 * summary["ir"] * math.sqrt(summary["n"])
    assert summary["ci_low"] < summary["mean"] < summary["ci_high"] and summary["lag"] == 40


def test_precision_at_k_of_a_random_ranking_is_k_over_n() -> None:
    # GIVEN random scores unrelated to the outcomes, with a varying number of tickers per date
    rng = np.random.default_rng(11)
    shape = (3000, 50)
    scores, realised = pd.DataFrame(rng.normal(size=shape)), pd.DataFrame(rng.normal(size=shape))
    scores[rng.uniform(size=shape) < 0.2] = np.nan
    k = 5
    # WHEN P@K and the random baseline are computed
    p_at_k, baseline = m.precision_at_k(scores, realised, k), m.random_precision_at_k(scores, realised, k)
    # THEN the baseline is exactly K / N per date, and the random scores' mean P@K agrees with it
    n = scores.notna().sum(axis=1)
    np.testing.assert_allclose(baseline, k / n)
    stderr = p_at_k.std() / math.sqrt(len(p_at_k))
    assert abs(p_at_k.mean() - baseline.mean()) < 4 * stderr


def test_precision_at_k_of_perfect_and_reversed_rankings() -> None:
    realised = pd.DataFrame(np.random.default_rng(3).normal(size=(20, 30)))
    realised.iloc[0, :25] = np.nan  # 5 names left: P@5 is undefined
    perfect = m.precision_at_k(realised.rank(axis=1), realised, 5)
    assert math.isnan(perfect.iloc[0]) and (perfect.iloc[1:] == 1.0).all()
    assert (m.precision_at_k(-realised, realised, 5).iloc[1:] == 0.0).all()


def test_top_bottom_spread_and_hit_rate_by_hand() -> None:
    dates = pd.bdate_range("2024-01-01", periods=2)
    scores = pd.DataFrame([[5, 4, 3, 2, 1], [1, 2, 3, 4, 5]], index=dates, dtype=float)
    realised = pd.DataFrame([[0.03, -0.01, 0.0, 0.01, -0.02], [0.01, 0.02, -0.01, -0.03, 0.04]], index=dates)
    # top 40 % = 2 names, bottom 40 % = 2 names
    spread = m.top_bottom_spread(scores, realised, quantile=0.4)
    np.testing.assert_allclose(spread, [(0.03 - 0.01) / 2 - (0.01 - 0.02) / 2, (0.04 - 0.03) / 2 - 0.03 / 2])
    signs = pd.DataFrame([[1.0, 1, -1, 1, -1], [1.0, 1, -1, -1, 1]], index=dates)
    np.testing.assert_allclose(m.hit_rate(signs, realised), [3 / 5, 1.0])  # a zero outcome matches no sign


def test_quantile_masks_are_disjoint_sized_and_deterministic_under_ties() -> None:
    scores = np.array(
        [
            [0.0, 0.0, 0.0, 0.0, 0.0, 0.0],  # all tied: leftmost names win the top, the next ones the bottom
            [np.nan, 3.0, 1.0, np.nan, 2.0, 0.0],  # NaN never selected; 4 names x 0.2 -> 1 a side
            [np.nan, np.nan, np.nan, np.nan, np.nan, 1.0],  # a single name: no book
        ]
    )
    top, bottom = m.quantile_masks(scores, 0.34)
    assert not (top & bottom).any()
    np.testing.assert_array_equal(top.sum(axis=1), [2, 1, 0])
    np.testing.assert_array_equal(np.flatnonzero(top[0]), [0, 1])
    np.testing.assert_array_equal(np.flatnonzero(bottom[0]), [2, 3])
    np.testing.assert_array_equal(np.flatnonzero(top[1]), [1])
    np.testing.assert_array_equal(np.flatnonzero(bottom[1]), [5])
    assert not bottom[2].any()


def test_turnover_counts_entry_and_both_sides_of_a_switch() -> None:
    weights = pd.DataFrame([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.5, np.nan]])
    np.testing.assert_allclose(m.turnover(weights), [1.0, 0.0, 2.0, 1.5])


def test_calibration_table_bins_by_prediction() -> None:
    rng = np.random.default_rng(0)
    pred = rng.normal(size=(100, 20))
    realised = 0.5 * pred + rng.normal(scale=0.1, size=pred.shape)
    pred[0, 0] = np.nan
    table = m.calibration_table(pred, realised, bins=10)
    assert len(table) == 10 and table["count"].sum() == pred.size - 1
    assert table["pred_mean"].is_monotonic_increasing
    np.testing.assert_allclose(table["realised_mean"], 0.5 * table["pred_mean"], atol=0.05)

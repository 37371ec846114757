"""Per-day ranker metrics: the JPX competition score against its published formula, and the obvious cases."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kabucast.ranker.metrics import daily_metrics, horizon_metrics, jpx_spread_returns, paired_rankic, summarize

D, N = 30, 500
DATES = pd.bdate_range("2024-01-01", periods=D, name="date")


def kaggle_jpx_score(scores: np.ndarray, realised: np.ndarray) -> float:
    """The JPX Tokyo Stock Exchange Prediction competition's scorer, as published (Rank 0 = best)."""

    def per_day(df: pd.DataFrame, portfolio_size: int = 200, toprank_weight_ratio: float = 2) -> float:
        weights = np.linspace(start=toprank_weight_ratio, stop=1, num=portfolio_size)
        purchase = (df.sort_values(by="Rank")["Target"][:portfolio_size] * weights).sum() / weights.mean()
        short = (df.sort_values(by="Rank", ascending=False)["Target"][:portfolio_size] * weights).sum() / weights.mean()
        return purchase - short

    rows = []
    for d in range(len(scores)):
        rank = (-scores[d]).argsort(kind="stable").argsort()
        rows.append(pd.DataFrame({"Date": d, "Rank": rank, "Target": realised[d]}))
    buf = pd.concat(rows).groupby("Date")[["Rank", "Target"]].apply(per_day)
    return float(buf.mean() / buf.std())


def test_jpx_score_matches_the_competition_formula() -> None:
    rng = np.random.default_rng(0)
    realised = rng.normal(0, 0.02, (D, N))
    scores = realised + rng.normal(0, 0.05, (D, N))
    daily = daily_metrics(scores, realised, DATES, k=50)
    assert summarize(daily)["jpx_score"] == pytest.approx(kaggle_jpx_score(scores, realised), rel=1e-9)


def test_a_perfect_ranking_and_a_random_one() -> None:
    rng = np.random.default_rng(1)
    realised = rng.normal(0, 0.02, (D, N))
    perfect = summarize(daily_metrics(realised * 3 + 1, realised, DATES, k=50))
    assert perfect["rankic_mean"] == pytest.approx(1.0)
    assert perfect["p_at_k"] == pytest.approx(1.0) and perfect["random_p_at_k"] == pytest.approx(50 / N)
    assert perfect["win_rate"] == 1.0 and perfect["spread"] > 0 and perfect["jpx_score"] > 0
    noise = summarize(daily_metrics(rng.normal(size=(D, N)), realised, DATES, k=50))
    assert abs(noise["rankic_mean"]) < 3 / np.sqrt(N) and abs(noise["delta_p_at_k"]) < 0.05


def test_missing_values_and_small_days() -> None:
    scores = np.array([[3.0, 2.0, 1.0, np.nan], [1.0, np.nan, np.nan, np.nan]])
    realised = np.array([[0.03, 0.01, -0.02, 0.5], [0.01, 0.02, 0.03, 0.04]])
    # day 0: 3 pairs -> n = 1: weight 2 / mean 2 on the best (0.03) minus the worst (-0.02); day 1: 1 pair
    np.testing.assert_allclose(jpx_spread_returns(scores, realised), [0.05, np.nan])


def test_horizon_metrics_lays_out_every_horizon() -> None:
    rng = np.random.default_rng(2)
    realised = rng.normal(size=(D, 50, 2))
    days, summary = horizon_metrics(realised, realised, DATES, (1, 5), k=5)
    assert list(summary.index) == [1, 5] and summary["rankic_mean"].tolist() == pytest.approx([1.0, 1.0])
    assert len(days) == 2 * D and set(days.columns) >= {"date", "horizon", "rankic", "jpx_spread", "win"}


def test_vol_neutral_precision_takes_away_what_volatility_alone_earns() -> None:
    # GIVEN returns that are pure noise scaled by each stock's volatility, and a model with some skill
    rng = np.random.default_rng(5)
    vol = np.repeat(rng.uniform(0.005, 0.05, (1, N)), D, axis=0)  # (D, N), persistent per stock
    shock = rng.normal(size=(D, N))
    realised = vol * shock
    by_vol = summarize(daily_metrics(vol, realised, DATES, k=50, risk=vol))
    skilled = summarize(daily_metrics(shock + rng.normal(0.0, 1.0, (D, N)), realised, DATES, k=50, risk=vol))
    random = 50 / N
    # THEN ranking by volatility beats random on raw P@K (volatile names fill the realised top) ...
    assert by_vol["p_at_k"] > random + 0.05 and abs(by_vol["rankic_mean"]) < 3 / np.sqrt(N)
    # ... but not once each return is divided by its volatility
    assert abs(by_vol["p_at_k_vol_neutral"] - random) < 0.03
    # AND a model that sees the shocks keeps its edge there
    assert skilled["p_at_k_vol_neutral"] > random + 0.1
    # AND without a risk array the figure is absent (NaN), not made up
    assert np.isnan(summarize(daily_metrics(vol, realised, DATES, k=50))["p_at_k_vol_neutral"])


def test_models_are_compared_with_each_baseline_paired_per_date() -> None:
    # GIVEN outcomes, a model that sees them, and a baseline that sees nothing
    rng = np.random.default_rng(8)
    realised = rng.normal(size=(D, N, 2))
    daily = {
        "neural": horizon_metrics(realised + rng.normal(0, 1.0, realised.shape), realised, DATES, (1, 5), k=50)[0],
        "feature:noise": horizon_metrics(rng.normal(size=realised.shape), realised, DATES, (1, 5), k=50)[0],
    }
    paired = paired_rankic(daily, ["feature:noise"])
    # THEN one row per model, baseline and horizon (a baseline is not compared with itself)
    assert list(zip(paired["model"], paired["baseline"], paired["horizon"], strict=True)) == [
        ("neural", "feature:noise", 1),
        ("neural", "feature:noise", 5),
    ]
    # AND the difference is the difference of the daily means, its interval above 0 for a real edge
    own, other = (daily[n][daily[n]["horizon"] == 1]["rankic"].mean() for n in ("neural", "feature:noise"))
    assert paired.loc[0, "value"] == pytest.approx(own - other)
    assert paired["ci_low"].min() > 0 and paired.loc[1, "method"] == "Newey-West, lag 10"

"""The free 1-month reversal baseline: ``ForecastSamples.reversal_1m`` is minus the trailing 21-session log
return, point in time, and ranks a market whose prices revert; on a random walk it earns nothing."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kabucast.data.calendar import SESSIONS_PER_MONTH
from kabucast.evaluation.uncertainty import label_lag, mean_estimate
from kabucast.features import PricePanel, weekly_feature_history
from kabucast.forecast.dataset import ForecastSamples, build_samples
from kabucast.forecast.metrics import momentum_baseline, per_date_rankic

SESSIONS = 1_100  # 156 weeks of history + 12 months of labels + ~70 as-of days
PRICES = ["open", "high", "low", "close", "adj_close"]


def hand_made_frames(n_tickers: int, transient: float, seed: int) -> dict[str, pd.DataFrame]:
    """Log close = a random walk (1 % a session) + i.i.d. transient noise of std ``transient`` that is gone the
    next session: a month's move partly reverts (transient > 0) or is pure noise (transient = 0)."""
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range("2015-01-05", periods=SESSIONS, name="date")
    walk = np.cumsum(rng.normal(0.0, 0.01, (SESSIONS, n_tickers)), axis=0)  # (T, N)
    close = 1_000.0 * np.exp(walk + rng.normal(0.0, transient, (SESSIONS, n_tickers)) if transient else walk)
    frames = {}
    for i in range(n_tickers):
        c = close[:, i]
        frames[f"{1000 + i}.T"] = pd.DataFrame(
            {"open": c, "high": c * 1.01, "low": c * 0.99, "close": c, "adj_close": c, "volume": 1e6}, index=dates
        )
    return frames


def samples_of(frames: dict[str, pd.DataFrame], calendar, sectors) -> ForecastSamples:
    panel = PricePanel.from_frames(frames)
    history = weekly_feature_history(panel, panel.dates)
    return build_samples(panel, history, {}, {}, sectors, calendar, static_mode="none")


def test_reversal_is_minus_the_trailing_month_and_sees_no_later_bar(calendar, sectors) -> None:
    # GIVEN a hand-made panel and the samples built on it
    frames = hand_made_frames(4, 0.0, seed=0)
    panel = PricePanel.from_frames(frames)
    s = samples_of(frames, calendar, sectors)
    rows, cols = panel.dates.get_indexer(s.dates), s.ticker_pos
    # THEN reversal_1m is minus the log return of adj_close over the 21 sessions up to the as-of close
    expected = -np.log(panel.adj_close[rows, cols] / panel.adj_close[rows - SESSIONS_PER_MONTH, cols])
    np.testing.assert_allclose(s.reversal_1m, expected, rtol=1e-5, atol=1e-7)
    # WHEN every bar after an as-of date is changed (the labels move with them)
    as_of = s.dates[len(s) // 2]
    rng = np.random.default_rng(1)
    moved_frames = {}
    for ticker, frame in frames.items():
        later = frame.index > as_of
        moved_frames[ticker] = frame.copy()
        moved_frames[ticker].loc[later, PRICES] *= rng.uniform(0.5, 2.0, (later.sum(), 1))
    moved = samples_of(moved_frames, calendar, sectors)
    # THEN the signal of every sample up to that date is the same
    known = s.dates <= as_of
    assert (moved.dates == s.dates).all() and not np.allclose(moved.target, s.target)
    np.testing.assert_array_equal(moved.reversal_1m[known], s.reversal_1m[known])


@pytest.mark.parametrize(("transient", "reverts"), [(0.03, True), (0.0, False)])
def test_reversal_ranks_a_reverting_market_and_not_a_random_walk(calendar, sectors, transient, reverts) -> None:
    # GIVEN 60 names whose prices revert a transient shock, or follow a pure random walk
    s = samples_of(hand_made_frames(60, transient, seed=1), calendar, sectors)
    # WHEN the reversal baseline forecasts the month-1 log return
    forecast = momentum_baseline(s.reversal_1m, lookback_months=1)
    daily, _ = per_date_rankic(s.target[:, :1], forecast[:, :1], s.dates.to_numpy())
    rankic = mean_estimate(daily[:, 0], label_lag(SESSIONS_PER_MONTH))
    # THEN its RankIC is positive beyond noise on the reverting market, and not told from 0 on the random walk
    if reverts:
        assert rankic.ci_low > 0.1
    else:
        assert not rankic.excludes_zero and abs(rankic.value) < 0.1

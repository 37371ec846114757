"""Weekly bars: calendar weeks, the partial week, holidays, missing weeks, dividend adjustment."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from kabucast.data.calendar import TradingCalendar
from kabucast.features.bars import WeeklyBars, complete_bars, running_bars, week_of_dates
from kabucast.features.panel import PricePanel


def _mondays(index: pd.DatetimeIndex) -> pd.DatetimeIndex:
    return index - pd.to_timedelta(index.day_of_week, unit="D")


def _weekly(panel: PricePanel) -> tuple[WeeklyBars, WeeklyBars, np.ndarray]:
    week_of_date = week_of_dates(panel.dates)
    running = running_bars(panel, week_of_date)
    return running, complete_bars(running, week_of_date), week_of_date


def test_complete_bars_match_a_direct_weekly_aggregation(make_frames: Callable[..., dict[str, pd.DataFrame]]) -> None:
    # GIVEN one ticker with dividends over half a year
    frame = make_frames(("A.T",), "2023-01-04", "2023-06-30")["A.T"]
    factor = frame["adj_close"] / frame["close"]

    # WHEN its weekly bars are built
    _, complete, _ = _weekly(PricePanel.from_frames({"A.T": frame}))

    # THEN they equal pandas' own aggregation by Monday of the dividend-adjusted prices
    grouped = pd.DataFrame(
        {
            "open": frame["open"] * factor,
            "high": frame["high"] * factor,
            "low": frame["low"] * factor,
            "close": frame["adj_close"],
            "volume": frame["volume"].astype(float),
        }
    ).groupby(_mondays(frame.index))
    expected = grouped.agg({"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"})
    for column in expected.columns:
        np.testing.assert_allclose(getattr(complete, column)[:, 0], expected[column].to_numpy(), rtol=1e-12)
    np.testing.assert_array_equal(complete.sessions[:, 0], grouped.size().to_numpy())


def test_a_week_closed_by_holidays_has_no_row(calendar: TradingCalendar) -> None:
    # GIVEN the sessions around Golden Week 2019, when the TSE was closed from Apr 29 to May 6
    sessions = calendar.sessions("2019-04-15", "2019-05-17")

    # WHEN dates are mapped to weeks
    week = week_of_dates(sessions)

    # THEN the week of Apr 29 has no row: the week of Apr 22 is followed directly by the week of May 6
    mondays = _mondays(sessions).unique()
    assert pd.Timestamp("2019-04-29") not in mondays
    assert list(np.unique(week)) == list(range(len(mondays)))
    assert week[sessions.get_loc(pd.Timestamp("2019-05-07"))] == week[sessions.get_loc(pd.Timestamp("2019-04-26"))] + 1


def test_the_running_bar_is_the_week_so_far(make_frames: Callable[..., dict[str, pd.DataFrame]]) -> None:
    # GIVEN one ticker and a Wednesday of a five-session week
    frame = make_frames(("A.T",), "2024-02-05", "2024-02-16")["A.T"]
    running, _, _ = _weekly(PricePanel.from_frames({"A.T": frame}))
    wednesday = frame.index.get_loc(pd.Timestamp("2024-02-07"))

    # WHEN / THEN its running bar aggregates Monday..Wednesday only
    so_far = frame.loc["2024-02-05":"2024-02-07"]
    factor = so_far["adj_close"] / so_far["close"]
    assert running.open[wednesday, 0] == so_far["open"].iloc[0] * factor.iloc[0]
    assert running.high[wednesday, 0] == (so_far["high"] * factor).max()
    assert running.low[wednesday, 0] == (so_far["low"] * factor).min()
    assert running.close[wednesday, 0] == so_far["adj_close"].iloc[-1]
    assert running.volume[wednesday, 0] == so_far["volume"].sum()
    assert running.sessions[wednesday, 0] == 3


def test_a_week_without_bars_is_a_flat_bar_at_the_previous_close(
    make_frames: Callable[..., dict[str, pd.DataFrame]],
) -> None:
    # GIVEN two tickers, B without any bar in the week of 2024-03-11 (A trades that week)
    frames = make_frames(("A.T", "B.T"), "2024-03-01", "2024-03-29")
    frames["B.T"] = frames["B.T"].drop(frames["B.T"].loc["2024-03-11":"2024-03-15"].index)

    # WHEN weekly bars are built
    _, complete, _ = _weekly(PricePanel.from_frames(frames))

    # THEN B's row for that week is flat at its previous weekly close, with no volume or sessions
    k, previous_close = 2, frames["B.T"].loc[:"2024-03-08", "adj_close"].iloc[-1]
    for field in ("open", "high", "low", "close"):
        assert getattr(complete, field)[k, 1] == previous_close
    assert complete.volume[k, 1] == 0 and complete.sessions[k, 1] == 0 and complete.n_ret[k, 1] == 0
    assert complete.sessions[k, 0] == 5


def test_daily_returns_span_a_missing_day(make_frames: Callable[..., dict[str, pd.DataFrame]]) -> None:
    # GIVEN one ticker missing Wednesday 2024-03-13
    frame = make_frames(("A.T",), "2024-03-11", "2024-03-15")["A.T"].drop(pd.Timestamp("2024-03-13"))

    # WHEN its week is aggregated
    _, complete, _ = _weekly(PricePanel.from_frames({"A.T": frame}))

    # THEN the week has 4 sessions, 3 daily returns (the first bar has none), Thursday's spanning Tuesday
    returns = np.log(frame["adj_close"]).diff().dropna()
    assert complete.sessions[0, 0] == 4 and complete.n_ret[0, 0] == 3
    np.testing.assert_allclose(complete.ret_sq[0, 0], (returns**2).sum(), rtol=1e-12)
    assert complete.up_days[0, 0] == (returns > 0).sum()

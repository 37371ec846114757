"""Samples: one as-of date vs many, point-in-time, insufficient history, no NaN."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from kabucast.data.calendar import TradingCalendar
from kabucast.errors import InsufficientHistory
from kabucast.features.panel import PricePanel
from kabucast.features.registry import SEQ_WEEKS, WEEKLY_FEATURES
from kabucast.features.sequences import weekly_feature_history, weekly_features_at, weekly_features_checked

PRICE_COLUMNS = ["open", "high", "low", "close", "adj_close"]


def perturb(
    frames: dict[str, pd.DataFrame], mask_of: Callable[[pd.DatetimeIndex], np.ndarray], seed: int = 1
) -> dict[str, pd.DataFrame]:
    """Copies of ``frames`` whose bars selected by ``mask_of(index)`` get random price and volume factors."""
    rng = np.random.default_rng(seed)
    out = {}
    for ticker, frame in frames.items():
        changed = frame.copy()
        rows = mask_of(frame.index)
        factor = rng.uniform(0.5, 1.5, rows.sum())[:, None]
        changed.loc[rows, PRICE_COLUMNS] = changed.loc[rows, PRICE_COLUMNS].to_numpy() * factor
        changed.loc[rows, "volume"] = (
            (changed.loc[rows, "volume"] * rng.uniform(0.1, 10, rows.sum())).round().astype("int64")
        )
        out[ticker] = changed
    return out


def test_sequences_have_the_model_shape(three_year_market: dict[str, pd.DataFrame]) -> None:
    # GIVEN four tickers with about 233 weeks of bars
    panel = PricePanel.from_frames(three_year_market)

    # WHEN sequences are built for two of them
    features = weekly_features_at(panel, "2023-06-14", ["9984.T", "1301.T"])

    # THEN there is one (156, 23) float32 sequence per requested ticker, all finite
    assert features.shape == (2, SEQ_WEEKS, len(WEEKLY_FEATURES)) == (2, 156, 23)
    assert features.dtype == np.float32 and np.isfinite(features).all()
    np.testing.assert_array_equal(features[1], weekly_features_at(panel, "2023-06-14", ["1301.T"])[0])


def test_many_dates_equal_one_date_at_a_time(three_year_market: dict[str, pd.DataFrame]) -> None:
    # GIVEN a market where one ticker is listed late, misses a week and some days, and another is
    #       listed on a Wednesday inside the range of as-of dates (it weighs in market-relative returns)
    frames = dict(three_year_market)
    late = frames["9984.T"].loc["2020-01-06":]
    missing = [
        *late.loc["2022-08-08":"2022-08-12"].index,
        *late.index[100:110],
        *late.loc["2023-01-04":"2023-01-05"].index,
    ]
    frames["9984.T"] = late.drop(missing)
    frames["NEW.T"] = frames["2914.T"].loc["2022-10-12":] * 1.5
    panel = PricePanel.from_frames(frames)
    sessions = panel.dates[panel.dates >= "2022-09-01"]
    # every other session, a weekend, a holiday, and the first session of 2023 (9984.T has no bar yet that week)
    as_of = sessions[::2].append(pd.DatetimeIndex(["2023-01-07", "2022-12-31", "2023-01-04"]))

    # WHEN features are built for all dates at once, and date by date
    history = weekly_feature_history(panel, as_of)

    # THEN every sample matches, for every ticker with enough history
    for i, day in enumerate(as_of):
        batch = weekly_features_checked(panel, day)
        ok = panel.positions(batch.tickers)
        np.testing.assert_array_equal(history.windows(np.full(len(ok), i), ok), batch.features)
        assert np.isfinite(batch.features).all()
        assert set(batch.failures) == {panel.tickers[j] for j in np.flatnonzero(history.weeks_available[i] < 156)}
    assert len(as_of) > 30 and history.partial.shape == (len(as_of), 5, 23)


@pytest.mark.parametrize("as_of", ["2022-11-16", "2022-11-18", "2023-01-04"])
def test_features_are_point_in_time(three_year_market: dict[str, pd.DataFrame], as_of: str) -> None:
    # GIVEN a market, and a copy whose every bar after the as-of date (same week included) is scrambled
    day = pd.Timestamp(as_of)
    panel = PricePanel.from_frames(three_year_market)
    later = PricePanel.from_frames(perturb(three_year_market, lambda idx: np.asarray(idx > day)))
    dates = pd.DatetimeIndex([day, day - pd.Timedelta(days=14)])

    # WHEN features as of that date are built from both
    before, after = weekly_features_at(panel, day), weekly_features_at(later, day)
    history, history_later = weekly_feature_history(panel, dates), weekly_feature_history(later, dates)

    # THEN they are bit-identical, also through the many-dates path that sees the whole panel
    np.testing.assert_array_equal(before, after)
    every = np.arange(4)
    for i in (0, 1):
        np.testing.assert_array_equal(history.windows([i] * 4, every), history_later.windows([i] * 4, every))


@pytest.mark.parametrize("weeks_back", [0, 20])
def test_a_bar_on_or_before_the_as_of_date_does_change_them(
    three_year_market: dict[str, pd.DataFrame], weeks_back: int
) -> None:
    # GIVEN a market, and a copy where one bar on the as-of date (or 20 weeks before) is scrambled
    day = pd.Timestamp("2022-11-16")
    target = day - pd.Timedelta(weeks=weeks_back)
    panel = PricePanel.from_frames(three_year_market)
    changed = PricePanel.from_frames(perturb(three_year_market, lambda idx: np.asarray(idx == target)))

    # WHEN features as of the date are built from both, one date and many dates
    before, after = weekly_features_at(panel, day), weekly_features_at(changed, day)
    history = weekly_feature_history(changed, [day]).windows([0] * 4, np.arange(4))

    # THEN they differ in the week of the changed bar, and both paths agree
    row = SEQ_WEEKS - 1 - weeks_back
    assert (before[:, row] != after[:, row]).any(axis=1).all()
    np.testing.assert_array_equal(history, after)


def test_a_short_ticker_is_named_with_weeks_available_and_needed(
    three_year_market: dict[str, pd.DataFrame],
) -> None:
    # GIVEN a ticker listed on 2021-06-01, about 102 weeks before the as-of date
    frames = dict(three_year_market)
    frames["2914.T"] = frames["2914.T"].loc["2021-06-01":]
    panel = PricePanel.from_frames(frames)

    # WHEN sequences are requested for everyone, or checked ticker by ticker (one unknown)
    with pytest.raises(InsufficientHistory, match=r"2914\.T has 10\d weeks, 156 needed") as raised:
        weekly_features_at(panel, "2023-05-10")
    batch = weekly_features_checked(panel, "2023-05-10", ["7203.T", "2914.T", "0000.T", "1301.T"])

    # THEN the error carries the numbers; the others still get their sequences, in order
    assert raised.value.ticker == "2914.T" and raised.value.needed == 156 and 100 <= raised.value.weeks < 110
    assert batch.tickers == ("7203.T", "1301.T") and batch.features.shape == (2, 156, 23)
    assert set(batch.failures) == {"2914.T", "0000.T"} and batch.failures["0000.T"].weeks == 0
    with pytest.raises(InsufficientHistory, match=r"2914\.T"):
        weekly_feature_history(panel, ["2023-05-10"]).windows([0, 0], panel.positions(["7203.T", "2914.T"]))


def test_exactly_156_weeks_with_gaps_give_finite_features(
    calendar: TradingCalendar, walk: Callable[..., pd.DataFrame]
) -> None:
    # GIVEN a ticker whose first bar is a Thursday exactly 155 weeks before the as-of week, with
    #       missing days and a whole missing week, next to a long-listed ticker
    as_of = pd.Timestamp("2024-03-13")
    first = as_of - pd.Timedelta(weeks=155) - pd.Timedelta(days=as_of.day_of_week) + pd.Timedelta(days=3)
    young = walk(calendar.sessions(first, "2024-03-29"), seed=3)
    young = young.drop(young.index[[1, 2, 40, 41, 42, 300]]).drop(young.loc["2022-02-07":"2022-02-10"].index)
    one_week_later = young.loc[first + pd.Timedelta(days=7) :]
    old = walk(calendar.sessions("2019-01-04", "2024-03-29"), seed=4)
    panel = PricePanel.from_frames({"OLD.T": old, "YOUNG.T": young, "LATER.T": one_week_later})

    # WHEN sequences as of the as-of date are built
    batch = weekly_features_checked(panel, as_of)

    # THEN the young ticker gets a finite sequence, the one listed a week later fails with 155 weeks
    assert batch.tickers == ("OLD.T", "YOUNG.T")
    assert np.isfinite(batch.features).all()
    assert batch.failures["LATER.T"].weeks == 155
    history = weekly_feature_history(panel, [as_of])
    np.testing.assert_array_equal(history.windows([0, 0], [0, 1]), batch.features)


def test_an_as_of_date_before_any_bar(three_year_market: dict[str, pd.DataFrame]) -> None:
    # GIVEN a panel starting in 2019
    panel = PricePanel.from_frames(three_year_market)

    # WHEN / THEN one date fails every ticker with 0 weeks; many dates refuse it
    batch = weekly_features_checked(panel, "2018-06-01")
    assert batch.tickers == () and batch.features.shape == (0, 156, 23)
    assert {e.weeks for e in batch.failures.values()} == {0}
    with pytest.raises(ValueError, match="before the panel's first date"):
        weekly_feature_history(panel, ["2023-01-04", "2018-06-01"])

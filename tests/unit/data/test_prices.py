"""Price frames: canonical layout, every validation rule, and merge semantics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kabucast.data.calendar import TradingCalendar
from kabucast.data.prices import (
    PRICE_COLUMNS,
    merge_prices,
    normalize_prices,
    validate_prices,
    validation_problems,
)
from kabucast.errors import PriceValidationError


def bars(calendar: TradingCalendar, start: str = "2025-11-04", end: str = "2025-11-21", close: float = 100.0):
    dates = calendar.sessions(start, end)
    c = close + np.arange(len(dates), dtype=float)
    frame = pd.DataFrame(
        {"open": c - 0.5, "high": c + 1, "low": c - 1, "close": c, "adj_close": c, "volume": 1000},
        index=dates,
    )
    return normalize_prices(frame)


def test_normalize_gives_canonical_layout(calendar: TradingCalendar) -> None:
    # GIVEN a frame with extra columns, shuffled order and a tz-aware index
    raw = bars(calendar)[list(reversed(PRICE_COLUMNS))].assign(extra=1)
    raw.index = raw.index.tz_localize("Asia/Tokyo")
    # WHEN normalised
    out = normalize_prices(raw)
    # THEN columns, dtypes and index name are the canonical ones
    assert tuple(out.columns) == PRICE_COLUMNS
    assert out["volume"].dtype == np.int64 and out["close"].dtype == np.float64
    assert out.index.name == "date" and out.index.tz is None and out.index.is_monotonic_increasing


def test_dates_out_of_order_are_a_problem_not_silently_sorted(calendar: TradingCalendar) -> None:
    # GIVEN bars whose rows arrive in reverse date order
    out = normalize_prices(bars(calendar).iloc[::-1])
    # THEN normalising keeps the order and validation names it
    assert not out.index.is_monotonic_increasing
    assert "dates are not ascending" in validation_problems(out, calendar)


def test_valid_frame_has_no_problems(calendar: TradingCalendar) -> None:
    assert validation_problems(bars(calendar), calendar) == []


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda f: f.assign(close=f["close"].where(f.index != f.index[3], -1.0)), "non-positive prices"),
        (lambda f: f.assign(high=f["high"].where(f.index != f.index[2], 1.0)), "low <= open/close <= high"),
        (lambda f: f.assign(low=f["low"].where(f.index != f.index[2], 1e6)), "low <= open/close <= high"),
        (lambda f: f.assign(volume=f["volume"].where(f.index != f.index[1], -5)), "negative volume"),
        (lambda f: f.assign(open=f["open"].where(f.index != f.index[1], np.nan)), "missing or non-finite"),
        (lambda f: pd.concat([f, f.iloc[[0]]]), "duplicate dates"),
        (lambda f: f.iloc[::-1], "not ascending"),
        (lambda f: f.rename(index={f.index[0]: pd.Timestamp("2025-11-03")}), "not XTKS sessions: 2025-11-03"),
    ],
)
def test_each_rule_is_caught_and_named(calendar: TradingCalendar, mutate, message: str) -> None:
    bad = mutate(bars(calendar))
    problems = validation_problems(bad, calendar)
    assert any(message in p for p in problems), problems
    with pytest.raises(PriceValidationError, match=r"7203\.T"):
        validate_prices(bad, calendar, "7203.T")


def test_merge_replaces_revised_bars_and_appends_new_ones(calendar: TradingCalendar) -> None:
    # GIVEN stored bars and a fetch that overlaps the last 3 and revises one of them
    stored = bars(calendar, end="2025-11-14")
    fetched = bars(calendar, start="2025-11-12", end="2025-11-21", close=500.0)
    # WHEN merged
    merged = merge_prices(stored, fetched)
    # THEN overlapping dates take the fetched values, older dates are kept, nothing is duplicated
    assert merged.index.is_unique and merged.index.is_monotonic_increasing
    assert merged.loc["2025-11-12", "close"] == 500.0
    assert merged.loc["2025-11-11", "close"] == stored.loc["2025-11-11", "close"]
    assert merged.index[-1] == pd.Timestamp("2025-11-21")
    assert len(merged) == len(stored.index.union(fetched.index))

"""Seeded markets for the feature tests: random walks on JPX sessions (`calendar` comes from tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
import pytest

from kabucast.data.calendar import TradingCalendar
from kabucast.data.prices import normalize_prices


def random_walk(sessions: pd.DatetimeIndex, seed: int, price: float = 1000.0, dividend: float = 0.02) -> pd.DataFrame:
    """A canonical price frame on ``sessions``: daily vol ~2%, OHLC consistent, yearly dividends.

    ``adj_close`` is back-adjusted like Yahoo's: before each ex-date (every 245th session counted
    from the end) all earlier closes are multiplied by ``1 - dividend``.
    """
    rng = np.random.default_rng(seed)
    n = len(sessions)
    close = price * np.exp(np.cumsum(rng.normal(0.0, 0.02, n)))
    open_ = np.r_[price, close[:-1]] * np.exp(rng.normal(0.0, 0.005, n))
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0.0, 0.01, n)))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0.0, 0.01, n)))
    adj_close = close * (1.0 - dividend) ** ((n - 1 - np.arange(n)) // 245)
    volume = rng.integers(100_000, 1_000_000, n)
    frame = pd.DataFrame(
        {"open": open_, "high": high, "low": low, "close": close, "adj_close": adj_close, "volume": volume},
        index=pd.DatetimeIndex(sessions, name="date"),
    )
    return normalize_prices(frame)


@pytest.fixture
def walk() -> Callable[..., pd.DataFrame]:
    """The :func:`random_walk` frame maker, for tests that shape one ticker's history themselves."""
    return random_walk


@pytest.fixture
def make_frames(calendar: TradingCalendar) -> Callable[..., dict[str, pd.DataFrame]]:
    """Factory: ``make_frames(tickers, start, end, seed=0)`` -> one random walk per ticker on the same sessions."""

    def make(tickers: Sequence[str], start: str, end: str, seed: int = 0) -> dict[str, pd.DataFrame]:
        sessions = calendar.sessions(start, end)
        return {t: random_walk(sessions, seed + i, price=500.0 + 250 * i) for i, t in enumerate(tickers)}

    return make


@pytest.fixture
def three_year_market(make_frames: Callable[..., dict[str, pd.DataFrame]]) -> dict[str, pd.DataFrame]:
    """Four tickers with bars from 2019-01-04 to 2023-06-30 (about 233 weeks)."""
    return make_frames(("1301.T", "2914.T", "7203.T", "9984.T"), "2019-01-04", "2023-06-30", seed=7)

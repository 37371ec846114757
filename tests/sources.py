"""Small real things shared by tests: an in-memory price source and a seeded random-walk price frame."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from kabucast.data.calendar import TradingCalendar
from kabucast.data.prices import normalize_prices
from kabucast.data.sources.base import InfoFetch, PriceFetch


class TableSource:
    """Serves bars from a dict of frames; tickers listed in ``broken`` fail as an unknown symbol would."""

    name = "table"

    def __init__(self, frames: dict[str, pd.DataFrame], broken: Sequence[str] = ()) -> None:
        self.frames = frames
        self.broken = set(broken)
        self.requests: list[tuple[tuple[str, ...], pd.Timestamp, pd.Timestamp]] = []

    def fetch_prices(self, tickers: Sequence[str], start: pd.Timestamp, end: pd.Timestamp) -> PriceFetch:
        self.requests.append((tuple(tickers), start, end))
        out = PriceFetch()
        for t in tickers:
            if t in self.broken or t not in self.frames:
                out.failures[t] = f"no data for {t}"
            else:
                f = self.frames[t]
                out.frames[t] = f.loc[(f.index >= start) & (f.index <= end)]
        return out

    def fetch_info(self, tickers: Sequence[str]) -> InfoFetch:
        return InfoFetch(failures=dict.fromkeys(tickers, "no fundamentals"))


def walk(calendar: TradingCalendar, seed: int, start: str = "2020-01-06", end: str = "2025-11-21") -> pd.DataFrame:
    dates = calendar.sessions(start, end)
    rng = np.random.default_rng(seed)
    close = 1000 * np.exp(np.cumsum(rng.normal(0, 0.015, len(dates))))
    frame = pd.DataFrame(
        {"open": close, "high": close * 1.01, "low": close * 0.99, "close": close, "adj_close": close},
        index=dates,
    )
    return normalize_prices(frame.assign(volume=rng.integers(1_000, 9_000, len(dates))))

"""A seeded, SYNTHETIC stock market: daily bars and fundamentals that behave like Tokyo-listed stocks.

Nothing here is real market data. The sample market lets every job (backfill, daily forecast, monthly
fine-tune, the cross-sectional ranker) run offline on the same code path as Yahoo Finance, and it
plants a known, learnable signal (a slowly varying expected return per stock, tied to the synthetic
fundamentals) so that a model that learns nothing can be told apart from one that does.

Units: returns are log returns per session; drifts and vols are annualised over
:data:`SESSIONS_PER_YEAR` sessions; prices are JPY on a 0.1 JPY tick; volumes are shares in
100-share lots; dates are JST sessions of the JPX calendar. The equations are in docs/SAMPLE_MARKET.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from kabucast.config import UniverseSettings
from kabucast.data.calendar import TradingCalendar, calendar_for
from kabucast.data.prices import PRICE_COLUMNS, normalize_prices
from kabucast.data.sources.base import InfoFetch, PriceFetch
from kabucast.data.sources.market_model import (
    LEAD_LAG,
    LOT_SHARES,
    PLANTED,
    SESSIONS_PER_YEAR,
    TICK_JPY,
    Garch,
    MarketParams,
    fundamentals,
    simulate_factors,
    simulate_stocks,
    static_draws,
    stock_constants,
    stock_shocks,
    word,
)

__all__ = [
    "LEAD_LAG",
    "LOT_SHARES",
    "PLANTED",
    "SESSIONS_PER_YEAR",
    "TICK_JPY",
    "YAHOO_SECTORS",
    "Garch",
    "MarketParams",
    "SampleMarketSource",
]

YAHOO_SECTORS: tuple[str, ...] = (
    "Basic Materials",
    "Communication Services",
    "Consumer Cyclical",
    "Consumer Defensive",
    "Energy",
    "Financial Services",
    "Healthcare",
    "Industrials",
    "Real Estate",
    "Technology",
    "Utilities",
)
"""Yahoo's sector names (the keys of config/sectors.yaml), given to the stocks of a synthetic universe."""

_CHUNK = 512
"""Stocks simulated together: bounds the memory of the intermediate (sessions, stocks) arrays."""


@dataclass(frozen=True)
class _Paths:
    """The simulated universe from the origin: arrays (T, N) keyed open/high/low/close/volume/drift."""

    dates: pd.DatetimeIndex
    columns: dict[str, np.ndarray] = field(default_factory=dict)


class SampleMarketSource:
    """A PriceSource serving a seeded SYNTHETIC market (not real data) for a fixed list of tickers.

    A stock's bars depend only on (seed, ticker, sector, params, origin): not on which other tickers the
    source holds, nor on the ``end`` asked for, so a backfill and a later incremental fetch agree on
    every shared date. ``adj_close`` equals ``close``: the sample market pays no dividends.
    Nothing exists before ``origin`` (a JST date; the market opens on the first session on or after it).
    """

    name = "sample"

    def __init__(
        self,
        tickers: Sequence[str],
        sectors: Sequence[str],
        seed: int = 7,
        calendar: TradingCalendar | None = None,
        origin: str = "2012-01-04",
        params: MarketParams | None = None,
    ) -> None:
        if not tickers:
            raise ValueError("a sample market needs at least one ticker")
        if len(tickers) != len(sectors):
            raise ValueError(f"{len(tickers)} tickers but {len(sectors)} sectors; give one sector per ticker")
        if len(set(tickers)) != len(tickers):
            raise ValueError("tickers must be unique")
        if seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed}")
        self.tickers = tuple(tickers)
        self.sectors = dict(zip(self.tickers, sectors, strict=True))
        self.seed = seed
        self.params = params or MarketParams()
        self.calendar = calendar or calendar_for()
        after = self.calendar.sessions(origin, self.calendar.last)
        if after.empty:
            raise ValueError(f"origin {origin} is after the calendar's last session {self.calendar.last.date()}")
        self.origin = after[0]
        self._sector_names = tuple(sorted(set(sectors)))
        self._column = {t: j for j, t in enumerate(self.tickers)}
        self._paths: _Paths | None = None

    @classmethod
    def from_universe(
        cls, universe: UniverseSettings, seed: int = 7, calendar: TradingCalendar | None = None
    ) -> SampleMarketSource:
        """A sample market for the tickers and sectors of a configured universe (e.g. topix_core30)."""
        calendar = calendar or calendar_for(universe.exchange)
        names = universe.every_ticker  # former members too: their history is evaluated on their dates
        return cls(names, [universe.sector_of(t) for t in names], seed=seed, calendar=calendar)

    @classmethod
    def synthetic(
        cls,
        n_stocks: int,
        n_sectors: int = 11,
        seed: int = 7,
        calendar: TradingCalendar | None = None,
        origin: str = "2012-01-04",
        params: MarketParams | None = None,
    ) -> SampleMarketSource:
        """A large made-up universe ("S0001.T", ...) for the cross-sectional ranker and the planted-signal test.

        A ticker's sector is fixed by a hash of the ticker, so ``S0001.T`` is the same stock in a
        universe of 10 and of 4,000 (given the same ``n_sectors``).
        """
        if not 1 <= n_sectors <= len(YAHOO_SECTORS):
            raise ValueError(f"n_sectors must be between 1 and {len(YAHOO_SECTORS)}, got {n_sectors}")
        width = max(4, len(str(n_stocks)))
        tickers = [f"S{k:0{width}d}.T" for k in range(1, n_stocks + 1)]
        sectors = [YAHOO_SECTORS[word(t) % n_sectors] for t in tickers]
        return cls(tickers, sectors, seed=seed, calendar=calendar, origin=origin, params=params)

    def fetch_prices(self, tickers: Sequence[str], start: pd.Timestamp, end: pd.Timestamp) -> PriceFetch:
        """Canonical daily bars for the sessions in [start, end] on or after the origin (JST dates)."""
        known, failures = self._split(tickers)
        result = PriceFetch(failures=failures)
        if known:
            dates, columns = self._window(start, end)
            for t in known:
                j = self._column[t]
                frame = pd.DataFrame({c: columns[_path_of(c)][:, j] for c in PRICE_COLUMNS}, index=dates)
                result.frames[t] = normalize_prices(frame)
        return result

    def fetch_info(self, tickers: Sequence[str]) -> InfoFetch:
        """Synthetic fundamentals in the units the yfinance source normalises to (see :func:`_fundamentals`)."""
        known, failures = self._split(tickers)
        result = InfoFetch(failures=failures)
        if known:
            funds = fundamentals(static_draws(self.seed, known))
            for i, t in enumerate(known):
                info: dict[str, Any] = {key: values[i].item() for key, values in funds.items()}
                result.info[t] = {**info, "sector": self.sectors[t]}
        return result

    def panel(self, start: object, end: object) -> pd.DataFrame:
        """Every ticker's bars in one frame indexed by (date, ticker), the layout the cross-sectional ranker reads."""
        dates, columns = self._window(start, end)
        index = pd.MultiIndex.from_product([dates, self.tickers], names=["date", "ticker"])
        return pd.DataFrame({c: columns[_path_of(c)].ravel() for c in PRICE_COLUMNS}, index=index)

    def latent_drift(self, start: object, end: object) -> pd.DataFrame:
        """The planted expected return mu_i(t) (annualised log return over beta x market), dates x tickers.

        The ground truth of the signal a model should learn: tests and reports use it, features never.
        """
        dates, columns = self._window(start, end)
        return pd.DataFrame(columns["drift"], index=dates, columns=pd.Index(self.tickers, name="ticker"))

    def _split(self, tickers: Sequence[str]) -> tuple[list[str], dict[str, str]]:
        """The requested tickers this market holds, and a reason for each one it does not."""
        known = [t for t in tickers if t in self._column]
        held = f"it holds {len(self.tickers)} tickers, e.g. {self.tickers[0]}"
        return known, {t: f"{t} is not in this sample market ({held})" for t in tickers if t not in self._column}

    def _window(self, start: object, end: object) -> tuple[pd.DatetimeIndex, dict[str, np.ndarray]]:
        """The sessions in [start, end] from the origin on, and the rows of every path array for them."""
        wanted = self.calendar.sessions(start, end)
        wanted = wanted[wanted >= self.origin]
        paths = self._paths_through(wanted[-1] if len(wanted) else self.origin)
        first = paths.dates.searchsorted(wanted[0]) if len(wanted) else 0
        rows = slice(first, first + len(wanted))
        return paths.dates[rows].rename("date"), {k: v[rows] for k, v in paths.columns.items()}

    def _paths_through(self, day: pd.Timestamp) -> _Paths:
        """The simulated paths, extended (to the end of ``day``'s year) when ``day`` is past the cached ones."""
        if self._paths is None or self._paths.dates[-1] < day:
            horizon = min(pd.Timestamp(year=day.year, month=12, day=31), self.calendar.last)
            self._paths = self._simulate(self.calendar.sessions(self.origin, horizon))
        return self._paths

    def _simulate(self, dates: pd.DatetimeIndex) -> _Paths:
        """Simulate every ticker over ``dates``, a chunk of stocks at a time (stocks are independent given factors)."""
        factors = simulate_factors(self.seed, self._sector_names, len(dates), self.params)
        sector_of = {s: k for k, s in enumerate(self._sector_names)}
        paths = _Paths(dates)
        for lo in range(0, len(self.tickers), _CHUNK):
            chunk = self.tickers[lo : lo + _CHUNK]
            draws = static_draws(self.seed, chunk)
            stocks = stock_constants(draws, np.array([sector_of[self.sectors[t]] for t in chunk]), self.params)
            shocks = stock_shocks(self.seed, chunk, len(dates))
            for key, values in simulate_stocks(stocks, factors, shocks, self.params).items():
                paths.columns.setdefault(key, np.empty((len(dates), len(self.tickers)), values.dtype))
                paths.columns[key][:, lo : lo + len(chunk)] = values
        return paths


def _path_of(column: str) -> str:
    """The path array behind a price column: ``adj_close`` is ``close`` (no dividends)."""
    return "close" if column == "adj_close" else column

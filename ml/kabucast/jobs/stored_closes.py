"""Stored ``adj_close`` at two sessions, for the jobs that score published forecasts once their outcome is known
(kabucast.jobs.band_step, kabucast.jobs.scorecard_step).

The outcome of a forecast dated D is read from the store now, not from the document's ``current_price``: a
history rebased after a split stays comparable between D and the maturity session.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from kabucast.data.ingest import load_prices
from kabucast.features import PricePanel
from kabucast.storage.base import Store


class StoredCloses:
    """Stored ``adj_close`` of any name: the run's price panel first (None: none), other names read once from the
    store."""

    def __init__(self, store: Store, prices: PricePanel | None = None) -> None:
        self._store, self._prices = store, prices
        self._column = {} if prices is None else {t: i for i, t in enumerate(prices.tickers)}
        self._other: dict[str, pd.Series] = {}

    def pairs(self, tickers: Sequence[str], start: object, end: object) -> np.ndarray:
        """(N, 2) closes of ``tickers`` at the sessions ``start`` and ``end``; NaN where a name has none."""
        days = pd.DatetimeIndex([pd.Timestamp(start), pd.Timestamp(end)])
        pairs = np.full((len(tickers), 2), np.nan)
        inside = [i for i, t in enumerate(tickers) if t in self._column]
        if inside and self._prices is not None:
            rows = self._prices.dates.get_indexer(days)
            values = self._prices.adj_close[np.maximum(rows, 0)][:, [self._column[tickers[i]] for i in inside]]
            pairs[inside] = np.where(rows[:, None] >= 0, values, np.nan).T
        others = [i for i, t in enumerate(tickers) if t not in self._column]
        unread = sorted({tickers[i] for i in others} - set(self._other))
        if unread:
            frames = load_prices(self._store, unread, on_missing=lambda _ticker, _why: None)
            self._other.update(
                {t: frames[t]["adj_close"] if t in frames else pd.Series(dtype="float64") for t in unread}
            )
        for i in others:
            series = self._other[tickers[i]]
            pairs[i] = [series.get(days[0], np.nan), series.get(days[1], np.nan)]
        return pairs

    def stored(self, ticker: str) -> bool:
        """Whether the store (or the run's panel) holds any price of ``ticker``."""
        if ticker in self._column:
            return True
        if ticker not in self._other:
            self.pairs([ticker], "1970-01-01", "1970-01-01")
        return not self._other[ticker].empty

    def log_returns(self, tickers: Sequence[str], start: object, end: object) -> np.ndarray:
        """(N,) log returns of ``tickers`` from the close of ``start`` to that of ``end``; NaN without both."""
        pairs = self.pairs(tickers, start, end)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where((pairs > 0).all(axis=1), np.log(pairs[:, 1] / pairs[:, 0]), np.nan)

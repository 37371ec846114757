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
    store into one date x ticker frame."""

    def __init__(self, store: Store, prices: PricePanel | None = None) -> None:
        self._store, self._prices = store, prices
        self._column = {} if prices is None else {t: i for i, t in enumerate(prices.tickers)}
        self._other = pd.DataFrame(index=pd.DatetimeIndex([]), dtype="float64")  # (dates, names read from the store)
        self._unpriced: set[str] = set()  # names read from the store that have no stored prices

    def pairs(self, tickers: Sequence[str], start: object, end: object) -> np.ndarray:
        """(N, 2) closes of ``tickers`` at the sessions ``start`` and ``end``; NaN where a name has none."""
        return self.closes(tickers, [start, end])

    def closes(self, tickers: Sequence[str], sessions: Sequence[object]) -> np.ndarray:
        """(N, S) closes of ``tickers`` at ``sessions``; NaN where a name has none."""
        days = pd.DatetimeIndex([pd.Timestamp(d) for d in sessions])
        out = np.full((len(tickers), len(days)), np.nan)
        inside = [i for i, t in enumerate(tickers) if t in self._column]
        if inside and self._prices is not None:
            rows = self._prices.dates.get_indexer(days)
            values = self._prices.adj_close[np.maximum(rows, 0)][:, [self._column[tickers[i]] for i in inside]]
            out[inside] = np.where(rows[:, None] >= 0, values, np.nan).T
        others = [i for i, t in enumerate(tickers) if t not in self._column]
        if others:
            self._read([tickers[i] for i in others])
            rows = self._other.index.get_indexer(days)
            columns = self._other.columns.get_indexer([tickers[i] for i in others])
            values = self._other.to_numpy()[np.maximum(rows, 0)][:, columns]  # (S, len(others))
            out[others] = np.where((rows[:, None] >= 0) & (columns[None, :] >= 0), values, np.nan).T
        return out

    def stored(self, ticker: str) -> bool:
        """Whether the store (or the run's panel) holds any price of ``ticker``."""
        if ticker in self._column:
            return True
        self._read([ticker])
        return ticker not in self._unpriced

    def log_returns(self, tickers: Sequence[str], start: object, end: object) -> np.ndarray:
        """(N,) log returns of ``tickers`` from the close of ``start`` to that of ``end``; NaN without both."""
        pairs = self.pairs(tickers, start, end)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where((pairs > 0).all(axis=1), np.log(pairs[:, 1] / pairs[:, 0]), np.nan)

    def _read(self, tickers: Sequence[str]) -> None:
        """Read the names not read yet from the store, once."""
        unread = sorted(set(tickers) - set(self._other.columns) - self._unpriced)
        if not unread:
            return
        frames = load_prices(self._store, unread, on_missing=lambda _ticker, _why: None)
        self._unpriced |= {t for t in unread if t not in frames or frames[t].empty}
        read = {t: frames[t]["adj_close"] for t in unread if t not in self._unpriced}
        if read:
            self._other = pd.concat([self._other, pd.DataFrame(read)], axis=1).sort_index()

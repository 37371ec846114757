"""Daily bars of many tickers aligned on one date index: the input of every price feature.

A :class:`PricePanel` is the canonical price frames of kabucast.data.prices turned into 2-D arrays,
so features are computed for all tickers at once with numpy instead of ticker by ticker.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

PANEL_COLUMNS: tuple[str, ...] = ("open", "high", "low", "close", "adj_close", "volume")
"""The per-day arrays of a panel, named as the columns of a canonical price frame."""


@dataclass(frozen=True, eq=False)
class PricePanel:
    """Daily OHLCV of N tickers on T dates, NaN where a ticker has no bar that day.

    ``dates`` (T,) are ascending JST trading dates (tz-naive midnight): the union of the bar dates
    of the tickers. Prices are (T, N) float64 JPY (``close`` split-adjusted, ``adj_close`` also
    dividend-adjusted, as in the price frames); ``volume`` is (T, N) float64 shares. A ticker has
    NaN before its listing, after its last bar and on days its bar is missing.
    """

    dates: pd.DatetimeIndex
    tickers: tuple[str, ...]
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    adj_close: np.ndarray
    volume: np.ndarray

    def __post_init__(self) -> None:
        shape = (len(self.dates), len(self.tickers))
        for name in PANEL_COLUMNS:
            if getattr(self, name).shape != shape:
                raise ValueError(f"PricePanel.{name} has shape {getattr(self, name).shape}, expected {shape}")
        if not self.dates.is_monotonic_increasing or self.dates.has_duplicates:
            raise ValueError("PricePanel.dates must be ascending and unique")

    @classmethod
    def from_frames(cls, frames: Mapping[str, pd.DataFrame], tickers: Sequence[str] | None = None) -> PricePanel:
        """Align canonical price frames on the union of their dates.

        ``tickers`` fixes the column order (default: the order of ``frames``); a ticker without a
        frame gets an all-NaN column, so it later fails with InsufficientHistory like a short one.
        """
        names = tuple(frames) if tickers is None else tuple(tickers)
        present = {t: frames[t] for t in names if t in frames}
        dates = pd.DatetimeIndex([], name="date")
        for frame in present.values():
            dates = dates.union(pd.DatetimeIndex(frame.index))
        arrays = {
            name: pd.DataFrame({t: f[name].astype("float64") for t, f in present.items()}, index=dates)
            .reindex(columns=list(names))
            .to_numpy(dtype="float64")
            .reshape(len(dates), len(names))
            for name in PANEL_COLUMNS
        }
        return cls(dates=dates.rename("date"), tickers=names, **arrays)

    def until(self, as_of: object) -> PricePanel:
        """The panel cut after ``as_of`` (a JST date): only bars dated on or before it remain."""
        n = int(self.dates.searchsorted(pd.Timestamp(as_of).normalize(), side="right"))  # type: ignore[arg-type]
        rows = {name: getattr(self, name)[:n] for name in PANEL_COLUMNS}
        return PricePanel(dates=self.dates[:n], tickers=self.tickers, **rows)

    def positions(self, tickers: Sequence[str]) -> np.ndarray:
        """Column positions (len(tickers),) of ``tickers``; KeyError names the first unknown one."""
        index = {t: i for i, t in enumerate(self.tickers)}
        missing = [t for t in tickers if t not in index]
        if missing:
            raise KeyError(f"{missing[0]} is not in the price panel")
        return np.array([index[t] for t in tickers], dtype=np.int64)

"""Daily OHLCV frames: the one format every source returns and the store keeps.

A price frame is indexed by ``date`` (tz-naive midnight, the trading date local to the exchange: a
JST date in Tokyo), sorted and unique, with columns :data:`PRICE_COLUMNS`: prices in the universe's
currency (JPY for the Core30) as float64, ``volume`` in shares as int64.
``close`` is split-adjusted but not dividend-adjusted; ``adj_close`` is also dividend-adjusted
(see docs/DATA.md for why the store keeps both).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from kabucast.data.calendar import TradingCalendar
from kabucast.errors import PriceValidationError

PRICE_COLUMNS: tuple[str, ...] = ("open", "high", "low", "close", "adj_close", "volume")
FLOAT_COLUMNS: tuple[str, ...] = PRICE_COLUMNS[:-1]


def prices_key(ticker: str) -> str:
    """The store key of a ticker's daily prices."""
    return f"data/prices/daily/{ticker}.parquet"


def empty_prices() -> pd.DataFrame:
    return normalize_prices(pd.DataFrame(columns=list(PRICE_COLUMNS), index=pd.DatetimeIndex([], name="date")))


def normalize_prices(frame: pd.DataFrame, tz: str | None = None) -> pd.DataFrame:
    """Coerce a frame to the canonical layout (column order, dtypes, index name).

    A tz-aware index keeps its local date: in ``tz`` if given (the exchange's zone), else in its own
    zone (Yahoo stamps a daily bar in the exchange's zone).

    Rows keep their order: a source or a stored file whose dates are not ascending is caught by
    :func:`validation_problems`, not hidden by a sort (the file source sorts a user's file itself).
    """
    missing = [c for c in PRICE_COLUMNS if c not in frame.columns]
    if missing:
        raise PriceValidationError(f"price frame lacks columns {missing} (has {list(frame.columns)})")
    out = frame.loc[:, list(PRICE_COLUMNS)].copy()
    idx = pd.DatetimeIndex(out.index)
    if idx.tz is not None:
        idx = (idx.tz_convert(tz) if tz else idx).tz_localize(None)
    out.index = idx.normalize().rename("date")
    out = out.astype({c: "float64" for c in FLOAT_COLUMNS})
    if out["volume"].isna().any():
        raise PriceValidationError("volume has missing values")
    out["volume"] = out["volume"].round().astype("int64")
    return out


def validation_problems(frame: pd.DataFrame, calendar: TradingCalendar) -> list[str]:
    """Every broken invariant of a canonical price frame, as readable sentences (empty = valid)."""
    problems: list[str] = []
    idx = frame.index
    if idx.has_duplicates:
        problems.append(f"duplicate dates: {_dates(idx[idx.duplicated()])}")
    if not idx.is_monotonic_increasing:
        problems.append("dates are not ascending")
    px = frame.loc[:, list(FLOAT_COLUMNS)]
    bad = px.isna().any(axis=1) | ~np.isfinite(px).all(axis=1)
    if bad.any():
        problems.append(f"missing or non-finite prices on {_dates(idx[bad.to_numpy()])}")
    nonpos = (px <= 0).any(axis=1)
    if nonpos.any():
        problems.append(f"non-positive prices on {_dates(idx[nonpos.to_numpy()])}")
    lo, hi = frame["low"], frame["high"]
    body_lo = frame[["open", "close"]].min(axis=1)
    body_hi = frame[["open", "close"]].max(axis=1)
    tol = 1e-9 * hi.abs()
    broken = (lo > body_lo + tol) | (hi < body_hi - tol)
    if broken.any():
        problems.append(f"low <= open/close <= high broken on {_dates(idx[broken.to_numpy()])}")
    if (frame["volume"] < 0).any():
        problems.append(f"negative volume on {_dates(idx[(frame['volume'] < 0).to_numpy()])}")
    off = calendar.off_calendar(idx)
    if len(off):
        problems.append(f"dates that are not {calendar.exchange} sessions: {_dates(off)}")
    return problems


def validate_prices(frame: pd.DataFrame, calendar: TradingCalendar, ticker: str) -> None:
    """Raise :class:`PriceValidationError` naming the ticker and every broken invariant."""
    problems = validation_problems(frame, calendar)
    if problems:
        raise PriceValidationError(f"{ticker}: " + "; ".join(problems))


def merge_prices(stored: pd.DataFrame, fetched: pd.DataFrame) -> pd.DataFrame:
    """Stored bars plus fetched ones; a fetched bar replaces a stored bar of the same date."""
    if stored.empty:
        return fetched
    keep = stored.loc[~stored.index.isin(fetched.index)]
    return pd.concat([keep, fetched]).sort_index()


def _dates(idx: pd.DatetimeIndex, most: int = 5) -> str:
    shown = ", ".join(str(d.date()) for d in idx[:most])
    return shown + (f" and {len(idx) - most} more" if len(idx) > most else "")

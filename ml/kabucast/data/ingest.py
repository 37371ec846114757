"""Backfill and incremental fetch: merge a source's daily bars into the store, idempotently.

Each ticker's bars live in ``data/prices/daily/<ticker>.parquet``. A run fetches, validates and
merges per ticker; a ticker that fails (source error, invalid bars) is reported with its reason and
its stored file is left exactly as it was. Writing only happens when the merged bytes differ, so
running the same fetch twice changes nothing.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from kabucast.data.calendar import JPXCalendar
from kabucast.data.prices import merge_prices, normalize_prices, prices_key, validation_problems
from kabucast.data.sources.base import PriceSource
from kabucast.errors import KabucastError, ObjectNotFound, StoreError
from kabucast.storage.base import Store, parquet_bytes

RESCALE_TOLERANCE = 0.02
"""A median |close ratio - 1| above this on re-fetched sessions means the history was rescaled (a split)."""

_PERIOD = re.compile(r"^(\d+)(y|mo|d)$")


@dataclass
class IngestReport:
    """What a backfill or fetch did, per ticker."""

    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    rebased: list[str] = field(default_factory=list)
    failures: dict[str, str] = field(default_factory=dict)
    rows_added: int = 0
    end: pd.Timestamp | None = None

    def summary(self) -> str:
        end = self.end.date() if self.end is not None else "-"
        return (
            f"prices through {end}: {len(self.updated)} updated, {len(self.unchanged)} unchanged, "
            f"{len(self.rebased)} rebased, {len(self.failures)} failed, {self.rows_added} new rows"
        )

    def to_dict(self) -> dict[str, object]:
        return {
            "end": str(self.end.date()) if self.end is not None else None,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "rebased": self.rebased,
            "failures": [{"ticker": t, "reason": r} for t, r in sorted(self.failures.items())],
            "rows_added": self.rows_added,
        }


def parse_period(period: str) -> pd.DateOffset:
    """``5y`` -> 5 years, ``18mo`` -> 18 months, ``30d`` -> 30 days."""
    m = _PERIOD.match(period.strip())
    if not m:
        raise KabucastError(f"invalid period {period!r}: use e.g. 5y, 18mo or 30d")
    n, unit = int(m.group(1)), m.group(2)
    return pd.DateOffset(**{{"y": "years", "mo": "months", "d": "days"}[unit]: n})


def backfill(
    store: Store, source: PriceSource, tickers: Sequence[str], calendar: JPXCalendar, today: object, period: str
) -> IngestReport:
    """Fetch ``period`` of history up to the last session on or before ``today`` and merge it in."""
    end = calendar.previous_session(today)
    start = end - parse_period(period)
    return _ingest(store, source, calendar, {t: start for t in tickers}, end)


def fetch_incremental(
    store: Store,
    source: PriceSource,
    tickers: Sequence[str],
    calendar: JPXCalendar,
    today: object,
    overlap_sessions: int,
    period: str,
) -> IngestReport:
    """Fetch what is new since the stored bars (plus ``overlap_sessions`` already stored ones).

    A ticker with nothing stored yet is backfilled for ``period``.
    """
    end = calendar.previous_session(today)
    starts: dict[str, pd.Timestamp] = {}
    unreadable: dict[str, str] = {}
    for t in tickers:
        try:
            stored = _read_stored(store, t)
        except KabucastError as exc:
            unreadable[t] = str(exc)
            continue
        if stored is None or stored.empty:
            starts[t] = end - parse_period(period)
        else:
            starts[t] = stored.index[max(0, len(stored) - max(overlap_sessions, 1))]
    report = _ingest(store, source, calendar, starts, end)
    report.failures.update(unreadable)
    return report


def _ingest(
    store: Store, source: PriceSource, calendar: JPXCalendar, starts: dict[str, pd.Timestamp], end: pd.Timestamp
) -> IngestReport:
    report = IngestReport(end=end)
    groups: dict[pd.Timestamp, list[str]] = defaultdict(list)
    for t, s in starts.items():
        groups[min(s, end)].append(t)
    with tqdm(total=len(starts), desc=f"fetch {source.name}", unit="ticker", leave=False, disable=None) as bar:
        for start, group in sorted(groups.items()):
            fetched = source.fetch_prices(group, start, end)
            report.failures.update(fetched.failures)
            for t in group:
                if t in fetched.frames:
                    _merge_one(store, source, calendar, t, fetched.frames[t], end, report)
                elif t not in report.failures:
                    report.failures[t] = f"{source.name} returned nothing for {t}"
                bar.update(1)
    return report


def _merge_one(
    store: Store,
    source: PriceSource,
    calendar: JPXCalendar,
    ticker: str,
    frame: pd.DataFrame,
    end: pd.Timestamp,
    report: IngestReport,
) -> None:
    """Validate, merge and write one ticker; on any problem record it and leave the stored file alone."""
    try:
        fresh = _checked(normalize_prices(frame), calendar, ticker)
        stored = _read_stored(store, ticker)
        old = stored if stored is not None else normalize_prices(fresh.iloc[:0])
        if _rescaled(old, fresh):
            fresh = _refetch_all(source, calendar, ticker, old.index[0], end)
            old = fresh.iloc[:0]
            report.rebased.append(ticker)
        merged = _checked(merge_prices(old, fresh), calendar, ticker)
        data = parquet_bytes(merged)
        if stored is not None and data == parquet_bytes(stored):
            report.unchanged.append(ticker)
            return
        store.put_bytes(prices_key(ticker), data, content_type="application/vnd.apache.parquet")
        report.updated.append(ticker)
        report.rows_added += len(merged) - len(old)
    except KabucastError as exc:
        report.failures[ticker] = str(exc)


def _checked(frame: pd.DataFrame, calendar: JPXCalendar, ticker: str) -> pd.DataFrame:
    problems = validation_problems(frame, calendar)
    if problems:
        raise KabucastError(f"invalid bars from source, stored data kept: {'; '.join(problems)}")
    if frame.empty:
        raise KabucastError(f"no bars for {ticker} in the requested range")
    return frame


def _rescaled(stored: pd.DataFrame, fresh: pd.DataFrame) -> bool:
    """True when re-fetched sessions disagree with stored ones by a common factor (a split rescales history)."""
    common = stored.index.intersection(fresh.index)
    if common.empty:
        return False
    ratio = fresh.loc[common, "close"].to_numpy() / stored.loc[common, "close"].to_numpy()
    return bool(np.median(np.abs(ratio - 1.0)) > RESCALE_TOLERANCE)


def _refetch_all(
    source: PriceSource, calendar: JPXCalendar, ticker: str, start: pd.Timestamp, end: pd.Timestamp
) -> pd.DataFrame:
    fetched = source.fetch_prices([ticker], start, end)
    if ticker not in fetched.frames:
        reason = fetched.failures.get(ticker, "no data")
        raise KabucastError(f"history was rescaled (split?) but the full re-fetch failed: {reason}")
    return _checked(normalize_prices(fetched.frames[ticker]), calendar, ticker)


def _read_stored(store: Store, ticker: str) -> pd.DataFrame | None:
    key = prices_key(ticker)
    try:
        return normalize_prices(store.get_parquet(key))
    except ObjectNotFound:
        return None
    except StoreError as exc:  # a corrupt file: report it, never overwrite it silently
        raise StoreError(f"stored {key} is unreadable ({exc}); left as is: move it away and run backfill") from exc


def load_prices(
    store: Store, tickers: Sequence[str], on_missing: Callable[[str, str], None] | None = None
) -> dict[str, pd.DataFrame]:
    """Stored bars per ticker; a ticker with no stored file is passed to ``on_missing`` (or skipped)."""
    frames: dict[str, pd.DataFrame] = {}
    for t in tickers:
        frame = _read_stored(store, t)
        if frame is None:
            if on_missing:
                on_missing(t, f"no stored prices ({prices_key(t)}); run `kabucast backfill`")
            continue
        frames[t] = frame
    return frames

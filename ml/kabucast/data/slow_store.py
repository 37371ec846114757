"""The seeds' slow data in the store: ``data/jquants/<group>.parquet``, one file per group
(kabucast.data.sources.jquants_slow: the groups, their columns and publication dates).

The store's rules hold as for prices: history never shrinks (a stored row is never removed nor replaced: the value
that was public stays the one the features see), a re-run that brings nothing new writes nothing, and a batch whose
request failed (a truncated page included) stores nothing of it and is named in the report.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from kabucast.data.calendar import TradingCalendar
from kabucast.data.sources.jquants_slow import COLUMNS, KEYS, Request, empty, fetch_group
from kabucast.storage import Store

PREFIX = "data/jquants"
OVERLAP_DAYS = 35
"""An incremental run re-reads this many days before the latest stored date: rows published late are caught."""


def slow_key(group: str) -> str:
    return f"{PREFIX}/{group}.parquet"


def load_slow(store: Store, group: str) -> pd.DataFrame:
    """``group``'s stored rows (none stored: an empty frame of its columns)."""
    key = slow_key(group)
    return store.get_parquet(key) if store.exists(key) else empty(group)


def load_slow_groups(store: Store, groups: Sequence[str]) -> dict[str, pd.DataFrame]:
    """The stored rows of each of ``groups``."""
    return {g: load_slow(store, g) for g in groups}


def merged(stored: pd.DataFrame, new: pd.DataFrame, group: str) -> pd.DataFrame:
    """``stored`` and the rows of ``new`` whose key it lacks, sorted by key (a stored row always wins)."""
    keys = list(KEYS[group])
    fresh = new.drop_duplicates(keys, keep="first")
    known = pd.MultiIndex.from_frame(stored[keys]) if len(stored) else pd.MultiIndex.from_tuples([], names=keys)
    fresh = fresh[~pd.MultiIndex.from_frame(fresh[keys]).isin(known)] if len(fresh) else fresh
    parts = [p for p in (stored, fresh) if len(p)]
    out = pd.concat(parts, ignore_index=True) if parts else empty(group)
    return out.loc[:, list(COLUMNS[group])].sort_values(keys, kind="stable").reset_index(drop=True)


@dataclass
class SlowReport:
    """What a slow-data run did, per group."""

    since: dict[str, str] = field(default_factory=dict)
    added: dict[str, int] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)
    failures: dict[str, dict[str, str]] = field(default_factory=dict)

    def summary(self) -> str:
        parts = [
            f"{g}: +{self.added[g]} rows ({self.rows[g]} stored, from {self.since[g]}"
            + (f", {len(self.failures[g])} batches failed: nothing of them stored)" if self.failures[g] else ")")
            for g in self.added
        ]
        return "slow data " + "; ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {"since": self.since, "added": self.added, "rows": self.rows, "failures": self.failures}


def update_slow(
    store: Store,
    request: Request,
    groups: Sequence[str],
    tickers: Sequence[str],
    calendar: TradingCalendar,
    today: pd.Timestamp,
    since: pd.Timestamp | None,
) -> SlowReport:
    """Fetch each of ``groups`` from ``since`` (default: :data:`OVERLAP_DAYS` before its latest stored date, or
    ten years before ``today`` when none is stored) to ``today`` and merge it into the store."""
    report = SlowReport()
    for group in groups:
        stored = load_slow(store, group)
        start = since if since is not None else _default_start(stored, group, today)
        fetched = fetch_group(request, group, tickers, calendar, start, today)
        out = merged(stored, fetched.frame, group)
        if len(out) > len(stored):
            store.put_parquet(slow_key(group), out)
        report.since[group] = str(start.date())
        report.added[group] = len(out) - len(stored)
        report.rows[group] = len(out)
        report.failures[group] = fetched.failures
    return report


def _default_start(stored: pd.DataFrame, group: str, today: pd.Timestamp) -> pd.Timestamp:
    dated = "start" if group == "flows" else "date"
    if stored.empty:
        return (today - pd.DateOffset(years=10)).normalize()
    return (pd.Timestamp(stored[dated].max()) - pd.Timedelta(days=OVERLAP_DAYS)).normalize()

"""The monthly static refresh: fundamentals per ticker -> ``data/static/<YYYY-MM-DD>.parquet``.

The snapshot keeps the raw values (units as in kabucast.data.sources.base); turning them into the
6 model inputs, and filling what is missing, is kabucast.features.static's job. A ticker whose
fetch fails keeps its values from the latest earlier snapshot (``origin`` says ``carried``); with no
earlier snapshot its values stay missing (``origin`` = ``missing``). If every ticker fails, nothing
is written: an empty refresh must not replace a good snapshot.

:func:`enrich_point_in_time` (``enrich --source jquants``) writes the history instead: a snapshot on every session a
disclosure becomes visible (the T+1 rule of kabucast.data.disclosures) and on the first session of each month, each
built only from what was public on its date. A snapshot already stored is never rewritten, so a re-run writes
nothing and history never moves.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import pandas as pd

from kabucast.data.calendar import TradingCalendar
from kabucast.data.disclosures import (
    ClosesFetch,
    StatementsFetch,
    fundamentals_on,
    snapshot_days,
    with_visibility,
)
from kabucast.data.sources.base import STATIC_INFO_KEYS, PriceSource
from kabucast.errors import SourceError
from kabucast.progress import progress
from kabucast.storage.base import Store

STATIC_PREFIX = "data/static/"


def static_key(day: pd.Timestamp) -> str:
    return f"{STATIC_PREFIX}{day.date()}.parquet"


@dataclass
class EnrichReport:
    key: str = ""
    fetched: list[str] = field(default_factory=list)
    carried: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    failures: dict[str, str] = field(default_factory=dict)

    def summary(self) -> str:
        return (
            f"static snapshot {self.key}: {len(self.fetched)} fetched, {len(self.carried)} carried forward, "
            f"{len(self.missing)} missing"
        )

    def to_dict(self) -> dict[str, object]:
        return {
            "key": self.key,
            "fetched": self.fetched,
            "carried": self.carried,
            "missing": self.missing,
            "failures": [{"ticker": t, "reason": r} for t, r in sorted(self.failures.items())],
        }


def enrich(
    store: Store, source: PriceSource, tickers: Sequence[str], sectors: dict[str, str], today: pd.Timestamp
) -> EnrichReport:
    """Fetch fundamentals for ``tickers`` and write the snapshot dated ``today``."""
    result = source.fetch_info(tickers)
    if not result.info:
        raise SourceError(f"{source.name} returned fundamentals for no ticker; nothing written: {result.failures}")
    previous = latest_static(store, before=today)
    report = EnrichReport(key=static_key(today), failures=dict(result.failures))
    rows = []
    for t in tickers:
        info = result.info.get(t)
        if info is not None:
            origin = "fetched"
            values = {k: _number(info.get(k)) for k in STATIC_INFO_KEYS}
        elif previous is not None and t in previous.index:
            origin = "carried"
            values = {k: _number(previous.at[t, k]) for k in STATIC_INFO_KEYS}
        else:
            origin = "missing"
            values = dict.fromkeys(STATIC_INFO_KEYS, float("nan"))
        getattr(report, origin).append(t)
        rows.append({"ticker": t, **values, "sector": sectors.get(t, ""), "origin": origin})
    frame = pd.DataFrame(rows).set_index("ticker")
    store.put_parquet(report.key, frame)
    return report


@runtime_checkable
class StatementSource(Protocol):
    """A source of financial statements by disclosure date (kabucast.data.sources.jquants_source.JQuantsSource)."""

    name: str

    def fetch_statements(self, tickers: Sequence[str]) -> StatementsFetch: ...

    def fetch_closes(self, tickers: Sequence[str], start: pd.Timestamp, end: pd.Timestamp) -> ClosesFetch: ...


class IncompleteStatements(SourceError):
    """Some tickers' statements could not be read: a stored snapshot is never rewritten, so none is written."""


@dataclass
class PointInTimeReport:
    written: list[str] = field(default_factory=list)
    stored: int = 0  # snapshots due that were already stored (kept as they are)
    pending: list[str] = field(default_factory=list)  # sessions due whose close J-Quants does not have yet
    statements: dict[str, int] = field(default_factory=dict)  # ticker -> statements read

    def summary(self) -> str:
        span = f" ({self.written[0]} .. {self.written[-1]})" if self.written else ""
        return (
            f"point-in-time static: {len(self.written)} snapshots written{span}, {self.stored} already stored, "
            f"{len(self.pending)} pending, {sum(self.statements.values())} statements of {len(self.statements)} tickers"
        )

    def to_dict(self) -> dict[str, object]:
        return {
            "written": self.written,
            "already_stored": self.stored,
            "pending": self.pending,
            "statements": self.statements,
        }


def enrich_point_in_time(
    store: Store,
    source: StatementSource,
    tickers: Sequence[str],
    sectors: Mapping[str, str],
    calendar: TradingCalendar,
    today: pd.Timestamp,
) -> PointInTimeReport:
    """Write every snapshot due up to the last session on or before ``today`` that is not stored yet (module
    docstring), from the first session a statement of ``tickers`` became visible on.

    :class:`IncompleteStatements` (nothing written) when a ticker's statements could not be read: a snapshot
    without them would stay wrong for good. A session J-Quants has no close of yet is left for the next run.
    """
    fetched = source.fetch_statements(tickers)
    if fetched.failures:
        some = "; ".join(f"{t}: {r}" for t, r in sorted(fetched.failures.items())[:3])
        raise IncompleteStatements(
            f"{len(fetched.failures)} of {len(tickers)} tickers' statements could not be read ({some}); nothing "
            f"written: run `kabucast enrich --source {source.name}` again"
        )
    statements = {t: with_visibility(fetched.frames[t], calendar) for t in tickers}
    report = PointInTimeReport(statements={t: len(f) for t, f in statements.items()})
    first = min((f["visible"].min() for f in statements.values() if len(f)), default=None)
    if first is None:
        return report
    end = calendar.previous_session(today)
    due = snapshot_days(statements, calendar, first, end)
    stored = set(store.list(STATIC_PREFIX))
    todo = [day for day in due if static_key(day) not in stored]
    report.stored = len(due) - len(todo)
    if not todo:
        return report
    closes = source.fetch_closes(tickers, todo[0] - pd.Timedelta(days=14), end)  # a suspended name: its last close
    if closes.failures:
        raise IncompleteStatements(
            f"closes of {sorted(closes.failures)} could not be read; nothing written: run `kabucast enrich --source "
            f"{source.name}` again"
        )
    last_close = max((c.index.max() for c in closes.closes.values() if len(c)), default=pd.NaT)
    ready = pd.DatetimeIndex([day for day in todo if not pd.isna(last_close) and day <= last_close])
    report.pending = [str(day.date()) for day in todo if day not in ready]
    history = fundamentals_on(statements, closes.closes, ready)
    for day in progress(ready, "point-in-time static", "snapshots"):
        frame = history.xs(day, level="day")
        frame = frame.assign(sector=[sectors.get(t, "") for t in frame.index], origin="jquants")
        store.put_parquet(static_key(day), frame)
        report.written.append(str(day.date()))
    return report


def latest_static(store: Store, before: pd.Timestamp | None = None) -> pd.DataFrame | None:
    """The newest snapshot (strictly before ``before`` when given), or None."""
    keys = [k for k in store.list(STATIC_PREFIX) if k.endswith(".parquet")]
    if before is not None:
        keys = [k for k in keys if k < static_key(before)]
    return store.get_parquet(keys[-1]) if keys else None


def _number(value: object) -> float:
    try:
        out = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return float("nan")
    return out

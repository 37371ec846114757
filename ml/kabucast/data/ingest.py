"""Backfill and incremental fetch: merge a source's daily bars into the store, idempotently.

Each ticker's bars live in ``data/prices/daily/<ticker>.parquet``. A run fetches, validates and
merges per ticker; a ticker that fails (source error, invalid bars) is reported with its reason and
its stored file is left exactly as it was. Writing only happens when the merged bytes differ, so
running the same fetch twice changes nothing.

Stored history only grows or is corrected bar by bar. A source that rescales history (a split, or
a file in other units) replaces the stored bars only with a full re-fetch that covers every stored
session (:data:`REBASE_MAX_MISSING` aside); anything shorter fails that ticker. Bars after the
as-of session are never written, whatever the source returns.

History never holds two scales. A split or consolidation the source has not adjusted
(kabucast.data.corporate_actions: a level shift by a split ratio that holds), found
anywhere in the stored bars followed by the fetched ones (inside the new bars, at the seam between
stored and new, or in a stored file written before this rule), makes the run re-fetch the ticker's
whole range: when the re-fetched series no longer has a shift it replaces the stored one under the
same coverage rule (``rebased``); when it still has one the ticker fails with "unadjusted corporate
action on D, ratio R: re-fetch when the source adjusts" and its stored file is left as it was.
Either way the shift is listed in :attr:`IngestReport.corporate_actions`. A shift an operator
accepted as a real move (``accepted``: the fetch config's ``accepted_level_shifts``) is none: its
bars are screened like any others and stored, the shift flagged ``accepted_level_shift``.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from kabucast.config import AcceptedLevelShift
from kabucast.data.bar_checks import REJECT
from kabucast.data.calendar import TradingCalendar
from kabucast.data.corporate_actions import CorporateAction, corporate_actions
from kabucast.data.prices import empty_prices, merge_prices, normalize_prices, prices_key, validation_problems
from kabucast.data.screening import screen_bars, unadjusted
from kabucast.data.sources.base import PriceSource
from kabucast.errors import CorruptObject, KabucastError, ObjectNotFound, PriceValidationError, StoreError
from kabucast.progress import progress
from kabucast.storage.base import Store, parquet_bytes

RESCALE_TOLERANCE = 0.02
"""A median |close ratio - 1| above this on re-fetched sessions means the history was rescaled (a split)."""
REBASE_MAX_MISSING = 0.01
"""A re-fetch may replace stored history only if it lacks at most this share of the stored sessions."""

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
    rejected: dict[str, list[str]] = field(default_factory=dict)  # ticker -> "date kind: detail", bars not stored
    flagged: dict[str, list[str]] = field(default_factory=dict)  # ticker -> "date kind: detail", stored, suspicious
    corporate_actions: dict[str, list[str]] = field(default_factory=dict)
    """ticker -> "date corporate_action: detail" per unadjusted split or consolidation the source gave; the
    ticker is then in ``rebased`` (a full re-fetch without it replaced the history) or in ``failures``."""

    def summary(self) -> str:
        end = self.end.date() if self.end is not None else "-"
        actions = (
            f", {len(self.corporate_actions)} with an unadjusted corporate action" if self.corporate_actions else ""
        )
        return (
            f"prices through {end}: {len(self.updated)} updated, {len(self.unchanged)} unchanged, "
            f"{len(self.rebased)} rebased, {len(self.failures)} failed{actions}, {self.rows_added} new rows"
            + _bar_counts(self.rejected, self.flagged)
        )

    def to_dict(self) -> dict[str, object]:
        return {
            "end": str(self.end.date()) if self.end is not None else None,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "rebased": self.rebased,
            "failures": [{"ticker": t, "reason": r} for t, r in sorted(self.failures.items())],
            "rows_added": self.rows_added,
            "rejected_bars": self.rejected,
            "flagged_bars": self.flagged,
            "corporate_actions": self.corporate_actions,
        }


def _bar_counts(rejected: dict[str, list[str]], flagged: dict[str, list[str]]) -> str:
    parts = []
    if rejected:
        parts.append(f"{sum(map(len, rejected.values()))} implausible bars rejected ({len(rejected)} tickers)")
    if flagged:
        parts.append(f"{sum(map(len, flagged.values()))} flagged ({len(flagged)} tickers)")
    return f"; {', '.join(parts)}" if parts else ""


def parse_period(period: str) -> pd.DateOffset:
    """``5y`` -> 5 years, ``18mo`` -> 18 months, ``30d`` -> 30 days."""
    m = _PERIOD.match(period.strip())
    if not m:
        raise KabucastError(f"invalid period {period!r}: use e.g. 5y, 18mo or 30d")
    n, unit = int(m.group(1)), m.group(2)
    return pd.DateOffset(**{{"y": "years", "mo": "months", "d": "days"}[unit]: n})


def backfill(
    store: Store,
    source: PriceSource,
    tickers: Sequence[str],
    calendar: TradingCalendar,
    today: object,
    period: str,
    accepted: Sequence[AcceptedLevelShift] = (),
) -> IngestReport:
    """Fetch ``period`` of history up to the last session on or before ``today`` and merge it in.

    ``accepted``: level shifts that are real moves, not unadjusted corporate actions (module docstring).
    """
    end = calendar.previous_session(today)
    start = end - parse_period(period)
    return _ingest(store, source, calendar, {t: start for t in tickers}, end, accepted)


def fetch_incremental(
    store: Store,
    source: PriceSource,
    tickers: Sequence[str],
    calendar: TradingCalendar,
    today: object,
    overlap_sessions: int,
    period: str,
    accepted: Sequence[AcceptedLevelShift] = (),
) -> IngestReport:
    """Fetch what is new since the stored bars (plus ``overlap_sessions`` already stored ones).

    A ticker with nothing stored yet is backfilled for ``period``. ``accepted``: as for :func:`backfill`.
    """
    end = calendar.previous_session(today)
    starts: dict[str, pd.Timestamp] = {}
    unreadable: dict[str, str] = {}
    for t in tickers:
        try:
            stored = _read_stored(store, t)
        except CorruptObject as exc:  # that ticker fails; a store that cannot be reached stops the run
            unreadable[t] = str(exc)
            continue
        if stored is None or stored.empty:
            starts[t] = end - parse_period(period)
        else:
            starts[t] = stored.index[max(0, len(stored) - max(overlap_sessions, 1))]
    report = _ingest(store, source, calendar, starts, end, accepted)
    report.failures.update(unreadable)
    return report


def _ingest(
    store: Store,
    source: PriceSource,
    calendar: TradingCalendar,
    starts: dict[str, pd.Timestamp],
    end: pd.Timestamp,
    accepted: Sequence[AcceptedLevelShift],
) -> IngestReport:
    report = IngestReport(end=end)
    accepted_on: dict[str, set[pd.Timestamp]] = defaultdict(set)
    for shift in accepted:
        accepted_on[shift.ticker].add(pd.Timestamp(shift.date))
    groups: dict[pd.Timestamp, list[str]] = defaultdict(list)
    for t, s in starts.items():
        groups[min(s, end)].append(t)
    batches = sorted(groups.items())
    for start, group in progress(batches, f"fetch {source.name}", "batches"):
        fetched = source.fetch_prices(group, start, end)
        report.failures.update(fetched.failures)
        for t in group:
            if t in fetched.frames:
                _merge_one(store, source, calendar, t, fetched.frames[t], end, report, accepted_on[t])
            elif t not in report.failures:
                report.failures[t] = f"{source.name} returned nothing for {t}"
    return report


def _merge_one(
    store: Store,
    source: PriceSource,
    calendar: TradingCalendar,
    ticker: str,
    frame: pd.DataFrame,
    end: pd.Timestamp,
    report: IngestReport,
    accepted: Collection[pd.Timestamp],
) -> None:
    """Validate, merge and write one ticker; on any problem record it and leave the stored file alone.

    An unadjusted corporate action in the stored bars followed by the new ones, or stored bars the source
    now gives at another scale, make the whole range be re-fetched (:func:`_refetch_all`). ``accepted``:
    the dates of the ticker's level shifts that are real moves.
    """
    try:
        stored = _read_stored(store, ticker)
        old = stored if stored is not None else empty_prices()
        given = _in_range(frame, calendar, end)
        shifts = corporate_actions(merge_prices(old, given), ticker=ticker, accepted=accepted)
        fresh = None if shifts else _fresh_bars(given, calendar, ticker, report, accepted)
        if fresh is None or _rescaled(old, fresh):
            _list_actions(report, ticker, shifts)
            fresh = _refetch_all(source, calendar, ticker, old, given, end, report, shifts, accepted)
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
    except CorruptObject as exc:  # this ticker's stored file: fail the ticker
        report.failures[ticker] = str(exc)
    except StoreError:  # the store itself failed: every other ticker would too
        raise
    except KabucastError as exc:
        report.failures[ticker] = str(exc)


def _in_range(frame: pd.DataFrame, calendar: TradingCalendar, end: pd.Timestamp) -> pd.DataFrame:
    """A source's bars in the canonical layout, only up to the as-of session ``end`` (no source writes the future).

    Dates out of order fail the ticker here: every check after this reads the bars in date order.
    """
    canonical = normalize_prices(frame, tz=calendar.tz)
    if not canonical.index.is_monotonic_increasing:
        raise KabucastError("invalid bars from source, stored data kept: dates are not ascending")
    return canonical.loc[canonical.index <= end]


def _list_actions(report: IngestReport, ticker: str, actions: list[CorporateAction]) -> None:
    if actions:
        report.corporate_actions[ticker] = [f"{a.date.date()} corporate_action: {a.detail}" for a in actions]


def _fresh_bars(
    canonical: pd.DataFrame,
    calendar: TradingCalendar,
    ticker: str,
    report: IngestReport,
    accepted: Collection[pd.Timestamp],
) -> pd.DataFrame:
    """A source's canonical bars (:func:`_in_range`) without the bars the plausibility checks reject, validated.

    Rejected and flagged bars, and corporate actions, are listed in ``report``; a ticker the checks
    quarantine fails whole (kabucast.data.screening.screen_bars). Stored bars are never touched here.
    """
    problem, kept, suspects = screen_bars(canonical, ticker, accepted=accepted)
    for s in suspects:
        listed = report.rejected if s.action == REJECT else report.flagged
        listed = report.corporate_actions if s.kind == "corporate_action" else listed
        listed.setdefault(ticker, []).append(f"{s.date.date()} {s.kind}: {s.detail}")
    if problem:
        raise KabucastError(problem)
    return _checked(kept, calendar, ticker)


def _checked(frame: pd.DataFrame, calendar: TradingCalendar, ticker: str) -> pd.DataFrame:
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
    source: PriceSource,
    calendar: TradingCalendar,
    ticker: str,
    stored: pd.DataFrame,
    given: pd.DataFrame,
    end: pd.Timestamp,
    report: IngestReport,
    shifts: list[CorporateAction],
    accepted: Collection[pd.Timestamp],
) -> pd.DataFrame:
    """The whole range again (the stored bars' and the ``given`` ones'), from the source; refused unless it
    covers the stored sessions and holds no unadjusted corporate action.

    ``shifts``: the corporate actions that called for it (none: the source rescaled the stored sessions).
    Its screening replaces the ticker's rejected / flagged bars in ``report`` (it saw the whole range).
    """
    first = min(bars.index[0] for bars in (stored, given) if len(bars))
    rescaled = "the source's prices disagree with the stored ones by a common factor (a split, or other units)"
    why = shifts[0].reason if shifts else rescaled
    fetched = source.fetch_prices([ticker], first, end)
    if ticker not in fetched.frames:
        reason = fetched.failures.get(ticker, "no data")
        raise KabucastError(f"{why}; the full re-fetch failed: {reason}; stored data kept")
    again = _in_range(fetched.frames[ticker], calendar, end)
    still = corporate_actions(again, ticker=ticker, accepted=accepted)
    if still:
        _list_actions(report, ticker, still)
        raise KabucastError(f"{unadjusted(still)}; stored data kept")
    screened = IngestReport()
    fresh = _fresh_bars(again, calendar, ticker, screened, accepted)
    if stored.empty:
        return _replace_bar_lists(report, screened, ticker, fresh)
    first, last = stored.index[0], stored.index[-1]
    missing = stored.index.difference(fresh.index)
    if len(missing) > REBASE_MAX_MISSING * len(stored):
        raise KabucastError(
            f"{why}; the full re-fetch has only {len(stored) - len(missing)} of the {len(stored)} stored sessions "
            f"{first.date()}..{last.date()}: stored data kept. Re-fetch the whole range from a source that "
            "has it (`kabucast backfill --period ...`), or move the stored file away to start over"
        )
    return _replace_bar_lists(report, screened, ticker, fresh)


def _replace_bar_lists(report: IngestReport, screened: IngestReport, ticker: str, fresh: pd.DataFrame) -> pd.DataFrame:
    """``fresh``, once the ticker's rejected / flagged bars in ``report`` are those of the full re-fetch's screening."""
    for found, into in ((screened.rejected, report.rejected), (screened.flagged, report.flagged)):
        into.pop(ticker, None)
        if ticker in found:
            into[ticker] = found[ticker]
    return fresh


def _read_stored(store: Store, ticker: str) -> pd.DataFrame | None:
    """The stored bars; None when there are none. A corrupt file is a :class:`CorruptObject` naming it."""
    key = prices_key(ticker)
    advice = "left as is: move it away and run `kabucast backfill`"
    try:
        frame = normalize_prices(store.get_parquet(key))
    except ObjectNotFound:
        return None
    except CorruptObject as exc:
        raise CorruptObject(f"stored prices unreadable: {exc}; {advice}") from exc
    except PriceValidationError as exc:
        raise CorruptObject(f"stored {key} is not a price table ({exc}); {advice}") from exc
    if not frame.index.is_monotonic_increasing or frame.index.has_duplicates:
        raise CorruptObject(f"stored {key} has dates out of order or repeated; {advice}")
    return frame


def load_prices(
    store: Store, tickers: Sequence[str], on_missing: Callable[[str, str], None] | None = None
) -> dict[str, pd.DataFrame]:
    """Stored bars per ticker; a ticker with no stored or an unreadable file is passed to ``on_missing``.

    Without ``on_missing`` a missing ticker is skipped and an unreadable one raises :class:`CorruptObject`.
    """
    frames: dict[str, pd.DataFrame] = {}
    for t in tickers:
        try:
            frame = _read_stored(store, t)
        except CorruptObject as exc:  # one bad file fails its ticker, never the others
            if on_missing is None:
                raise
            on_missing(t, str(exc))
            continue
        if frame is None:
            if on_missing:
                on_missing(t, f"no stored prices ({prices_key(t)}); run `kabucast backfill`")
            continue
        frames[t] = frame
    return frames

"""The universe from the exchange: a TOPIX size index's membership spells from J-Quants' listed-issue master.

J-Quants' master (``/equities/master`` on a date) gives every listed issue's ``ScaleCat`` on that date: "TOPIX
Core30", "TOPIX Large70", "TOPIX Mid400", ... The sync reads it at the first session of the range, at the last
session of every month (which includes each review date: the last session of the index's ``review_month``,
October for TOPIX) and at the as-of day; where two of those masters differ, it bisects the sessions between them
for the first session of each name's new state (about 5 more masters a change), so an ad-hoc change (a delisting,
a new listing) is dated to the day, not to the month-end. A spell is the first and last session as a member,
inclusive (kabucast.universe). The bisection assumes a name changes state at most once between two masters read:
a name that joins and leaves within one month is not seen.

From ``since`` on, the masters decide; the file's spells that ended before it are kept, a name that is a member on
``since`` keeps the ``since`` of the file's spell (none: a member from before ``history_from``), and a spell of the
file that the first master does not have is closed on the session before it.

Names and sectors of a name the file already lists are the file's (the sector is part of what a trained model
embeds); a new name gets the master's English name and its TSE 33-sector code mapped to the sector map's names by
the sector file's ``tse33`` (config/sectors.yaml, kabucast.config.SectorSettings: passed in, so a user edits YAML);
a code outside that map keeps the master's sector name (the embedding's unknown sector) and is named in the report.

Refused (:class:`UniverseSyncRefused`, exit 2, nothing written): a master with no member of the index (an empty
answer, or a plan that does not cover that date), a master with fewer members than the index can have
(:attr:`IndexSpec.floor`: a partial answer would close real spells), or a step that drops more names than a review
does (:attr:`IndexSpec.most_dropped`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from kabucast.data.calendar import TradingCalendar
from kabucast.data.stored_universe import put_universe, stored_universe
from kabucast.errors import SourceError, UsageError
from kabucast.settings_files import build_section
from kabucast.storage.base import Store
from kabucast.universe import UniverseMember, UniverseSettings
from kabucast.universe_listing import Tse33Sector, write_universe


@dataclass(frozen=True)
class IndexSpec:
    """A size index of the master: the ``ScaleCat`` values that make it up and its nominal number of names."""

    scale_cats: tuple[str, ...]
    size: int

    @property
    def floor(self) -> int:
        """The fewest members a whole master may list (Core30: 27; it had 29 in 2021)."""
        return self.size - self.size // 10

    @property
    def most_dropped(self) -> int:
        """The most names one step may drop (Core30: 10; its largest review dropped 4)."""
        return self.size // 3


INDEXES: dict[str, IndexSpec] = {
    "TOPIX Core30": IndexSpec(("TOPIX Core30",), 30),
    "TOPIX Large70": IndexSpec(("TOPIX Large70",), 70),
    "TOPIX 100": IndexSpec(("TOPIX Core30", "TOPIX Large70"), 100),
}


class UniverseSyncRefused(UsageError):
    """The master cannot be the index's membership (empty, partial, or a drop no review makes): nothing written."""


@dataclass(frozen=True)
class Listed:
    """A member as one master lists it: the English name and the TSE 33-sector code and name."""

    name: str
    s33: str
    s33_name: str


def index_spec(index: str) -> IndexSpec:
    if index not in INDEXES:
        raise UsageError(f"--index {index!r} is not an index of J-Quants' master (one of: {', '.join(INDEXES)})")
    return INDEXES[index]


class MasterReader:
    """The members of ``index`` in the master of each session, each session asked once.

    ``request(what, call)`` makes one API call through the source's retry policy
    (kabucast.data.sources.jquants_source.JQuantsSource.request)."""

    def __init__(self, request: Callable[[str, Callable[[Any], pd.DataFrame]], pd.DataFrame], index: str) -> None:
        self.index, self.spec = index, index_spec(index)
        self._request = request
        self._seen: dict[pd.Timestamp, dict[str, Listed]] = {}

    @property
    def masters(self) -> int:
        return len(self._seen)

    def members(self, day: pd.Timestamp) -> dict[str, Listed]:
        if day not in self._seen:
            what = f"the listed-issue master of {day.date()}"
            frame = self._request(what, lambda client: client.get_eq_master(date=f"{day:%Y-%m-%d}"))
            self._seen[day] = self._checked(day, index_members(frame, self.spec))
        return self._seen[day]

    def latest(self, ticker: str) -> Listed:
        """How the latest master that lists ``ticker`` as a member lists it."""
        return next(found[ticker] for _, found in sorted(self._seen.items(), reverse=True) if ticker in found)

    def _checked(self, day: pd.Timestamp, members: dict[str, Listed]) -> dict[str, Listed]:
        if not members:
            raise UniverseSyncRefused(
                f"J-Quants' master of {day.date()} lists no member of {self.index} (ScaleCat "
                f"{' / '.join(self.spec.scale_cats)}): an empty answer, or a plan that does not cover that date; "
                "nothing written (try a later --since)"
            )
        if len(members) < self.spec.floor:
            raise UniverseSyncRefused(
                f"J-Quants' master of {day.date()} lists {len(members)} members of {self.index}, fewer than the "
                f"{self.spec.floor} an index of {self.spec.size} can have: a partial master would close real spells; "
                "nothing written"
            )
        return members


def index_members(frame: pd.DataFrame | None, spec: IndexSpec) -> dict[str, Listed]:
    """ticker (``7203.T``) -> :class:`Listed` of the master's rows whose ``ScaleCat`` is one of the index's."""
    if frame is None or frame.empty:
        return {}
    missing = [c for c in ("Code", "ScaleCat", "S33") if c not in frame.columns]
    if missing:
        raise SourceError(f"J-Quants' master lacks the fields {missing}: has the API changed? ({list(frame.columns)})")
    rows = frame[frame["ScaleCat"].isin(spec.scale_cats)]
    out = {}
    for row in rows.to_dict("records"):
        name = str(row.get("CoNameEn") or row.get("CoName") or row["Code"])
        out[str(row["Code"])[:4] + ".T"] = Listed(name, str(row["S33"]).zfill(4), str(row.get("S33Nm") or ""))
    return out


@dataclass
class SyncReport:
    """What a sync found: the synced file's mapping and how it differs from the file."""

    index: str
    universe: dict[str, Any]
    added: list[dict[str, str]]  # changes the master has and the file lacks: {date, change, ticker, name}
    removed: list[dict[str, str]]  # changes the file has and the master does not
    unknown_sectors: list[dict[str, str]]  # new names whose 33-sector code the map lacks
    masters: int
    since: str
    until: str
    written: list[str] = field(default_factory=list)

    def summary(self) -> str:
        members = len([m for m in self.universe["members"] if "until" not in m])
        head = (
            f"universe sync {self.universe['name']} from {self.index} ({self.since}..{self.until}, "
            f"{self.masters} masters read): {members} members today, {len(self.universe['members'])} spells, "
            f"reviewed {self.universe['reviewed']}"
        )
        lines = [head]
        lines += [f"  added    {c['date']}  {c['change']:<6}  {c['ticker']:<8} {c['name']}" for c in self.added]
        lines += [f"  removed  {c['date']}  {c['change']:<6}  {c['ticker']:<8} {c['name']}" for c in self.removed]
        if not self.added and not self.removed:
            lines.append("  no change against the file")
        lines += [
            f"  unknown sector: {u['ticker']} has TSE 33-sector {u['s33']} {u['s33_name']!r}, not in the sector file's "
            "tse33 (it embeds as the unknown sector; map the code in config/sectors.yaml)"
            for u in self.unknown_sectors
        ]
        lines.append(f"  written: {', '.join(self.written)}" if self.written else "  not written (--write, --out)")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))


def sync_universe(
    reader: MasterReader,
    file: UniverseSettings,
    calendar: TradingCalendar,
    since: pd.Timestamp,
    today: pd.Timestamp,
    tse33: Mapping[str, Tse33Sector],
) -> SyncReport:
    """The membership of ``reader``'s index from ``since`` to ``today`` (JST dates) as a universe file like ``file``;
    ``tse33``: a new name's 33-sector code -> its sector (SectorSettings.tse33)."""
    sessions = calendar.sessions(since, today)
    if len(sessions) == 0:
        raise UsageError(f"no {calendar.exchange} session from {since.date()} to {today.date()}: check --since")
    grid = check_dates(sessions)
    states = [set(reader.members(day)) for day in grid]
    changes: list[tuple[pd.Timestamp, str, bool]] = []
    for i in range(1, len(grid)):
        (a, before), (b, after) = (grid[i - 1], states[i - 1]), (grid[i], states[i])
        dropped = before - after
        if len(dropped) > reader.spec.most_dropped:
            raise UniverseSyncRefused(
                f"J-Quants' masters of {a.date()} and {b.date()} drop {len(dropped)} members of {reader.index}, more "
                f"than the {reader.spec.most_dropped} a review of an index of {reader.spec.size} drops: nothing written"
            )
        between = sessions[(sessions > a) & (sessions <= b)]
        changes += [(_first_session(reader, between, t, t in after), t, t in after) for t in before ^ after]
    ordered = sorted(changes, key=lambda c: (c[0], c[2], c[1]))
    day_before = str(calendar.previous_session(sessions[0], inclusive=False).date())
    members = _spells(reader, file, sessions, states[0], ordered, day_before, tse33)
    universe = _universe(file, str(grid[0].date()), _reviewed(file, calendar, grid[0], today), members)
    added, removed = _diff(file, build_section(UniverseSettings, universe, f"the {reader.index} sync", ""))
    unknown = [
        {"ticker": t, "s33": reader.latest(t).s33, "s33_name": reader.latest(t).s33_name}
        for t in dict.fromkeys(m["ticker"] for m in members)
        if t not in file.sectors_of and reader.latest(t).s33 not in tse33
    ]
    return SyncReport(
        reader.index, universe, added, removed, unknown, reader.masters, str(sessions[0].date()), str(today.date())
    )


def check_dates(sessions: pd.DatetimeIndex) -> list[pd.Timestamp]:
    """The sessions whose master is read: the first, the last of each month (review dates included), the last."""
    month_ends = pd.Series(sessions, index=sessions).groupby([sessions.year, sessions.month]).max()
    return sorted({sessions[0], sessions[-1], *month_ends})


def _first_session(reader: MasterReader, between: pd.DatetimeIndex, ticker: str, member: bool) -> pd.Timestamp:
    """The first of ``between`` whose master has ``ticker``'s state of the last one (one change in between)."""
    lo, hi = 0, len(between) - 1
    while lo < hi:
        mid = (lo + hi) // 2
        if (ticker in reader.members(between[mid])) == member:
            hi = mid
        else:
            lo = mid + 1
    return between[lo]


def _spells(
    reader: MasterReader,
    file: UniverseSettings,
    sessions: pd.DatetimeIndex,
    first: set[str],
    changes: list[tuple[pd.Timestamp, str, bool]],
    day_before: str,
    tse33: Mapping[str, Tse33Sector],
) -> list[dict[str, Any]]:
    """The spells: the file's before the first session (``day_before``: the session before it), then the masters'."""
    start = sessions[0]
    established = file.history_from is not None and str(start.date()) > file.history_from
    kept = [
        _member(m.ticker, m.name, m.sector, m.since, m.until)
        for m in file.members
        if m.until and m.until < str(start.date())
    ]
    if established:  # a spell of the file the first master does not have: closed on the session before it
        ended = [m for m in file.spells_on(start) if m.ticker not in first and (m.since or "") < str(start.date())]
        kept += [_member(m.ticker, m.name, m.sector, m.since, day_before) for m in ended]
    opened: dict[str, str | None] = {}
    for t in sorted(first):
        covering = [m for m in file.spells_on(start) if m.ticker == t] if established else []
        opened[t] = covering[0].since if covering else (str(start.date()) if established else None)
    spells = []
    for day, ticker, joined in changes:
        if joined:
            opened[ticker] = str(day.date())
        else:
            last = sessions[sessions < day][-1]
            spells.append((ticker, opened.pop(ticker), str(last.date())))
    spells += [(t, since, None) for t, since in opened.items()]
    names = {m.ticker: (m.name, m.sector) for m in file.members}
    out = list(kept)
    for ticker, since, until in spells:
        name, sector = names.get(ticker) or _named(reader.latest(ticker), tse33)
        out.append(_member(ticker, name, sector, since, until))
    return sorted(out, key=lambda m: (m["ticker"], m.get("since") or ""))


def _named(listed: Listed, tse33: Mapping[str, Tse33Sector]) -> tuple[str, str]:
    known = tse33.get(listed.s33)
    return listed.name, known.sector if known else (listed.s33_name or f"TSE33 {listed.s33}")


def _member(ticker: str, name: str, sector: str, since: str | None, until: str | None) -> dict[str, Any]:
    spell = {"ticker": ticker, "name": name, "sector": sector, "since": since, "until": until}
    return {k: v for k, v in spell.items() if v is not None}


def _universe(file: UniverseSettings, start: str, reviewed: str, members: list[dict[str, Any]]) -> dict[str, Any]:
    history_from = file.history_from if file.history_from and file.history_from < start else start
    head = {
        "env": "local",
        "name": file.name,
        "description": file.description,
        "exchange": file.exchange,
        "currency": file.currency,
        "reviewed": reviewed,
        "review_month": file.review_month,
        "history_from": history_from,
    }
    return {**{k: v for k, v in head.items() if v is not None}, "members": members}


def _reviewed(file: UniverseSettings, calendar: TradingCalendar, start: pd.Timestamp, today: pd.Timestamp) -> str:
    """The latest review the sync saw (the last session of ``review_month`` on or before ``today``), or the file's."""
    if file.review_month is None:
        return str(today.date())
    latest = calendar.latest_month_end_session(file.review_month, today)
    return max(file.reviewed, str(latest.date())) if latest is not None and latest >= start else file.reviewed


def _diff(file: UniverseSettings, synced: UniverseSettings) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """(changes the sync has and the file lacks, changes the file has and the sync lacks), oldest first; then the
    names one side lists and the other never does (``date`` "always": a spell with no change in the range)."""

    def keyed(u: UniverseSettings) -> dict[tuple[str, str, str], UniverseMember]:
        return {(day, what, m.ticker): m for day, what, m in u.changes()}

    old, new = keyed(file), keyed(synced)
    rows = [
        [{"date": d, "change": w, "ticker": t, "name": m.name} for (d, w, t), m in a.items() if (d, w, t) not in b]
        for a, b in ((new, old), (old, new))
    ]
    for row, a, b in ((rows[0], synced, file), (rows[1], file, synced)):  # names one side never lists at all
        named = {r["ticker"] for r in row} | set(b.every_ticker)
        always = {m.ticker: m.name for m in a.members if m.ticker not in named}
        row += [{"date": "always", "change": "member", "ticker": t, "name": name} for t, name in always.items()]
    return rows[0], rows[1]


def run_sync(
    store: Store,
    shipped: UniverseSettings,
    calendar: TradingCalendar,
    today: pd.Timestamp,
    tse33: Mapping[str, Tse33Sector],
    index: str = "TOPIX Core30",
    since: pd.Timestamp | None = None,
    write: bool = False,
    out: Path | None = None,
) -> tuple[SyncReport, UniverseSettings]:
    """Sync ``shipped``'s universe (its store copy when there is one: the diff is against what the jobs read) from
    J-Quants' master; with ``write`` the result becomes the store's copy, with ``out`` also a file. ``tse33``: the
    sector file's 33-sector map (a new name's sector). The report and the synced universe."""
    from kabucast.data.sources.jquants_source import JQuantsSource

    current = stored_universe(store, shipped)
    start = since if since is not None else current.history_from
    if start is None:
        raise UsageError(f"universe {current.name} has no history_from: give --since YYYY-MM-DD")
    reader = MasterReader(JQuantsSource().request, index)
    report = sync_universe(reader, current, calendar, pd.Timestamp(start), today, tse33)
    synced = build_section(UniverseSettings, report.universe, f"the {index} sync", "")
    if write:
        report.written.append(f"{store.url}/{put_universe(store, report.universe)}")
    if out is not None:
        report.written.append(str(write_universe(out, report.universe)))
    return report, synced

"""kabucast's trading calendar (exchange_calendars, with its listed full-day halts) against J-Quants' own.

J-Quants' ``/markets/calendar`` dates every day with ``HolDiv``: "1" a trading day, "2" a half-day session (both
sessions here), "0" and "3" no session. A disagreement is a day one calendar calls a session and the other not, or
a session J-Quants does not date at all. A full-day halt kabucast lists (data/calendar.py ``FULL_DAY_HALTS``: Tokyo's
2020-10-01) is a scheduled trading day on which nothing traded: whichever way J-Quants dates it, it agrees, and the
report lists it as a halt with J-Quants' ``HolDiv``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from kabucast.data.calendar import FULL_DAY_HALTS, TradingCalendar
from kabucast.errors import SourceError

SESSION_DIVISIONS = ("1", "2")
"""J-Quants' ``HolDiv`` values of a day with a session."""


@dataclass
class CalendarCheck:
    """The days from ``since`` to ``until`` (JST dates) on which the two calendars disagree."""

    exchange: str
    since: str
    until: str
    days: int
    disagreements: list[dict[str, Any]]  # {date, kabucast: bool, jquants: bool | None (not dated)}
    halts: list[dict[str, Any]]  # {date, jquants_holdiv}

    def summary(self) -> str:
        head = (
            f"calendar {self.exchange} vs J-Quants {self.since}..{self.until}: {self.days} days, "
            f"{len(self.disagreements)} disagreement(s)"
        )
        lines = [head]
        for d in self.disagreements:
            theirs = "not dated" if d["jquants"] is None else ("a session" if d["jquants"] else "no session")
            lines.append(
                f"  {d['date']}  kabucast: {'a session' if d['kabucast'] else 'no session'}, J-Quants: {theirs}"
            )
        lines += [
            f"  {h['date']}  a full-day halt kabucast lists (J-Quants HolDiv {h['jquants_holdiv'] or 'none'}): agrees"
            for h in self.halts
        ]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))


def check_calendar(
    request: Callable[[str, Callable[[Any], pd.DataFrame]], pd.DataFrame],
    calendar: TradingCalendar,
    since: pd.Timestamp,
    until: pd.Timestamp,
) -> CalendarCheck:
    """Compare ``calendar`` with J-Quants' from ``since`` to ``until`` (``request``: one API call with retries)."""
    calendar.check_range(since, until, "--since/--until")
    what = f"the trading calendar {since.date()}..{until.date()}"
    frame = request(what, lambda c: c.get_mkt_calendar(from_yyyymmdd=f"{since:%Y%m%d}", to_yyyymmdd=f"{until:%Y%m%d}"))
    theirs = holiday_divisions(frame)
    ours = set(calendar.sessions(since, until))
    halts = set(FULL_DAY_HALTS.get(calendar.exchange, ()))
    days = pd.date_range(since, until, freq="D")
    disagreements, halted = [], []
    for day in days:
        division = theirs.get(day)
        if day in halts:
            halted.append({"date": str(day.date()), "jquants_holdiv": division})
            continue
        session = None if division is None else division in SESSION_DIVISIONS
        if (session is None and day in ours) or (session is not None and session != (day in ours)):
            disagreements.append({"date": str(day.date()), "kabucast": day in ours, "jquants": session})
    return CalendarCheck(calendar.exchange, str(since.date()), str(until.date()), len(days), disagreements, halted)


def holiday_divisions(frame: pd.DataFrame | None) -> dict[pd.Timestamp, str]:
    """J-Quants' calendar rows as date -> ``HolDiv``."""
    if frame is None or frame.empty:
        return {}
    missing = [c for c in ("Date", "HolDiv") if c not in frame.columns]
    if missing:
        raise SourceError(
            f"J-Quants' calendar lacks the fields {missing}: has the API changed? ({list(frame.columns)})"
        )
    dates = pd.to_datetime(frame["Date"]).dt.normalize()
    return dict(zip(dates, frame["HolDiv"].astype(str), strict=True))

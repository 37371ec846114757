"""The Tokyo Stock Exchange trading calendar (exchange_calendars' XTKS), not pandas business days.

Dates are JST calendar dates as tz-naive midnight ``pd.Timestamp``. XTKS already drops
2020-10-01, when the TSE halted all trading for a day after a system failure; kabucast lists such
halts explicitly as well, so the behaviour does not depend on a library version.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from functools import lru_cache

import exchange_calendars as xcals
import pandas as pd

from kabucast.errors import InvalidDate, echo

EXCHANGE = "XTKS"
FULL_DAY_HALTS: tuple[pd.Timestamp, ...] = (pd.Timestamp("2020-10-01"),)
"""Full-day market halts that are not holidays: never a session, whatever the library says."""

CALENDAR_START = pd.Timestamp("2000-01-04")
JST = "Asia/Tokyo"
MARKET_CLOSE = pd.Timedelta(hours=15, minutes=30)
"""TSE's closing time (JST, since November 2024): a session's bars are final only after it."""
_YEARS_AHEAD = 2
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def parse_date(raw: object, what: str) -> pd.Timestamp:
    """A strict ISO date ``YYYY-MM-DD`` (a JST date) or :class:`InvalidDate` naming ``what``."""
    if not isinstance(raw, str) or not _ISO_DATE.fullmatch(raw):
        raise InvalidDate(f"{what} must be a date like 2026-11-20 (YYYY-MM-DD), got {echo(raw)}")
    try:
        day = dt.date.fromisoformat(raw)
    except ValueError:
        raise InvalidDate(f"{what} is not a calendar date: {echo(raw)}") from None
    if day < CALENDAR_START.date():
        raise InvalidDate(f"{what} {raw} is before the trading calendar starts ({CALENDAR_START.date()})")
    return pd.Timestamp(day)


def check_not_after(day: pd.Timestamp, latest: pd.Timestamp, what: str) -> pd.Timestamp:
    """``day`` unless it is after ``latest`` (the last closed day): no job runs on a future date."""
    if day > latest:
        raise InvalidDate(
            f"{what} {day.date()} is in the future: the last day that has closed in Tokyo (15:30 JST) is "
            f"{latest.date()}"
        )
    return day


def closed_date_jst(now: pd.Timestamp | None = None) -> pd.Timestamp:
    """The JST date whose trading day has closed most recently at ``now`` (naive = UTC; default: now).

    Before 15:30 JST that is yesterday. Whether it was a session is the calendar's question.
    """
    now = pd.Timestamp.now(tz=JST) if now is None else now
    now = now.tz_localize("UTC") if now.tzinfo is None else now
    return (now.tz_convert(JST) - MARKET_CLOSE).normalize().tz_localize(None)


class JPXCalendar:
    """Trading sessions of the Tokyo Stock Exchange, with the full-day halts removed."""

    def __init__(self, start: pd.Timestamp = CALENDAR_START, end: pd.Timestamp | None = None) -> None:
        end = end or pd.Timestamp(dt.date.today()) + pd.DateOffset(years=_YEARS_AHEAD)
        cal = xcals.get_calendar(EXCHANGE, start=start, end=end)
        sessions = pd.DatetimeIndex(cal.sessions).tz_localize(None).normalize()
        self._sessions = sessions.difference(pd.DatetimeIndex(FULL_DAY_HALTS))
        self._set = frozenset(self._sessions)
        self.first = self._sessions[0]
        self.last = self._sessions[-1]

    def sessions(self, start: object, end: object) -> pd.DatetimeIndex:
        """Sessions from ``start`` to ``end``, both inclusive."""
        s = self._sessions
        return s[(s >= _day(start)) & (s <= _day(end))]

    def is_session(self, day: object) -> bool:
        """True when ``day`` (a JST date) is a trading day."""
        d = _day(day)
        self._check_range(d)
        return d in self._set

    def previous_session(self, day: object, inclusive: bool = True) -> pd.Timestamp:
        """The latest session on or before ``day`` (strictly before when ``inclusive`` is False)."""
        d = _day(day)
        self._check_range(d)
        i = self._sessions.searchsorted(d, side="right" if inclusive else "left")
        if i == 0:
            raise ValueError(f"no XTKS session on or before {d.date()} (calendar starts {self.first.date()})")
        return self._sessions[i - 1]

    def off_calendar(self, dates: Iterable[pd.Timestamp]) -> pd.DatetimeIndex:
        """The given dates that are not sessions (weekends, holidays, halts)."""
        idx = pd.DatetimeIndex(list(dates)).normalize()
        return idx[~idx.isin(self._sessions)]

    def _check_range(self, d: pd.Timestamp) -> None:
        if not self.first <= d <= self.last:
            raise ValueError(f"{d.date()} is outside the calendar's range {self.first.date()}..{self.last.date()}")


@lru_cache(maxsize=1)
def default_calendar() -> JPXCalendar:
    """The process-wide calendar (building one takes ~0.1 s)."""
    return JPXCalendar()


def _day(value: object) -> pd.Timestamp:
    ts = pd.Timestamp(value)  # type: ignore[arg-type]
    if ts.tzinfo is not None:
        ts = ts.tz_convert("Asia/Tokyo").tz_localize(None)
    return ts.normalize()

"""An exchange's trading calendar (exchange_calendars), not pandas business days.

A universe names its exchange (``exchange:`` in config/universes/*.yaml, an exchange_calendars code:
XTKS for Tokyo, the default; XNYS for New York; ...). Dates are the exchange's local calendar dates
as tz-naive midnight ``pd.Timestamp``: a Tokyo session is a JST date, a New York session an ET date.

Full-day halts that the library may not list are removed explicitly (Tokyo's 2020-10-01, when the
TSE halted all trading after a system failure), so the behaviour does not depend on a library version.
A date outside the calendar's range is :class:`OutsideCalendar` (a named error, exit 2), never a
bare ValueError.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from functools import lru_cache

import exchange_calendars as xcals
import numpy as np
import pandas as pd

from kabucast.errors import ConfigError, InvalidDate, echo
from kabucast.universe import UniverseSettings

DEFAULT_EXCHANGE = "XTKS"
FULL_DAY_HALTS: dict[str, tuple[pd.Timestamp, ...]] = {"XTKS": (pd.Timestamp("2020-10-01"),)}
"""Per exchange, full-day market halts that are not holidays: never a session, whatever the library says."""

SESSIONS_PER_MONTH = 21
"""Sessions in a forecast month: the labels' unit (month m ends 21 x m sessions after the as-of close),
the portfolio's rebalance step and the error bars' lag all count in it."""

EARLIEST = pd.Timestamp("1990-01-01")
"""No calendar starts earlier (an exchange whose history in exchange_calendars starts later starts there)."""
_YEARS_AHEAD = 2
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


class OutsideCalendar(InvalidDate):
    """A date outside the range the trading calendar covers."""


def parse_date(raw: object, what: str) -> pd.Timestamp:
    """A strict ISO date ``YYYY-MM-DD`` (an exchange-local date) or :class:`InvalidDate` naming ``what``."""
    if not isinstance(raw, str) or not _ISO_DATE.fullmatch(raw):
        raise InvalidDate(f"{what} must be a date like 2026-11-20 (YYYY-MM-DD), got {echo(raw)}")
    try:
        day = dt.date.fromisoformat(raw)
    except ValueError:
        raise InvalidDate(f"{what} is not a calendar date: {echo(raw)}") from None
    if day < EARLIEST.date():
        raise OutsideCalendar(f"{what} {raw} is before the trading calendars start ({EARLIEST.date()})")
    return pd.Timestamp(day)


def check_not_after(
    day: pd.Timestamp, latest: pd.Timestamp, what: str, exchange: str = DEFAULT_EXCHANGE
) -> pd.Timestamp:
    """``day`` unless it is after ``latest`` (the last closed day): no job runs on a future date."""
    if day > latest:
        raise InvalidDate(
            f"{what} {day.date()} is in the future: the last day that has closed on {exchange} is {latest.date()}"
        )
    return day


def check_exchange(code: str) -> str:
    """``code`` if exchange_calendars knows it, else a ConfigError listing a few it does."""
    if code not in xcals.get_calendar_names(include_aliases=True):
        known = ", ".join(("XTKS", "XNYS", "XNAS", "XLON", "XHKG", "XETR"))
        raise ConfigError(f"unknown exchange {echo(code)}: use an exchange_calendars code (e.g. {known})")
    return code


class TradingCalendar:
    """Trading sessions of one exchange, with its full-day halts removed.

    ``tz`` is the exchange's time zone; :meth:`last_closed_day` says which local date has closed.
    """

    def __init__(
        self, exchange: str = DEFAULT_EXCHANGE, start: pd.Timestamp | None = None, end: pd.Timestamp | None = None
    ) -> None:
        self.exchange = check_exchange(exchange)
        dispatcher = xcals.calendar_utils.global_calendar_dispatcher
        bound = dispatcher._calendar_factories[dispatcher.resolve_alias(exchange)].bound_min()
        start = max(EARLIEST, pd.Timestamp(bound) if bound is not None else EARLIEST) if start is None else start
        end = end or pd.Timestamp(dt.date.today()) + pd.DateOffset(years=_YEARS_AHEAD)
        cal = xcals.get_calendar(exchange, start=start, end=end)
        sessions = pd.DatetimeIndex(cal.sessions).tz_localize(None).normalize()
        self._sessions = sessions.difference(pd.DatetimeIndex(FULL_DAY_HALTS.get(self.exchange, ())))
        self._set = frozenset(self._sessions)
        self.start = pd.Timestamp(start).normalize()
        self.first = self._sessions[0]
        self.last = self._sessions[-1]
        self.tz = str(cal.tz)
        self._closes = [(pd.Timestamp(since) if since is not None else None, t) for since, t in cal.close_times]

    def __repr__(self) -> str:
        return f"TradingCalendar({self.exchange}, {self.first.date()}..{self.last.date()})"

    def sessions(self, start: object, end: object) -> pd.DatetimeIndex:
        """Sessions from ``start`` to ``end``, both inclusive."""
        s = self._sessions
        return s[(s >= self._day(start)) & (s <= self._day(end))]

    def is_session(self, day: object) -> bool:
        """True when ``day`` (a local date) is a trading day."""
        d = self._day(day)
        self.check_range(d, d)
        return d in self._set

    def previous_session(self, day: object, inclusive: bool = True) -> pd.Timestamp:
        """The latest session on or before ``day`` (strictly before when ``inclusive`` is False)."""
        d = self._day(day)
        self.check_range(d, d)
        i = self._sessions.searchsorted(d, side="right" if inclusive else "left")
        if i == 0:
            raise OutsideCalendar(f"no {self.exchange} session on or before {d.date()} (first: {self.first.date()})")
        return self._sessions[i - 1]

    def session_after(self, day: object, sessions: int) -> pd.Timestamp:
        """The session ``sessions`` (>= 1) sessions after ``day`` (counted from the last session on or before it)."""
        d = self.previous_session(day)
        i = int(self._sessions.searchsorted(d)) + sessions
        if sessions < 1 or i >= len(self._sessions):
            raise OutsideCalendar(
                f"no {self.exchange} session {sessions} sessions after {d.date()} (last: {self.last.date()})"
            )
        return self._sessions[i]

    def maturities(self, day: object, step: int, count: int, until: object) -> list[pd.Timestamp]:
        """The sessions ``step``, 2 ``step``, ... ``count`` x ``step`` sessions after ``day`` (as :meth:`session_after`
        counts them) that are on or before ``until``, in order: month m of a forecast dated ``day`` matures on the
        m-th (``step`` 21). One look-up for all of them."""
        base = self.previous_session(day)  # checks the range
        ns = self._sessions.asi8  # plain int64 look-ups: a rescore asks this of every forecast stored
        i = int(np.searchsorted(ns, base.value)) + step * np.arange(1, count + 1)
        i = i[i < len(ns)]
        return [self._sessions[k] for k in i[ns[i] <= self._day(until).value]]

    def due_sessions(
        self,
        step: int,
        count: int,
        until: object,
        *,
        after: Mapping[int, object] | None = None,
        matured_after: object | None = None,
    ) -> pd.DatetimeIndex:
        """The sessions D, ascending, with a month m (1..``count``) that matures on or before ``until`` (on the
        session ``step`` x m sessions after D, as :meth:`maturities` counts) and is not yet dealt with: D is later
        than ``after[m]`` (the band state: per month, the last forecast it learnt from; a month it lacks has learnt
        from none), or month m matures after ``matured_after`` (the scorecard: the last session it scored). Exactly
        one of the two. A few int64 slices, no look-up per session: the daily job's band step and scorecard read
        these forecasts by key instead of listing ``predictions/`` and testing each. Only sessions are named (the
        daily job dates every forecast on one)."""
        ns = self._sessions.asi8
        last = int(np.searchsorted(ns, self._day(until).value, side="right")) - 1  # the last session on or before
        months = np.arange(1, count + 1)
        highest = last - step * months  # month m of sessions[highest[m - 1]] matures on sessions[last]
        if after is not None and matured_after is None:
            lowest = np.array(
                [
                    np.searchsorted(ns, self._day(after[m]).value, side="right") if m in after else 0
                    for m in range(1, count + 1)
                ]
            )
        elif matured_after is not None and after is None:  # month m of D matures after the day: index + step x m
            lowest = int(np.searchsorted(ns, self._day(matured_after).value, side="right")) - step * months
        else:
            raise TypeError("due_sessions takes exactly one of after and matured_after")
        spans = [np.arange(max(lo, 0), hi + 1) for lo, hi in zip(lowest.tolist(), highest.tolist(), strict=True)]
        return self._sessions[np.unique(np.concatenate(spans))]

    def sessions_since(self, start: object, day: object) -> int:
        """How many sessions after ``start`` and up to ``day`` (inclusive) there are: 0 on ``start`` itself."""
        return max(len(self.sessions(start, day)) - (1 if self.is_session(start) else 0), 0)

    def off_calendar(self, dates: Iterable[pd.Timestamp]) -> pd.DatetimeIndex:
        """The given dates that are not sessions (weekends, holidays, halts)."""
        idx = pd.DatetimeIndex(list(dates)).normalize()
        return idx[~idx.isin(self._sessions)]

    def close_time(self, day: object) -> dt.time:
        """The regular closing time on ``day``, local (Tokyo: 15:00, 15:30 from 2024-11-05)."""
        d = self._day(day)
        close = self._closes[0][1]
        for since, t in self._closes:
            if since is None or since <= d:
                close = t
        return close

    def last_closed_day(self, now: pd.Timestamp | None = None) -> pd.Timestamp:
        """The local date whose trading day has closed most recently at ``now`` (naive = UTC; default: now).

        Before the day's closing time that is yesterday. Whether it was a session is :meth:`is_session`'s question.
        """
        now = pd.Timestamp.now(tz="UTC") if now is None else now
        now = now.tz_localize("UTC") if now.tzinfo is None else now
        local = now.tz_convert(self.tz)
        today = local.normalize().tz_localize(None)
        close = self.close_time(today)
        closed = local.tz_localize(None) - today >= pd.Timedelta(hours=close.hour, minutes=close.minute)
        return today if closed else today - pd.Timedelta(days=1)

    def latest_month_end_session(self, month: int, day: object) -> pd.Timestamp | None:
        """The last session of ``month`` (1..12) on or before ``day``: this year's or last year's (an
        index reviewed every October takes effect then); None if outside the calendar."""
        d = self._day(day)
        for year in (d.year, d.year - 1):
            first = pd.Timestamp(year=year, month=month, day=1)
            sessions = self.sessions(first, first + pd.offsets.MonthEnd(0))
            if len(sessions) and sessions[-1] <= d:
                return sessions[-1]
        return None

    def review_warning(self, universe: UniverseSettings) -> str | None:
        """``universe``'s staleness against its index's latest periodic review on this exchange, as of the last
        closed day (None: up to date, or an index without reviews)."""
        if universe.review_month is None:
            return None
        closed = self.last_closed_day()
        return universe.review_warning(closed, self.latest_month_end_session(universe.review_month, closed))

    def requested_day(self, raw: object, what: str, latest: pd.Timestamp | None) -> pd.Timestamp:
        """A date a user or an event asked for: strict ``YYYY-MM-DD`` (:func:`parse_date`), inside the
        calendar, and not after ``latest`` (the last closed day; None: any). :class:`InvalidDate` naming ``what``."""
        day = parse_date(raw, what)
        self.check_range(day, day, what)
        return day if latest is None else check_not_after(day, latest, what, self.exchange)

    def check_range(self, start: pd.Timestamp, end: pd.Timestamp, what: str = "") -> None:
        """:class:`OutsideCalendar` unless [start, end] lies inside the calendar's range."""
        if start < self.start or end > self.last:
            span = f"{start.date()}..{end.date()}" if start != end else str(start.date())
            raise OutsideCalendar(
                f"{what + ' ' if what else ''}{span} is outside the {self.exchange} calendar "
                f"({self.start.date()}..{self.last.date()})"
            )

    def _day(self, value: object) -> pd.Timestamp:
        ts = pd.Timestamp(value)  # type: ignore[arg-type]
        if ts.tzinfo is not None:
            ts = ts.tz_convert(self.tz).tz_localize(None)
        return ts.normalize()


@lru_cache(maxsize=8)
def calendar_for(exchange: str = DEFAULT_EXCHANGE) -> TradingCalendar:
    """The process-wide calendar of ``exchange`` (building one takes ~0.1-0.3 s)."""
    return TradingCalendar(exchange)

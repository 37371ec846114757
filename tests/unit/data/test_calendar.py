"""The JPX calendar: XTKS sessions, the 2020-10-01 halt, and the daily job's trading-day check."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kabucast.data.calendar import FULL_DAY_HALTS, OutsideCalendar, TradingCalendar
from kabucast.errors import InvalidDate


def test_full_day_halt_and_holidays_are_not_sessions(calendar: TradingCalendar) -> None:
    assert not calendar.is_session("2020-10-01")  # TSE system failure: no trading all day
    assert calendar.is_session("2020-10-02")
    assert not calendar.is_session("2025-01-01")  # New Year holiday
    assert not calendar.is_session("2025-01-03")  # exchange holiday, a Friday
    assert not calendar.is_session("2025-11-03")  # Culture Day, a Monday
    assert not calendar.is_session("2025-11-22")  # Saturday
    assert calendar.is_session("2025-11-21")


def test_halts_are_removed_even_from_the_session_list(calendar: TradingCalendar) -> None:
    sessions = calendar.sessions("2020-09-01", "2020-10-31")
    assert not sessions.isin(list(FULL_DAY_HALTS)).any()
    # pandas business days would count 22 sessions in October 2020; the JPX had 21
    assert len(calendar.sessions("2020-10-01", "2020-10-31")) == 21
    assert len(pd.bdate_range("2020-10-01", "2020-10-31")) == 22


def test_previous_session(calendar: TradingCalendar) -> None:
    assert calendar.previous_session("2025-11-24") == pd.Timestamp("2025-11-21")  # Labour Thanksgiving observed
    assert calendar.previous_session("2025-11-21") == pd.Timestamp("2025-11-21")
    assert calendar.previous_session("2025-11-21", inclusive=False) == pd.Timestamp("2025-11-20")
    assert calendar.previous_session("2020-10-01") == pd.Timestamp("2020-09-30")


def test_timezone_aware_input_is_read_as_a_tokyo_date(calendar: TradingCalendar) -> None:
    # 2025-11-20 15:30 UTC is 2025-11-21 00:30 in Tokyo: a Friday session
    assert calendar.is_session(pd.Timestamp("2025-11-20 15:30", tz="UTC"))
    assert not calendar.is_session(pd.Timestamp("2025-11-21 15:30", tz="UTC"))  # Saturday in Tokyo


def test_off_calendar_and_out_of_range(calendar: TradingCalendar) -> None:
    off = calendar.off_calendar(pd.DatetimeIndex(["2025-11-21", "2025-11-22", "2020-10-01"]))
    assert list(off) == [pd.Timestamp("2025-11-22"), pd.Timestamp("2020-10-01")]
    with pytest.raises(OutsideCalendar, match="1990-01-04 is outside the XTKS calendar"):
        calendar.is_session("1990-01-04")


def test_any_exchange_has_its_own_sessions_zone_and_close() -> None:
    from kabucast.data.calendar import calendar_for

    ny = calendar_for("XNYS")
    assert (ny.exchange, ny.tz, ny.close_time("2026-11-20").isoformat()) == ("XNYS", "America/New_York", "16:00:00")
    assert ny.is_session("2016-03-07") and not ny.is_session("2016-07-04")  # Independence Day
    assert not calendar_for("XTKS").is_session("2016-07-18") and ny.is_session("2016-07-18")  # Marine Day in Tokyo
    # a moment is read as a New York date: 2025-11-21 02:00 UTC is still Thursday the 20th in New York
    assert ny.previous_session(pd.Timestamp("2025-11-21 02:00", tz="UTC")) == pd.Timestamp("2025-11-20")
    assert ny.first <= pd.Timestamp("2000-01-03")  # real US data from 2000 has its whole first week inside


def test_an_unknown_exchange_is_a_named_error() -> None:
    from kabucast.errors import ConfigError

    with pytest.raises(ConfigError, match=r"unknown exchange 'XXXX'.*exchange_calendars code"):
        TradingCalendar("XXXX")


def test_a_requested_day_is_strict_inside_the_calendar_and_not_after_the_latest(calendar) -> None:
    latest = pd.Timestamp("2025-11-21")
    assert calendar.requested_day("2025-11-20", "--as-of", latest) == pd.Timestamp("2025-11-20")
    assert calendar.requested_day("2025-12-24", "--as-of", None) == pd.Timestamp("2025-12-24")  # future allowed
    with pytest.raises(InvalidDate, match=r"--as-of 2025-11-25 is in the future: .* XTKS is 2025-11-21"):
        calendar.requested_day("2025-11-25", "--as-of", latest)
    with pytest.raises(InvalidDate, match=r"'as_of_date' must be a date like"):
        calendar.requested_day("20251120", "'as_of_date'", latest)
    with pytest.raises(OutsideCalendar):
        calendar.requested_day("1990-01-04", "--as-of", latest)


@pytest.mark.parametrize("day", ["2025-03-03", "2025-03-08"])  # a session, and a Saturday (counted from Friday)
def test_maturities_are_the_sessions_session_after_names_up_to_the_day_asked(calendar, day) -> None:
    until = pd.Timestamp("2025-08-20")
    expected = [calendar.session_after(day, 21 * m) for m in range(1, 13)]
    assert calendar.maturities(day, 21, 12, until) == [e for e in expected if e <= until]
    assert len(calendar.maturities(day, 21, 12, until)) == 5  # months 1-5 have matured by then, 6-12 not
    assert calendar.maturities(day, 21, 12, day) == []


def _maturity_table(calendar: TradingCalendar, start: str, end: str) -> tuple[pd.DatetimeIndex, np.ndarray]:
    """Every session from ``start`` to ``end`` and, per session, the 12 sessions its months mature on, one
    :meth:`session_after` at a time (the brute force: nothing shared with due_sessions)."""
    days = calendar.sessions(start, end)
    table = np.array([[calendar.session_after(d, 21 * m).value for m in range(1, 13)] for d in days])
    return days, table


# 2018-2021 on XTKS: New Year closures, the ten-day Golden Week of 2019 and the 2020-10-01 halt
BRUTE_FORCE = ("2017-01-04", "2021-06-30")
UNTILS = pd.date_range("2019-01-01", "2021-06-30")  # every calendar day, sessions or not


def test_due_sessions_after_the_last_session_scored_are_those_a_scan_of_every_session_finds(calendar) -> None:
    # GIVEN each session's maturities, one by one, over four and a half years
    days, table = _maturity_table(calendar, *BRUTE_FORCE)
    for until in UNTILS:
        # a daily run (scored up to the session before), one after a gap, and one scored up to a holiday
        for after in (calendar.previous_session(until, inclusive=False), until - pd.Timedelta(days=9)):
            # WHEN the calendar names the sessions with a month maturing after ``after`` and by ``until``
            due = calendar.due_sessions(21, 12, until, matured_after=after)
            # THEN they are the sessions whose scan finds one
            hit = ((table > after.value) & (table <= until.value)).any(axis=1)
            assert list(due) == list(days[hit]), (until, after)
    # AND the daily case names one session per month once a year of sessions has passed
    assert len(calendar.due_sessions(21, 12, "2021-06-30", matured_after="2021-06-29")) == 12


def test_due_sessions_after_the_last_forecast_learnt_per_month_are_those_a_scan_finds(calendar) -> None:
    # GIVEN each session's maturities, and per month a last forecast learnt from that varies: a session or not,
    # at or before the session whose month matured last, up to two months earlier (missed or backfilled days)
    days, table = _maturity_table(calendar, *BRUTE_FORCE)
    rng = np.random.default_rng(25)
    for until in UNTILS[::3]:
        last = days.searchsorted(calendar.previous_session(until))
        through = {m: days[last - 21 * m] - pd.Timedelta(days=int(rng.integers(0, 60))) for m in range(1, 13)}
        # WHEN the calendar names the sessions with a month not learnt from yet that matured by ``until``
        due = calendar.due_sessions(21, 12, until, after={m: str(d.date()) for m, d in through.items()})
        # THEN they are the sessions whose scan finds one
        later = days.values[:, None] > np.array([through[m] for m in range(1, 13)], dtype="datetime64[ns]")
        hit = (later & (table <= until.value)).any(axis=1)
        assert list(due) == list(days[hit]), until
    # AND a month with nothing learnt has every session up to its maturity due; one of the two bounds, not both
    assert calendar.due_sessions(21, 1, "2021-06-30", after={})[0] == calendar.first
    with pytest.raises(TypeError):
        calendar.due_sessions(21, 12, "2021-06-30", after={1: "2021-05-31"}, matured_after="2021-06-29")
    with pytest.raises(TypeError):
        calendar.due_sessions(21, 12, "2021-06-30")

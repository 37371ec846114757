"""``--as-of``: one strict parser, the calendar's range, and the last closed session by default."""

from __future__ import annotations

import pandas as pd
import pytest

from kabucast.cli.main import as_of_date, main
from kabucast.data.calendar import calendar_for
from kabucast.errors import InvalidDate

SUNDAY_NOON_JST = pd.Timestamp("2026-11-29 03:00", tz="UTC")
TOKYO = calendar_for("XTKS")


def test_the_default_is_the_last_closed_session() -> None:
    assert as_of_date(None, TOKYO, now=SUNDAY_NOON_JST) == pd.Timestamp("2026-11-27")  # Friday
    # Monday 14:00 JST: the market has not closed yet, so Friday still
    assert as_of_date(None, TOKYO, now=pd.Timestamp("2026-11-30 05:00", tz="UTC")) == pd.Timestamp("2026-11-27")


def test_the_default_follows_the_exchange_of_the_calendar() -> None:
    # Monday 2026-11-30 15:00 UTC: 00:00 Tuesday in Tokyo (Monday has closed), 10:00 Monday in New York
    now = pd.Timestamp("2026-11-30 15:00", tz="UTC")
    assert as_of_date(None, TOKYO, now=now) == pd.Timestamp("2026-11-30")
    assert as_of_date(None, calendar_for("XNYS"), now=now) == pd.Timestamp("2026-11-27")  # Friday after Thanksgiving
    with pytest.raises(InvalidDate, match="last day that has closed on XNYS is 2026-11-29"):
        as_of_date("2026-11-30", calendar_for("XNYS"), now=now)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("2025-13-01", "not a calendar date"),
        ("yesterday", "must be a date like"),
        ("2025-11-2", "must be a date like"),
        ("1996-12-31", "outside the XTKS calendar"),
        ("1989-12-31", "before the trading calendars start"),
        ("2026-11-30", "is in the future"),
    ],
)
def test_bad_dates_are_named_errors(raw: str, message: str) -> None:
    with pytest.raises(InvalidDate, match=message):
        as_of_date(raw, TOKYO, now=SUNDAY_NOON_JST)


def test_calendar_look_ups_may_ask_about_the_future_within_the_calendar() -> None:
    assert as_of_date("2026-12-25", TOKYO, future_ok=True, now=SUNDAY_NOON_JST) == pd.Timestamp("2026-12-25")
    with pytest.raises(InvalidDate, match="outside the XTKS calendar"):
        as_of_date("2099-01-05", TOKYO, future_ok=True, now=SUNDAY_NOON_JST)


def test_the_cli_answers_a_bad_date_with_one_line_and_exit_2(capsys, tmp_path) -> None:
    assert main(["calendar", "--as-of", "yesterday", "--store", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "kabucast calendar: error: InvalidDate: --as-of must be a date like 2026-11-20 (YYYY-MM-DD), got 'yesterday'"
    ]
    assert list(tmp_path.iterdir()) == []

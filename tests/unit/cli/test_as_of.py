"""``--as-of``: one strict parser, the calendar's range, and the last closed session by default."""

from __future__ import annotations

import pandas as pd
import pytest

from kabucast.cli.main import as_of_date, main
from kabucast.errors import InvalidDate

SUNDAY_NOON_JST = pd.Timestamp("2026-11-29 03:00", tz="UTC")


def test_the_default_is_the_last_closed_session() -> None:
    assert as_of_date(None, now=SUNDAY_NOON_JST) == pd.Timestamp("2026-11-27")  # Friday
    # Monday 14:00 JST: the market has not closed yet, so Friday still
    assert as_of_date(None, now=pd.Timestamp("2026-11-30 05:00", tz="UTC")) == pd.Timestamp("2026-11-27")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("2025-13-01", "not a calendar date"),
        ("yesterday", "must be a date like"),
        ("2025-11-2", "must be a date like"),
        ("1999-12-31", "before the trading calendar starts"),
        ("2026-11-30", "is in the future"),
    ],
)
def test_bad_dates_are_named_errors(raw: str, message: str) -> None:
    with pytest.raises(InvalidDate, match=message):
        as_of_date(raw, now=SUNDAY_NOON_JST)


def test_calendar_look_ups_may_ask_about_the_future_within_the_calendar() -> None:
    assert as_of_date("2026-12-25", future_ok=True, now=SUNDAY_NOON_JST) == pd.Timestamp("2026-12-25")
    with pytest.raises(InvalidDate, match="end of the trading calendar"):
        as_of_date("2099-01-05", future_ok=True, now=SUNDAY_NOON_JST)


def test_the_cli_answers_a_bad_date_with_one_line_and_exit_2(capsys, tmp_path) -> None:
    assert main(["calendar", "--as-of", "yesterday", "--store", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["kabucast calendar: error: --as-of must be a date like 2026-11-20 (YYYY-MM-DD), got 'yesterday'"]
    assert list(tmp_path.iterdir()) == []

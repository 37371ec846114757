"""Lambda events: the schedule's and manual ones parsed; anything malformed rejected with a reason."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from kabucast.serverless.events import InvalidEvent, parse_event

EVENTS = Path(__file__).resolve().parents[3] / "events"
NOW = pd.Timestamp("2026-11-23 03:00", tz="UTC")  # 12:00 JST on Monday 23rd: the last close is the 22nd's date
UNIVERSE = ("7203.T", "6758.T", "8306.T")


def event(name: str) -> dict:
    return json.loads((EVENTS / name).read_text())


def test_schedule_event_runs_for_the_session_closed_at_the_scheduled_time() -> None:
    # 14:00 UTC = 23:00 JST on Friday 2026-11-20, whatever the clock says when it is delivered
    req = parse_event("daily", event("daily_schedule.json"), NOW + pd.Timedelta(days=3), UNIVERSE)
    assert req.as_of == pd.Timestamp("2026-11-20") and req.trigger == "schedule"
    assert not req.skip_first_step and req.tickers is None
    # the monthly schedule fires at 00:00 JST on the 1st: the last close is the previous day's
    monthly = parse_event("monthly", event("monthly_schedule.json"), NOW, UNIVERSE)
    assert monthly.as_of == pd.Timestamp("2026-10-31")


def test_manual_events() -> None:
    req = parse_event("daily", event("daily_skip_fetch.json"), NOW, UNIVERSE)
    assert req.as_of == pd.Timestamp("2026-11-20") and req.skip_first_step
    assert req.tickers == ("7203.T", "6758.T", "8306.T") and req.trigger == "manual"
    assert parse_event("daily", {}, NOW, UNIVERSE).as_of == pd.Timestamp("2026-11-22")
    assert parse_event("monthly", event("monthly_skip_enrich.json"), NOW).skip_first_step
    assert parse_event("daily", {}, NOW).to_dict()["skip_fetch"] is False


def test_an_operator_can_force_a_daily_publication_from_an_event() -> None:
    req = parse_event("daily", event("daily_force.json"), NOW, UNIVERSE)
    assert req.force and req.as_of == pd.Timestamp("2026-11-20") and req.to_dict()["force"] is True
    assert not parse_event("daily", {}, NOW).force  # never by default, never from the schedule
    assert not parse_event("daily", event("daily_schedule.json"), NOW + pd.Timedelta(days=3)).force


@pytest.mark.parametrize(
    ("job", "payload", "message"),
    [
        ("daily", {"as_of_date": "../../etc"}, "must be a date like"),
        ("daily", {"as_of_date": "2026-02-30"}, "not a calendar date"),
        ("daily", {"as_of_date": "2026-11-24"}, "is in the future: the last day that has closed"),
        ("daily", {"as_of_date": 20261120}, "must be a date like"),
        ("daily", {"skip_fetch": "yes"}, "must be true or false"),
        ("daily", {"skip_enrich": True}, "unknown key 'skip_enrich'"),
        ("monthly", {"skip_fetch": True}, "unknown key 'skip_fetch'"),
        ("daily", {"tickers": ["7203.T", "AAPL"]}, "malformed symbol 'AAPL'"),
        ("daily", {"tickers": ["9999.T"]}, "outside the universe: 9999.T"),
        ("daily", {"tickers": []}, "non-empty list"),
        ("daily", {"tickers": "7203.T"}, "non-empty list"),
        ("daily", {"tickers": ["7203.T", "7203.T"]}, "twice"),
        (
            "daily",
            {"source": "kabucast.scheduler", "job": "monthly", "scheduled_time": "2026-11-20T14:00:00Z"},
            "reached the daily",
        ),
        ("daily", {"source": "kabucast.scheduler", "job": "daily", "scheduled_time": "soon"}, "ISO-8601"),
        ("daily", {"source": "kabucast.scheduler", "job": "daily", "scheduled_time": "7203.T/.."}, "ISO-8601"),
        ("daily", {"source": "kabucast.scheduler", "job": "daily", "scheduled_time": "2026-11-20"}, "ISO-8601"),
        (
            "monthly",
            {"source": "kabucast.scheduler", "job": "monthly", "scheduled_time": "0001-01-01T00:00:00Z"},
            "before the XTKS calendar starts",
        ),
        (
            "daily",
            {"source": "kabucast.scheduler", "job": "daily", "scheduled_time": "2026-11-30T14:00:00Z"},
            "is in the future",
        ),
        ("daily", {"as_of_date": "0001-01-01"}, "before the trading calendars start"),
        ("daily", {"source": "kabucast.scheduler", "job": "daily", "time": "x"}, "unknown key 'time'"),
        ("daily", ["as_of_date"], "must be a JSON object"),
        ("daily", {1: "x"}, "keys must be strings, got 1 "),
        ("daily", {"as_of_date": "2026-11-20", None: 1}, "keys must be strings, got None"),
        ("daily", {"source": "kabucast.scheduler", ("job",): "daily"}, "keys must be strings"),
        ("daily", {"force": "yes"}, "'force' must be true or false"),
        ("monthly", {"force": True}, "unknown key 'force'"),
    ],
)
def test_malformed_events_are_rejected_with_the_reason(job: str, payload: object, message: str) -> None:
    with pytest.raises(InvalidEvent, match=message):
        parse_event(job, payload, NOW, UNIVERSE)


def test_the_shipped_malformed_event_is_rejected() -> None:
    with pytest.raises(InvalidEvent):
        parse_event("daily", event("malformed.json"), NOW, UNIVERSE)


def test_rejected_values_are_quoted_at_most_100_characters() -> None:
    with pytest.raises(InvalidEvent) as err:
        parse_event("daily", {"as_of_date": "x" * 5000}, NOW, UNIVERSE)
    assert len(str(err.value)) < 200 and "x" * 100 not in str(err.value)


def test_the_handler_answers_an_event_with_non_string_keys_as_invalid() -> None:
    # GIVEN a store no request could reach: an error summary proves nothing was read
    from kabucast.serverless.handlers import Runtime, handle

    runtime = Runtime(env={"KABUCAST_STORE": "s3://never-read"}, clock=lambda: NOW)
    # WHEN an event dict has a key that JSON could not have produced THEN it is an invalid event, not a TypeError
    out = handle("daily", {1: "x", "as_of_date": "2026-11-20"}, None, runtime)
    assert out["status"] == "error" and out["error"] == "InvalidEvent" and "keys must be strings" in out["message"]

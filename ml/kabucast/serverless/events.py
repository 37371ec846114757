"""The Lambda events the two jobs accept, parsed and validated before any I/O.

Two shapes, for either job:

- the schedule's event (EventBridge Scheduler, ``Input`` in template.yaml)::

    {"source": "kabucast.scheduler", "job": "daily", "scheduled_time": "2026-11-20T14:00:00Z"}

  The as-of date is the Tokyo session that had closed at ``scheduled_time`` (so a retried or late
  delivery still works on the date the schedule meant, and two deliveries write the same objects).

- a manual event (the console, ``aws lambda invoke``, ``kabucast invoke``)::

    {"as_of_date": "2026-11-20", "skip_fetch": true, "tickers": ["7203.T", "6758.T"]}

  ``skip_fetch`` is daily only, ``skip_enrich`` monthly only; every key is optional. ``"force": true``
  (daily only) publishes what the publication rules would refuse (below ``min_coverage``, or fewer
  forecasts than that date's published document; never an empty one, never moving ``latest.json``
  back in time): an operator with invoke rights on the function can force a day, and the run is
  logged, summarised and published as forced (kabucast.jobs.publish).

Anything else (a key that is not a string, an unknown key, a wrong type, a date that is not
``YYYY-MM-DD``, a date before the calendar or after the last closed session, a ``scheduled_time``
that is not a full ISO-8601 UTC or offset time or lies in the future, a ticker outside the universe)
raises :class:`InvalidEvent`, which quotes the rejected value cut to 100 characters.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd

from kabucast.data.calendar import TradingCalendar, calendar_for
from kabucast.errors import InvalidDate, UsageError, echo

Job = Literal["daily", "monthly"]
SCHEDULER_SOURCE = "kabucast.scheduler"

_SCHEDULED = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})")
CLOCK_SKEW = pd.Timedelta(minutes=15)
"""How far ahead of this function's clock a schedule's ``scheduled_time`` may be (clock skew)."""
_TICKER = re.compile(r"[0-9A-Z]{4}\.T")
_SKIP_KEY: dict[str, str] = {"daily": "skip_fetch", "monthly": "skip_enrich"}
_MANUAL_KEYS: dict[str, set[str]] = {
    "daily": {"as_of_date", "skip_fetch", "tickers", "force"},
    "monthly": {"as_of_date", "skip_enrich", "tickers"},
}


class InvalidEvent(UsageError):
    """The event is malformed; nothing was read or written."""


@dataclass(frozen=True)
class JobRequest:
    """One validated invocation: which session, whether to skip the first step, which tickers, whether an
    operator forced publication (daily only)."""

    job: Job
    as_of: pd.Timestamp
    skip_first_step: bool
    tickers: tuple[str, ...] | None
    trigger: Literal["schedule", "manual"]
    force: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "job": self.job,
            "as_of_date": str(self.as_of.date()),
            _SKIP_KEY[self.job]: self.skip_first_step,
            "tickers": list(self.tickers) if self.tickers is not None else None,
            "trigger": self.trigger,
            "force": self.force,
        }


def parse_event(
    job: Job,
    event: Any,
    now: pd.Timestamp,
    universe: Sequence[str] | None = None,
    calendar: TradingCalendar | None = None,
) -> JobRequest:
    """``event`` checked and turned into a request; ``universe`` (if given) bounds the tickers.

    Dates are local to ``calendar``'s exchange (default XTKS): the as-of day is the last one closed there.
    """
    calendar = calendar or calendar_for()
    if not isinstance(event, Mapping):
        raise InvalidEvent(f"the event must be a JSON object, got {type(event).__name__}")
    odd = [k for k in event if not isinstance(k, str)]
    if odd:
        raise InvalidEvent(f"the event's keys must be strings, got {echo(odd[0])} ({type(odd[0]).__name__})")
    if event.get("source") == SCHEDULER_SOURCE:
        return _schedule_request(job, event, now, calendar)
    _no_unknown_keys(event, _MANUAL_KEYS[job], job)
    today = calendar.last_closed_day(now)
    as_of = _as_of(event.get("as_of_date"), today, calendar)
    skip, force = _flag(event, _SKIP_KEY[job]), _flag(event, "force")
    tickers = _tickers(event.get("tickers"), universe)
    return JobRequest(job, as_of, skip, tickers, "manual", force)


def _flag(event: Mapping[str, Any], key: str) -> bool:
    value = event.get(key, False)
    if not isinstance(value, bool):
        raise InvalidEvent(f"'{key}' must be true or false, got {echo(value)}")
    return value


def _schedule_request(job: Job, event: Mapping[str, Any], now: pd.Timestamp, calendar: TradingCalendar) -> JobRequest:
    _no_unknown_keys(event, {"source", "job", "scheduled_time"}, job)
    if event.get("job") != job:
        raise InvalidEvent(f"a schedule event for the {echo(event.get('job'))} job reached the {job} function")
    raw = event.get("scheduled_time")
    if not isinstance(raw, str) or not _SCHEDULED.fullmatch(raw):
        raise InvalidEvent(f"'scheduled_time' must be an ISO-8601 time like 2026-11-20T14:00:00Z, got {echo(raw)}")
    try:
        when = pd.Timestamp(raw)
    except (ValueError, OverflowError):
        raise InvalidEvent(f"'scheduled_time' is not a real time: {echo(raw)}") from None
    now = now.tz_localize("UTC") if now.tzinfo is None else now
    if when > now + CLOCK_SKEW:
        raise InvalidEvent(f"'scheduled_time' {raw} is in the future (now {now.isoformat()}); nothing was run")
    as_of = calendar.last_closed_day(when)
    if as_of < calendar.start:
        raise InvalidEvent(
            f"'scheduled_time' {raw} is before the {calendar.exchange} calendar starts ({calendar.start.date()})"
        )
    return JobRequest(job, as_of, False, None, "schedule")


def _no_unknown_keys(event: Mapping[str, Any], allowed: set[str], job: str) -> None:
    unknown = sorted(set(event) - allowed)
    if unknown:
        raise InvalidEvent(f"unknown key {echo(unknown[0])} in the {job} event (allowed: {', '.join(sorted(allowed))})")


def _as_of(raw: Any, today: pd.Timestamp, calendar: TradingCalendar) -> pd.Timestamp:
    if raw is None:
        return today
    try:
        return calendar.requested_day(raw, "'as_of_date'", today)
    except InvalidDate as exc:
        raise InvalidEvent(str(exc)) from None


def _tickers(raw: Any, universe: Sequence[str] | None) -> tuple[str, ...] | None:
    if raw is None:
        return None
    if not isinstance(raw, list) or not raw or not all(isinstance(t, str) for t in raw):
        raise InvalidEvent(f"'tickers' must be a non-empty list of strings, got {echo(raw)}")
    bad = [t for t in raw if not _TICKER.fullmatch(t)]
    if bad:
        raise InvalidEvent(f"'tickers' holds a malformed symbol {echo(bad[0])} (expected a TSE code like 7203.T)")
    if universe is not None:
        outside = [t for t in raw if t not in universe]
        if outside:
            raise InvalidEvent(f"'tickers' outside the universe: {', '.join(outside)[:100]}")
    if len(set(raw)) != len(raw):
        raise InvalidEvent("'tickers' lists a ticker twice")
    return tuple(raw)

"""The Lambda events the two jobs accept, parsed and validated before any I/O.

Two shapes, for either job:

- the schedule's event (EventBridge Scheduler, ``Input`` in template.yaml)::

    {"source": "kabucast.scheduler", "job": "daily", "scheduled_time": "2026-11-20T14:00:00Z"}

  The as-of date is the Tokyo session that had closed at ``scheduled_time`` (so a retried or late
  delivery still works on the date the schedule meant, and two deliveries write the same objects).

- a manual event (the console, ``aws lambda invoke``, ``kabucast invoke``)::

    {"as_of_date": "2026-11-20", "skip_fetch": true, "tickers": ["7203.T", "6758.T"]}

  ``skip_fetch`` is daily only, ``skip_enrich`` monthly only; every key is optional.

Anything else (an unknown key, a wrong type, a date that is not ``YYYY-MM-DD``, a date after the
last closed session, a ticker outside the universe) raises :class:`InvalidEvent`.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd

from kabucast.data.calendar import closed_date_jst
from kabucast.errors import KabucastError

Job = Literal["daily", "monthly"]
SCHEDULER_SOURCE = "kabucast.scheduler"

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_TICKER = re.compile(r"[0-9A-Z]{4}\.T")
_SKIP_KEY: dict[str, str] = {"daily": "skip_fetch", "monthly": "skip_enrich"}


class InvalidEvent(KabucastError):
    """The event is malformed; nothing was read or written."""


@dataclass(frozen=True)
class JobRequest:
    """One validated invocation: which session, whether to skip the first step, which tickers."""

    job: Job
    as_of: pd.Timestamp
    skip_first_step: bool
    tickers: tuple[str, ...] | None
    trigger: Literal["schedule", "manual"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "job": self.job,
            "as_of_date": str(self.as_of.date()),
            _SKIP_KEY[self.job]: self.skip_first_step,
            "tickers": list(self.tickers) if self.tickers is not None else None,
            "trigger": self.trigger,
        }


def parse_event(job: Job, event: Any, now: pd.Timestamp, universe: Sequence[str] | None = None) -> JobRequest:
    """``event`` checked and turned into a request; ``universe`` (if given) bounds the tickers."""
    if not isinstance(event, Mapping):
        raise InvalidEvent(f"the event must be a JSON object, got {type(event).__name__}")
    if event.get("source") == SCHEDULER_SOURCE:
        return _schedule_request(job, event)
    allowed = {"as_of_date", _SKIP_KEY[job], "tickers"}
    _no_unknown_keys(event, allowed, job)
    today = closed_date_jst(now)
    as_of = _as_of(event.get("as_of_date"), today)
    skip = event.get(_SKIP_KEY[job], False)
    if not isinstance(skip, bool):
        raise InvalidEvent(f"'{_SKIP_KEY[job]}' must be true or false, got {skip!r}")
    tickers = _tickers(event.get("tickers"), universe)
    return JobRequest(job, as_of, skip, tickers, "manual")


def _schedule_request(job: Job, event: Mapping[str, Any]) -> JobRequest:
    _no_unknown_keys(event, {"source", "job", "scheduled_time"}, job)
    if event.get("job") != job:
        raise InvalidEvent(f"a schedule event for the {event.get('job')!r} job reached the {job} function")
    raw = event.get("scheduled_time")
    try:
        when = pd.Timestamp(raw)
    except (TypeError, ValueError):
        raise InvalidEvent(f"'scheduled_time' must be an ISO-8601 time, got {raw!r}") from None
    if not isinstance(raw, str) or pd.isna(when):
        raise InvalidEvent(f"'scheduled_time' must be an ISO-8601 time, got {raw!r}")
    return JobRequest(job, closed_date_jst(when), False, None, "schedule")


def _no_unknown_keys(event: Mapping[str, Any], allowed: set[str], job: str) -> None:
    unknown = sorted(set(event) - allowed)
    if unknown:
        raise InvalidEvent(f"unknown key {unknown[0]!r} in the {job} event (allowed: {', '.join(sorted(allowed))})")


def _as_of(raw: Any, today: pd.Timestamp) -> pd.Timestamp:
    if raw is None:
        return today
    if not isinstance(raw, str) or not _DATE.fullmatch(raw):
        raise InvalidEvent(f"'as_of_date' must be a date like 2026-11-20, got {raw!r}")
    try:
        day = pd.Timestamp(dt.date.fromisoformat(raw))
    except ValueError:
        raise InvalidEvent(f"'as_of_date' is not a calendar date: {raw!r}") from None
    if day > today:
        raise InvalidEvent(f"'as_of_date' {raw} is after the last closed Tokyo session ({today.date()})")
    return day


def _tickers(raw: Any, universe: Sequence[str] | None) -> tuple[str, ...] | None:
    if raw is None:
        return None
    if not isinstance(raw, list) or not raw or not all(isinstance(t, str) for t in raw):
        raise InvalidEvent(f"'tickers' must be a non-empty list of strings, got {raw!r}")
    bad = [t for t in raw if not _TICKER.fullmatch(t)]
    if bad:
        raise InvalidEvent(f"'tickers' holds a malformed symbol {bad[0]!r} (expected a TSE code like 7203.T)")
    if universe is not None:
        outside = [t for t in raw if t not in universe]
        if outside:
            raise InvalidEvent(f"'tickers' outside the universe: {', '.join(outside)}")
    if len(set(raw)) != len(raw):
        raise InvalidEvent("'tickers' lists a ticker twice")
    return tuple(raw)

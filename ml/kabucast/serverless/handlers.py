"""What the two Lambda functions do with an event: validate it, build adapters once, run one job.

The handler files in ``functions/`` are two lines over :func:`handle`. Settings come from the
function's environment (set by template.yaml):

- ``KABUCAST_STORE``: ``s3://bucket[/prefix]`` or a folder (required);
- ``KABUCAST_UNIVERSE_CONFIG``: the universe file under config/ (default: the job config's);
- ``KABUCAST_SOURCE``: ``yfinance`` or ``sample[:SEED]`` (default: the job config's);
- ``KABUCAST_S3_ENDPOINT_URL``: an S3-compatible endpoint (tests, MinIO).

Importing this module does no I/O. The store, the price source, the calendar and the ONNX session
are built on the first invocation and reused while the container is warm. A malformed event is
answered with ``{"status": "error", ...}`` before anything is read or written (retrying it would not
help). So is a run that stops on a usage error (a :class:`~kabucast.errors.UsageError`: an
``as_of_date`` too early to fine-tune, a broken config file), which no retry could make succeed
either: it is answered, not raised, yet logged and counted as a failed run (``run failed`` with
``raised: false``, ``RunFailed``), which template.yaml's ``RunFailedAlarm`` mails, since neither
Lambda's ``Errors`` nor the failed-runs queue sees an answered request. Any other failure raises, so
Lambda's retries and the failed-runs queue see it. A manual daily event with ``"force": true`` (an
operator with invoke rights) is logged as forced: a warning line, and ``forced: true`` on every log
line of that run.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from kabucast.config import UniverseSettings, load_universe
from kabucast.data.calendar import calendar_for
from kabucast.errors import ConfigError, StoreUnavailable, UsageError
from kabucast.jobs.wiring import (
    DAILY_FETCH_CONFIG,
    MONTHLY_ENRICH_CONFIG,
    DailyJob,
    MonthlyJob,
    NotInUniverse,
    build_daily_job,
    build_monthly_job,
)
from kabucast.serverless import observability
from kabucast.serverless.events import InvalidEvent, Job, JobRequest, parse_event
from kabucast.storage.base import Store, json_safe
from kabucast.storage.url import ENV_ENDPOINT, ENV_STORE, open_store

ENV_UNIVERSE = "KABUCAST_UNIVERSE_CONFIG"
ENV_SOURCE = "KABUCAST_SOURCE"


@dataclass(frozen=True)
class FunctionSettings:
    """The function's environment, read once."""

    store_url: str
    universe: str | None = None
    source: str | None = None
    endpoint_url: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> FunctionSettings:
        store = env.get(ENV_STORE, "").strip()
        if not store:
            raise ConfigError(f"{ENV_STORE} is not set: point it at s3://bucket[/prefix] (template.yaml sets it)")
        return cls(
            store_url=store,
            universe=env.get(ENV_UNIVERSE) or None,
            source=env.get(ENV_SOURCE) or None,
            endpoint_url=env.get(ENV_ENDPOINT) or None,
        )


@dataclass
class Runtime:
    """Per-container state: settings and adapters, built lazily and kept while the container is warm."""

    env: Mapping[str, str] = field(default_factory=lambda: os.environ)
    clock: Callable[[], pd.Timestamp] = field(default=lambda: pd.Timestamp.now(tz="UTC"))
    _settings: FunctionSettings | None = None
    _store: Store | None = None
    _daily: DailyJob | None = None
    _monthly: MonthlyJob | None = None
    _universes: dict[str, UniverseSettings] = field(default_factory=dict)

    @property
    def settings(self) -> FunctionSettings:
        if self._settings is None:
            self._settings = FunctionSettings.from_env(self.env)
        return self._settings

    def universe(self, job: Job) -> UniverseSettings:
        """The image's universe file of the job (no store or network I/O): its exchange dates the event. The job
        itself works on the store's synced copy when there is one (same name and exchange)."""
        if job not in self._universes:
            name = self.settings.universe or _configured_universe(job)
            self._universes[job] = load_universe(name)
        return self._universes[job]

    def store(self) -> Store:
        if self._store is None:
            self._store = open_store(self.settings.store_url, endpoint_url=self.settings.endpoint_url)
        return self._store

    def daily(self) -> DailyJob:
        if self._daily is None:
            self._daily = build_daily_job(source=self.settings.source, universe=self.settings.universe)
        return self._daily

    def monthly(self) -> MonthlyJob:
        if self._monthly is None:
            self._monthly = build_monthly_job(source=self.settings.source, universe=self.settings.universe)
        return self._monthly


def _configured_universe(job: Job) -> str:
    from kabucast.config import EnrichSettings, FetchSettings, load_settings, resolve_config_path

    if job == "daily":
        return load_settings(FetchSettings, resolve_config_path(DAILY_FETCH_CONFIG)).universe
    return load_settings(EnrichSettings, resolve_config_path(MONTHLY_ENRICH_CONFIG)).universe


def handle(job: Job, event: Any, context: Any, runtime: Runtime) -> dict[str, Any]:
    """One invocation of ``job``: a JSON-safe summary (``status`` ok, skipped or error).

    A malformed event is answered (``status: error``, ``error: InvalidEvent``) before any I/O; so is a ticker
    outside the universe the job reads, once it has read the store's synced copy (kabucast.jobs.wiring). A run
    that stops on a usage error is answered too (``error``: its name), after it is logged and counted
    as failed; any other failure raises after logging it, so Lambda's retries, the failed-runs queue
    and the alarms see it. Either way one structured log line and one metrics blob are written
    (kabucast.serverless.observability).
    """
    started = time.monotonic()
    request_id = getattr(context, "aws_request_id", None)
    observability.start(job, context)
    try:
        universe = runtime.universe(job)
        # tickers: their form only; membership is the job's check, on the store's copy it reads (jobs.wiring)
        request = parse_event(job, event, runtime.clock(), None, calendar_for(universe.exchange))
    except InvalidEvent as exc:
        observability.rejected(str(exc), time.monotonic() - started)
        return {"status": "error", "error": "InvalidEvent", "message": str(exc), "request_id": request_id}
    observability.logger.append_keys(as_of=str(request.as_of.date()), trigger=request.trigger)
    if request.force:
        observability.forced(request.to_dict())
    try:
        summary = _run(request, runtime)
    except NotInUniverse as exc:  # the sender's to fix, like a malformed event; known once the store's copy is read
        observability.rejected(str(exc), time.monotonic() - started)
        return {"status": "error", "error": "InvalidEvent", "message": str(exc), "request_id": request_id}
    except Exception as exc:
        answered = isinstance(exc, UsageError)  # a retry would fail the same way
        observability.failed(exc, job, time.monotonic() - started, _lag(request, runtime, exc), raised=not answered)
        if not answered:
            raise
        return {"status": "error", "error": type(exc).__name__, "message": str(exc), "request_id": request_id}
    summary.update(request=request.to_dict(), request_id=request_id, seconds=round(time.monotonic() - started, 3))
    summary = json_safe(summary)
    observability.finished(summary, time.monotonic() - started, _lag(request, runtime))
    return summary


def _run(request: JobRequest, runtime: Runtime) -> dict[str, Any]:
    if request.job == "daily":
        return runtime.daily().run(
            runtime.store(), request.as_of, request.tickers, skip_fetch=request.skip_first_step, force=request.force
        )
    return runtime.monthly().run(runtime.store(), request.as_of, request.tickers, skip_enrich=request.skip_first_step)


def _lag(request: JobRequest, runtime: Runtime, failure: Exception | None = None) -> int | None:
    """The daily job's data lag in sessions after this run (None for the monthly job).

    None without reading when the run failed because the store could not be reached: a second read
    would wait out the same timeouts (about 30 s on a hanging endpoint) and then fail too.
    """
    if request.job != "daily" or isinstance(failure, StoreUnavailable):
        return None
    try:
        exchange = runtime.universe(request.job).exchange
        return observability.sessions_behind(runtime.store(), calendar_for(exchange), request.as_of)
    except Exception:  # observing must never hide the run's own outcome
        return None

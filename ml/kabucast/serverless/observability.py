"""Structured logs and CloudWatch metrics for the Lambda handlers, in Powertools for AWS Lambda's terms.

Logs: one JSON object per line (Powertools ``Logger``) with level, timestamp, ``service``,
``cold_start``, ``function_request_id``, ``job`` and ``as_of``; the run's summary is the message
``run finished`` (``summary`` key), a failure is ``run failed`` with its exception and traceback,
``error`` (its name) and ``raised`` (False: a usage error the handler answered with ``status: error``
instead of raising, so Lambda neither retries nor queues it).

Metrics: one CloudWatch embedded-metric-format blob per invocation on stdout (Powertools
``Metrics``), namespace ``kabucast``, dimensions ``service`` and ``job``:

- ``TickersPublished`` (Count): forecasts published by a daily run (0 when it published nothing);
- ``Failures`` (Count): tickers that failed (fetch or forecast);
- ``DataLagSessions`` (Count): sessions between the run's as-of session and the ``data_as_of`` of
  ``predictions/latest.json`` after the run (template.yaml alarms when it reaches 2);
- ``ModelAgeDays`` (Count): days between the serving model's training as-of date and the run's;
- ``MissingTickers`` (Count): members of the day without a fresh forecast in the document a full
  daily run published (its ``missing`` section, kabucast.forecast.missing);
- ``MaxSessionsMissing`` (Count): the longest run of consecutive sessions any of them has been
  missing (template.yaml alarms when it reaches ``MissingSessionsAlarmThreshold``, 3 by default);
- ``RunFailed`` (Count): a run that failed, raised or answered (template.yaml's RunFailedAlarm, both jobs);
- ``LiveRankIC1m``, ``LiveRankIC1mFloor``, ``LiveCoverage12m``, ``LivePortfolioReturn`` (no unit): the live
  record of a full daily run (kabucast.jobs.scorecard_step.live_figures), each once it exists; template.yaml's
  LiveSkillAlarm fires when LiveRankIC1m falls below LiveRankIC1mFloor;
- ``ScorecardFailed`` / ``SiteFailed`` (Count, 0 or 1): a full daily run whose scorecard or live page
  (``site/index.html``) could not be written; the forecast stays published and the summary says why;
- ``EventRejected`` / ``ColdStart`` (Count) and ``Duration`` (Seconds).

Importing this module does no I/O; the environment (``POWERTOOLS_SERVICE_NAME``, ``LOG_LEVEL``,
``POWERTOOLS_METRICS_NAMESPACE``) is read when the first invocation logs. A forced run (a manual
event's ``"force": true``) logs ``forced publication requested`` and carries ``forced: true`` on
every line.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from kabucast.data.calendar import TradingCalendar
from kabucast.errors import KabucastError
from kabucast.jobs.publish import LATEST_KEY
from kabucast.storage.base import Store

NAMESPACE = "kabucast"
SERVICE = "kabucast"

logger = Logger(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
LIVE_METRICS = {
    "LiveRankIC1m": "rankic_1m",
    "LiveRankIC1mFloor": "rankic_1m_floor",
    "LiveCoverage12m": "coverage_12m",
    "LivePortfolioReturn": "portfolio_return",
}
"""Metric name -> the daily summary's ``predict.scorecard.live`` figure (kabucast.jobs.scorecard_step.live_figures)."""
_state = {"cold": True}


def start(job: str, context: Any) -> None:
    """Begin an invocation's logs: its keys, among them whether it is the container's first (cold start)."""
    cold, _state["cold"] = _state["cold"], False
    logger.clear_state()
    logger.append_keys(
        job=job,
        cold_start=cold,
        function_request_id=getattr(context, "aws_request_id", None),
        function_name=getattr(context, "function_name", None),
    )
    metrics.add_dimension(name="job", value=job)
    if cold:
        metrics.add_metric(name="ColdStart", unit=MetricUnit.Count, value=1)


def finished(summary: dict[str, Any], seconds: float, lag: int | None) -> None:
    """Log the summary of a run that completed (ok or skipped) and publish its metrics."""
    logger.info("run finished", extra={"summary": summary})
    predict = summary.get("predict") if isinstance(summary.get("predict"), dict) else {}
    fetch = summary.get("fetch") if isinstance(summary.get("fetch"), dict) else {}
    failures = len(predict.get("failures", [])) + len(fetch.get("failures", []))
    if summary.get("status") == "ok" and "predict" in summary:
        metrics.add_metric(name="TickersPublished", unit=MetricUnit.Count, value=int(predict.get("predicted", 0)))
    metrics.add_metric(name="Failures", unit=MetricUnit.Count, value=failures)
    if summary.get("status") == "ok" and predict.get("scope") == "universe":  # a subset run's gaps are its own
        missing = predict.get("missing", [])
        longest = max((int(m["sessions_missing"]) for m in missing), default=0)
        metrics.add_metric(name="MissingTickers", unit=MetricUnit.Count, value=len(missing))
        metrics.add_metric(name="MaxSessionsMissing", unit=MetricUnit.Count, value=longest)
    for name, step in (("ScorecardFailed", "scorecard"), ("SiteFailed", "site")):  # after the forecast is out
        if isinstance(predict.get(step), dict):
            metrics.add_metric(name=name, unit=MetricUnit.Count, value=int(predict[step].get("status") == "failed"))
    live = (predict.get("scorecard") or {}).get("live") or {}
    for name, key in LIVE_METRICS.items():  # the live record; LiveRankIC1m below its floor fires LiveSkillAlarm
        if isinstance(live.get(key), int | float):
            metrics.add_metric(name=name, unit=MetricUnit.NoUnit, value=float(live[key]))
    if predict.get("model_as_of") and summary.get("date"):
        age = (pd.Timestamp(summary["date"]) - pd.Timestamp(predict["model_as_of"])).days
        metrics.add_metric(name="ModelAgeDays", unit=MetricUnit.Count, value=age)
    _close(seconds, lag)


def forced(request: dict[str, Any]) -> None:
    """Mark the rest of this invocation's log lines as forced, and say so once, loudly."""
    logger.append_keys(forced=True)
    logger.warning("forced publication requested", extra={"request": request})


def failed(exc: BaseException, job: str, seconds: float, lag: int | None, raised: bool = True) -> None:
    """Log a run that failed (with its traceback) and publish RunFailed.

    ``raised``: the handler re-raises it (Lambda retries it, then queues it); False for a usage error the
    handler answers instead (``status: error``), which only this log line and RunFailed report.
    """
    bug = not isinstance(exc, KabucastError)
    logger.exception("run failed", extra={"error": type(exc).__name__, "bug": bug, "raised": raised})
    metrics.add_metric(name="RunFailed", unit=MetricUnit.Count, value=1)
    if job == "daily":
        metrics.add_metric(name="TickersPublished", unit=MetricUnit.Count, value=0)
    _close(seconds, lag)


def rejected(reason: str, seconds: float) -> None:
    """Log an event rejected before any I/O and publish EventRejected."""
    logger.warning("event rejected", extra={"error": "InvalidEvent", "reason": reason})
    metrics.add_metric(name="EventRejected", unit=MetricUnit.Count, value=1)
    _close(seconds, None)


def sessions_behind(store: Store, calendar: TradingCalendar, as_of: pd.Timestamp) -> int | None:
    """Sessions from ``latest.json``'s ``data_as_of`` to the as-of session (None: nothing readable)."""
    try:
        published = pd.Timestamp(store.get_json(LATEST_KEY)["data_as_of"])
        session = calendar.previous_session(as_of)
    except (KabucastError, KeyError, TypeError, ValueError):
        return None
    return max(0, len(calendar.sessions(published, session)) - 1)


def _close(seconds: float, lag: int | None) -> None:
    if lag is not None:
        metrics.add_metric(name="DataLagSessions", unit=MetricUnit.Count, value=lag)
    metrics.add_metric(name="Duration", unit=MetricUnit.Seconds, value=round(seconds, 3))
    metrics.flush_metrics()

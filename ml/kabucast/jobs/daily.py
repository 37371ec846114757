"""The daily job: skip non-trading days, fetch the day's bars (and the slow data of the champion's feature groups,
when it has any), then hand over to a predictor.

Pure orchestration over injected adapters. The prediction step is a callable so that this module
(and everything the daily Lambda imports) never pulls in torch; the forecaster supplies an ONNX
Runtime predictor.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from kabucast.config import AcceptedLevelShift
from kabucast.data.calendar import TradingCalendar
from kabucast.data.ingest import fetch_incremental
from kabucast.data.slow_store import update_slow
from kabucast.data.sources.base import PriceSource
from kabucast.errors import SourceError, StoreError
from kabucast.features.registry import contract_groups
from kabucast.storage.base import Store


@dataclass(frozen=True)
class PredictRequest:
    """What the daily run hands its prediction step besides the day and the tickers."""

    fetch_failures: Mapping[str, str] = field(default_factory=dict)  # ticker -> why this run's fetch failed
    force: bool = False  # an operator forced publication (kabucast.jobs.publish)


Predictor = Callable[[Store, pd.Timestamp, Sequence[str], PredictRequest], dict[str, Any]]
"""(store, as-of session, tickers, request) -> a JSON-safe summary of what was predicted and published."""


@dataclass(frozen=True)
class DailyOptions:
    skip_fetch: bool = False
    overlap_sessions: int = 10
    period: str = "5y"
    force: bool = False
    accepted_level_shifts: tuple[AcceptedLevelShift, ...] = ()  # real moves, not unadjusted splits (fetch config)


def run_daily(
    store: Store,
    source: PriceSource,
    calendar: TradingCalendar,
    today: pd.Timestamp,
    tickers: Sequence[str],
    options: DailyOptions,
    predict: Predictor | None = None,
) -> dict[str, Any]:
    """Run the daily job for ``today`` (a date local to the exchange) and return a JSON-safe summary."""
    if not calendar.is_session(today):
        prev = calendar.previous_session(today, inclusive=False)
        reason = f"not a trading session on {calendar.exchange} (last: {prev.date()})"
        return {"date": str(today.date()), "status": "skipped", "reason": reason}
    summary: dict[str, Any] = {"date": str(today.date()), "status": "ok"}
    fetch_failures: dict[str, str] = {}
    if options.skip_fetch:
        summary["fetch"] = "skipped"
    else:
        report = fetch_incremental(
            store,
            source,
            tickers,
            calendar,
            today,
            options.overlap_sessions,
            options.period,
            options.accepted_level_shifts,
        )
        summary["fetch"], fetch_failures = report.to_dict(), report.failures
        slow = fetch_champion_groups(store, source, calendar, today, tickers)
        if slow is not None:
            summary["slow_data"] = slow
    if predict is not None:
        summary["predict"] = predict(store, today, tickers, PredictRequest(fetch_failures, options.force))
    return summary


def fetch_champion_groups(
    store: Store, source: PriceSource, calendar: TradingCalendar, today: pd.Timestamp, tickers: Sequence[str]
) -> dict[str, Any] | None:
    """The slow data of the groups the champion was trained on (kabucast.features.slow), brought up to ``today`` as
    ``kabucast slowdata`` does: None when it has none. It comes from J-Quants only: another price source skips it,
    and a failed request or write (on AWS data/jquants/* is writable when a J-Quants key is set) is reported (the
    groups' stale values go neutral), never failing the forecast."""
    from kabucast.forecast.registry import champion_version, model_key  # here: kabucast.forecast loads ONNX Runtime

    version = champion_version(store)
    groups = contract_groups(store.get_json(model_key(version, "model.json")).get("features")) if version else ()
    if not groups:
        return None
    request = getattr(source, "request", None)
    if request is None:
        why = f"the champion's groups {list(groups)} come from J-Quants, the price source is {source.name}"
        return {"skipped": why}
    try:
        return update_slow(store, request, groups, tickers, calendar, today, None).to_dict()
    except (SourceError, StoreError) as exc:
        return {"error": str(exc)}

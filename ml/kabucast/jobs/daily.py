"""The daily job: skip non-trading days, fetch the day's bars, then hand over to a predictor.

Pure orchestration over injected adapters. The prediction step is a callable so that this module
(and everything the daily Lambda imports) never pulls in torch; the forecaster supplies an ONNX
Runtime predictor.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from kabucast.data.calendar import TradingCalendar
from kabucast.data.ingest import fetch_incremental
from kabucast.data.sources.base import PriceSource
from kabucast.storage.base import Store

Predictor = Callable[[Store, pd.Timestamp, Sequence[str]], dict[str, Any]]
"""(store, as-of session, tickers) -> a JSON-safe summary of what was predicted and published."""


@dataclass(frozen=True)
class DailyOptions:
    skip_fetch: bool = False
    overlap_sessions: int = 10
    period: str = "5y"


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
    if options.skip_fetch:
        summary["fetch"] = "skipped"
    else:
        report = fetch_incremental(store, source, tickers, calendar, today, options.overlap_sessions, options.period)
        summary["fetch"] = report.to_dict()
    if predict is not None:
        summary["predict"] = predict(store, today, tickers)
    return summary

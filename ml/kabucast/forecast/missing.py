"""What a forecast document is missing, and the last forecast each missing ticker had.

A day that meets ``min_coverage`` publishes even when some members have no forecast
(kabucast.jobs.publish); the document then says which, why, and for how long, and keeps each one's
last published forecast apart so a consumer can choose to use it:

- ``missing``: one entry per ticker the run was asked for (a full run: that date's members) that
  has no forecast here: ``ticker``, ``reason`` (the run's failure, a fetch failure first when the
  source failed), ``sessions_missing`` (consecutive sessions without a fresh forecast, this one
  included) and ``last_forecast`` (the ``data_as_of`` of its last fresh forecast, or null);
- ``stale``: that last forecast, as it was published (the same fields as a row of ``predictions``)
  plus ``forecast_as_of`` and the ``model_version`` that made it. It comes from the previous
  published document, carried forward when that one already held it as stale.

``sessions_missing`` counts exchange sessions after the last fresh forecast up to this document's
date. A ticker never forecast counts on from the previous document's figure (1 in the first
document that misses it). Nothing in ``predictions`` changes: a reader of the seed schema sees the
same forecasts as before.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from kabucast.data.calendar import TradingCalendar

NO_FORECAST = "no forecast (no failure was recorded)"


def failure_reasons(own: Mapping[str, str], upstream: Mapping[str, str]) -> dict[str, str]:
    """Each ticker of ``own`` (why the forecast step could not forecast it) with the earlier step's
    failure first when there was one (``upstream``: ticker -> why the fetch failed)."""
    return {t: f"fetch failed: {upstream[t]}; {why}" if t in upstream else why for t, why in own.items()}


def with_missing(
    doc: Mapping[str, Any],
    wanted: Sequence[str],
    previous: Mapping[str, Any] | None,
    calendar: TradingCalendar,
) -> dict[str, Any]:
    """``doc`` with its ``missing`` and ``stale`` sections (module docstring); ``wanted`` are the tickers
    the run was asked for, ``previous`` the newest document published before ``doc``'s date (None: none)."""
    day = str(doc["data_as_of"])
    forecast = {row["ticker"] for row in doc["predictions"]}
    reasons = {f["ticker"]: f["reason"] for f in doc.get("failures", [])}
    last = _last_forecasts(previous)
    before = {m["ticker"]: m for m in (previous or {}).get("missing", [])}
    missing, stale = [], []
    for ticker in sorted(set(wanted) - forecast):
        row = last.get(ticker)
        if row is not None:
            count = calendar.sessions_since(row["forecast_as_of"], day)
            stale.append(row)
        elif ticker in before:
            count = int(before[ticker]["sessions_missing"]) + calendar.sessions_since(previous["data_as_of"], day)
        else:
            count = 1
        missing.append(
            {
                "ticker": ticker,
                "reason": reasons.get(ticker, NO_FORECAST),
                "sessions_missing": count,
                "last_forecast": None if row is None else row["forecast_as_of"],
            }
        )
    return {**doc, "missing": missing, "stale": stale}


def _last_forecasts(previous: Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
    """Ticker -> its last fresh forecast as of ``previous``: its own rows, then the rows it carried."""
    if previous is None:
        return {}
    made = {"forecast_as_of": previous["data_as_of"], "model_version": previous.get("model_version")}
    fresh = {row["ticker"]: {**row, **made} for row in previous.get("predictions", [])}
    carried = {row["ticker"]: dict(row) for row in previous.get("stale", [])}
    return {**carried, **fresh}

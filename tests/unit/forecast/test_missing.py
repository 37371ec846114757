"""The forecast document's missing and stale sections: what is missing, why, for how long, and its last forecast."""

from __future__ import annotations

import numpy as np
import pandas as pd

from kabucast.forecast.document import forecast_document
from kabucast.forecast.missing import NO_FORECAST, failure_reasons, with_missing

MEMBERS = ("1000.T", "2000.T", "3000.T")


def day_doc(
    day: str, previous: dict | None, calendar, missing: dict[str, str] | None = None, version: str = "v1"
) -> dict:
    """A real forecast document of ``day`` in which the tickers of ``missing`` (ticker -> reason) failed."""
    missing = missing or {}
    fresh = tuple(t for t in MEMBERS if t not in missing)
    ts = pd.Timestamp(day)
    doc = forecast_document(
        fresh,
        np.full((len(fresh), 12), 0.01 * (1 + ts.day)),  # each day its own forecast
        {t: ts for t in fresh},
        {t: 100.0 for t in fresh},
        {},
        missing,
        version,
        ts,
    )
    return with_missing(doc, MEMBERS, previous, calendar)


def test_a_missing_ticker_keeps_its_last_forecast_in_the_stale_section(calendar) -> None:
    # GIVEN every member forecast on Friday 2026-11-20
    friday = day_doc("2026-11-20", None, calendar)
    assert friday["missing"] == [] and friday["stale"] == []
    # WHEN 2000.T has no bar on Tuesday 2026-11-24 (Monday the 23rd is a JPX holiday)
    tuesday = day_doc("2026-11-24", friday, calendar, {"2000.T": "stale prices: last bar 2026-11-20"}, "v2")
    # THEN it is listed as missing for 1 session, with its reason and the date of its last forecast
    assert tuesday["missing"] == [
        {
            "ticker": "2000.T",
            "reason": "stale prices: last bar 2026-11-20",
            "sessions_missing": 1,
            "last_forecast": "2026-11-20",
        }
    ]
    # AND its stale forecast is Friday's row as published, with the date and model that made it
    (friday_row,) = [r for r in friday["predictions"] if r["ticker"] == "2000.T"]
    assert tuesday["stale"] == [{**friday_row, "forecast_as_of": "2026-11-20", "model_version": "v1"}]
    # AND the fresh forecasts are untouched
    assert [r["ticker"] for r in tuesday["predictions"]] == ["1000.T", "3000.T"]
    assert tuesday["num_predictions"] == 2


def test_consecutive_sessions_are_counted_and_the_stale_forecast_is_carried_forward(calendar) -> None:
    # GIVEN 2000.T forecast on 2026-11-16, then missing from the 17th
    reason = {"2000.T": "fetch failed: no data for 2000.T"}
    docs = [day_doc("2026-11-16", None, calendar)]
    for day in ("2026-11-17", "2026-11-18", "2026-11-19"):
        docs.append(day_doc(day, docs[-1], calendar, reason))
    # THEN each day counts one more session, and keeps the forecast of the 16th
    assert [d["missing"][0]["sessions_missing"] for d in docs[1:]] == [1, 2, 3]
    assert {d["stale"][0]["forecast_as_of"] for d in docs[1:]} == {"2026-11-16"}
    assert docs[3]["stale"] == docs[1]["stale"]
    # WHEN no document was published on the 20th, the 24th still counts the sessions since the 16th
    skipped = day_doc("2026-11-24", docs[3], calendar, reason)
    assert skipped["missing"][0]["sessions_missing"] == 5  # 17, 18, 19, 20, 24
    # AND once it is forecast again it is neither missing nor stale
    back = day_doc("2026-11-25", skipped, calendar)
    assert back["missing"] == [] and back["stale"] == []


def test_a_ticker_never_forecast_counts_on_from_the_previous_document(calendar) -> None:
    short = {"3000.T": "3000.T has 100 weeks, 156 needed"}
    first = day_doc("2026-11-19", None, calendar, short)
    then = day_doc("2026-11-24", first, calendar, short)  # 20th and 24th
    assert first["missing"][0]["sessions_missing"] == 1 and first["missing"][0]["last_forecast"] is None
    assert then["missing"][0]["sessions_missing"] == 3 and then["stale"] == []


def test_fetch_failures_come_first_in_the_reason_and_a_ticker_without_one_says_so(calendar) -> None:
    reasons = failure_reasons({"1000.T": "stale prices", "2000.T": "short"}, {"1000.T": "source down", "9.T": "x"})
    assert reasons == {"1000.T": "fetch failed: source down; stale prices", "2000.T": "short"}
    doc = day_doc("2026-11-20", None, calendar)
    doc = with_missing({**doc, "predictions": doc["predictions"][1:]}, MEMBERS, None, calendar)
    assert doc["missing"][0]["reason"] == NO_FORECAST

"""The live page's publication (kabucast.jobs.site_step) against a LocalStore: planted documents and prices in,
site/index.html out."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kabucast.data.prices import prices_key
from kabucast.errors import ConcurrentUpdate
from kabucast.features import PricePanel
from kabucast.forecast.document import forecast_document
from kabucast.jobs.publish import FORECASTS, publish_dated
from kabucast.jobs.site_step import SITE_KEY, NothingToShow, closes, daily_site, page_inputs, publish_site
from kabucast.storage import LocalStore

TICKERS = ("1001.T", "1002.T", "1003.T")
DAY = pd.Timestamp("2026-11-20")


def page(day: str, body: str = "") -> str:
    return f'<!doctype html><html><head><meta name="kabucast:data-as-of" content="{day}"></head>{body}</html>'


@pytest.fixture
def store(tmp_path, calendar) -> LocalStore:
    """Prices of three names through DAY and the forecast of DAY published as latest."""
    s = LocalStore(tmp_path)
    rng = np.random.default_rng(1)
    sessions = calendar.sessions("2025-06-01", DAY)
    for t in TICKERS:
        price = 500.0 * np.exp(np.cumsum(rng.normal(0, 0.01, len(sessions))))
        frame = pd.DataFrame({c: price for c in ("open", "high", "low", "close", "adj_close")}, index=sessions)
        s.put_parquet(prices_key(t), frame.rename_axis("date").assign(volume=1000.0))
    doc = forecast_document(
        TICKERS, rng.normal(0, 0.05, (3, 12)), {t: DAY for t in TICKERS}, {t: 500.0 for t in TICKERS}, {}, {}, "v1",
        DAY,
    )  # fmt: skip
    publish_dated(s, doc, FORECASTS)
    return s


def test_the_page_is_written_once_then_left_alone(store) -> None:
    first = publish_site(store, page("2026-11-20"))
    again = publish_site(store, page("2026-11-20"))
    assert first["written"] and not again["written"] and again["reason"] == "unchanged"
    assert store.get_versioned(SITE_KEY).data.decode() == page("2026-11-20")


def test_a_page_of_an_older_forecast_never_replaces_a_newer_one(store) -> None:
    publish_site(store, page("2026-11-20"))
    out = publish_site(store, page("2026-11-19", "older"))
    assert not out["written"] and "later forecast (2026-11-20)" in out["reason"]
    assert "older" not in store.get_bytes(SITE_KEY).decode()
    # a newer one, or another page of the same forecast (a new scorecard), does
    assert publish_site(store, page("2026-11-20", "rescored"))["written"]
    assert publish_site(store, page("2026-11-24"))["written"]


class RivalStore(LocalStore):
    """A store in which another run writes its own page between this run's read and its write."""

    def put_if(self, key: str, data: bytes, etag: str | None, content_type: str = "application/json") -> None:
        if key == SITE_KEY:
            raise ConcurrentUpdate(f"{key} changed since it was read")
        super().put_if(key, data, etag, content_type)


def test_a_rival_write_fails_the_page_and_leaves_the_forecast(store, universe) -> None:
    rival = RivalStore(store.root)
    with pytest.raises(ConcurrentUpdate):
        publish_site(rival, page("2026-11-20"))
    panel = PricePanel.from_frames({t: store.get_parquet(prices_key(t)) for t in TICKERS})
    out = daily_site(rival, universe, "2026-11-20", panel, None)
    assert out["status"] == "failed" and out["error"].startswith("ConcurrentUpdate")
    assert store.get_json(FORECASTS.latest_key)["data_as_of"] == "2026-11-20" and not store.exists(SITE_KEY)


def test_the_daily_page_is_that_of_the_latest_forecast_only(store, universe) -> None:
    panel = PricePanel.from_frames({t: store.get_parquet(prices_key(t)) for t in TICKERS})
    past = daily_site(store, universe, "2026-11-19", panel, None)  # a backfill of a past session
    assert past == {"status": "ok", "written": False, "reason": "the latest forecast is of 2026-11-20, not 2026-11-19"}
    today = daily_site(store, universe, "2026-11-20", panel, "review pending")
    assert today["status"] == "ok" and today["written"] and today["data_as_of"] == "2026-11-20"
    assert "review pending" in store.get_bytes(SITE_KEY).decode()


def test_the_closes_of_the_daily_runs_panel_are_the_stored_ones(store) -> None:
    panel = PricePanel.from_frames({t: store.get_parquet(prices_key(t)) for t in TICKERS})
    from_panel = closes(store, TICKERS, "2026-11-19", panel)
    from_store = closes(store, TICKERS, "2026-11-19")
    assert from_panel == from_store and len(from_store["1001.T"][0]) == 252
    assert from_store["1001.T"][0][-1] == "2026-11-19"  # nothing after the page's session


def test_a_store_without_a_forecast_names_what_to_run(tmp_path, universe) -> None:
    with pytest.raises(NothingToShow, match="kabucast daily"):
        page_inputs(LocalStore(tmp_path), universe)

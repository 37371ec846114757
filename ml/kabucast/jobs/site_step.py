"""The live page: ``site/index.html`` rendered from the store (kabucast.evaluation.live_page) and written to it.

The page shows what the store publishes as latest: ``predictions/latest.json``, ``portfolio/latest.json``,
``scorecard/latest.json``, the served model's ``model.json`` and the stored closes of the forecast's names. The
daily job writes it after the scorecard on a full-universe run whose forecast is the latest (a run for a past
date leaves it); ``kabucast site open`` renders the same page from any store to a local file.

Written like a published document: never replaced by a page of an older forecast (the page states its session in
a ``<meta>``), never rewritten with the same bytes, and conditional on what the run read (a rival run's write
makes this one fail instead of interleaving). The object is ``text/html``, so a presigned URL opens it in a
browser; the bucket stays private (``kabucast site url``).
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from kabucast.config import UniverseSettings
from kabucast.data.ingest import load_prices
from kabucast.errors import UsageError
from kabucast.evaluation.live_charts import HISTORY_SESSIONS
from kabucast.evaluation.live_page import AS_OF_META, PageInputs, render_page
from kabucast.features import PricePanel
from kabucast.forecast.kinds import stored_kind
from kabucast.forecast.registry import model_key
from kabucast.jobs.publish import FORECASTS, PORTFOLIOS, SCORECARDS, parsed_document, write_if_unchanged
from kabucast.storage.base import Store

SITE_KEY = "site/index.html"
CONTENT_TYPE = "text/html; charset=utf-8"
_AS_OF = re.compile(rb'<meta name="' + AS_OF_META.encode() + rb'" content="(\d{4}-\d{2}-\d{2})">')


class NothingToShow(UsageError):
    """The store has no published forecast to render a page from."""


def page_inputs(
    store: Store,
    universe: UniverseSettings,
    panel: PricePanel | None = None,
    warning: str | None = None,
    forecast: dict[str, Any] | None = None,
) -> PageInputs:
    """What the page of the store's latest forecast shows; ``panel`` (the daily run's prices, through the forecast's
    session) saves reading the closes again, ``warning`` is the universe's pending review, if any, and
    ``forecast`` the latest forecast when the caller has just read it."""
    forecast = forecast if forecast is not None else _latest(store, FORECASTS.latest_key)
    if forecast is None:
        raise NothingToShow(
            f"{store.url} has no {FORECASTS.latest_key}: run `kabucast daily` (or `kabucast demo`) to publish one"
        )
    version = str(forecast["model_version"])
    key = model_key(version, "model.json")
    meta = store.get_json(key) if store.exists(key) else {}
    meta = meta if isinstance(meta, dict) else {}
    model = {
        "version": version,
        "kind": stored_kind(meta) if meta else forecast.get("model_kind"),
        "trained_as_of": (meta.get("run") or {}).get("as_of"),
        "walk_forward": meta.get("walk_forward"),
    }
    tickers = [str(row["ticker"]) for row in forecast["predictions"]]
    return PageInputs(
        forecast=forecast,
        portfolio=_latest(store, PORTFOLIOS.latest_key),
        scorecard=_latest(store, SCORECARDS.latest_key),
        model=model,
        history=closes(store, tickers, str(forecast["data_as_of"]), panel),
        warning=warning,
        universe=universe.name,
    )


def closes(
    store: Store, tickers: Sequence[str], day: str, panel: PricePanel | None = None
) -> dict[str, tuple[list[str], list[float]]]:
    """Ticker -> (dates, closes) of its last :data:`HISTORY_SESSIONS` stored sessions through ``day``, from
    ``panel`` when it has the ticker, else from the store (a name with no stored prices has none)."""
    out: dict[str, tuple[list[str], list[float]]] = {}
    known = set(panel.tickers) if panel is not None else set()
    if panel is not None and known:
        shown = panel.until(day)
        dates = shown.dates.strftime("%Y-%m-%d").tolist()
        for i, t in enumerate(shown.tickers):
            if t in tickers:
                column = shown.close[:, i]
                kept = np.flatnonzero(np.isfinite(column))[-HISTORY_SESSIONS:]
                out[t] = ([dates[j] for j in kept], column[kept].tolist())
    for t, frame in load_prices(store, [t for t in tickers if t not in known], on_missing=lambda *_: None).items():
        tail = frame.loc[:day, "close"].dropna().iloc[-HISTORY_SESSIONS:]
        out[t] = (tail.index.strftime("%Y-%m-%d").tolist(), tail.to_numpy(dtype=np.float64).tolist())
    return out


def publish_site(store: Store, html: str) -> dict[str, Any]:
    """Write ``html`` to :data:`SITE_KEY` unless the stored page is the same or shows a later forecast; what
    happened (``written``, and ``reason`` when it was not)."""
    data = html.encode("utf-8")
    day = _shown(data)
    current = store.get_versioned(SITE_KEY)
    summary: dict[str, Any] = {"key": SITE_KEY, "data_as_of": day, "bytes": len(data)}
    if current is not None and current.data == data:
        return {**summary, "written": False, "reason": "unchanged"}
    shown = None if current is None else _shown(current.data)
    if shown is not None and day is not None and shown > day:
        return {**summary, "written": False, "reason": f"kept: the stored page shows a later forecast ({shown})"}
    write_if_unchanged(store, SITE_KEY, data, current, CONTENT_TYPE)
    return {**summary, "written": True}


def write_page(
    store: Store,
    universe: UniverseSettings,
    panel: PricePanel | None = None,
    warning: str | None = None,
    forecast: dict[str, Any] | None = None,
) -> tuple[str, dict[str, Any]]:
    """Render the page of the store's latest forecast and publish it; (the page, what happened, with timings)."""
    start = time.perf_counter()
    html = render_page(page_inputs(store, universe, panel, warning, forecast))
    rendered = time.perf_counter()
    summary = publish_site(store, html)
    timings = {"render_s": round(rendered - start, 4), "write_s": round(time.perf_counter() - rendered, 4)}
    return html, {**summary, **timings}


def daily_site(
    store: Store, universe: UniverseSettings, day: str, panel: PricePanel, warning: str | None
) -> dict[str, Any]:
    """The daily job's page, after its scorecard: written when the latest forecast is this run's (session ``day``).
    Whatever goes wrong is reported in the run's summary (``status: failed``); the forecast stays published."""
    try:
        latest = _latest(store, FORECASTS.latest_key)
        if latest is None or str(latest.get("data_as_of")) != day:
            shown = None if latest is None else latest.get("data_as_of")
            return {"status": "ok", "written": False, "reason": f"the latest forecast is of {shown}, not {day}"}
        return {"status": "ok", **write_page(store, universe, panel, warning, latest)[1]}
    except Exception as exc:  # the page must never un-publish the forecast: the summary says why
        return {"status": "failed", "error": f"{type(exc).__name__}: {exc}"}


def _latest(store: Store, key: str) -> dict[str, Any] | None:
    return parsed_document(store.get_versioned(key), key)


def _shown(data: bytes) -> str | None:
    """The forecast session a page states (None: not a page of ours)."""
    found = _AS_OF.search(data[:4096])
    return None if found is None else found.group(1).decode()

"""The live page as a person sees it: 60 sessions of forecasts published by the daily step (the small champion,
ONNX Runtime, the target book of predict.yaml) in a LocalStore, the page the last run wrote served on the loopback
and opened in Debian's headless Chromium (tests/functional/browser.py drives it over the DevTools protocol).
Skipped, with the reason, on a machine without Chromium; .ci/run installs it."""

from __future__ import annotations

import dataclasses
import functools
import http.server
import json
import os
import shutil
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from tests.functional.browser import chromium_path, visit
from tests.functional.conftest import AS_OF, SMALL_MODEL, small_settings

from kabucast.cli.main import main
from kabucast.evaluation.live_charts import HISTORY_SESSIONS
from kabucast.evaluation.live_page import SUMMARY_FIGURES
from kabucast.forecast.dataset import ForecastData
from kabucast.forecast.train import train
from kabucast.jobs.publish import FORECASTS, SCORECARDS
from kabucast.jobs.site_step import SITE_KEY
from kabucast.jobs.wiring import onnx_predictor
from kabucast.storage import LocalStore, open_store

SESSIONS = 60
WALK_FORWARD_MONTH = {"value": 0.02, "ci_low": -0.04, "ci_high": 0.08}
ARTIFACTS = Path(os.environ.get("KABUCAST_TEST_ARTIFACTS", Path(__file__).parents[2] / "build" / "test-artifacts"))
PAGE_FACTS = """JSON.stringify({
  fans: [...document.querySelectorAll('svg.fan')].map(svg => ({
    ticker: svg.dataset.ticker,
    parts: Object.fromEntries(['history', 'median', 'band'].map(name => {
      const el = svg.querySelector('path.' + name);
      const box = el ? el.getBoundingClientRect() : null;
      const points = el ? (el.getAttribute('d').match(/[ML]/g) || []).length : 0;
      return [name, el ? {width: box.width, height: box.height, points: points} : null];
    })),
  })),
  figures: [...document.querySelectorAll('td[data-figure]')].map(td => ({
    figure: td.dataset.figure, value: td.dataset.value, text: td.textContent})),
  charts: ['rankic-chart', 'book-chart', 'coverage-chart'].map(id => {
    const svg = document.querySelector('#' + id + ' svg');
    return [id, svg ? svg.querySelectorAll('path, circle').length : 0];
  }),
  walkForward: [...document.querySelectorAll('#rankic-chart rect.wf')].map(r => r.getBoundingClientRect().height),
  title: document.title,
})"""


@pytest.fixture(scope="module")
def published(trained, universe, sectors, tmp_path_factory) -> tuple[LocalStore, list[dict]]:
    """The sample market's store, a small quantile model trained with planted walk-forward evidence (what
    `kabucast select --train` records), and the daily step run on the 60 sessions up to AS_OF; their summaries."""
    store, calendar = trained
    root = tmp_path_factory.mktemp("site")
    shutil.copytree(
        store.root,
        root / "store",
        ignore=shutil.ignore_patterns("models", "predictions", "portfolio", "scorecard", "site"),
    )
    copy = LocalStore(root / "store")
    settings = dataclasses.replace(small_settings(), model={**SMALL_MODEL, "quantiles": [0.1, 0.5, 0.9]})
    evidence = {"recipe": "planted", "evaluation": "planted", "rankic": {"folds": [WALK_FORWARD_MONTH] * 12}}
    train(settings, ForecastData(copy, universe, sectors, calendar), AS_OF, root / "work", False, evidence)
    predictor = onnx_predictor("predict.yaml", universe)
    days = calendar.sessions(AS_OF - pd.Timedelta(days=120), AS_OF)[-SESSIONS:]
    return copy, [predictor(copy, day, universe.members_on(day)) for day in days]


@pytest.fixture(scope="module")
def served(published) -> Iterator[str]:
    """The store's site/ folder over HTTP on 127.0.0.1, as a presigned URL would serve the object."""
    folder = published[0].root / "site"
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/index.html"
    server.shutdown()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


def test_each_daily_run_writes_the_page_of_its_forecast(published) -> None:
    # GIVEN 60 daily runs; THEN each wrote the page of its own session, and the page names the latest forecast
    store, summaries = published
    unwritten = [s["site"] for s in summaries if s["site"]["status"] != "ok" or not s["site"]["written"]]
    assert unwritten == []
    assert [s["site"]["data_as_of"] for s in summaries] == [s["key"][len("predictions/") : -5] for s in summaries]
    page = store.get_bytes(SITE_KEY).decode()
    assert f'content="{AS_OF.date()}"' in page and store.get_json(FORECASTS.latest_key)["data_as_of"] == str(
        AS_OF.date()
    )


@pytest.mark.skipif(chromium_path() is None, reason="no chromium on PATH: apt-get install chromium (.ci/run does)")
def test_the_page_loads_alone_draws_every_chart_and_shows_the_scorecard(published, served) -> None:
    store, _ = published
    # WHEN headless Chromium opens the page the last daily run wrote
    seen = visit(served, PAGE_FACTS)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "site.png").write_bytes(seen.screenshot)  # the test's artefact: what a person saw
    facts = json.loads(seen.value)
    # THEN it asked for nothing but itself and logged no error or warning
    assert seen.requests == [served] and seen.errors == []
    # AND every forecast name has its fan chart drawn: a year of closes, the median path and the band
    forecast = store.get_json(FORECASTS.latest_key)
    assert sorted(f["ticker"] for f in facts["fans"]) == sorted(r["ticker"] for r in forecast["predictions"])
    for fan in facts["fans"]:
        parts = fan["parts"]
        assert all(parts[p] and parts[p]["width"] > 50 for p in parts), fan  # a forecast may be flat: no height
        assert parts["history"]["height"] > 5 and parts["band"]["height"] > 5, fan
        assert parts["history"]["points"] == HISTORY_SESSIONS and parts["median"]["points"] == 13
    # AND the scorecard's charts are drawn and every figure of its table is scorecard/latest.json's
    assert all(count > 0 for _, count in facts["charts"]), facts["charts"]
    assert len(facts["walkForward"]) == 1 and facts["walkForward"][0] > 5  # the served model's evidence, as a band
    scorecard = store.get_json(SCORECARDS.latest_key)
    expected = {
        f"m{m['month']}-{key}": m["summary"][key]["mean"] for m in scorecard["months"] for key, _, _ in SUMMARY_FIGURES
    }
    shown = {f["figure"]: (json.loads(f["value"]) if f["value"] else None) for f in facts["figures"]}
    assert shown == expected
    assert expected["m1-rankic"] is not None and scorecard["months"][0]["summary"]["dates"] >= SESSIONS - 22
    rankic = next(f["text"] for f in facts["figures"] if f["figure"] == "m1-rankic")
    assert rankic.startswith(f"{expected['m1-rankic']:+.3f} [") and rankic.endswith("]"), rankic  # mean [interval]
    assert seen.screenshot[:8] == b"\x89PNG\r\n\x1a\n" and len(seen.screenshot) > 50_000


def test_site_open_prints_the_path_of_the_page(published, capsys) -> None:
    # GIVEN the store; WHEN `kabucast site open` runs on it
    store, _ = published
    before = store.get_bytes(SITE_KEY)
    assert main(["site", "open", "--store", str(store.root), "--as-of", str(AS_OF.date())]) == 0
    # THEN it prints the page's path, and the page is the one the daily run wrote (same store, same bytes)
    path = Path(capsys.readouterr().out.strip())
    assert path == store.root / SITE_KEY and path.read_bytes() == before


def test_site_url_on_a_local_store_says_what_to_do(published, capsys) -> None:
    store, _ = published
    assert main(["site", "url", "--store", str(store.root), "--as-of", str(AS_OF.date())]) == 2
    assert "kabucast site open" in capsys.readouterr().err


def test_site_url_shares_the_page_of_an_s3_store(published, s3_endpoint, s3_bucket, tmp_path, capsys) -> None:
    # GIVEN the published store's objects in a bucket on moto's S3 server (AWS itself cannot be reached here)
    local, _ = published
    s3 = open_store(f"s3://{s3_bucket}/kc", endpoint_url=s3_endpoint)
    for key in local.list(""):
        if not key.startswith(SITE_KEY):
            s3.put_bytes(key, local.get_bytes(key))
    common = ["--store", f"s3://{s3_bucket}/kc", "--endpoint-url", s3_endpoint, "--as-of", str(AS_OF.date())]
    # WHEN `kabucast site url --publish` renders the page into the bucket and prints a link valid for 10 minutes
    assert main(["site", "url", *common, "--publish", "--expires", "10m"]) == 0
    url = capsys.readouterr().out.strip()
    # THEN the link serves the page as HTML, the very page the local store holds, for 600 s
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.headers["Content-Type"].startswith("text/html") and response.status == 200
        assert response.read() == local.get_bytes(SITE_KEY)
    assert "X-Amz-Expires=600" in url and "X-Amz-Signature=" in url
    # AND `site open` on the bucket writes the same page to a file of its own and prints its path
    out = tmp_path / "page.html"
    assert main(["site", "open", *common, "--out", str(out)]) == 0
    assert Path(capsys.readouterr().out.strip()) == out and out.read_bytes() == local.get_bytes(SITE_KEY)
    # AND a link longer than SigV4 allows is refused before anything is signed
    assert main(["site", "url", *common, "--expires", "8d"]) == 2
    assert "--expires must be 1 s .. 7d" in capsys.readouterr().err

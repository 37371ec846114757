"""The live scorecard in the daily step and from the command line: the small champion trained on the sample
market publishes forecasts day by day with ONNX Runtime in a LocalStore; their month 1 matures 21 sessions on."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr
from tests.functional.conftest import AS_OF

from kabucast.cli.main import main
from kabucast.data.prices import prices_key
from kabucast.jobs.forecast_step import OnnxPredictor
from kabucast.jobs.publish import SCORECARDS, prediction_key
from kabucast.storage import LocalStore


@pytest.fixture
def issued(trained, universe, sectors, tmp_path) -> tuple[LocalStore, list[pd.Timestamp]]:
    """A copy of the trained store with the forecasts of the two sessions 22 and 21 sessions before AS_OF."""
    store, calendar = trained
    shutil.copytree(store.root, tmp_path / "store")
    copy = LocalStore(tmp_path / "store")
    days = [calendar.sessions(pd.Timestamp("2026-09-01"), AS_OF)[-23 + i] for i in range(2)]
    for day in days:
        OnnxPredictor(universe, sectors, calendar)(copy, day, universe.members_on(day))
    return copy, days


class NoScorecardStore(LocalStore):
    """A store that refuses every scorecard write, as a broken scorer would fail."""

    def put_if(self, key: str, data: bytes, etag: str | None, content_type: str = "application/json") -> None:
        if key.startswith(f"{SCORECARDS.prefix}/"):
            raise OSError("scorecard writes refused")
        super().put_if(key, data, etag, content_type)


def test_the_daily_run_writes_the_scorecard_of_the_matured_forecasts(issued, universe, sectors, trained) -> None:
    # GIVEN two published forecasts whose month 1 has matured at AS_OF
    store, days = issued
    calendar = trained[1]
    # WHEN the daily step runs on AS_OF
    out = OnnxPredictor(universe, sectors, calendar)(store, AS_OF, universe.members_on(AS_OF))
    # THEN scorecard/latest.json holds their month 1, its RankIC that of the stored predictions and prices
    assert out["scorecard"]["status"] == "ok" and out["scorecard"]["latest"] == "replaced"
    doc = store.get_json(SCORECARDS.latest_key)
    assert doc["data_as_of"] == str(AS_OF.date()) and doc["num_scored"] == 2
    rows = doc["months"][0]["dates"]
    assert [r["date"] for r in rows] == [str(d.date()) for d in days]
    for row, day in zip(rows, days, strict=True):
        end = calendar.session_after(day, 21)
        published = store.get_json(prediction_key(day))["predictions"]
        x = [r["predictions"][0]["return"] for r in published]
        closes = [store.get_parquet(prices_key(r["ticker"]))["adj_close"] for r in published]
        y = np.array([c.get(end, np.nan) / c.get(day, np.nan) - 1 for c in closes])
        known = np.isfinite(y)
        assert row["rankic"] == pytest.approx(spearmanr(np.array(x)[known], y[known]).statistic, abs=1e-9)
        assert row["n_scored"] + len(row["unscorable"]) == len(published)


def test_a_failed_scorecard_leaves_the_forecast_published(issued, universe, sectors, trained) -> None:
    # GIVEN a store that refuses scorecard writes
    store = NoScorecardStore(issued[0].root)
    # WHEN the daily step runs on AS_OF
    out = OnnxPredictor(universe, sectors, trained[1])(store, AS_OF, universe.members_on(AS_OF))
    # THEN the forecast is published and the summary says why the scorecard is not
    assert store.get_json(prediction_key(AS_OF))["data_as_of"] == str(AS_OF.date())
    assert out["scorecard"] == {"status": "failed", "error": "OSError: scorecard writes refused"}
    assert not store.exists(SCORECARDS.latest_key)


def test_scorecard_since_twice_gives_the_same_bytes(issued, capsys) -> None:
    # GIVEN the published forecasts; WHEN `kabucast scorecard --since` backfills the sessions up to AS_OF twice
    store, days = issued
    since = str(days[0].date())
    argv = ["scorecard", "--store", str(store.root), "--as-of", str(AS_OF.date()), "--since", since, "--json"]
    assert main(argv) == 0
    first = {k: store.get_bytes(k) for k in store.list(f"{SCORECARDS.prefix}/")}
    capsys.readouterr()
    assert main(argv) == 0
    # THEN the two runs left the same bytes and the second wrote nothing
    assert '"published": []' in capsys.readouterr().out
    assert {k: store.get_bytes(k) for k in store.list(f"{SCORECARDS.prefix}/")} == first
    assert SCORECARDS.dated_key(AS_OF) in first and SCORECARDS.latest_key in first

"""Adaptive bands in the daily step end to end: the shipped recipe (12-1 momentum with risk-scaled bands) trained
on the sample market, forecasts published day by day with real ONNX Runtime in a LocalStore, outcomes planted
by editing what a published forecast issued."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from tests.functional.conftest import AS_OF

from kabucast.config import TrainSettings, load_settings, resolve_config_path
from kabucast.data.ingest import backfill
from kabucast.data.sources.sample_market import SampleMarketSource
from kabucast.errors import ConcurrentUpdate
from kabucast.forecast.dataset import ForecastData
from kabucast.forecast.train import train
from kabucast.jobs.band_step import BANDS_KEY
from kabucast.jobs.forecast_step import OnnxPredictor
from kabucast.jobs.publish import prediction_key
from kabucast.storage import LocalStore

ISSUED = pd.Timestamp("2026-06-01")  # the forecast whose month-1 outcome is planted


def trained_store(root: Path, universe, sectors, calendar, bands: bool) -> LocalStore:
    """The sample market up to AS_OF and the production recipe (without its bands: ``bands`` False) as champion."""
    store = LocalStore(root)
    backfill(store, SampleMarketSource.from_universe(universe), universe.tickers, calendar, AS_OF, "8y")
    recipe = load_settings(TrainSettings, resolve_config_path("train.yaml"))
    model = recipe.model if bands else {k: v for k, v in recipe.model.items() if k != "quantiles"}
    small = dataclasses.replace(recipe.data, max_train_samples=3000, max_val_samples=2000)
    train(
        dataclasses.replace(recipe, data=small, model=model),
        ForecastData(store, universe, sectors, calendar),
        ISSUED,
        root / "work",
        progress=False,
    )
    return store


@pytest.fixture(scope="module")
def published(tmp_path_factory, universe, sectors, calendar) -> LocalStore:
    """The momentum champion with its bands, and its forecast of ISSUED published (the band state as of it)."""
    store = trained_store(tmp_path_factory.mktemp("bands"), universe, sectors, calendar, bands=True)
    OnnxPredictor(universe, sectors, calendar)(store, ISSUED, universe.tickers)
    return store


def planted(published: LocalStore, root: Path, low: float, high: float) -> LocalStore:
    """A copy of the store whose forecast of ISSUED issued [low, high] (simple returns) as every month-1 band."""
    shutil.copytree(published.root, root)
    store = LocalStore(root)
    document = store.get_json(prediction_key(ISSUED))
    for row in document["predictions"]:
        row["predictions"][0]["quantiles"] = {"0.1": low, "0.5": (low + high) / 2, "0.9": high}
    store.put_json(prediction_key(ISSUED), document)
    return store


def month_one_widths(store: LocalStore, day: pd.Timestamp) -> pd.Series:
    rows = store.get_json(prediction_key(day))["predictions"]
    return pd.Series(
        {r["ticker"]: r["predictions"][0]["interval"]["high"] - r["predictions"][0]["interval"]["low"] for r in rows}
    )


def test_missed_bands_widen_the_next_forecasts_and_held_ones_narrow_them(
    published, universe, sectors, calendar, tmp_path
) -> None:
    # GIVEN the forecast of ISSUED with month-1 bands that every outcome missed (far above), or that all held
    missed = planted(published, tmp_path / "missed", 5.0, 6.0)
    held = planted(published, tmp_path / "held", -0.99, 10.0)
    # WHEN the daily step runs on the session its month 1 matures
    today = calendar.session_after(ISSUED, 21)
    for store in (missed, held):
        OnnxPredictor(universe, sectors, calendar)(store, today, universe.tickers)
    wide, narrow = (store.get_json(prediction_key(today))["band_adaptation"] for store in (missed, held))
    # THEN month 1's factor grew where the bands missed and shrank where they held, the other months untouched
    grown, shrunk = wide["factors"]["0.1-0.9"], narrow["factors"]["0.1-0.9"]
    assert grown[0] > 1.0 > shrunk[0] and grown[1:] == shrunk[1:] == [1.0] * 11
    assert wide["matured_forecasts"] == narrow["matured_forecasts"] == 1
    assert wide["through"] == {"1": str(ISSUED.date())} and wide["factors_as_of"] == str(today.date())
    # AND every name's published month-1 band is wider by the ratio of the factors (the same model forecast both)
    ratio = month_one_widths(missed, today) / month_one_widths(held, today)
    assert (ratio > 1.0).all() and np.allclose(ratio, grown[0] / shrunk[0], rtol=1e-3)
    # AND the state learnt it, as of that session
    assert missed.get_json(BANDS_KEY)["as_of"] == str(today.date())


def test_reruns_and_backfills_publish_their_own_factors_and_never_move_the_state(
    published, universe, sectors, calendar, tmp_path
) -> None:
    # GIVEN a store whose state learnt from missed bands on the session month 1 matured
    store = planted(published, tmp_path / "s", 5.0, 6.0)
    today = calendar.session_after(ISSUED, 21)
    OnnxPredictor(universe, sectors, calendar)(store, today, universe.tickers)
    first, state = store.get_bytes(prediction_key(today)), store.get_bytes(BANDS_KEY)
    # WHEN the same session runs again
    summary = OnnxPredictor(universe, sectors, calendar)(store, today, universe.tickers)
    # THEN it publishes the same bytes and stores nothing
    assert store.get_bytes(prediction_key(today)) == first and store.get_bytes(BANDS_KEY) == state
    assert summary["bands"].startswith("kept")
    # WHEN a missed session before it is backfilled
    missed_day = calendar.session_after(ISSUED, 5)
    OnnxPredictor(universe, sectors, calendar)(store, missed_day, universe.tickers)
    # THEN that forecast carries the factors in force then (the state of ISSUED, factors 1) and the state did not move
    backfilled = store.get_json(prediction_key(missed_day))["band_adaptation"]
    assert backfilled["factors_as_of"] == str(ISSUED.date()) and backfilled["factors"]["0.1-0.9"] == [1.0] * 12
    assert store.get_bytes(BANDS_KEY) == state


class RivalWritesBands(LocalStore):
    """A LocalStore where another run stores its band state just before this run's conditional write."""

    def put_if(self, key: str, data: bytes, etag: str | None, content_type: str = "application/json") -> None:
        if key == BANDS_KEY:
            self.put_bytes(key, b'{"rival": true}\n')
        super().put_if(key, data, etag, content_type)


def test_a_rival_state_write_fails_the_run_after_the_forecast_is_out(
    published, universe, sectors, calendar, tmp_path
) -> None:
    shutil.copytree(published.root, tmp_path / "s")
    store = RivalWritesBands(tmp_path / "s")
    today = calendar.session_after(ISSUED, 21)
    with pytest.raises(ConcurrentUpdate):
        OnnxPredictor(universe, sectors, calendar)(store, today, universe.tickers)
    assert store.exists(prediction_key(today)) and store.get_bytes(BANDS_KEY) == b'{"rival": true}\n'


def test_a_subset_run_uses_the_factors_and_leaves_the_state(published, universe, sectors, calendar, tmp_path) -> None:
    store = planted(published, tmp_path / "s", 5.0, 6.0)
    state = store.get_bytes(BANDS_KEY)
    summary = OnnxPredictor(universe, sectors, calendar)(
        store, calendar.session_after(ISSUED, 21), universe.tickers[:3]
    )
    assert summary["scope"] == "adhoc" and summary["bands"].startswith("untouched")
    assert store.get_json(summary["key"])["band_adaptation"]["factors_as_of"] == str(ISSUED.date())
    assert store.get_bytes(BANDS_KEY) == state


def test_a_model_without_bands_keeps_no_state(universe, sectors, calendar, tmp_path) -> None:
    store = trained_store(tmp_path / "s", universe, sectors, calendar, bands=False)
    predict = OnnxPredictor(universe, sectors, calendar)
    for day in (ISSUED, calendar.session_after(ISSUED, 21)):
        summary = predict(store, day, universe.tickers)
        assert "bands" not in summary and "band_adaptation" not in store.get_json(prediction_key(day))
    assert not store.exists(BANDS_KEY)

"""A model trained with ``static_mode: point_in_time`` on the history `enrich --source jquants` builds: 0 look-ahead
samples, the daily job serves it as it serves any model, with the static inputs training gave that day, and its
fine-tune keeps the mode.

The sample market's prices are backfilled into a LocalStore, the stand-in of J-Quants (tests/jquants_standin.py)
serves their bars and statements from 2022 on, and the closed-form ridge recipe keeps the training fast.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from tests.functional.conftest import AS_OF
from tests.jquants_standin import StandIn, bars_rows, codes_of, statements_of

from kabucast.config import FinetuneSettings, TrainSettings, load_settings, resolve_config_path
from kabucast.data.calendar import TradingCalendar
from kabucast.data.enrich import enrich_point_in_time
from kabucast.data.ingest import backfill, load_prices
from kabucast.data.sources.jquants_key import ApiKey
from kabucast.data.sources.jquants_source import JQuantsSource
from kabucast.data.sources.sample_market import SampleMarketSource
from kabucast.forecast.dataset import ForecastData
from kabucast.forecast.registry import champion_version, load_model
from kabucast.forecast.train import finetune, train
from kabucast.jobs.daily import DailyOptions, run_daily
from kabucast.jobs.forecast_step import LATEST_KEY, OnnxPredictor
from kabucast.jobs.inputs import load_model_inputs
from kabucast.storage import LocalStore

KEY = "jq-test-key-0cc175b9c0f1b6a831c399e269772661"
FIRST_VISIBLE = pd.Timestamp("2022-02-07")  # statements_of's first disclosure (Sat 2022-02-05), T+1
pytestmark = pytest.mark.slow  # ~40 s: 8 years backfilled, the samples built three times


def ridge(static_mode: str) -> TrainSettings:
    base = load_settings(TrainSettings, resolve_config_path("train_ridge.yaml"))
    data = dataclasses.replace(base.data, static_mode=static_mode, max_train_samples=3000, max_val_samples=1000)
    return dataclasses.replace(base, data=data)


@pytest.fixture(scope="module")
def store(tmp_path_factory, universe) -> LocalStore:
    """8 years of the sample market, and the point-in-time static history built from the stand-in."""
    store, calendar = LocalStore(tmp_path_factory.mktemp("pit")), TradingCalendar()
    backfill(store, SampleMarketSource.from_universe(universe), universe.tickers, calendar, AS_OF, "8y")
    frames, codes = load_prices(store, universe.tickers), codes_of(universe.tickers)
    server = StandIn({codes[t]: bars_rows(codes[t], f.loc["2021-12-01":]) for t, f in frames.items()}, KEY)
    server.statements = {codes[t]: statements_of(codes[t], 2022, 2026) for t in universe.tickers}
    try:
        source = JQuantsSource(ApiKey(KEY), server.start().base_url)
        report = enrich_point_in_time(store, source, universe.tickers, universe.sectors_of, calendar, AS_OF)
    finally:
        server.stop()
    assert report.written[0] == str(FIRST_VISIBLE.date()) and not report.pending
    return store


def test_a_point_in_time_model_records_no_look_ahead_and_the_daily_job_serves_it(store, universe, sectors, tmp_path):
    calendar = TradingCalendar()
    data = ForecastData(store, universe, sectors, calendar)
    # GIVEN the samples of both modes: snapshot mode gives the days before 2022-02-07 a later snapshot
    snapshot = data.samples(AS_OF, "snapshot")
    pit = data.samples(AS_OF, "point_in_time")
    early = np.asarray(pit.dates < FIRST_VISIBLE)
    assert snapshot.static_lookahead == early.sum() > 1000 and pit.static_lookahead == 0
    assert not np.allclose(snapshot.static[early], pit.static[early])
    np.testing.assert_array_equal(snapshot.static[~early], pit.static[~early])
    # WHEN a ridge model trains with static_mode point_in_time
    run = train(ridge("point_in_time"), data, AS_OF, tmp_path, progress=False)
    meta = load_model(store, run.version).meta
    # THEN it records 0 look-ahead samples and its mode
    assert meta["run"]["static_lookahead_samples_all"] == 0 and meta["static_mode"] == "point_in_time"
    # AND the daily job serves it, with the static inputs training gave the same day
    assert champion_version(store) == run.version
    out = run_daily(
        store,
        SampleMarketSource.from_universe(universe),
        calendar,
        AS_OF,
        universe.tickers,
        DailyOptions(skip_fetch=True),
        OnnxPredictor(universe, sectors, calendar),
    )
    doc = store.get_json(LATEST_KEY)
    assert out["predict"]["key"] == "predictions/2026-11-20.json" and doc["model_version"] == run.version
    assert doc["num_predictions"] == len(universe.tickers)
    served = load_model_inputs(store, universe, sectors, calendar, AS_OF, universe.tickers).features
    last = np.flatnonzero(np.asarray(pit.dates == AS_OF))
    by_ticker = dict(zip(pit.tickers[last], pit.static[last], strict=True))
    for i, ticker in enumerate(served.tickers):
        if ticker in by_ticker:
            np.testing.assert_allclose(served.static[i], by_ticker[ticker], rtol=1e-6)
    # AND its monthly fine-tune keeps the mode
    settings = load_settings(FinetuneSettings, resolve_config_path("finetune.yaml"))
    tuned = finetune(dataclasses.replace(settings, n_samples=300), data, AS_OF, tmp_path / "ft", progress=False)
    tuned_meta = load_model(store, tuned.version).meta
    assert tuned_meta["static_mode"] == "point_in_time" and tuned_meta["run"]["parent"] == run.version

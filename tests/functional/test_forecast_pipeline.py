"""The forecaster end to end on the sample market: train -> ONNX -> daily forecasts, in a LocalStore.

A small model config keeps this fast; the real config is exercised by `make demo` and bench/.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from tests.functional.conftest import AS_OF

from kabucast.config import load_settings, resolve_config_path
from kabucast.data.sources.sample_market import SampleMarketSource
from kabucast.errors import StoreError
from kabucast.forecast.dataset import ForecastData
from kabucast.forecast.registry import champion_version, load_model
from kabucast.jobs.daily import DailyOptions, run_daily
from kabucast.jobs.forecast_step import LATEST_KEY, OnnxPredictor
from kabucast.storage import LocalStore


def test_daily_forecasts_every_ticker_or_lists_it(trained, universe, sectors) -> None:
    store, calendar = trained
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
    assert out["predict"]["key"] == "predictions/2026-11-20.json"
    n = len(universe.tickers) - 1  # every member but 9984.T
    assert doc["num_predictions"] == n and len(doc["predictions"]) == n
    assert [f["ticker"] for f in doc["failures"]] == ["9984.T"]
    assert "156 needed" in doc["failures"][0]["reason"]
    first = doc["predictions"][0]
    assert set(first) == {
        "ticker",
        "as_of_date",
        "current_price",
        "predictions",
        "predicted_12m_price",
        "predicted_12m_return",
        "sector",
    }
    assert [p["month"] for p in first["predictions"]] == list(range(1, 13))
    p12 = first["predictions"][-1]
    assert p12["predicted_price"] == pytest.approx(first["current_price"] * (1 + p12["return"]), rel=1e-3)
    assert doc["model_version"] == champion_version(store) and doc["data_as_of"] == "2026-11-20"
    assert doc["model_kind"] == "bilstm"  # model.json's; a served free baseline says "momentum"


def test_running_twice_gives_byte_identical_files(trained, universe, sectors) -> None:
    store, calendar = trained
    predictor = OnnxPredictor(universe, sectors, calendar)
    predictor(store, AS_OF, universe.tickers)
    first = store.get_bytes("predictions/2026-11-20.json")
    OnnxPredictor(universe, sectors, calendar)(store, AS_OF, universe.tickers)
    assert store.get_bytes("predictions/2026-11-20.json") == first == store.get_bytes(LATEST_KEY)


class DiesBeforeLatest(LocalStore):
    """A real LocalStore whose process 'dies' right after the dated forecast is written."""

    def put_bytes(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        if key == LATEST_KEY:
            raise StoreError("killed between the dated write and the latest write")
        super().put_bytes(key, data, content_type)


def test_killed_between_writes_keeps_previous_latest(trained, universe, sectors, tmp_path: Path) -> None:
    shutil.copytree(trained[0].root, tmp_path / "s", ignore=shutil.ignore_patterns("predictions"))
    store, calendar = LocalStore(tmp_path / "s"), trained[1]
    OnnxPredictor(universe, sectors, calendar)(store, pd.Timestamp("2026-11-19"), universe.tickers)
    before = store.get_bytes(LATEST_KEY)
    dying = DiesBeforeLatest(store.root)
    with pytest.raises(StoreError, match="killed"):
        OnnxPredictor(universe, sectors, calendar)(dying, AS_OF, universe.tickers)
    assert store.exists("predictions/2026-11-20.json")
    assert store.get_bytes(LATEST_KEY) == before


def test_model_json_records_the_contract(trained) -> None:
    store, _ = trained
    model = load_model(store)
    meta = model.meta
    assert meta["onnx_parity_max_abs_diff"] <= 1e-4
    assert len(meta["features"]["weekly"]) == 23 and len(meta["normalizer"]["weekly_mean"]) == 23
    assert meta["run"]["train_range"][1] < meta["run"]["val_range"][0]
    gap = np.busday_count(meta["run"]["train_range"][1], meta["run"]["val_range"][0])
    assert gap >= 252  # the purge gap, in weekdays (sessions are fewer, weekdays bound it from above)
    assert set(meta["validation"]) == {"model", "zero_return", "momentum_12m"}
    json.dumps(meta, allow_nan=False)


def test_finetune_writes_a_challenger_and_keeps_the_champion(trained, universe, sectors, tmp_path: Path) -> None:
    from kabucast.config import FinetuneSettings
    from kabucast.forecast.train import finetune

    # GIVEN the trained champion
    store, calendar = trained
    champion = champion_version(store)
    cfg = dataclasses.replace(
        load_settings(FinetuneSettings, resolve_config_path("finetune.yaml")),
        n_samples=300,
        training={**load_settings(FinetuneSettings, resolve_config_path("finetune.yaml")).training, "max_epochs": 1},
    )
    # WHEN the monthly fine-tune runs
    run = finetune(cfg, ForecastData(store, universe, sectors, calendar), AS_OF, tmp_path, progress=False)
    # THEN a new version exists, recorded with its parent and sample mix, and the champion is unchanged
    assert run.version != champion and not run.champion
    assert champion_version(store) == champion
    meta = load_model(store, run.version).meta
    assert meta["run"]["parent"] == champion and meta["run"]["kind"] == "finetune"
    assert meta["run"]["n_recent"] == round(300 * 0.67) and meta["run"]["n_older"] == 300 - round(300 * 0.67)

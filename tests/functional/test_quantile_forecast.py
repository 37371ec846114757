"""A forecaster with a quantile head end to end: train -> ONNX (both outputs at parity) -> daily intervals."""

from __future__ import annotations

import dataclasses
import shutil

import numpy as np
from tests.functional.conftest import AS_OF, SMALL_MODEL, small_settings

from kabucast.forecast.dataset import ForecastData
from kabucast.forecast.onnx_model import OnnxModel
from kabucast.forecast.registry import load_model
from kabucast.forecast.train import train
from kabucast.jobs.forecast_step import LATEST_KEY, OnnxPredictor
from kabucast.storage import LocalStore

LEVELS = [0.1, 0.5, 0.9]


def test_a_quantile_model_publishes_an_interval_per_month(trained, universe, sectors, tmp_path) -> None:
    # GIVEN the sample market's store and a small model with a 0.1 / 0.5 / 0.9 quantile head, trained
    shutil.copytree(trained[0].root, tmp_path / "s", ignore=shutil.ignore_patterns("models", "predictions"))
    store, calendar = LocalStore(tmp_path / "s"), trained[1]
    settings = dataclasses.replace(small_settings(), model={**SMALL_MODEL, "quantiles": LEVELS})
    data = ForecastData(store, universe, sectors, calendar)
    run = train(settings, data, AS_OF, tmp_path / "work", progress=False)
    # THEN its export checked both outputs against torch, and the served model knows its levels
    model = load_model(store)
    assert model.version == run.version and model.meta["onnx_parity_max_abs_diff"] <= 1e-4
    assert model.meta["model_config"]["quantiles"] == LEVELS
    # AND its intervals were calibrated on the validation block (later than training, purged): >= 80 % there
    # over the 12 months
    calibration = model.meta["quantile_calibration"]
    val_range = model.meta["run"]["val_range"]
    assert val_range[0] <= calibration["block"][0] and calibration["block"][1] == val_range[1]
    assert calibration["levels"] == LEVELS
    assert calibration["n_samples"] == model.meta["run"]["n_val"] and np.mean(calibration["coverage_calibrated"]) >= 0.8
    served = OnnxModel.from_files(model)
    assert served.quantile_levels == tuple(LEVELS)
    samples = data.samples(AS_OF, "snapshot")
    idx = np.arange(0, len(samples.dates), max(len(samples.dates) // 300, 1))
    q = served.predict_quantiles(samples, idx)
    assert q.shape == (len(idx), 12, 3) and (np.diff(q, axis=-1) >= 0).all()
    # WHEN the daily step forecasts with it
    OnnxPredictor(universe, sectors, calendar)(store, AS_OF, universe.tickers)
    doc = store.get_json(LATEST_KEY)
    # THEN every month of every forecast carries its quantiles and an 80 % interval around the price
    assert doc["quantile_levels"] == LEVELS
    for row in doc["predictions"]:
        for month in row["predictions"]:
            interval = month["interval"]
            assert interval["coverage"] == 0.8 and interval["low"] <= month["quantiles"]["0.5"] <= interval["high"]
            assert interval["low_price"] <= interval["high_price"]
            assert set(month["quantiles"]) == {"0.1", "0.5", "0.9"}

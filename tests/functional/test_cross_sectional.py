"""`model.kind: cross_sectional` end to end on the sample market: trained by `train` through the model interface,
exported to ONNX for one date's stocks, served by OnnxModel (one date per call) and by the daily predict step,
and never collapsed."""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from tests.functional.conftest import AS_OF, small_settings

from kabucast.forecast.cross_sectional_model import COLLAPSE_FLOOR, CollapseWarning, DateBatches, date_chunks
from kabucast.forecast.dataset import ForecastData
from kabucast.forecast.kinds import load_trainable
from kabucast.forecast.metrics import horizon_metrics
from kabucast.forecast.onnx_model import OnnxModel
from kabucast.forecast.registry import load_model
from kabucast.forecast.train import train
from kabucast.jobs.forecast_step import OnnxPredictor
from kabucast.storage import LocalStore

SMALL = {"kind": "cross_sectional", "hidden": 16, "heads": 2, "mlp": [16], "recent_weeks": 26, "market_hidden": 8}
SMALL_WITH_BANDS = {**SMALL, "quantiles": [0.1, 0.5, 0.9]}  # risk-scaled bands around it (vol_intervals)


@pytest.fixture(scope="module")
def served(trained, universe, sectors, tmp_path_factory):
    """A copy of the sample market's store with a small cross-sectional model trained as its champion."""
    store, calendar = trained
    root = tmp_path_factory.mktemp("xs")
    published = ("models", "predictions", "portfolio", "scorecard", "site")
    shutil.copytree(store.root, root / "store", ignore=shutil.ignore_patterns(*published))
    copy = LocalStore(root / "store")
    data = ForecastData(copy, universe, sectors, calendar)
    settings = dataclasses.replace(small_settings(), model=SMALL_WITH_BANDS)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run = train(settings, data, AS_OF, root / "work", progress=False)
    return copy, data, run, [w for w in caught if issubclass(w.category, CollapseWarning)]


def test_it_trains_exports_and_is_served_like_every_model(served) -> None:
    store, data, run, collapse_warnings = served
    model = load_model(store)
    assert run.champion and model.version == run.version and model.meta["model_kind"] == "cross_sectional"
    assert model.meta["onnx_parity_max_abs_diff"] <= 1e-4  # one date's stocks, checked at export
    # AND served by ONNX Runtime over many dates, one date per call, it gives the in-process forecasts
    samples = data.samples(AS_OF, "snapshot")
    last = np.flatnonzero(samples.date_pos >= np.sort(np.unique(samples.date_pos))[-3])  # three dates
    idx = np.random.default_rng(0).permutation(last)  # in no particular order
    onnx, onnx_bands = OnnxModel.from_files(model).predict_with_quantiles(samples, idx)
    trainable = load_trainable(model.meta, _checkpoint(store, model.version), {})
    np.testing.assert_allclose(onnx, trainable.predict(samples, idx), atol=1e-4)
    np.testing.assert_allclose(onnx_bands, trainable.predict_quantiles(samples, idx), atol=1e-4)
    # AND what a stock's neighbours are changes its forecast (the model sees the cross-section)
    one = last[samples.date_pos[last] == samples.date_pos[last].max()]
    alone = np.concatenate([trainable.predict(samples, one[i : i + 1]) for i in range(len(one))])
    assert np.abs(alone - trainable.predict(samples, one)).max() > 1e-4
    assert collapse_warnings == []


def test_the_daily_step_serves_it_without_torch_changes(served, universe, sectors, trained) -> None:
    store, _, run, _ = served
    out = OnnxPredictor(universe, sectors, trained[1])(store, AS_OF, universe.members_on(AS_OF))
    assert out["model_version"] == run.version and out["predicted"] >= 29
    forecast = store.get_json("predictions/latest.json")
    returns = np.array([[m["return"] for m in row["predictions"]] for row in forecast["predictions"]])
    assert (returns.std(axis=0) > 0).all()


def test_its_forecasts_never_collapse(served) -> None:
    # the gate's floor on the cross-sectional spread at every horizon, on the validation dates of its own fit
    store, data, run, _ = served
    meta = load_model(store).meta
    assert meta["collapsed_months"] == []
    samples = data.samples(AS_OF, "snapshot")
    val = np.flatnonzero(samples.dates >= pd.Timestamp(meta["run"]["val_range"][0]))
    trainable = load_trainable(meta, _checkpoint(store, run.version), {})
    spread = horizon_metrics(samples.target[val], trainable.predict(samples, val), samples.date_pos[val])
    assert min(spread["pred_xs_std"]) >= COLLAPSE_FLOOR, spread["pred_xs_std"]


def test_batches_hold_whole_dates() -> None:
    dates = np.array([5, 5, 7, 7, 7, 9, 5, 9, 11])
    batches = list(DateBatches(dates, batch_size=4, shuffle=False))
    assert sorted(i for b in batches for i in b) == list(range(9))
    for b in batches:  # a date is never split across batches
        for d in {int(dates[i]) for i in b}:
            assert set(np.flatnonzero(dates == d)) <= set(b)
    chunks = list(date_chunks(dates, 4))
    assert sorted(np.concatenate(chunks).tolist()) == list(range(9))
    assert all(
        len({int(dates[i]) for i in c} & {int(dates[i]) for i in o}) == 0 for c in chunks for o in chunks if o is not c
    )


def _checkpoint(store: LocalStore, version: str) -> Path:
    folder = Path(tempfile.mkdtemp())
    (folder / "model.ckpt").write_bytes(store.get_bytes(f"models/{version}/model.ckpt"))
    return folder / "model.ckpt"

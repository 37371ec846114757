"""A recipe with ``data.feature_groups`` trains on the stored slow data: model.json names the groups, the ONNX graph
takes 23 + G weekly columns, and the serving side builds the same inputs (check_features, the daily inputs)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import yaml

from kabucast.config import TrainSettings, load_settings, load_universe, resolve_config_path
from kabucast.data.ingest import backfill
from kabucast.data.slow_store import slow_key
from kabucast.data.sources.jquants_slow import UnknownGroup
from kabucast.data.sources.sample_market import SampleMarketSource
from kabucast.forecast.dataset import forecast_data
from kabucast.forecast.onnx_model import ForecastInputError, OnnxModel
from kabucast.forecast.registry import check_features, load_model
from kabucast.forecast.train import train
from kabucast.jobs.forecast_step import LATEST_KEY, OnnxPredictor
from kabucast.jobs.inputs import load_model_inputs
from kabucast.storage import LocalStore

NAMES = ["7203.T", "6758.T", "8306.T"]
AS_OF = pd.Timestamp("2024-12-27")


@pytest.fixture(scope="module")
def store(tmp_path_factory, calendar) -> LocalStore:
    """Six years of the sample market for three names, and their weekly margin rows (published each Tuesday)."""
    store = LocalStore(tmp_path_factory.mktemp("slow") / "store")
    backfill(store, SampleMarketSource(NAMES, ["Technology"] * 3, seed=5), NAMES, calendar, AS_OF, "6y")
    fridays = pd.date_range("2019-01-04", "2024-12-20", freq="W-FRI")
    rng = np.random.default_rng(0)
    rows = [{"ticker": t, "date": d, "published": d + pd.Timedelta(days=4), "long_vol": float(rng.integers(1e5, 1e7)),
             "short_vol": float(rng.integers(1e4, 1e6))} for d in fridays for t in NAMES]  # fmt: skip
    store.put_parquet(slow_key("margin"), pd.DataFrame(rows))
    return store


@pytest.fixture
def recipe(tmp_path) -> TrainSettings:
    path = tmp_path / "served.yaml"
    members = [{"ticker": t, "name": t, "sector": "Technology"} for t in NAMES]
    path.write_text(yaml.safe_dump({"env": "local", "name": "served", "description": "", "reviewed": "2024-12-27",
                                    "members": members}))  # fmt: skip
    cfg = load_settings(TrainSettings, resolve_config_path("train_ridge.yaml"))
    return dataclasses.replace(cfg, universe=str(path), data=dataclasses.replace(cfg.data, feature_groups=("margin",)))


def test_a_recipe_with_a_group_trains_records_and_serves_it(store, recipe, sectors, calendar, tmp_path) -> None:
    # GIVEN a ridge recipe with the margin group  WHEN trained
    universe = load_universe(recipe.universe)
    run = train(recipe, forecast_data(store, calendar, recipe, universe, sectors), AS_OF, tmp_path, progress=False)
    # THEN model.json names the group and its columns, and the served graph takes 25 weekly columns
    assert run.meta["features"]["feature_groups"] == ["margin"]
    assert run.meta["features"]["weekly"][23:] == ["margin_long_short", "margin_long_chg_1w"]
    model = load_model(store, run.version)
    check_features(model)
    # AND the daily inputs with the model's groups are what it serves on
    inputs = load_model_inputs(store, universe, sectors, calendar, AS_OF, NAMES, ("margin",)).features
    assert inputs.weekly.shape == (3, 156, 25)
    served = OnnxModel.from_files(model).predict_arrays(
        inputs.weekly, inputs.static, inputs.position, inputs.sector_id
    )  # fmt: skip
    assert served.shape == (3, 12) and np.isfinite(served).all()
    # AND inputs without the group are refused by name
    plain = load_model_inputs(store, universe, sectors, calendar, AS_OF, NAMES).features
    with pytest.raises(ForecastInputError, match="weekly has shape"):
        OnnxModel.from_files(model).predict_arrays(plain.weekly, plain.static, plain.position, plain.sector_id)
    # AND the daily forecast step serves the champion on its groups' inputs: the same forecasts
    OnnxPredictor(universe, sectors, calendar, site=False)(store, AS_OF, NAMES)
    document = store.get_json(LATEST_KEY)
    assert len(document["predictions"]) == 3 and document["failures"] == []


def test_an_unknown_group_in_a_recipe_is_named(store, recipe, sectors, calendar) -> None:
    bad = dataclasses.replace(recipe, data=dataclasses.replace(recipe.data, feature_groups=("margins",)))
    with pytest.raises(UnknownGroup, match="margin, short_selling, flows"):
        forecast_data(store, calendar, bad, load_universe(bad.universe), sectors)

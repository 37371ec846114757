"""The lightgbm kind: one boosted-tree regressor per month on the ridge's summary features.

Labels are planted on one summary feature over the four-ticker sample market (as for the ridge), so
what the fit should find is known; a shuffled-label control must find nothing.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import onnx
import pytest
from tests.unit.forecast.conftest import in_time, served_and_reloaded

from kabucast.config import CONFIG_DIR, TrainDataSettings, TrainSettings, load_settings
from kabucast.errors import ConfigError
from kabucast.experiments.folds import Fold
from kabucast.experiments.walkforward import train_fold
from kabucast.forecast.dataset import ForecastSamples
from kabucast.forecast.interface import SampleSplit, TrainableModel
from kabucast.forecast.kinds import build_model
from kabucast.forecast.lightgbm_model import LightGBMForecaster, float32_splits
from kabucast.forecast.onnx_model import OnnxModel
from kabucast.forecast.ridge_model import summary_features
from kabucast.forecast.vol_intervals import VolScaledIntervals

QUICK = {"kind": "lightgbm", "n_estimators": 40, "learning_rate": 0.1, "min_child_samples": 20, "n_jobs": 1}
"""Small enough to fit 12 horizons in well under a second."""


def planted(samples: ForecastSamples) -> ForecastSamples:
    """Labels 0.02 x (standardised last-week feature 0) x month + N(0, 0.02) noise (log returns)."""
    batch = samples.take(np.arange(len(samples)))
    signal = summary_features(batch["weekly"], batch["static"])[:, 0]
    signal = (signal - signal.mean()) / signal.std()
    noise = np.random.default_rng(0).normal(0.0, 0.02, (len(samples), 12))
    return dataclasses.replace(samples, target=(0.02 * signal[:, None] * np.arange(1, 13) + noise).astype(np.float32))


@pytest.fixture(scope="module")
def data(samples: ForecastSamples) -> ForecastSamples:
    return planted(samples)


def test_lightgbm_learns_a_planted_signal_and_not_shuffled_labels(data: ForecastSamples, tmp_path) -> None:
    # GIVEN labels planted on one summary feature, split in time
    train, val = in_time(data)
    # WHEN the kind is fitted on them, and again with the training and validation labels shuffled
    model = build_model(QUICK, {"seed": 0}, 0)
    fitted = model.fit(SampleSplit(data, train, val), tmp_path / "real", progress=False)
    rng = np.random.default_rng(1)
    blind = SampleSplit(data, train, val, rng.permutation(len(train)), rng.permutation(len(val)))
    shuffled = build_model(QUICK, {"seed": 0}, 0).fit(blind, tmp_path / "shuffled", progress=False)
    # THEN it ranks the held-out samples by the signal, and the control does not
    assert isinstance(model, LightGBMForecaster) and isinstance(model, TrainableModel)
    assert min(fitted.val_metrics["rankic"]) > 0.3 and np.mean(fitted.val_metrics["rankic"]) > 0.6
    assert max(abs(v) for v in shuffled.val_metrics["rankic"] if np.isfinite(v)) < 0.15
    assert fitted.best_checkpoint.name == "lightgbm.json" and 1 <= fitted.epochs_run <= QUICK["n_estimators"]
    described = model.describe()
    assert described["model_kind"] == "lightgbm" and described["train_config"] == {"seed": 0}
    assert len(described["model_config"]["rounds"]) == 12 and described["parameters"] > 12


def test_the_same_seed_gives_the_same_model(data: ForecastSamples, tmp_path) -> None:
    train, val = in_time(data)
    fits = [build_model(QUICK, {"seed": 3}, 0) for _ in range(2)]
    for k, model in enumerate(fits):
        model.fit(SampleSplit(data, train, val), tmp_path / str(k), progress=False)
    np.testing.assert_array_equal(fits[0].predict(data, val), fits[1].predict(data, val))


def test_lightgbm_exports_to_onnx_is_served_and_fine_tunes_from_its_checkpoint(data: ForecastSamples, tmp_path) -> None:
    # GIVEN a fitted model
    train, val = in_time(data)
    model = build_model(QUICK, {"seed": 0}, 0)
    # WHEN it is exported and served by ONNX Runtime (the daily path: no lightgbm)
    parity, served, loaded, fitted = served_and_reloaded(model, data, train, val, tmp_path, "lightgbm")
    # THEN the one graph (summary nodes, 12 tree ensembles, Concat) forecasts what LightGBM does
    assert parity < 1e-4 and np.abs(served.predict(data, val) - model.predict(data, val)).max() < 1e-4
    opsets = {o.domain: o.version for o in onnx.load(tmp_path / "model.onnx").opset_import}
    assert opsets[""] == 17 and "ai.onnx.ml" in opsets
    # AND the fine-tune path loads it by the kind model.json names, then refits with the same settings and rounds
    assert isinstance(loaded, LightGBMForecaster) and loaded.settings == model.settings
    np.testing.assert_array_equal(loaded.predict(data, val), model.predict(data, val))
    later = loaded.finetune(SampleSplit(data, val, train[-300:]), tmp_path / "ft", progress=False)
    assert json.loads(later.best_checkpoint.read_text())["settings"] == model.settings
    assert loaded.rounds() == model.rounds() and later.epochs_run == fitted.epochs_run
    assert not np.allclose(loaded.predict(data, train), model.predict(data, train))


def test_thresholds_rounded_down_to_float32_split_float32_inputs_the_same_way() -> None:
    # GIVEN float64 thresholds, some halfway between two float32 values, and float32 inputs on and around them
    rng = np.random.default_rng(0)
    low = rng.normal(size=500).astype(np.float32)
    halfway = (low.astype(np.float64) + np.nextafter(low, np.float32(np.inf)).astype(np.float64)) / 2
    thresholds = np.concatenate([halfway, rng.normal(size=500)])
    model = "tree_sizes=1 2\nthreshold=" + " ".join(repr(float(v)) for v in thresholds) + "\nleaf_value=0"
    # WHEN the model text's thresholds are rounded down
    lines = float32_splits(model).split("\n")
    rounded = np.array(lines[0].removeprefix("threshold=").split(), dtype=np.float64)
    # THEN each is a float32, every float32 input goes the same side of it, and the stale byte counts are gone
    assert np.array_equal(rounded.astype(np.float32).astype(np.float64), rounded) and lines[1:] == ["leaf_value=0"]
    x = np.concatenate([thresholds.astype(np.float32), low, np.nextafter(low, np.float32(np.inf))])
    x64 = x.astype(np.float64)
    assert np.array_equal(x64[:, None] <= thresholds, x64[:, None] <= rounded)
    assert not np.array_equal(x64[:, None] <= thresholds, x64[:, None] <= thresholds.astype(np.float32))


def test_lightgbm_plugs_into_walk_forward(samples: ForecastSamples, sectors, tmp_path) -> None:
    # GIVEN a recipe naming the kind
    recipe = TrainSettings("local", "u", "s", TrainDataSettings(as_of_stride=5), QUICK, {"seed": 0})
    train, test = in_time(samples)
    # WHEN walk-forward trains a fold with it (the code path of `kabucast evaluate`)
    models, trained = train_fold(recipe, sectors, samples, Fold("fold-1", train, test), tmp_path)
    # THEN the fold is served from its ONNX file
    assert isinstance(models["model"], OnnxModel) and models["model"].predict(samples, test).shape == (len(test), 12)
    assert trained["epochs_run"] >= 1


def test_the_shipped_recipe_builds_a_lightgbm_model() -> None:
    recipe = load_settings(TrainSettings, CONFIG_DIR / "train_lightgbm.yaml")
    banded = build_model(recipe.model, recipe.training, 0, "train_lightgbm.yaml")
    assert isinstance(banded, VolScaledIntervals) and banded.quantile_levels == (0.1, 0.5, 0.9)  # the recipe's bands
    model = banded.inner
    assert isinstance(model, LightGBMForecaster) and model.seed == recipe.training["seed"]
    assert model.settings["n_estimators"] == 500 and model.settings["early_stopping_rounds"] == 50


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ({"hidden": 8}, r"model\.hidden is not a lightgbm setting \(known: num_leaves"),
        ({"num_leaves": 1}, r"model\.num_leaves must be a whole number >= 2"),
        ({"n_estimators": 10.5}, r"model\.n_estimators must be a whole number"),
        ({"n_jobs": 0}, r"model\.n_jobs must be a whole number >= 1"),
        ({"learning_rate": 0}, r"model\.learning_rate must be in \(0, 1\]"),
        ({"subsample": "all"}, r"model\.subsample must be a number"),
        ({"reg_lambda": -1}, r"model\.reg_lambda must be >= 0"),
    ],
)
def test_a_bad_lightgbm_setting_is_a_named_config_error(model: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build_model({"kind": "lightgbm", **model}, {}, 0, "config/train_x.yaml")

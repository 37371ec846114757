"""The momentum kind: a trailing-return signal with a lookback, a skip and a sign, fitted per horizon.

Labels are planted on the model's own signal (momentum) or on its opposite (a reversal market) over
the four-ticker sample market, so what the fit should find is known.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from tests.unit.forecast.conftest import in_time, served_and_reloaded

from kabucast.config import CONFIG_DIR, TrainDataSettings, TrainSettings, load_settings
from kabucast.errors import ConfigError
from kabucast.experiments.folds import Fold
from kabucast.experiments.walkforward import train_fold
from kabucast.forecast.dataset import ForecastSamples
from kabucast.forecast.interface import SampleSplit, TrainableModel
from kabucast.forecast.kinds import build_model
from kabucast.forecast.momentum_model import MIN_SLOPE, MomentumForecaster, trailing_return
from kabucast.forecast.onnx_model import OnnxModel
from kabucast.forecast.vol_intervals import VolScaledIntervals

REVERSAL = {"kind": "momentum", "lookback_weeks": 4, "skip_weeks": 0, "sign": -1}


def planted(samples: ForecastSamples, lookback: int, skip: int, direction: float) -> ForecastSamples:
    """Labels ``direction`` x 0.02 x (standardised trailing return) x month, plus N(0, 0.02) noise (log returns)."""
    weekly = samples.take(np.arange(len(samples)))["weekly"]
    signal = trailing_return(weekly, lookback, skip)
    signal = (signal - signal.mean()) / signal.std()
    noise = np.random.default_rng(0).normal(0.0, 0.02, (len(samples), 12))
    target = direction * 0.02 * signal[:, None] * np.arange(1, 13) + noise
    return dataclasses.replace(samples, target=target.astype(np.float32))


def rankic(samples: ForecastSamples, idx: np.ndarray, pred: np.ndarray, month: int) -> float:
    """Mean over dates of the Spearman correlation of ``pred`` with the labels at ``month``."""
    frame = pd.DataFrame({"d": samples.date_pos[idx], "p": pred[:, month - 1], "y": samples.target[idx, month - 1]})
    return float(frame.groupby("d").apply(lambda g: g["p"].corr(g["y"], method="spearman")).mean())


def test_the_trailing_return_is_the_sum_of_weekly_log_returns_between_the_two_closes(samples) -> None:
    weekly = samples.take(np.arange(0, len(samples), 97))["weekly"]
    ret_4w, ret_52w = weekly[:, -1, 1], weekly[:, -1, 4]  # ln(C[k] / C[k-4]), ln(C[k] / C[k-52]) (docs/FEATURES.md)
    np.testing.assert_allclose(trailing_return(weekly, 4, 0), ret_4w, atol=1e-5)
    np.testing.assert_allclose(trailing_return(weekly, 52, 4), ret_52w - ret_4w, atol=1e-5)  # 12-1


def test_momentum_learns_a_planted_trailing_return_and_not_shuffled_labels(samples, tmp_path) -> None:
    # GIVEN labels that follow the 12-1 trailing return, split in time
    data = planted(samples, 52, 4, +1.0)
    train, val = in_time(data)
    # WHEN the momentum kind is fitted on them, and again with the training and validation labels shuffled
    model = build_model({"kind": "momentum"}, {"seed": 0}, 0)
    fitted = model.fit(SampleSplit(data, train, val), tmp_path / "real", progress=False)
    rng = np.random.default_rng(1)
    blind = SampleSplit(data, train, val, rng.permutation(len(train)), rng.permutation(len(val)))
    control = MomentumForecaster()
    shuffled = control.fit(blind, tmp_path / "shuffled", progress=False)
    # THEN it ranks the held-out samples by the signal with a slope rising with the month, and the control
    # finds next to no slope and no ranking of the (shuffled) held-out labels
    assert isinstance(model, MomentumForecaster) and isinstance(model, TrainableModel)
    assert model.slope is not None and control.slope is not None
    assert min(fitted.val_metrics["rankic"]) > 0.5 and np.all(np.diff(model.slope) > 0)
    assert np.all(control.slope < 0.1 * model.slope)  # per month
    assert max(abs(v) for v in shuffled.val_metrics["rankic"] if np.isfinite(v)) < 0.15
    assert fitted.best_checkpoint.name == "momentum.npz" and fitted.epochs_run == 0
    assert model.describe()["model_kind"] == "momentum"


def test_the_sign_is_a_constraint_a_reversal_market_gives_momentum_no_slope(samples, tmp_path) -> None:
    # GIVEN a reversal market: next months' returns fall with the last month's return
    data = planted(samples, 4, 0, -1.0)
    train, val = in_time(data)
    # WHEN a momentum recipe (sign +1) and a reversal recipe (sign -1) on the same lookback are fitted
    momentum = build_model({**REVERSAL, "sign": 1}, {}, 0)
    reversal = build_model(REVERSAL, {}, 0)
    momentum.fit(SampleSplit(data, train, val), tmp_path / "momentum", progress=False)
    fitted = reversal.fit(SampleSplit(data, train, val), tmp_path / "reversal", progress=False)
    # THEN momentum keeps the floor slope: a near-flat forecast about the training labels' mean that still
    # ranks by its signal (the baseline it serves); reversal finds the effect
    assert isinstance(momentum, MomentumForecaster) and isinstance(reversal, MomentumForecaster)
    np.testing.assert_array_equal(momentum.slope, np.full(12, MIN_SLOPE))
    served = momentum.predict(data, val)
    np.testing.assert_allclose(served.mean(axis=0), data.target[train].mean(axis=0), atol=1e-3)
    assert served[:, 0].std() < 1e-3 * data.target[val, 0].std() * 10
    signal = momentum.signal(data, val)
    assert abs(rankic(data, val, served, 1) - rankic(data, val, np.repeat(signal[:, None], 12, axis=1), 1)) < 1e-6
    assert reversal.slope is not None and reversal.slope.min() > 0
    assert min(fitted.val_metrics["rankic"]) > 0.5
    assert rankic(data, val, reversal.predict(data, val), 1) == pytest.approx(fitted.val_metrics["rankic"][0])


def test_momentum_exports_to_onnx_is_served_and_fine_tunes_from_its_checkpoint(samples, tmp_path) -> None:
    # GIVEN a fitted reversal model
    data = planted(samples, 4, 0, -1.0)
    train, val = in_time(data)
    model = build_model(REVERSAL, {"seed": 0}, 0)
    # WHEN it is exported and served by ONNX Runtime (the daily path: no torch, no numpy model)
    parity, served, loaded, _ = served_and_reloaded(model, data, train, val, tmp_path, "momentum")
    # THEN the graph forecasts what numpy does
    assert parity < 1e-4 and np.abs(served.predict(data, val) - model.predict(data, val)).max() < 1e-4
    # AND the fine-tune path loads it by the kind model.json names, then refits the recipe on new samples
    np.testing.assert_allclose(loaded.predict(data, val), model.predict(data, val), atol=1e-6)
    assert isinstance(loaded, MomentumForecaster) and loaded.describe()["model_config"]["sign"] == -1
    later = loaded.finetune(SampleSplit(data, val, train[-200:]), tmp_path / "ft", progress=False)
    assert later.best_checkpoint.is_file() and not np.allclose(loaded.slope, model.slope)


def test_momentum_plugs_into_walk_forward(samples, sectors, tmp_path) -> None:
    # GIVEN a recipe naming the kind
    recipe = TrainSettings("local", "u", "s", TrainDataSettings(as_of_stride=5), REVERSAL, {})
    train, test = in_time(samples)
    # WHEN walk-forward trains a fold with it (the code path of `kabucast evaluate`)
    models, trained = train_fold(recipe, sectors, samples, Fold("fold-1", train, test), tmp_path)
    # THEN the fold is served from its ONNX file
    assert isinstance(models["model"], OnnxModel) and models["model"].predict(samples, test).shape == (len(test), 12)
    assert trained["epochs_run"] == 0


@pytest.mark.parametrize(
    ("name", "settings"), [("train_momentum.yaml", (52, 4, 1)), ("train_reversal.yaml", (4, 0, -1))]
)
def test_the_shipped_recipes_build_momentum_and_reversal(name: str, settings: tuple[int, int, int]) -> None:
    recipe = load_settings(TrainSettings, CONFIG_DIR / name)
    banded = build_model(recipe.model, recipe.training, 0, name)
    assert isinstance(banded, VolScaledIntervals) and banded.quantile_levels == (0.1, 0.5, 0.9)  # the recipe's bands
    model = banded.inner
    assert isinstance(model, MomentumForecaster)
    assert (model.lookback_weeks, model.skip_weeks, model.sign) == settings and recipe.data.static_mode == "none"


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ({"hidden": 8}, r"model\.hidden is not a momentum setting"),
        ({"sign": 0}, r"sign must be 1 \(momentum\) or -1 \(reversal\)"),
        ({"lookback_weeks": 4, "skip_weeks": 4}, r"0 <= skip_weeks < lookback_weeks <= 156"),
        ({"lookback_weeks": 200}, r"lookback_weeks <= 156"),
        ({"lookback_weeks": 52.5}, r"model\.lookback_weeks must be a whole number"),
    ],
)
def test_a_bad_momentum_setting_is_a_named_config_error(model: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build_model({"kind": "momentum", **model}, {}, 0, "config/train_x.yaml")

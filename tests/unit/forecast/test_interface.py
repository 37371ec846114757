"""The model interface: the BiLSTM and its ONNX export behind it, the static-mode rule, and a second kind plugged in.

The second kind is a toy written here (the training labels' mean, exported as a hand-built ONNX
graph): walk-forward evaluation trains and serves it through the interface alone, which is what
"a new model plugs in without touching the workflows" means.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from kabucast.config import TrainDataSettings, TrainSettings
from kabucast.errors import ConfigError
from kabucast.evaluation.calibration import rescale_quantiles
from kabucast.experiments.folds import Fold
from kabucast.experiments.walkforward import WalkForward, inner_split, train_fold
from kabucast.forecast import kinds
from kabucast.forecast.arrays import split_datasets
from kabucast.forecast.dataset import ForecastSamples
from kabucast.forecast.interface import (
    CalibratableModel,
    FitResult,
    ForecastModel,
    SampleSplit,
    TrainableModel,
    calibrate_quantiles,
)
from kabucast.forecast.kinds import ModelKind, build_model, load_trainable
from kabucast.forecast.onnx_model import INPUT_NAMES, OUTPUT_NAME, OnnxModel
from kabucast.forecast.ridge_model import RidgeForecaster, summary_features
from kabucast.forecast.torch_model import TorchForecaster, predict_network

TINY = {"hidden": 8, "lstm_layers": 1, "mlp": [16], "sector_dim": 2}
QUICK = {"max_epochs": 1, "batch_size": 64, "patience": 1, "seed": 0}


def halves(samples: ForecastSamples, stride: int = 5) -> tuple[np.ndarray, np.ndarray]:
    idx = np.flatnonzero(samples.date_pos % stride == 0)
    return idx[: len(idx) // 2], idx[len(idx) // 2 :]


def test_the_bilstm_and_its_onnx_export_serve_the_same_forecasts(samples: ForecastSamples, sectors, tmp_path) -> None:
    # GIVEN the BiLSTM built from settings, as `kabucast train` builds it
    model = build_model(TINY, QUICK, sectors.n_ids)
    assert isinstance(model, TorchForecaster) and isinstance(model, TrainableModel)
    train, val = halves(samples)
    # WHEN it is fitted, exported and served by ONNX Runtime
    result = model.fit(SampleSplit(samples, train, val), tmp_path, progress=False)
    parity = model.export(tmp_path / "model.onnx", samples, val[:32])
    served = OnnxModel((tmp_path / "model.onnx").read_bytes(), "v1")
    # THEN both sides of the interface forecast the same (N, 12), and the fit reports what it did
    assert isinstance(served, ForecastModel)
    assert isinstance(result, FitResult) and result.epochs_run >= 1 and result.best_checkpoint.is_file()
    trained, onnx_pred = model.predict(samples, val), served.predict(samples, val)
    assert trained.shape == onnx_pred.shape == (len(val), 12)
    assert parity < 1e-4 and np.abs(trained - onnx_pred).max() < 1e-4
    assert model.describe()["model_kind"] == "bilstm" and model.describe()["train_config"]["batch_size"] == 64


def test_finetune_starts_from_the_checkpoint_it_loads(samples: ForecastSamples, sectors, tmp_path) -> None:
    # GIVEN a fitted model's checkpoint
    model = build_model(TINY, QUICK, sectors.n_ids)
    train, val = halves(samples)
    result = model.fit(SampleSplit(samples, train, val), tmp_path / "fit", progress=False)
    # WHEN it is loaded by the kind model.json names
    loaded = load_trainable({"model_kind": "bilstm"}, result.best_checkpoint, {**QUICK, "lr": 1e-9})
    # THEN it forecasts as the fitted model did, and a fine-tune at a vanishing rate barely moves it
    before = loaded.predict(samples, val)
    assert np.abs(before - model.predict(samples, val)).max() < 1e-6
    loaded.finetune(SampleSplit(samples, train, val), tmp_path / "ft", progress=False)
    assert np.abs(loaded.predict(samples, val) - before).max() < 1e-3


def test_a_quantile_model_is_calibrated_served_calibrated_and_fine_tuned_with_its_calibration(
    samples: ForecastSamples, sectors, tmp_path
) -> None:
    # GIVEN a BiLSTM with a 0.1 / 0.5 / 0.9 head, fitted on the earlier half and validated on the later one
    levels = (0.1, 0.5, 0.9)
    model = build_model({**TINY, "quantiles": list(levels)}, QUICK, sectors.n_ids)
    assert isinstance(model, CalibratableModel) and model.quantile_levels == levels  # known before the fit
    train, val = halves(samples)
    split = SampleSplit(samples, train, val)
    result = model.fit(split, tmp_path / "fit", progress=False)
    raw = predict_network(model.network, samples, val, quantiles=True, calibrated=False)
    # WHEN it is calibrated on the later block
    record = calibrate_quantiles(model, split)
    # THEN the block's 10-90 interval holds >= 80 % of its outcomes over the 12 months (it did not before), and
    # the served quantiles are the raw ones rescaled around the unchanged median
    scale = np.array(record["scale"])
    assert record["n_samples"] == len(val) and record["block"][0] == str(samples.dates[val].min().date())
    assert np.mean(record["coverage_calibrated"]) >= 0.8 > np.mean(record["coverage_raw"])
    calibrated = model.predict_quantiles(samples, val)
    np.testing.assert_allclose(calibrated, rescale_quantiles(raw, scale, levels), atol=1e-5)
    np.testing.assert_array_equal(calibrated[..., 1], raw[..., 1])
    mean, both = model.predict_with_quantiles(samples, val)  # one pass, the same two outputs
    np.testing.assert_array_equal(both, calibrated)
    np.testing.assert_array_equal(mean, model.predict(samples, val))
    # AND the ONNX graph carries the calibration, and model.json's description records it
    model.export(tmp_path / "model.onnx", samples, val[:32])
    served = OnnxModel((tmp_path / "model.onnx").read_bytes(), "v1")
    assert np.abs(served.predict_quantiles(samples, val) - calibrated).max() < 1e-4
    assert model.describe()["quantile_calibration"] == record
    # AND a fine-tune loaded with that model.json serves through the same calibration (none without it)
    meta = {"model_kind": "bilstm", "quantile_calibration": record}
    loaded = load_trainable(meta, result.best_checkpoint, QUICK)
    np.testing.assert_allclose(loaded.predict_quantiles(samples, val), calibrated, atol=1e-5)
    assert loaded.describe()["quantile_calibration"] == {**record, "inherited": True}
    bare = load_trainable({"model_kind": "bilstm"}, result.best_checkpoint, QUICK)
    np.testing.assert_allclose(bare.predict_quantiles(samples, val), raw, atol=1e-5)
    assert "quantile_calibration" not in bare.describe()


def test_a_model_trained_without_static_inputs_is_served_zeros(samples: ForecastSamples, exported) -> None:
    # GIVEN the same ONNX file served as a snapshot model and as a static_mode "none" model
    onnx_bytes = exported.path.read_bytes()
    snapshot, blind = OnnxModel(onnx_bytes, "a", "snapshot"), OnnxModel(onnx_bytes, "b", "none")
    idx = np.arange(0, len(samples), max(1, len(samples) // 40))
    batch = samples.take(idx)
    assert np.abs(batch["static"]).sum() > 0  # the samples do carry static features
    # WHEN both score the samples
    zeros = snapshot.predict_arrays(batch["weekly"], 0 * batch["static"], batch["position"], batch["sector_id"])
    # THEN the "none" model sees zeros whatever it is given, the snapshot model sees the features
    np.testing.assert_allclose(blind.predict(samples, idx), zeros, atol=1e-6)
    assert np.abs(snapshot.predict(samples, idx) - zeros).max() > 1e-4
    empty = {k: v[:0] for k, v in batch.items()}
    assert blind.predict_arrays(empty["weekly"], empty["static"], empty["position"], empty["sector_id"]).shape == (
        0,
        12,
    )


def test_a_walk_forward_derives_each_figure_once() -> None:
    # GIVEN a run's result (its fields do not matter here) asked twice for the same derived figure
    result = WalkForward(None, None, None, None, [], None)  # type: ignore[arg-type]
    calls = []
    first = result.derived("k", lambda: calls.append(1) or {"x": 1})
    # THEN it is built once and the same object is returned (summary, report and stderr agree)
    assert result.derived("k", lambda: calls.append(1) or {"x": 2}) is first and calls == [1]


def test_a_split_permutes_training_labels_and_prepares_once(samples: ForecastSamples) -> None:
    train, val = halves(samples)
    order = np.random.default_rng(0).permutation(len(train))
    split = SampleSplit(samples, train, val, order)
    np.testing.assert_array_equal(split.train_target(), samples.target[train][order])
    calls = []
    assert split.prepared("k", lambda: calls.append(1) or "x") == split.prepared("k", lambda: calls.append(1) or "y")
    assert calls == [1]
    with pytest.raises(ValueError, match="permutation"):
        SampleSplit(samples, train, val, np.zeros(len(train), dtype=np.int64))
    np.testing.assert_array_equal(split.val_target(), samples.target[val])  # validation untouched by default


def test_a_blind_control_permutes_the_validation_labels_too(samples: ForecastSamples) -> None:
    train, val = halves(samples)
    rng = np.random.default_rng(1)
    split = SampleSplit(samples, train, val, rng.permutation(len(train)), val_order := rng.permutation(len(val)))
    np.testing.assert_array_equal(split.val_target(), samples.target[val][val_order])
    fit_set, val_set = split_datasets(split)  # what the Lightning loop early-stops on
    np.testing.assert_array_equal(val_set.target, samples.target[val][val_order])
    np.testing.assert_array_equal(fit_set.target, split.train_target())
    with pytest.raises(ValueError, match="val_order"):
        SampleSplit(samples, train, val, None, np.zeros(len(val), dtype=np.int64))


def test_an_unknown_model_kind_is_a_named_config_error(sectors) -> None:
    with pytest.raises(ConfigError, match=r"model kind 'xgb' is not a known model \(known: bilstm"):
        build_model({"kind": "xgb"}, {}, sectors.n_ids)
    with pytest.raises(ConfigError, match=r"training\.no_such_key"):
        build_model(TINY, {"no_such_key": 1}, sectors.n_ids)


class MeanModel:
    """A second kind of model: forecasts the training labels' mean per horizon, for every sample."""

    seed, min_train_samples = 0, 2

    def __init__(self) -> None:
        self.mean = np.zeros(12, dtype=np.float32)

    def fit(self, split: SampleSplit, work_dir: Path, progress: bool = True, callbacks: Any = ()) -> FitResult:
        self.mean = split.train_target().mean(axis=0).astype(np.float32)
        return FitResult(work_dir / "none", 0.0, 0, {})

    finetune = fit

    def predict(self, samples: ForecastSamples, idx: np.ndarray) -> np.ndarray:
        return np.tile(self.mean, (len(idx), 1))

    def export(self, path: Path, samples: ForecastSamples, idx: np.ndarray) -> float:
        """weekly -> Shape -> batch size -> Expand(mean, [B, 12]); the other inputs are declared and unused."""
        inputs = [
            helper.make_tensor_value_info("weekly", TensorProto.FLOAT, ["B", 156, 23]),
            helper.make_tensor_value_info("static", TensorProto.FLOAT, ["B", 6]),
            helper.make_tensor_value_info("position", TensorProto.FLOAT, ["B", 2]),
            helper.make_tensor_value_info("sector_id", TensorProto.INT64, ["B"]),
        ]
        consts = {
            "mean": helper.make_tensor("mean", TensorProto.FLOAT, [1, 12], self.mean.tolist()),
            "zero": helper.make_tensor("zero", TensorProto.INT64, [1], [0]),
            "one": helper.make_tensor("one", TensorProto.INT64, [1], [1]),
            "twelve": helper.make_tensor("twelve", TensorProto.INT64, [1], [12]),
        }
        nodes = [
            helper.make_node("Shape", ["weekly"], ["shape"]),
            helper.make_node("Slice", ["shape", "zero", "one"], ["batch"]),
            helper.make_node("Concat", ["batch", "twelve"], ["out_shape"], axis=0),
            helper.make_node("Expand", ["mean", "out_shape"], [OUTPUT_NAME]),
        ]
        output = helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, ["B", 12])
        graph = helper.make_graph(nodes, "mean", inputs, [output], initializer=list(consts.values()))
        onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
        assert tuple(i.name for i in graph.input) == INPUT_NAMES
        return 0.0

    def describe(self) -> dict[str, Any]:
        return {"model_kind": "mean"}


def test_a_second_kind_of_model_plugs_into_walk_forward(
    samples: ForecastSamples, sectors, tmp_path, monkeypatch
) -> None:
    # GIVEN a new kind registered in one place, and a recipe naming it
    def build(model: Mapping[str, Any], training: Mapping[str, Any], n: int, where: str) -> MeanModel:
        return MeanModel()

    monkeypatch.setitem(kinds.MODEL_KINDS, "mean", ModelKind(build, lambda *a: MeanModel()))
    recipe = TrainSettings("local", "u", "s", TrainDataSettings(as_of_stride=5), {"kind": "mean"}, {})
    train, test = halves(samples, stride=1)
    # WHEN walk-forward trains a fold with it (the code path of `kabucast evaluate`)
    models, trained = train_fold(recipe, sectors, samples, Fold("fold-1", train, test), tmp_path)
    served = models["model"]
    # THEN the fold is served from the new model's ONNX file, with the mean of the labels it fitted
    pred = served.predict(samples, test)
    fitted, early_stopping = inner_split(samples, train, recipe, np.random.default_rng(MeanModel.seed))
    assert isinstance(served, OnnxModel) and pred.shape == (len(test), 12)
    assert np.ptp(pred, axis=0).max() == 0  # one forecast for every sample
    np.testing.assert_allclose(pred[0], samples.target[fitted].mean(axis=0), atol=1e-6)
    assert trained["n_train"] == len(fitted) and trained["n_early_stopping"] == len(early_stopping)
    assert trained["epochs_run"] == 0 and set(models) == {"model", "ridge"}  # the ridge baseline, same split
    assert trained["ridge_alpha"] == models["ridge"].alpha


class WholeDatesModel(MeanModel):
    """The mean model as a model of whole cross-sections (the cross-sectional kind's ``whole_dates``): it keeps the
    split it was fitted on."""

    whole_dates = True

    def fit(self, split: SampleSplit, work_dir: Path, progress: bool = True, callbacks: Any = ()) -> FitResult:
        self.split = split
        return super().fit(split, work_dir, progress, callbacks)


@pytest.mark.parametrize("most", [100_000, 30])
def test_walk_forward_early_stops_a_model_of_whole_dates_on_later_whole_dates_purged(
    samples: ForecastSamples, sectors, tmp_path, monkeypatch, most: int
) -> None:
    # GIVEN a kind that learns from cross-sections, and a recipe that caps its samples at ``most``
    model = WholeDatesModel()
    monkeypatch.setitem(kinds.MODEL_KINDS, "dates", ModelKind(lambda *a: model, lambda *a: model))
    data = TrainDataSettings(as_of_stride=2, max_train_samples=most, max_val_samples=most)
    recipe = TrainSettings("local", "u", "s", data, {"kind": "dates"}, {})
    last = samples.date_pos.max()  # the fold trains on all but the last 10 dates (a year of purge must fit)
    train, test = np.flatnonzero(samples.date_pos < last - 10), np.flatnonzero(samples.date_pos >= last - 10)
    # WHEN walk-forward trains a fold with it
    _, trained = train_fold(recipe, sectors, samples, Fold("fold-1", train, test), tmp_path)
    fit, early = model.split.train, model.split.val
    # THEN early stopping is on dates after every fitted date and its purge, not a random share of the same dates
    fit_last, early_first = samples.date_pos[fit].max(), samples.date_pos[early].min()
    assert early_first - fit_last > 252 and trained["n_early_stopping"] == len(early) > 0
    # AND each side holds whole dates: every sample of the fold on each of its dates (capped by dropping dates)
    for side in (fit, early):
        days = np.unique(samples.date_pos[side])
        whole = train[np.isin(samples.date_pos[train], days)]
        assert np.array_equal(np.sort(side), np.sort(whole)) and len(side) <= most
        assert (days % 2 == 0).all()


def planted(samples: ForecastSamples) -> ForecastSamples:
    """The samples with labels that a linear function of the last week's first feature explains (plus noise)."""
    batch = samples.take(np.arange(len(samples)))
    signal = summary_features(batch["weekly"], batch["static"])[:, 0]
    signal = (signal - signal.mean()) / signal.std()
    noise = np.random.default_rng(0).normal(0.0, 1.0, (len(samples), 12))
    target = (0.02 * signal[:, None] * np.arange(1, 13) + 0.02 * noise).astype(np.float32)
    return dataclasses.replace(samples, target=target)


def test_the_ridge_baseline_learns_a_planted_signal_and_not_shuffled_labels(samples: ForecastSamples, tmp_path) -> None:
    # GIVEN labels planted on one summary feature, split in time
    data = planted(samples)
    train, val = halves(data, stride=1)
    # WHEN the ridge is fitted on them, and again on the same inputs with the labels shuffled
    ridge = build_model({"kind": "ridge"}, {"seed": 0}, 0)
    fitted = ridge.fit(SampleSplit(data, train, val), tmp_path / "real", progress=False)
    control = RidgeForecaster()
    order = np.random.default_rng(1).permutation(len(train))
    shuffled = control.fit(SampleSplit(data, train, val, order), tmp_path / "shuffled", progress=False)
    # THEN it ranks the held-out samples by the signal, and the control does not
    assert isinstance(ridge, RidgeForecaster) and isinstance(ridge, TrainableModel)
    assert min(fitted.val_metrics["rankic"]) > 0.3
    assert max(abs(v) for v in shuffled.val_metrics["rankic"]) < 0.15
    assert ridge.alpha in ridge.alphas and fitted.best_checkpoint.name == "ridge.npz"


def test_the_ridge_exports_to_onnx_and_reloads_from_its_checkpoint(samples: ForecastSamples, tmp_path) -> None:
    data = planted(samples)
    train, val = halves(data)
    ridge = RidgeForecaster()
    fitted = ridge.fit(SampleSplit(data, train, val), tmp_path, progress=False)
    # the ONNX graph (slices, means, z-score, MatMul) serves what numpy predicts
    parity = ridge.export(tmp_path / "ridge.onnx", data, val[:64])
    served = OnnxModel((tmp_path / "ridge.onnx").read_bytes(), "ridge")
    assert parity < 1e-4 and np.abs(served.predict(data, val) - ridge.predict(data, val)).max() < 1e-4
    # the fine-tune path loads it by the kind model.json names
    loaded = load_trainable(ridge.describe(), fitted.best_checkpoint, {"seed": 0})
    np.testing.assert_allclose(loaded.predict(data, val), ridge.predict(data, val), atol=1e-6)
    loaded.finetune(SampleSplit(data, train, val), tmp_path / "ft", progress=False)
    assert loaded.alphas == (ridge.alpha,)
    with pytest.raises(ConfigError, match=r"model\.hidden is not a ridge setting"):
        build_model({"kind": "ridge", "hidden": 8}, {}, 0)

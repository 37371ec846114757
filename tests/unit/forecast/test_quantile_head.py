"""The forecaster's quantile head: never crossing, trained by a pinball loss, exported and served with the mean."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import lightning as L
import numpy as np
import onnxruntime as ort
import pandas as pd
import pytest
import torch

from kabucast.evaluation.calibration import baseline_pinball, coverage, pinball, rescale_quantiles
from kabucast.forecast.arrays import fit_normalizer
from kabucast.forecast.document import forecast_document
from kabucast.forecast.export import export_onnx
from kabucast.forecast.forecaster_module import ForecasterModule, TrainConfig, fit, load_forecaster, pinball_loss
from kabucast.forecast.model import BiLSTMForecaster, ForecasterConfig, count_parameters
from kabucast.forecast.normalize import Normalizer
from kabucast.forecast.onnx_model import INPUT_NAMES, ModelLoadError, OnnxForecaster

from .conftest import TINY, planted_dataset, random_batch

LEVELS = (0.1, 0.5, 0.9)
QUANTILED = dataclasses.replace(TINY, quantiles=LEVELS)


def tensors(batch: dict[str, np.ndarray]) -> list[torch.Tensor]:
    return [torch.from_numpy(batch[name]) for name in INPUT_NAMES]


def test_quantiles_never_cross_whatever_the_weights() -> None:
    # GIVEN a quantile head with large random weights (raw outputs of either sign, any size)
    torch.manual_seed(0)
    model = BiLSTMForecaster(QUANTILED).eval()
    with torch.no_grad():
        for p in model.quantile_head.parameters():
            p.normal_(0.0, 5.0)
        mean, q = model.forward_with_quantiles(*tensors(random_batch(64, seed=3)))
    # THEN every horizon's quantiles ascend (steps of softplus(-50) underflow to 0 in float32: never below),
    # and the mean output is the plain forward's
    assert q.shape == (64, 12, 3) and (q.diff(dim=-1) >= 0).all() and (q.diff(dim=-1) > 0).float().mean() > 0.5
    with torch.no_grad():
        assert torch.equal(mean, model(*tensors(random_batch(64, seed=3))))


def test_a_model_without_quantiles_is_unchanged() -> None:
    assert count_parameters(BiLSTMForecaster()) == 658_508  # the default config: no quantile head
    assert count_parameters(BiLSTMForecaster(dataclasses.replace(ForecasterConfig(), quantiles=LEVELS))) == (
        658_508 + 128 * 36 + 36
    )
    with pytest.raises(ValueError, match="ascending"):
        ForecasterConfig(quantiles=(0.9, 0.1))
    with pytest.raises(ValueError, match=r"include 0\.5 and pair up"):
        ForecasterConfig(quantiles=(0.1, 0.9))
    with pytest.raises(ValueError, match="pair up"):
        ForecasterConfig(quantiles=(0.1, 0.5, 0.8))
    with pytest.raises(ValueError, match="no quantile head"):
        BiLSTMForecaster(TINY).forward_with_quantiles(*tensors(random_batch(2)))


def test_pinball_loss_is_smallest_at_the_true_quantile() -> None:
    rng = np.random.default_rng(0)
    target = torch.as_tensor(rng.normal(0.0, 1.0, (20_000, 1)), dtype=torch.float32)
    losses = {
        shift: float(pinball_loss(torch.full((20_000, 1, 1), shift), target, (0.9,))) for shift in (0.8, 1.2816, 1.8)
    }
    assert min(losses, key=losses.get) == 1.2816  # the standard normal's 0.9 quantile
    # and the value: E max(0.9 d, -0.1 d) of a known pair
    assert float(pinball_loss(torch.tensor([[[0.0]]]), torch.tensor([[2.0]]), (0.9,))) == pytest.approx(1.8)


def trained_quantiles(tmp_path: Path, shuffle: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A tiny quantile model trained 8 epochs on planted (or shuffled) targets: its held-out quantiles
    (N, 12, 3), the held-out targets and the training targets."""
    train = planted_dataset(40, 30, seed=0, shuffle_target=shuffle)
    val, test = planted_dataset(20, 30, seed=100, shuffle_target=shuffle), planted_dataset(20, 30, seed=200)
    cfg = TrainConfig(lr=1e-2, batch_size=64, max_epochs=8, patience=10, loss="mse", seed=0)
    L.seed_everything(0, verbose=False)
    module = ForecasterModule(BiLSTMForecaster(QUANTILED, fit_normalizer(train)), cfg)
    model = load_forecaster(fit(module, train, val, cfg, tmp_path, progress=False).best_checkpoint)
    inputs = [torch.from_numpy(np.asarray(a)) for a in (test.weekly, test.static, test.position, test.sector_id)]
    with torch.no_grad():
        _, q = model.forward_with_quantiles(*inputs)
    return q.numpy(), test.target, train.target


def test_a_trained_head_is_calibrated_and_beats_the_unconditional_quantiles(tmp_path: Path) -> None:
    # GIVEN targets = planted signal + N(0, 0.02) noise: the true 10 % / 90 % quantiles are signal -/+ 0.0256
    q, target, train_target = trained_quantiles(tmp_path, shuffle=False)
    # THEN the 10-90 interval holds ~80 % of held-out outcomes (measured 0.82), each tail ~10 %
    inside = coverage(q[..., 0], q[..., 2], target)
    below, above = (target < q[..., 0]).mean(), (target > q[..., 2]).mean()
    print(f"coverage {inside.mean():.3f} ({inside.min():.3f}..{inside.max():.3f}), tails {below:.3f} {above:.3f}")
    assert inside.min() >= 0.7 and inside.max() <= 0.92 and 0.04 <= below <= 0.16 and 0.04 <= above <= 0.16
    # AND its pinball loss is well below the training targets' unconditional quantiles' (measured x0.42)
    ratio = pinball(q, target, LEVELS) / baseline_pinball(train_target, target, LEVELS)
    print(f"pinball / unconditional: {ratio.mean():.3f} ({ratio.min():.3f}..{ratio.max():.3f})")
    assert ratio.max() < 0.7


def test_a_head_trained_on_shuffled_labels_does_not_beat_the_unconditional_quantiles(tmp_path: Path) -> None:
    # GIVEN the same samples with their training and validation targets permuted (no signal left)
    q, target, train_target = trained_quantiles(tmp_path, shuffle=True)
    # THEN on the real held-out targets its pinball loss is no better than the unconditional quantiles'
    ratio = pinball(q, target, LEVELS) / baseline_pinball(train_target, target, LEVELS)
    print(f"shuffled: pinball / unconditional {ratio.mean():.3f} ({ratio.min():.3f}..{ratio.max():.3f})")
    assert ratio.min() > 0.95


def test_export_serves_both_outputs_at_parity(tmp_path: Path) -> None:
    # GIVEN a quantile model exported to ONNX
    torch.manual_seed(1)
    fit_on = random_batch(32, seed=1)
    model = BiLSTMForecaster(QUANTILED, Normalizer.fit(fit_on["weekly"], fit_on["static"])).eval()
    max_diff = export_onnx(model, tmp_path / "model.onnx", random_batch(4, seed=2))
    # WHEN ONNX Runtime serves another batch
    served = OnnxForecaster(tmp_path / "model.onnx")
    batch = random_batch(9, seed=5)
    mean, q = served.predict_with_quantiles(*(batch[name] for name in INPUT_NAMES))
    with torch.no_grad():
        t_mean, t_q = model.forward_with_quantiles(*tensors(batch))
    # THEN both outputs agree with torch to 1e-4, and the levels travel in the file
    assert max_diff <= 1e-4 and served.quantile_levels == LEVELS
    assert np.abs(mean - t_mean.numpy()).max() <= 1e-4 and np.abs(q - t_q.numpy()).max() <= 1e-4
    assert np.array_equal(served.predict(*(batch[name] for name in INPUT_NAMES)), mean)
    names = [o.name for o in ort.InferenceSession(str(tmp_path / "model.onnx")).get_outputs()]
    assert names == ["log_returns", "quantiles"]


def test_the_calibration_layer_is_its_numpy_twin_and_travels_in_the_onnx_graph(tmp_path: Path) -> None:
    # GIVEN a five-level head whose calibration factors pull inner levels past outer ones on some horizons
    levels = (0.1, 0.25, 0.5, 0.75, 0.9)
    torch.manual_seed(2)
    fit_on = random_batch(32, seed=1)
    model = BiLSTMForecaster(
        dataclasses.replace(TINY, quantiles=levels), Normalizer.fit(fit_on["weekly"], fit_on["static"])
    )
    scale = np.random.default_rng(0).uniform(0.2, 4.0, (12, 5))
    scale[:, 2] = 1.0
    batch = random_batch(16, seed=4)
    with torch.no_grad():
        model.eval()
        raw = model.forward_with_quantiles(*tensors(batch), calibrated=False)[1].numpy()
        model.calibration.set_scale(scale)
        calibrated = model.forward_with_quantiles(*tensors(batch))[1].numpy()
    # THEN torch computes what kabucast.evaluation.calibration.rescale_quantiles computes, ascending throughout
    np.testing.assert_allclose(calibrated, rescale_quantiles(raw, scale, levels), atol=1e-6)
    assert (np.diff(calibrated, axis=-1) >= 0).all() and np.abs(calibrated - raw).max() > 1e-3
    # AND the exported graph serves the calibrated quantiles at parity (the factors are constants in it)
    assert export_onnx(model, tmp_path / "model.onnx", batch) <= 1e-4
    served = OnnxForecaster(tmp_path / "model.onnx")
    q = served.predict_with_quantiles(*(batch[name] for name in INPUT_NAMES))[1]
    assert np.abs(q - calibrated).max() <= 1e-4
    # AND the factors are no part of the checkpoint (model.json keeps them), and a wrong shape is refused
    assert not any("calibration" in k for k in model.state_dict())
    with pytest.raises(ValueError, match="shape"):
        model.calibration.set_scale(np.ones((12, 3)))


def test_a_model_without_the_head_serves_no_quantiles(exported) -> None:
    served = OnnxForecaster(exported.path)
    assert served.quantile_levels == ()
    with pytest.raises(ModelLoadError, match="no quantile head"):
        served.predict_with_quantiles(*(random_batch(2)[name] for name in INPUT_NAMES))


def test_the_document_adds_an_interval_per_month_and_keeps_the_seed_fields() -> None:
    ts = pd.Timestamp("2026-11-20")
    log_returns = np.full((1, 12), 0.01)
    quantiles = np.stack([np.full((1, 12), v) for v in (-0.05, 0.01, 0.06)], axis=-1)
    args = (("7203.T",), log_returns, {"7203.T": ts}, {"7203.T": 2000.0}, {}, {}, "v1", ts)
    plain, with_q = forecast_document(*args), forecast_document(*args, quantiles=quantiles, levels=LEVELS)
    month = with_q["predictions"][0]["predictions"][0]
    assert month["interval"] == {
        "coverage": 0.8,
        "low": round(float(np.expm1(-0.05)), 6),
        "high": round(float(np.expm1(0.06)), 6),
        "low_price": round(2000.0 * float(np.exp(-0.05)), 1),
        "high_price": round(2000.0 * float(np.exp(0.06)), 1),
    }
    assert month["quantiles"] == {"0.1": round(float(np.expm1(-0.05)), 6), "0.5": 0.01005, "0.9": 0.061837}
    assert with_q["quantile_levels"] == [0.1, 0.5, 0.9]
    # every field of the plain document is there, with the same value
    assert {k: v for k, v in with_q.items() if k != "quantile_levels" and k != "predictions"} == {
        k: v for k, v in plain.items() if k != "predictions"
    }
    for a, b in zip(plain["predictions"][0]["predictions"], with_q["predictions"][0]["predictions"], strict=True):
        assert {k: b[k] for k in a} == a


def test_a_fresh_head_can_start_at_the_unconditional_quantiles() -> None:
    # GIVEN per-horizon quantiles that widen with the horizon, as the training targets' do
    start = np.stack([np.linspace(-0.05, -0.3, 12), np.zeros(12), np.linspace(0.06, 0.35, 12)], axis=1)
    model = BiLSTMForecaster(QUANTILED).eval()
    # WHEN the head starts there with its weights zeroed (the fit shrinks them to a tenth instead)
    model.quantile_head.start_at(start, weight_scale=0.0)
    with torch.no_grad():
        _, q = model.forward_with_quantiles(*tensors(random_batch(5, seed=4)))
    # THEN every sample's quantiles are those, to float precision
    assert np.abs(q.numpy() - start[None]).max() < 1e-6

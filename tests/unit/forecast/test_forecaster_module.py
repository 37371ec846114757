"""Training: windowed samples, a planted signal is learnt and a shuffled one is not, runs repeat exactly."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import lightning as L
import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from kabucast.data.sources.sample_market import SampleMarketSource
from kabucast.features import PricePanel, weekly_feature_history
from kabucast.forecast.arrays import ArrayDataset, WindowedArrays, fit_normalizer
from kabucast.forecast.forecaster_module import (
    ForecasterModule,
    TrainConfig,
    batch_pearson,
    fit,
    load_forecaster,
    pred_std_shortfall,
)
from kabucast.forecast.interface import FitResult
from kabucast.forecast.model import BiLSTMForecaster, ForecasterConfig
from kabucast.forecast.normalize import Normalizer

from .conftest import TINY, planted_dataset

FAST = TrainConfig(lr=1e-2, batch_size=64, max_epochs=5, patience=10, loss="mse", seed=0)


def windowed(seed: int = 0) -> WindowedArrays:
    """3 tickers x 170 weeks; 8 samples ending anywhere from the first possible week to the last."""
    rng = np.random.default_rng(seed)
    weeks = rng.normal(size=(3, 170, 23)).astype(np.float32)
    ends = np.array([155, 156, 160, 170, 155, 170, 163, 158])
    return WindowedArrays(weeks, np.array([0, 0, 1, 1, 2, 2, 0, 1]), ends, rng.normal(size=(8, 23)).astype(np.float32))


def train_tiny(
    train: ArrayDataset, val: ArrayDataset, cfg: TrainConfig, out: Path
) -> tuple[FitResult, ForecasterModule]:
    L.seed_everything(cfg.seed, verbose=False)
    module = ForecasterModule(BiLSTMForecaster(TINY, fit_normalizer(train)), cfg)
    return fit(module, train, val, cfg, out, progress=False), module


def test_windowed_samples_equal_the_materialised_ones() -> None:
    # GIVEN per-ticker weeks plus per-sample (ticker, end, last row)
    arrays = windowed()
    # WHEN a sample is built THEN it is the 155 weeks before its end followed by its own last row
    for i in range(len(arrays)):
        t, end = arrays.ticker_idx[i], arrays.week_end_idx[i]
        expected = np.concatenate([arrays.weeks[t, end - 155 : end], arrays.last_row[i, None]])
        np.testing.assert_array_equal(arrays[i], expected)
    np.testing.assert_array_equal(arrays.windows(np.arange(8))[3], arrays[3])


def test_windowed_arrays_reproduce_a_feature_history() -> None:
    # GIVEN the weekly feature history of two sample-market tickers over 4 years
    source = SampleMarketSource(["7203.T", "6758.T"], ["Consumer Cyclical", "Technology"], seed=3)
    fetched = source.fetch_prices(["7203.T", "6758.T"], pd.Timestamp("2018-01-04"), pd.Timestamp("2021-12-30"))
    panel = PricePanel.from_frames(dict(fetched.frames), ["7203.T", "6758.T"])
    history = weekly_feature_history(panel, panel.dates[-300:])
    date_pos, ticker_pos = np.nonzero(history.weeks_available >= 156)
    # WHEN its samples are wrapped as windowed arrays THEN they are the history's own windows
    arrays = WindowedArrays.from_history(history, date_pos, ticker_pos)
    assert len(arrays) == len(date_pos) > 100
    np.testing.assert_array_equal(arrays.windows(np.arange(len(arrays))), history.windows(date_pos, ticker_pos))


def test_windowed_normalizer_equals_the_materialised_one() -> None:
    # GIVEN the same samples windowed and materialised
    arrays = windowed()
    static = np.random.default_rng(1).normal(size=(8, 6)).astype(np.float32)
    materialised = arrays.windows(np.arange(8))  # (8, 156, 23)
    rest = (static, np.zeros((8, 2)), np.zeros(8), np.zeros((8, 12)), np.zeros(8))
    # WHEN each fits a normalizer THEN the statistics agree (weeks no sample reaches do not count)
    a, b = fit_normalizer(ArrayDataset(arrays, *rest)), Normalizer.fit(materialised, static)
    torch.testing.assert_close(a.weekly_mean, b.weekly_mean)
    torch.testing.assert_close(a.weekly_std, b.weekly_std)


def test_windows_out_of_range_are_refused() -> None:
    arrays = windowed()
    with pytest.raises(ValueError, match=r"week_end_idx must lie in \[155, 170\]"):
        WindowedArrays(arrays.weeks, arrays.ticker_idx, arrays.week_end_idx - 1, arrays.last_row)


def test_dataset_refuses_arrays_of_different_lengths() -> None:
    with pytest.raises(ValueError, match="same number of samples"):
        ArrayDataset(
            np.zeros((3, 156, 23)), np.zeros((3, 6)), np.zeros((3, 2)), np.zeros(3), np.zeros((2, 12)), np.zeros(3)
        )


def test_a_planted_signal_is_learnt_and_a_shuffled_one_is_not(tmp_path: Path) -> None:
    # GIVEN targets = 0.05 x last week's feature 0 + noise, and the same targets shuffled across samples
    val = planted_dataset(n_dates=20, n_tickers=30, seed=100)
    planted = planted_dataset(n_dates=40, n_tickers=30, seed=0)
    shuffled = planted_dataset(n_dates=40, n_tickers=30, seed=0, shuffle_target=True)
    # WHEN the tiny model trains 5 epochs on each
    learnt, _ = train_tiny(planted, val, FAST, tmp_path / "planted")
    null, _ = train_tiny(shuffled, val, FAST, tmp_path / "shuffled")
    # THEN validation RankIC is high with the signal (measured ~0.89) and near 0 without (measured -0.05..0.08)
    assert np.mean(learnt.val_metrics["rankic"]) > 0.6
    assert abs(np.mean(null.val_metrics["rankic"])) < 0.2
    assert min(learnt.val_metrics["pred_std"]) > 0.01
    assert learnt.epochs_run == 5
    assert learnt.best_checkpoint == tmp_path / "planted" / "checkpoints" / "best_model.ckpt"


def test_fit_logs_metrics_and_leaves_a_loadable_best_checkpoint(tmp_path: Path) -> None:
    # GIVEN a short run
    train, val = planted_dataset(10, 30, seed=0), planted_dataset(5, 30, seed=1)
    cfg = TrainConfig(batch_size=64, max_epochs=2, seed=3)
    result, module = train_tiny(train, val, cfg, tmp_path)
    # THEN the per-epoch log has the per-horizon metrics
    log = pd.read_csv(next(tmp_path.glob("logs/*/metrics.csv")))
    assert {"train_loss", "val_loss", "val_rankic_h1", "val_ic_h12", "val_pred_std_min", "val_rankic_mean"} <= set(log)
    assert result.best_score == pytest.approx(log["val_loss"].min())
    # AND the checkpoint rebuilds the model that fit left in the module (the best one)
    batch = {k: torch.from_numpy(np.asarray(v)) for k, v in train[0].items()}
    args = [batch[k][None] for k in ("weekly", "static", "position", "sector_id")]
    with torch.no_grad():
        torch.testing.assert_close(load_forecaster(result.best_checkpoint)(*args), module.model.eval()(*args))
    assert "val RankIC" in result.summary()


def test_two_fits_with_the_same_seed_give_identical_weights(tmp_path: Path) -> None:
    train, val = planted_dataset(10, 30, seed=0), planted_dataset(5, 30, seed=1)
    cfg = TrainConfig(batch_size=32, max_epochs=2, seed=7)
    _, first = train_tiny(train, val, cfg, tmp_path / "a")
    _, second = train_tiny(train, val, cfg, tmp_path / "b")
    _, other = train_tiny(train, val, replace(cfg, seed=8), tmp_path / "c")
    a, b, c = first.model.state_dict(), second.model.state_dict(), other.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)  # the check can fail: another seed, other weights


def test_train_config_refuses_an_unknown_loss() -> None:
    with pytest.raises(ValueError, match="'huber' or 'mse'"):
        TrainConfig(loss="mae")  # type: ignore[arg-type]


def test_horizon_scale_balances_short_and_long_horizons() -> None:
    # GIVEN targets whose std grows with the horizon, as monthly log returns do
    target_std = tuple(0.08 * np.sqrt(np.arange(1, 13)))
    model = BiLSTMForecaster(ForecasterConfig(hidden=8, lstm_layers=1, mlp=(8,)))
    plain = ForecasterModule(model, FAST)
    balanced = ForecasterModule(model, FAST, target_std)
    err = torch.zeros(4, 12)
    err[:, 0] = 0.05  # the same error on the 1-month horizon only
    # WHEN the loss is computed THEN the balanced loss weighs that 1-month error more than the plain one
    assert balanced.loss(err, torch.zeros_like(err)) > plain.loss(err, torch.zeros_like(err))
    # AND an error on the 12-month horizon weighs less
    err12 = torch.zeros(4, 12)
    err12[:, 11] = 0.05
    assert balanced.loss(err12, torch.zeros_like(err12)) < plain.loss(err12, torch.zeros_like(err12))
    # AND the checkpoint does not carry the scale (a fine-tune recomputes it from its own targets)
    assert "horizon_scale" not in balanced.state_dict()


def test_pred_std_shortfall_is_zero_above_the_floor_and_one_for_constant_outputs() -> None:
    # GIVEN a batch with a wide spread and a constant batch
    spread = torch.linspace(-0.1, 0.1, 32)[:, None].repeat(1, 12)  # std ~0.058 per horizon
    constant = torch.full((32, 12), 0.03)
    # WHEN the shortfall below a 0.01 floor is measured THEN it is 0 for the spread and 1 for the constant
    assert pred_std_shortfall(spread, 0.01).item() == 0.0
    assert pred_std_shortfall(constant, 0.01).item() == pytest.approx(1.0)


def test_batch_pearson_matches_numpy_per_horizon() -> None:
    # GIVEN predictions and targets of 64 samples x 3 horizons
    rng = np.random.default_rng(0)
    pred, target = rng.normal(size=(64, 3)), rng.normal(size=(64, 3))
    target[:, 0] = 2 * pred[:, 0] + 1  # a perfect linear relation at horizon 1
    # WHEN the batch Pearson is taken THEN it equals numpy's correlation per horizon
    corr = batch_pearson(torch.tensor(pred), torch.tensor(target)).numpy()
    expected = [np.corrcoef(pred[:, h], target[:, h])[0, 1] for h in range(3)]
    np.testing.assert_allclose(corr, expected, atol=1e-6)
    assert corr[0] == pytest.approx(1.0, abs=1e-6)


def test_default_training_loss_is_the_plain_regression_loss() -> None:
    # GIVEN a module with the default config (every anti-collapse weight 0)
    module = ForecasterModule(BiLSTMForecaster(TINY), TrainConfig(loss="mse"))
    pred, target = torch.randn(16, 12), torch.randn(16, 12)
    # WHEN the training loss is built THEN it has one term, the plain loss
    terms = module.training_loss(pred, target)
    assert list(terms) == ["fit"]
    assert terms["fit"].item() == pytest.approx(F.mse_loss(pred, target).item())


def test_anti_collapse_terms_penalise_constant_outputs_and_reward_correlation() -> None:
    # GIVEN a module with the variance and RankIC terms on, and targets with a spread
    cfg = TrainConfig(loss="mse", pred_var_weight=0.5, rankic_weight=0.3, pred_std_floor=0.01)
    module = ForecasterModule(BiLSTMForecaster(TINY), cfg)
    target = torch.linspace(-0.1, 0.1, 32)[:, None].repeat(1, 12)
    # WHEN the outputs are constant THEN the variance term is its full weight and RankIC gives no credit
    flat = module.training_loss(torch.zeros(32, 12), target)
    assert flat["pred_var"].item() == pytest.approx(0.5)
    assert flat["rankic"].item() == pytest.approx(0.3)
    # WHEN the outputs are the targets THEN both terms vanish
    perfect = module.training_loss(target.clone(), target)
    assert perfect["pred_var"].item() == 0.0
    assert perfect["rankic"].item() == pytest.approx(0.0, abs=1e-6)


def test_output_noise_applies_in_training_loss_only_when_configured() -> None:
    # GIVEN a module with output noise and exact predictions
    module = ForecasterModule(BiLSTMForecaster(TINY), TrainConfig(loss="mse", output_noise_std=0.05))
    target = torch.randn(256, 12) * 0.1
    torch.manual_seed(0)
    # WHEN the training loss is built THEN the regression term is the noise's variance (~0.05^2)
    assert module.training_loss(target.clone(), target)["fit"].item() == pytest.approx(0.0025, rel=0.1)


def test_negative_anti_collapse_weights_are_refused() -> None:
    with pytest.raises(ValueError, match="pred_var_weight"):
        TrainConfig(pred_var_weight=-1.0)

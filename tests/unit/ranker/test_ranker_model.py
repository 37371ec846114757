"""The patch encoder's shapes, the loss terms, the LightGBM baseline's importance and a tiny deterministic fit."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import numpy as np
import pandas as pd
import pytest
import torch
from scipy.stats import spearmanr

from kabucast import compute
from kabucast.ranker.arrays import PanelArray
from kabucast.ranker.baseline import BaselineSettings, fit_baseline, permutation_importance, predict_baseline
from kabucast.ranker.loader import CrossSectionDataset, date_sampler, make_loader, write_arrays
from kabucast.ranker.losses import LossWeights, cross_section_loss, rank_ic, variance_penalty
from kabucast.ranker.model import PatchModelSettings, build_model
from kabucast.ranker.neural import RankerModule, fit, load_ranker, score_dates
from kabucast.ranker.runs import FitSettings

TINY = PatchModelSettings(patch_len=4, d_model=16, depth=1, heads=2, dropout=0.0)


def test_the_encoder_scores_every_window_for_every_horizon() -> None:
    model = build_model(n_features=5, lookback=12, horizons=(1, 5, 10, 20), settings=TINY)
    assert model(torch.randn(7, 12, 5)).shape == (7, 4)  # (B, L, F) -> (B, H)
    with pytest.raises(ValueError, match="multiple of patch_len"):
        build_model(5, 10, (1,), TINY)


def test_the_rankic_term_is_spearman_for_monotone_scores_and_differentiable() -> None:
    target = torch.randn(200)
    scores = (2 * target + 0.5 * torch.randn(200)).requires_grad_()
    ranked_scores = torch.argsort(torch.argsort(scores.detach())).float()
    expected = spearmanr(scores.detach().numpy(), target.numpy()).statistic
    assert rank_ic(ranked_scores, target).item() == pytest.approx(expected, abs=1e-5)
    rank_ic(scores, target).backward()
    assert scores.grad is not None and torch.isfinite(scores.grad).all()


def test_the_variance_penalty_bites_only_below_the_floor() -> None:
    assert variance_penalty(torch.full((50,), 3.0), 0.1).item() == pytest.approx(0.01)
    assert variance_penalty(torch.randn(50), 0.1).item() == 0.0


def test_the_loss_skips_unknown_targets_and_rewards_the_right_order() -> None:
    target = torch.randn(100, 2)
    target[:10, 1] = float("nan")
    good = cross_section_loss(target.nan_to_num(0.0), target, LossWeights())
    bad = cross_section_loss(-target.nan_to_num(0.0), target, LossWeights())
    assert torch.isfinite(good["loss"]) and good["loss"] < bad["loss"]
    assert good["rankic"].item() > 0.9
    empty = cross_section_loss(torch.zeros(5, 2, requires_grad=True), torch.full((5, 2), float("nan")), LossWeights())
    assert empty["loss"].item() == 0.0


def planted(n_dates: int = 120, n_stocks: int = 60, n_features: int = 4, seed: int = 0):
    """Features (T, N, F) and targets (T, N, 2): feature 0 predicts both horizons, the others are noise."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n_dates, n_stocks, n_features)).astype(np.float32)
    y = (0.5 * x[:, :, :1] + rng.standard_normal((n_dates, n_stocks, 2))).astype(np.float32)
    return x, y


def test_permutation_importance_finds_the_informative_feature() -> None:
    x, y = planted()
    models = fit_baseline(x[:80], y[:80], BaselineSettings(n_estimators=30, min_child_samples=20, n_jobs=1))
    scores = predict_baseline(models, x[80:])
    assert scores.shape == (40, 60, 2)
    table = permutation_importance(lambda f: predict_baseline(models[:1], f)[:, :, 0], x[80:], y[80:, :, 0], "abcd")
    assert table.index[0] == "a" and table.loc["a", "drop"] > 0.2 and abs(table.loc["d", "drop"]) < 0.05


def test_a_tiny_fit_learns_and_repeats_with_its_seed(tmp_path: Path, capsys) -> None:
    x, y = planted(n_dates=60, n_stocks=40)
    dates = pd.bdate_range("2024-01-01", periods=60, name="date")
    tickers = tuple(f"S{i}.T" for i in range(40))
    features = PanelArray(dates, tickers, tuple("abcd"), ("g",) * 4, x, "zscore")
    targets = PanelArray(dates, tickers, ("fwd_1", "fwd_5"), ("target",) * 2, y)
    arrays = write_arrays(features, targets, tmp_path / "arrays")
    settings = FitSettings(max_epochs=3, patience=3, lr=5e-3)

    def run(out: str, lines: bool = False) -> tuple[float, np.ndarray]:
        L.seed_everything(0, workers=True, verbose=False)
        module = RankerModule(build_model(4, 8, (1, 5), TINY), LossWeights(), settings)
        train = CrossSectionDataset(arrays.directory, np.arange(7, 45), 8)
        test = CrossSectionDataset(arrays.directory, np.arange(45, 60), 8)
        result = fit(
            module,
            make_loader(train, date_sampler(len(train), True), 0),
            make_loader(test, date_sampler(len(test), False), 0),
            tmp_path / out,
            progress=lines,
            desc="fold 1/1",
        )
        reloaded = load_ranker(result.best_checkpoint)
        return result.best_score, score_dates(reloaded, make_loader(test, date_sampler(len(test), False), 0))

    score, scores = run("a")
    assert score > 0.15 and scores.shape == (15, 40, 2)
    capsys.readouterr()
    again, scores_again = run("b", lines=True)  # progress lines change nothing about the fit
    assert again == score and np.array_equal(scores, scores_again)
    epochs = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("[fold 1/1] epoch ")]
    assert [ln.split(":")[0] for ln in epochs] == [f"[fold 1/1] epoch {e}/3" for e in (1, 2, 3)]
    assert all("val_score" in ln for ln in epochs)


@pytest.mark.parametrize(("n_jobs", "cores", "threads"), [(None, 2, 1), (None, 8, 4), (3, 2, 3)])
def test_lightgbm_takes_the_thread_policy_unless_told(monkeypatch, n_jobs, cores, threads) -> None:
    # GIVEN a machine with `cores` cores WHEN the baseline is fitted THEN each booster runs on `threads` threads
    monkeypatch.setattr(compute, "available_cores", lambda: cores)
    x, y = planted(n_dates=30, n_stocks=20)
    models = fit_baseline(x, y, BaselineSettings(n_estimators=2, min_child_samples=20, n_jobs=n_jobs))
    assert [m.params["num_threads"] for m in models] == [threads, threads]

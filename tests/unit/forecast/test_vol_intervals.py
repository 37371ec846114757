"""Risk-scaled bands for a point forecaster: a volatile stock gets a wider band than a quiet one, the band
holds its nominal share on later outcomes whose noise follows each stock's volatility, and the ONNX graph
serves the same quantiles."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from kabucast.config import TrainDataSettings, TrainSettings
from kabucast.errors import ConfigError
from kabucast.evaluation.calibration import coverage
from kabucast.experiments.folds import Fold
from kabucast.experiments.walkforward import train_fold
from kabucast.forecast.interface import SampleSplit, calibrate_quantiles
from kabucast.forecast.kinds import build_model, load_trainable
from kabucast.forecast.onnx_model import OnnxModel
from kabucast.forecast.ridge_model import RidgeForecaster
from kabucast.forecast.vol_intervals import Bands, VolScaledIntervals, check_levels, risk

LEVELS = (0.1, 0.5, 0.9)


def heteroscedastic(samples, seed: int = 0):
    """Labels of pure noise whose standard deviation is each sample's own risk (rvol_13w) x 0.3 x sqrt(month)."""
    sigma = risk(samples.take(np.arange(len(samples)))["weekly"])
    rng = np.random.default_rng(seed)
    noise = rng.normal(size=(len(samples), 12)) * sigma[:, None] * 0.3 * np.sqrt(np.arange(1, 13))
    return dataclasses.replace(samples, target=noise.astype(np.float32)), sigma


def test_bands_follow_each_stocks_risk_and_hold_on_later_outcomes(samples, tmp_path) -> None:
    data, sigma = heteroscedastic(samples)
    order = np.argsort(data.date_pos, kind="stable")
    train, val, test = np.array_split(order, 3)  # in time: fit, calibrate, then judge on later dates
    model = VolScaledIntervals(RidgeForecaster(seed=0), LEVELS)
    split = SampleSplit(data, train, val)
    model.fit(split, tmp_path / "fit", progress=False)
    record = calibrate_quantiles(model, split, log=lambda line: None)
    assert record is not None and record["interval"] == [0.1, 0.9]
    _, q = model.predict_with_quantiles(data, test)
    width = q[:, :, -1] - q[:, :, 0]
    # THEN a band is as wide as its stock is risky (the ridge's point forecast barely moves) ...
    assert np.corrcoef(width[:, 0], sigma[test])[0, 1] > 0.99
    # ... and the 80 % band holds 80 % of the later outcomes, in the quiet half and in the volatile half
    quiet = sigma[test] <= np.median(sigma[test])
    for part in (quiet, ~quiet):
        cover = coverage(q[part, :, 0], q[part, :, -1], data.target[test][part])
        assert abs(cover.mean() - 0.8) < 0.03 and (np.abs(cover - 0.8) < 0.1).all(), cover  # ~470 outcomes each
    # a band of one width for all (the control) misses the split: too wide on quiet names, too narrow on volatile
    flat_q = model.bands.quantiles(model.predict(data, test), np.full(len(test), np.median(sigma[val])))
    loud = coverage(flat_q[~quiet, :, 0], flat_q[~quiet, :, -1], data.target[test][~quiet])
    assert loud.mean() < 0.72, loud
    # AND the exported graph serves the same log returns and quantiles, its levels in its metadata
    parity = model.export(tmp_path / "model.onnx", data, test[:64])
    assert parity < 1e-4
    served = OnnxModel((tmp_path / "model.onnx").read_bytes(), "test", "none")
    assert served.quantile_levels == LEVELS
    _, quantiles = served.predict_with_quantiles(data, test[:200])
    np.testing.assert_allclose(quantiles, q[:200], atol=1e-4)
    assert model.describe()["model_config"]["quantiles"] == list(LEVELS)


def test_levels_must_be_central_intervals_around_a_median() -> None:
    assert check_levels([0.05, 0.5, 0.95], "x") == (0.05, 0.5, 0.95)
    with pytest.raises(ConfigError, match=r"symmetric around 0\.5"):
        check_levels([0.1, 0.5, 0.8], "x")
    with pytest.raises(ConfigError, match="must include the median"):
        check_levels([0.1, 0.9], "x")


def test_quantiles_in_a_kinds_settings_give_it_bands_in_walk_forward_and_after_a_reload(samples, sectors, tmp_path):
    data, _ = heteroscedastic(samples, seed=3)
    model = {"kind": "ridge", "quantiles": [0.1, 0.5, 0.9]}
    recipe = TrainSettings("local", "u", "s", TrainDataSettings(as_of_stride=1, val_fraction=0.1), model, {"seed": 1})
    order = np.argsort(data.date_pos, kind="stable")
    train, test = order[: len(order) * 9 // 10], order[len(order) * 9 // 10 :]
    # WHEN walk-forward trains a fold with it (a quantile recipe: fitted, then calibrated on a later purged block)
    models, trained = train_fold(recipe, sectors, data, Fold("fold-1", train, test), tmp_path)
    # THEN the served fold has bands, calibrated on the block the fold records
    served = models["model"]
    assert isinstance(served, OnnxModel) and served.quantile_levels == LEVELS
    assert trained["quantile_calibration"]["method"].startswith("risk-scaled conformal")
    _, q = served.predict_with_quantiles(data, test)
    assert (q[:, :, 0] < q[:, :, 2]).all()
    # AND a stored version reloads with its calibration, to fine-tune and serve the same bands
    built = build_model(model, {"seed": 1}, sectors.n_ids)
    assert isinstance(built, VolScaledIntervals) and isinstance(built.inner, RidgeForecaster)
    split = SampleSplit(data, train[: len(train) // 2], train[len(train) // 2 :])
    built.fit(split, tmp_path / "fit", progress=False)
    built.calibrate_quantiles(split)
    meta = built.describe()
    again = load_trainable(meta, tmp_path / "fit" / "ridge.npz", {"seed": 1})
    assert isinstance(again, VolScaledIntervals)
    np.testing.assert_allclose(
        again.predict_quantiles(data, test[:50]), built.predict_quantiles(data, test[:50]), atol=1e-5
    )


def test_the_markets_part_comes_from_every_date_seen_so_a_calm_calibration_block_does_not_narrow_the_band(
    samples, tmp_path
) -> None:
    # GIVEN outcomes that are each stock's own noise plus a market move every stock of the date shares, large
    # in the fit's years and in the later test, but calm in the calibration block
    data, sigma = heteroscedastic(samples, seed=5)
    order = np.argsort(data.date_pos, kind="stable")
    n = len(order)
    train, val, test = order[: n * 6 // 10], order[n * 6 // 10 : n * 8 // 10], order[n * 8 // 10 :]
    dates, codes = np.unique(data.date_pos, return_inverse=True)
    market = np.random.default_rng(6).normal(size=(len(dates), 12)) * 0.4 * np.sqrt(np.arange(1, 13) / 12)
    calm = np.isin(dates, data.date_pos[val])
    market[calm] *= 0.1
    data = dataclasses.replace(data, target=(data.target + market[codes]).astype(np.float32))
    model = VolScaledIntervals(RidgeForecaster(seed=0), LEVELS)
    split = SampleSplit(data, train, val)
    model.fit(split, tmp_path / "fit", progress=False)
    model.calibrate_quantiles(split)
    # WHEN the bands forecast the later dates
    mean, q = model.predict_with_quantiles(data, test)
    cover = coverage(q[:, :, 0], q[:, :, -1], data.target[test])
    # THEN they hold about 80 % at the long horizons, where the market's move is most of the outcome's
    # (~70 test dates, one market move each, and ~280 dates and a 140-sample block to fit on: a few points of noise)
    assert cover[5:].mean() > 0.72 and abs(cover.mean() - 0.8) < 0.07, cover
    # while bands fitted on the calm block alone (its residuals per unit of risk: the previous rule) miss far more
    z = (data.target[val] - model.predict(data, val)) / sigma[val, None]
    block_only = np.quantile(z, LEVELS, axis=0).T  # (12, Q)
    q_block = mean[:, :, None] + block_only[None] * sigma[test, None, None]
    narrow = coverage(q_block[:, :, 0], q_block[:, :, -1], data.target[test])
    assert narrow[5:].mean() < cover[5:].mean() - 0.1, (narrow, cover)
    assert model.calibration["n_market_dates"] == len(np.unique(data.date_pos[np.concatenate([train, val])]))


def test_a_model_json_written_before_the_markets_part_serves_the_bands_it_was_calibrated_with() -> None:
    # GIVEN the calibration a stored version recorded before the market's part: one scale per month and level
    scale = np.sort(np.random.default_rng(0).normal(size=(12, 3)), axis=1)
    bands = Bands.from_record({"scale": scale.tolist()}, LEVELS)
    mean, sigma = np.random.default_rng(1).normal(size=(5, 12)), np.array([0.1, 0.2, 0.3, 0.5, 0.05])
    # THEN its quantiles are the forecast plus that scale times the stock's risk, as that version served them
    np.testing.assert_allclose(bands.quantiles(mean, sigma), mean[:, :, None] + scale[None] * sigma[:, None, None])


def test_bands_around_a_model_of_whole_dates_keep_it_one() -> None:
    # the wrapper must not hide what the inner model learns from: runs cap and split its samples by whole dates
    from kabucast.forecast.interface import trains_on_whole_dates

    crosses = build_model({"kind": "cross_sectional", "hidden": 8, "heads": 2, "quantiles": [0.1, 0.5, 0.9]}, {}, 12)
    ridge = build_model({"kind": "ridge", "quantiles": [0.1, 0.5, 0.9]}, {}, 12)
    assert isinstance(crosses, VolScaledIntervals) and trains_on_whole_dates(crosses)
    assert isinstance(ridge, VolScaledIntervals) and not trains_on_whole_dates(ridge)

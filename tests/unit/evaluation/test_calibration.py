"""Calibration metrics: coverage, pinball loss and the unconditional-quantile baseline, per horizon."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm

from kabucast.evaluation.calibration import (
    baseline_pinball,
    conformal_scale,
    coverage,
    daily_coverage,
    median_index,
    pinball,
    rescale_quantiles,
    unconditional_quantiles,
)

LEVELS = (0.1, 0.5, 0.9)


def test_true_quantiles_cover_their_share_and_beat_the_unconditional_ones() -> None:
    # GIVEN outcomes = location + N(0, 1) noise, on two horizons, and the true conditional quantiles
    rng = np.random.default_rng(0)
    location = rng.normal(0.0, 2.0, (40_000, 2))
    target = location + rng.normal(size=(40_000, 2))
    true_q = location[..., None] + norm.ppf(LEVELS)  # (N, 2, 3)
    # THEN the 10-90 interval covers 80 % per horizon, and its pinball loss is below the unconditional one
    assert coverage(true_q[..., 0], true_q[..., 2], target) == pytest.approx([0.8, 0.8], abs=0.01)
    train = location + rng.normal(size=(40_000, 2))
    fixed = baseline_pinball(train, target, LEVELS)
    assert np.all(pinball(true_q, target, LEVELS) < 0.6 * fixed)
    # AND the baseline is the training targets' empirical quantiles, the same for every sample
    assert unconditional_quantiles(train, LEVELS).shape == (2, 3)
    assert unconditional_quantiles(train, LEVELS)[0, 1] == pytest.approx(np.median(train[:, 0]))


def test_unknown_targets_are_left_out() -> None:
    q = np.zeros((4, 1, 3))
    target = np.array([[0.0], [np.nan], [1.0], [-1.0]])
    assert coverage(q[..., 0], q[..., 2], target)[0] == pytest.approx(1 / 3)
    # pinball of 0 quantiles: 0 for the 0 target; |d| x (0.9 + 0.5 + 0.1)/3 for +1, (0.1 + 0.5 + 0.9)/3 for -1
    assert pinball(q, target, LEVELS)[0] == pytest.approx((0 + 0.5 + 0.5) / 3)


def overconfident(n: int, seed: int, width: float) -> tuple[np.ndarray, np.ndarray]:
    """Quantiles of a model that knows each outcome's location and relative spread but whose intervals are
    ``width`` times the true ones, and outcomes ~ location + spread x N(0, 1) on two horizons."""
    rng = np.random.default_rng(seed)
    location = rng.normal(0.0, 1.0, (n, 2))
    spread = rng.uniform(0.5, 2.0, (n, 2))
    target = location + spread * rng.normal(size=(n, 2))
    return location[..., None] + width * spread[..., None] * norm.ppf(LEVELS), target


def test_conformal_scale_calibrates_intervals_on_the_block_and_on_new_outcomes() -> None:
    # GIVEN a model whose 10-90 intervals are half as wide as they should be (they cover ~48 %: 2 Phi(0.5 x 1.2816) - 1)
    raw, target = overconfident(20_000, seed=1, width=0.5)
    assert coverage(raw[..., 0], raw[..., 2], target) == pytest.approx([0.478, 0.478], abs=0.01)
    # WHEN the factors are taken on this calibration block
    scale = conformal_scale(raw, target, LEVELS)
    # THEN both tails stretch by ~2 (the true ratio), on every horizon alike; the median stays; and the
    # block's outcomes are covered >= 80 %, each tail holding ~10 % (the noise is symmetric)
    assert scale[:, 1] == pytest.approx([1.0, 1.0]) and scale[:, [0, 2]] == pytest.approx(
        np.full((2, 2), 2.0), rel=0.05
    )
    assert len(np.unique(scale[:, 0])) == 1 and np.array_equal(scale[:, 0], scale[:, 2])
    calibrated = rescale_quantiles(raw, scale, LEVELS)
    assert np.array_equal(calibrated[..., 1], raw[..., 1])
    assert coverage(calibrated[..., 0], calibrated[..., 2], target).mean() >= 0.8
    assert (target < calibrated[..., 0]).mean(axis=0) == pytest.approx([0.1, 0.1], abs=0.01)
    # AND new outcomes of the same process are covered 80 % (a too-wide model is narrowed the same way)
    new_raw, new_target = overconfident(20_000, seed=2, width=0.5)
    new = rescale_quantiles(new_raw, scale, LEVELS)
    assert coverage(new[..., 0], new[..., 2], new_target) == pytest.approx([0.8, 0.8], abs=0.015)
    wide_raw, wide_target = overconfident(20_000, seed=3, width=3.0)
    wide = rescale_quantiles(wide_raw, conformal_scale(wide_raw, wide_target, LEVELS), LEVELS)
    assert coverage(wide[..., 0], wide[..., 2], wide_target) == pytest.approx([0.8, 0.8], abs=0.01)


def test_rescaled_quantiles_stay_ascending_and_unknown_targets_are_left_out() -> None:
    # GIVEN five levels and factors that would pull the 0.25 level outside the 0.1 one (and 0.75 past 0.9)
    levels = (0.1, 0.25, 0.5, 0.75, 0.9)
    q = np.array([[[-2.0, -1.0, 0.0, 1.0, 2.0]]])
    out = rescale_quantiles(q, np.array([[1.0, 3.0, 1.0, 3.0, 1.0]]), levels)
    # THEN the outer level takes its inner neighbour's value: never crossing
    assert out.tolist() == [[[-3.0, -3.0, 0.0, 3.0, 3.0]]]
    # AND the factor is taken over the horizons' known outcomes (NaN left out), 1 without any; the levels
    # must pair up around a median
    target = np.array([[0.5, np.nan], [-3.0, np.nan], [1.0, np.nan]])
    raw = np.repeat(q, 3, axis=0)[:, :, [0, 2, 4]].repeat(2, axis=1)  # levels 0.1 / 0.5 / 0.9 at -2 / 0 / 2
    scale = conformal_scale(raw, target, LEVELS)  # scores 0.25, 1.5, 0.5: the 0.8 quantile, high side, is 1.5
    assert scale[:, [0, 2]] == pytest.approx(np.full((2, 2), 1.5), rel=1e-5) and scale[:, 1].tolist() == [1.0, 1.0]
    assert conformal_scale(raw, np.full((3, 2), np.nan), LEVELS).tolist() == [[1.0] * 3] * 2
    with pytest.raises(ValueError, match=r"must include 0\.5 and pair up"):
        conformal_scale(q[..., :2], target[:, :1], (0.1, 0.25))
    with pytest.raises(ValueError, match="pair up"):
        median_index((0.1, 0.5, 0.8))


def test_daily_coverage_is_the_share_inside_per_date() -> None:
    # GIVEN 3 dates (unsorted in the input), an interval [-1, 1] and outcomes, one of them unknown
    dates = np.array([5, 2, 5, 2, 9, 9])
    target = np.array([[0.0], [2.0], [0.5], [0.9], [np.nan], [-3.0]])
    low, high = np.full((6, 1), -1.0), np.full((6, 1), 1.0)
    # THEN per sorted date: 2 -> 1/2 inside, 5 -> 2/2, 9 -> 0/1 (the unknown one left out)
    assert daily_coverage(low, high, target, dates)[:, 0].tolist() == [0.5, 1.0, 0.0]
    assert np.isnan(daily_coverage(low, high, np.full((6, 1), np.nan), dates)).all()

"""Calibration metrics: coverage, pinball loss and the unconditional-quantile baseline, per horizon."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm

from kabucast.evaluation.calibration import baseline_pinball, coverage, pinball, unconditional_quantiles

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

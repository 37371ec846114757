"""Adaptive conformal updating of the intervals: after a change of regime it brings coverage back to nominal
from matured outcomes only; on a calibrated stream it leaves the factors near 1."""

from __future__ import annotations

import numpy as np
import pytest

from kabucast.evaluation.calibration import adaptive_quantiles, adaptive_update, coverage

LEVELS = (0.1, 0.5, 0.9)
Z90 = 1.2815515655446004  # the standard normal's 0.9 quantile
LAG = 5  # sessions per "month" here, so the 12 horizons mature within the stream


def stream(vol_after: float, n_dates: int = 1500, names: int = 60, seed: int = 0):
    """Quantiles of N(0, 1) outcomes for every name and date; from the middle on, outcomes have sd ``vol_after``."""
    rng = np.random.default_rng(seed)
    rows = np.repeat(np.arange(n_dates), names)
    sd = np.where(rows >= n_dates // 2, vol_after, 1.0)
    target = rng.normal(size=(len(rows), 12)) * sd[:, None]
    q = np.broadcast_to(np.array([-Z90, 0.0, Z90]), (len(rows), 12, 3)).copy()
    return q, target, rows


def test_a_regime_change_is_followed_back_to_nominal_coverage() -> None:
    q, target, rows = stream(vol_after=2.0)
    adapted, factors = adaptive_quantiles(q, target, rows, LEVELS, LAG, gamma=0.05)
    late = rows >= 1000  # long after the change: every horizon had outcomes to learn from
    static = coverage(q[late, :, 0], q[late, :, 2], target[late])
    adaptive = coverage(adapted[late, :, 0], adapted[late, :, 2], target[late])
    assert (static < 0.55).all()  # the static band: about 48 % once volatility doubled
    assert (np.abs(adaptive - 0.8) < 0.05).all(), adaptive
    assert (factors[-1, :, 0] > 1.6).all() and np.allclose(factors[:, :, 1], 1.0)  # the median never moves
    # no look-ahead: a date's band uses outcomes matured before it only, so the first LAG x h dates keep factor 1
    for h in range(12):
        assert np.allclose(factors[: LAG * (h + 1) + 1, h], 1.0)


def test_a_calibrated_stream_keeps_its_factors_near_one() -> None:
    q, target, rows = stream(vol_after=1.0, seed=1)
    adapted, factors = adaptive_quantiles(q, target, rows, LEVELS, LAG, gamma=0.05)
    assert np.abs(np.log(factors[:, :, 0])).max() < 0.25
    assert (np.abs(coverage(adapted[..., 0], adapted[..., 2], target) - 0.8) < 0.02).all()


def test_one_matured_date_moves_its_horizons_factor_by_its_misses() -> None:
    # GIVEN log factors of 0, and one date's month-3 band issued as [-1, 1] around 0 (an 80 % interval)
    issued = np.tile([-1.0, 0.0, 1.0], (10, 1))
    start = np.zeros((12, 3))
    # WHEN every outcome lies outside it, none does, or 3 of the 5 known ones do
    widened = adaptive_update(start, issued, np.full(10, 2.0), 2, LEVELS, gamma=0.1)
    narrowed = adaptive_update(start, issued, np.zeros(10), 2, LEVELS, gamma=0.1)
    mixed = adaptive_update(start, issued, np.array([2.0, -3.0, 5.0, 0.0, 0.5] + [np.nan] * 5), 2, LEVELS, gamma=0.1)
    # THEN the interval's log factor moves by gamma x (miss share - 0.2) on both sides, month 3 only
    assert widened[2, [0, 2]] == pytest.approx([0.08, 0.08]) and narrowed[2, [0, 2]] == pytest.approx([-0.02, -0.02])
    assert mixed[2, [0, 2]] == pytest.approx([0.1 * (0.6 - 0.2)] * 2)
    for out in (widened, narrowed, mixed):
        assert np.delete(out, 2, axis=0).tolist() == start[1:].tolist() and out[2, 1] == 0.0
    # AND without a known outcome nothing moves, and the input is left as it was
    assert adaptive_update(start, issued, np.full(10, np.nan), 2, LEVELS).tolist() == start.tolist()
    assert not start.any()

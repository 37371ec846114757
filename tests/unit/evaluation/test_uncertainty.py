"""Error bars: Newey-West against statsmodels, coverage on overlapping labels, block-bootstrap intervals."""

from __future__ import annotations

import math

import numpy as np
import pytest
import statsmodels.api as sm

from kabucast.evaluation.uncertainty import (
    across_runs,
    block_bootstrap_interval,
    label_lag,
    mean_estimate,
    newey_west_se,
    paired_difference,
    sharpe_estimate,
)


def overlapping(n: int, horizon: int, rng: np.random.Generator, mean: float = 0.0) -> np.ndarray:
    """n daily figures each averaging ``horizon`` shared daily shocks: what an h-session label gives."""
    shocks = rng.normal(size=n + horizon - 1)
    return mean + np.convolve(shocks, np.ones(horizon) / math.sqrt(horizon), mode="valid")


@pytest.mark.parametrize(("n", "lag"), [(50, 0), (300, 5), (480, 21), (40, 63)])
def test_newey_west_matches_statsmodels_hac(n: int, lag: int) -> None:
    # GIVEN an autocorrelated series (an independent implementation is the reference)
    x = overlapping(n, 21, np.random.default_rng(n + lag), mean=0.03)
    # WHEN both compute the standard error of its mean with Bartlett weights up to lag (capped at n - 1)
    fit = sm.OLS(x, np.ones(n)).fit(cov_type="HAC", cov_kwds={"maxlags": min(lag, n - 1), "use_correction": False})
    # THEN they agree to 1e-9
    assert newey_west_se(x, lag) == pytest.approx(float(fit.bse[0]), abs=1e-9, rel=1e-9)
    assert mean_estimate(x, lag).value == pytest.approx(x.mean(), abs=1e-15)


@pytest.mark.parametrize(("n", "horizon"), [(250, 5), (1000, 20), (2500, 20)])
def test_overlapping_labels_keep_95_percent_coverage_with_the_label_lag(n: int, horizon: int) -> None:
    # GIVEN 1000 series of zero-mean figures on overlapping labels
    rng = np.random.default_rng(7)
    series = [overlapping(n, horizon, rng) for _ in range(1000)]
    # WHEN each mean gets a 95 % interval with lag 0 (std / sqrt(n)) and with the label's lag
    naive = np.mean([mean_estimate(s, 0).excludes_zero for s in series])
    hac = np.mean([mean_estimate(s, label_lag(horizon)).excludes_zero for s in series])
    # THEN the naive interval misses 0 far too often, the Newey-West one about 5 % of the time
    assert naive > 0.4
    assert 0.03 <= hac <= 0.09


def test_a_real_mean_is_told_from_noise_and_the_summary_says_so() -> None:
    rng = np.random.default_rng(3)
    signal = mean_estimate(overlapping(1000, 20, rng, mean=0.5), label_lag(20))
    noise = mean_estimate(overlapping(1000, 20, rng, mean=0.0), label_lag(20))
    below = mean_estimate(overlapping(1000, 20, rng, mean=-0.5), label_lag(20))
    assert signal.excludes_zero and signal.t > 3 and "distinguishable" not in signal.describe()
    assert not noise.excludes_zero and "not distinguishable from 0" in noise.describe()
    assert below.significantly_negative and not noise.significantly_negative and not signal.significantly_negative
    assert signal.to_dict()["method"] == "Newey-West, lag 40" and signal.to_dict()["n"] == 1000


def test_block_bootstrap_interval_covers_the_mean_and_widens_with_dependence() -> None:
    rng = np.random.default_rng(11)
    x = overlapping(600, 20, rng, mean=0.1)
    low, high = block_bootstrap_interval(x, lambda a: a.mean(axis=-1), block=20, draws=1000)
    iid_low, iid_high = block_bootstrap_interval(x, lambda a: a.mean(axis=-1), block=1, draws=1000)
    assert low < x.mean() < high
    assert high - low > 2 * (iid_high - iid_low)  # blocks keep the autocorrelation the i.i.d. draw throws away
    # and it roughly agrees with the Newey-West interval
    nw = mean_estimate(x, label_lag(20))
    assert 0.5 < (high - low) / (nw.ci_high - nw.ci_low) < 1.5


def test_sharpe_interval_covers_zero_for_noise_and_not_for_a_strong_drift() -> None:
    rng = np.random.default_rng(5)
    noise = sharpe_estimate(rng.normal(0.0, 0.01, 750))
    drift = sharpe_estimate(rng.normal(0.003, 0.01, 750))
    assert not noise.excludes_zero and math.isnan(noise.se)
    assert drift.excludes_zero and drift.ci_low > 1.0 and drift.value == pytest.approx(drift.value)


def test_paired_difference_uses_days_both_have() -> None:
    a = np.array([0.3, 0.2, np.nan, 0.4, 0.1])
    b = np.array([0.1, np.nan, 0.2, 0.1, 0.0])
    d = paired_difference(a, b, lag=1)
    assert d.n == 3 and d.value == pytest.approx((0.2 + 0.3 + 0.1) / 3)
    with pytest.raises(ValueError, match="one shape"):
        paired_difference(a, b[:3], lag=1)
    assert math.isnan(mean_estimate([], 5).value) and math.isnan(newey_west_se([1.0], 5))


def test_across_runs_is_a_student_t_interval_over_the_runs() -> None:
    runs = [mean_estimate(np.random.default_rng(s).normal(v, 0.1, 200), 0) for s, v in enumerate([0.05, -0.03, 0.01])]
    pooled = across_runs(runs)
    values = np.array([r.value for r in runs])
    assert pooled.value == pytest.approx(values.mean()) and pooled.n == 3
    assert pooled.se == pytest.approx(values.std(ddof=1) / math.sqrt(3))
    assert pooled.ci_high - pooled.value == pytest.approx(4.302653 * pooled.se, rel=1e-6)  # t(0.975, 2 df)
    assert pooled.method == "Student t over 3 runs" and not pooled.excludes_zero
    assert across_runs([0.2, 0.21, 0.19, 0.2]).excludes_zero  # runs that agree on a real effect
    assert math.isnan(across_runs([0.1]).se)  # one run says nothing about the next

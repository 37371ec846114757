"""The gate's rules on planted forecasts: a challenger behind the champion on most days is rejected even
inside the tolerance, and one as good as the champion is not; the reason names the evidence."""

from __future__ import annotations

import numpy as np
import pytest

from kabucast.config import GateSettings
from kabucast.forecast.gate import decide, paired_rankic, window_coverage, window_rankic, xs_std

N_DATES, N_TICKERS = 200, 30


def window(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Outcomes (N, 12), a champion that sees them through noise (N, 12), and the dates (N,)."""
    rng = np.random.default_rng(seed)
    dates = np.repeat(np.arange(N_DATES), N_TICKERS)
    target = rng.normal(0.0, 0.05, (len(dates), 12))
    champion = target + rng.normal(0.0, 0.15, target.shape)
    return target, champion, dates


def figures(pred: np.ndarray, target: np.ndarray, dates: np.ndarray, settings: GateSettings) -> dict:
    rankic = window_rankic(target, pred, dates, settings.min_dates)
    known = [v for v in rankic if v is not None]
    return {"rankic": rankic, "mean_rankic": float(np.mean(known)), "pred_xs_std": xs_std(pred, dates)}


def test_a_challenger_behind_on_most_days_is_rejected_inside_the_tolerance() -> None:
    # GIVEN a champion, and a challenger that is the champion plus a little more noise: slightly worse every day
    settings = GateSettings()
    target, champion, dates = window(0)
    challenger = champion + np.random.default_rng(1).normal(0.0, 0.04, champion.shape)
    ours, theirs = figures(challenger, target, dates, settings), figures(champion, target, dates, settings)
    assert theirs["mean_rankic"] - settings.tolerance < ours["mean_rankic"] < theirs["mean_rankic"]  # rule 3 passes
    # WHEN the gate weighs the paired per-date difference
    paired = paired_rankic(challenger, champion, target, dates, list(range(12)))
    promoted, reasons = decide(ours, theirs, settings, paired)
    # THEN it is significantly negative, the challenger is rejected, and the reason gives the evidence
    assert paired.value < 0 and paired.significantly_negative and paired.lag == 42 and paired.n == N_DATES
    assert not promoted
    (reason,) = reasons
    assert reason.startswith("significantly worse than the champion day by day") and "Newey-West, lag 42" in reason


def test_a_challenger_as_good_as_the_champion_is_promoted_with_its_evidence() -> None:
    settings = GateSettings()
    target, champion, dates = window(0)
    # an independent model of the same quality: the champion's noise drawn again
    challenger = target + np.random.default_rng(2).normal(0.0, 0.15, target.shape)
    ours, theirs = figures(challenger, target, dates, settings), figures(champion, target, dates, settings)
    paired = paired_rankic(challenger, champion, target, dates, list(range(12)))
    promoted, reasons = decide(ours, theirs, settings, paired)
    assert not paired.significantly_negative and not paired.excludes_zero
    assert promoted and "paired difference" in reasons[0] and "not distinguishable from 0" in reasons[0]


def test_paired_days_average_only_the_horizons_known_that_day() -> None:
    target, champion, dates = window(3)
    target[dates >= N_DATES - 50, 6:] = np.nan  # the last 50 days lack their long outcomes
    better = target + np.random.default_rng(4).normal(0.0, 0.05, target.shape)
    paired = paired_rankic(np.nan_to_num(better), champion, target, dates, list(range(12)))
    assert paired.n == N_DATES and paired.value > 0 and paired.excludes_zero


def test_a_challenger_that_does_not_beat_momentum_is_rejected_and_one_that_does_passes() -> None:
    # GIVEN outcomes a free momentum ranking sees well, and two challengers: one that only sees them
    # through more noise than momentum, one that sees them better
    settings = GateSettings()
    target, _, dates = window(5)
    momentum = target + np.random.default_rng(6).normal(0.0, 0.10, target.shape)
    weak = target + np.random.default_rng(7).normal(0.0, 0.30, target.shape)
    strong = target + np.random.default_rng(8).normal(0.0, 0.05, target.shape)
    horizons = list(range(12))
    for challenger, should_pass in ((weak, False), (strong, True)):
        ours = figures(challenger, target, dates, settings)
        assert ours["mean_rankic"] > settings.min_rankic  # rule 2 (beats zero) holds for both
        # WHEN the gate compares each with momentum day by day
        versus = paired_rankic(challenger, momentum, target, dates, horizons)
        promoted, reasons = decide(ours, None, settings, None, versus)
        # THEN only the one ahead of momentum is promoted, and the reason gives the paired evidence
        assert promoted is should_pass and (versus.value > 0) is should_pass
        expected = "minus momentum" if should_pass else "does not beat 12-month momentum by 0.0 day by day"
        assert expected in reasons[0] and "Newey-West, lag 42" in reasons[0]
    # AND with the rule left out (momentum_margin: null) the weak one passes the other rules
    ours = figures(weak, target, dates, settings)
    versus = paired_rankic(weak, momentum, target, dates, horizons)
    assert decide(ours, None, GateSettings(momentum_margin=None), None, versus)[0]


def test_a_quantile_challenger_with_miscalibrated_intervals_is_rejected() -> None:
    # GIVEN a challenger as good as the champion, with 0.1 / 0.5 / 0.9 quantiles around its forecast
    settings = GateSettings()
    target, champion, dates = window(0)
    challenger = target + np.random.default_rng(2).normal(0.0, 0.15, target.shape)
    ours, theirs = figures(challenger, target, dates, settings), figures(champion, target, dates, settings)
    levels = (0.1, 0.5, 0.9)

    def decided(half_width: float) -> tuple[bool, list[str], dict]:
        # intervals centred on the truth's own distribution N(0, 0.05): +/- 1.2816 sigma holds 80 %
        q = np.stack([np.full_like(target, v * half_width) for v in (-1.0, 0.0, 1.0)], axis=-1)
        calibration = window_coverage(q, levels, target, ours["rankic"])
        return (*decide({**ours, **calibration}, theirs, settings), calibration)

    # WHEN its intervals are right, too narrow (+/- 0.5 sigma: 38 %) or too wide (+/- 3 sigma: 99.7 %)
    right, _, fig = decided(1.2816 * 0.05)
    narrow, narrow_reasons, narrow_fig = decided(0.5 * 0.05)
    wide, wide_reasons, _ = decided(3.0 * 0.05)
    # THEN only the calibrated one passes; the reason gives the coverage, the nominal share and the tolerance
    assert right and fig["coverage_mean"] == pytest.approx(0.8, abs=0.01) and fig["interval"] == "0.1-0.9"
    assert not narrow and not wide
    assert narrow_reasons == [
        f"miscalibrated: its 0.1-0.9 interval holds {narrow_fig['coverage_mean']:.1%} of the window's outcomes "
        "(mean over the counted horizons), nominal 80% +/- 10%"
    ]
    assert "miscalibrated" in wide_reasons[0]
    # AND the rule can be left out
    off = GateSettings(coverage_tolerance=None)
    q = np.zeros((*target.shape, 3))
    assert decide({**ours, **window_coverage(q, levels, target, ours["rankic"])}, theirs, off)[0]

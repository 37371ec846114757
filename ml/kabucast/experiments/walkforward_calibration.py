"""The interval calibration figures of a walk-forward run: coverage per central interval and pinball loss.

For a recipe with a quantile head, what :func:`calibration_figures` computes from a finished
:class:`~kabucast.experiments.walkforward.WalkForward` per period (the folds, the holdout) and month;
kabucast.experiments.walkforward_report writes and shows them (summary.json, the report's table and
coverage chart, the stderr table).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from kabucast.data.calendar import SESSIONS_PER_MONTH
from kabucast.evaluation.calibration import ADAPTIVE_GAMMA, adaptive_quantiles, coverage, daily_coverage, pinball
from kabucast.evaluation.uncertainty import mean_estimate
from kabucast.experiments.folds import HOLDOUT, PERIODS
from kabucast.experiments.walkforward import FoldResult, WalkForward, month_lag
from kabucast.forecast.dataset import ForecastSamples


def quantile_calibration(result: WalkForward) -> dict[str, dict[str, Any]] | None:
    """:func:`calibration_figures` of ``result``, computed once per run (summary, report and stderr show it)."""
    return result.derived("quantile_calibration", lambda: calibration_figures(result))


def calibration_figures(result: WalkForward) -> dict[str, dict[str, Any]] | None:
    """Period -> the model's quantile calibration per month (None for a model without a quantile head).

    For each central interval of its levels (0.1 and 0.9 -> ``0.1-0.9``, nominal 0.8) the share of
    the period's test outcomes inside it, per month, with a 95 % interval (``coverage_ci``: Newey-West
    over the per-date shares, lag 2 x the label, as the RankIC's: the outcomes of one date share a
    market move, so a long horizon's coverage rests on few independent draws), beside the
    unconditional baseline's interval's (both off: the test period's outcomes spread unlike the training
    period's); the pinball loss over every level, per month, beside the unconditional baseline's (each
    fold's training targets' own quantiles, per month: what a model that learnt nothing about location
    or spread forecasts) and their ratio (< 1: better). ``adaptive_coverage`` and ``adaptive_pinball_ratio``:
    the same of the intervals adaptive conformal updating would have issued within each fold, date by date
    from outcomes as they matured (kabucast.evaluation.calibration.adaptive_quantiles; factors start at 1).
    """
    levels = result.folds[0].levels
    if not levels:
        return None
    out: dict[str, dict[str, Any]] = {}
    for period in PERIODS:
        folds = [f for f in result.folds if (f.name == HOLDOUT) == (period == HOLDOUT)]
        q = np.concatenate([f.quantiles["model"] for f in folds])
        fixed = np.concatenate([np.broadcast_to(f.unconditional, f.quantiles["model"].shape) for f in folds])
        target = np.concatenate([result.samples.target[f.test_idx] for f in folds])
        adaptive = np.concatenate([_adaptive(result.samples, f) for f in folds])
        intervals = {}
        for i in range(len(levels) // 2):
            low, high = q[..., i], q[..., -1 - i]
            daily = np.concatenate([_daily_coverage(result.samples, f, i) for f in folds])  # folds in time order
            spread = [mean_estimate(daily[:, h], month_lag(h)) for h in range(12)]
            intervals[f"{levels[i]:g}-{levels[-1 - i]:g}"] = {
                "nominal": round(levels[-1 - i] - levels[i], 6),
                "coverage": coverage(low, high, target).tolist(),
                "coverage_ci": [[e.ci_low, e.ci_high] for e in spread],
                "unconditional_coverage": coverage(fixed[..., i], fixed[..., -1 - i], target).tolist(),
                "adaptive_coverage": coverage(adaptive[..., i], adaptive[..., -1 - i], target).tolist(),
            }
        model, baseline = pinball(q, target, levels), pinball(fixed, target, levels)
        adapted = pinball(adaptive, target, levels)
        out[period] = {
            "levels": list(levels),
            "intervals": intervals,
            "pinball": model.tolist(),
            "unconditional_pinball": baseline.tolist(),
            "pinball_ratio": (model / baseline).tolist(),
            "adaptive_pinball_ratio": (adapted / baseline).tolist(),
            "adaptive_gamma": ADAPTIVE_GAMMA,
        }
    return out


def _daily_coverage(samples: ForecastSamples, fold: FoldResult, i: int) -> np.ndarray:
    """(test days, 12) per-date share of the fold's outcomes inside its i-th central interval."""
    q = fold.quantiles["model"]
    return daily_coverage(q[..., i], q[..., -1 - i], samples.target[fold.test_idx], samples.date_pos[fold.test_idx])


def _adaptive(samples: ForecastSamples, fold: FoldResult) -> np.ndarray:
    """(n_test, 12, Q) the fold's quantiles as adaptive conformal updating would have issued them, date by date
    from the outcomes matured within the fold (kabucast.evaluation.calibration.adaptive_quantiles)."""
    target, rows = samples.target[fold.test_idx], samples.date_pos[fold.test_idx]
    return adaptive_quantiles(fold.quantiles["model"], target, rows, fold.levels, SESSIONS_PER_MONTH)[0]

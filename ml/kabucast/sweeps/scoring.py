"""What a sweep trial is judged on: RankIC, prediction spread and a monthly long-short Sharpe (pure functions).

Inputs are one period's forecasts ``pred`` and outcomes ``target`` (N, 12) in log returns, with each
row's as-of session ``session`` (N,) (a panel row number: consecutive sessions differ by 1) and
``ticker`` (N,).

- ``rankic``: mean over the 12 horizons of the per-date Spearman RankIC (kabucast.forecast.metrics);
  a model without any ranking (constant forecasts) scores 0, the zero-return forecast's RankIC.
- ``rankic_se`` / ``rankic_ci_low`` / ``rankic_ci_high``: the error bar of the mean over dates of each
  date's RankIC averaged over its horizons (Newey-West, lag 42 = twice the 1-month label, fixed-b
  95 % interval; kabucast.evaluation.uncertainty). Longer horizons overlap more than that lag allows
  for, so the interval is, if anything, too narrow: a config whose interval covers 0 has shown nothing.
- ``pred_std``: mean over horizons of the mean cross-sectional std of the forecasts (log-return units),
  the collapse detector; ``pred_std_min`` is the smallest horizon's.
- ``sharpe`` (the forecaster's "val Sharpe"): each rebalancing date, every 21 sessions from the
  first (so the 1-month holding periods do not overlap), goes long the top quintile of the 1-month
  forecast and short the bottom quintile, equal weight; its return is the spread of their realised
  1-month simple returns. Sharpe = mean / std (ddof=1) of those monthly spreads x sqrt(12), before
  costs; NaN with fewer than 2 dates.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd

from kabucast.data.calendar import SESSIONS_PER_MONTH
from kabucast.evaluation.metrics import top_bottom_spread
from kabucast.evaluation.uncertainty import label_lag, mean_estimate
from kabucast.forecast.metrics import horizon_metrics, per_date_rankic

MONTHS_PER_YEAR = 12
QUINTILE = 0.2


def period_scores(pred: np.ndarray, target: np.ndarray, session: np.ndarray, ticker: np.ndarray) -> dict[str, float]:
    """The scores of the module docstring for one period (validation or held-out)."""
    metrics = horizon_metrics(target, pred, session)
    spread = monthly_spread(pred[:, 0], target[:, 0], session, ticker)
    daily, _ = per_date_rankic(target, pred, session)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a date without any horizon: NaN, dropped
        error = mean_estimate(np.nanmean(daily, axis=1), label_lag(SESSIONS_PER_MONTH))
    return {
        "rankic": _finite_mean(metrics["rankic"], empty=0.0),
        "rankic_se": error.se,
        "rankic_ci_low": error.ci_low,
        "rankic_ci_high": error.ci_high,
        "rankic_1m": _nan_to_zero(metrics["rankic"][0]),
        "ic": _finite_mean(metrics["ic"], empty=0.0),
        "pred_std": _finite_mean(metrics["pred_xs_std"], empty=0.0),
        "pred_std_min": min(_nan_to_zero(v) for v in metrics["pred_xs_std"]),
        "sharpe": annualised_sharpe(spread.to_numpy()),
        "rebalance_dates": float(len(spread)),
    }


def rebalance_sessions(session: np.ndarray, every: int = SESSIONS_PER_MONTH) -> np.ndarray:
    """The sessions kept for rebalancing: the first, then each first one at least ``every`` sessions later."""
    kept: list[int] = []
    for s in np.unique(session):
        if not kept or s >= kept[-1] + every:
            kept.append(int(s))
    return np.asarray(kept, dtype=np.int64)


def monthly_spread(score: np.ndarray, log_return_1m: np.ndarray, session: np.ndarray, ticker: np.ndarray) -> pd.Series:
    """Per rebalancing session: realised 1-month simple return of the top quintile minus the bottom one."""
    keep = np.isin(session, rebalance_sessions(session))
    index = pd.MultiIndex.from_arrays([session[keep], ticker[keep]], names=["session", "ticker"])
    scores = pd.Series(score[keep].astype(np.float64), index=index).unstack()
    realised = pd.Series(np.expm1(log_return_1m[keep].astype(np.float64)), index=index).unstack()
    return top_bottom_spread(scores, realised, QUINTILE).dropna()


def annualised_sharpe(monthly: np.ndarray) -> float:
    """mean / std (ddof=1) x sqrt(12) of monthly returns; NaN with fewer than 2 or no spread."""
    monthly = monthly[np.isfinite(monthly)]
    if len(monthly) < 2 or monthly.std(ddof=1) == 0:
        return math.nan
    return float(monthly.mean() / monthly.std(ddof=1) * math.sqrt(MONTHS_PER_YEAR))


def _finite_mean(values: list[float], empty: float) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return sum(finite) / len(finite) if finite else empty


def _nan_to_zero(value: float) -> float:
    return value if math.isfinite(value) else 0.0

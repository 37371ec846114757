"""The ranker's metrics per horizon and per day, on (D, N) arrays of scores and realised forward returns.

Per day (a row of :func:`daily_metrics`), from kabucast.evaluation.metrics:

- ``rankic``: Spearman correlation across stocks of the scores and the realised ``fwd_h``;
- ``p_at_k`` / ``random_p_at_k`` / ``delta_p_at_k``: share of the predicted top K in the realised top K,
  what a random ranking scores (K / N), and the difference;
- ``p_at_k_vol_neutral`` (when a ``risk`` (D, N) is given): the same share, the realised top K taken on
  each return divided by that stock's volatility that day. Volatile names fill both ends of the raw
  realised ranking, so ranking by volatility alone earns a raw P@K well above K / N with no skill;
  here it earns about K / N;
- ``spread``: mean realised return of the predicted top ``quantile`` minus the bottom one;
- ``win``: 1 when the spread is positive, else 0 (its mean is the **win rate**);
- ``jpx_spread``: the daily spread return of the JPX Tokyo Stock Exchange Prediction competition
  (Kaggle, 2022). Stocks ranked by score, the top n and the bottom n (n = min(200, N // 2)) get the
  weights w_j = linspace(2, 1, n) in rank order (the best-ranked long and the worst-ranked short weigh
  2, the n-th 1):

      spread(t) = sum_j w_j r_top(j) / mean(w) - sum_j w_j r_bottom(j) / mean(w)

  where r_top(j) is the realised return of the j-th highest score and r_bottom(j) of the j-th lowest.
  The **JPX score** of a horizon is mean / std (ddof=1) of spread(t) over the days, not annualised
  (= kabucast.evaluation.metrics.sharpe_ratio / sqrt(252)). The competition scored the 1-session
  return from close(t + 1) to close(t + 2) over 2,000 stocks; here each horizon's target (from
  close(t)) is used, and for h > 1 the daily spreads overlap.

Days without a score or realised value for a stock leave that stock out; a day with fewer than
``2 n`` pairs has no JPX spread (NaN).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from kabucast.evaluation.metrics import (
    TRADING_DAYS,
    ic_summary,
    precision_at_k,
    random_precision_at_k,
    rank_ic_series,
    row_corr,
    row_ranks,
    sharpe_ratio,
    top_bottom_spread,
)
from kabucast.evaluation.uncertainty import label_lag, paired_difference

JPX_TOP = 200
"""Longs and shorts per day in the JPX competition's score."""


def daily_metrics(
    scores: np.ndarray,
    realised: np.ndarray,
    dates: pd.DatetimeIndex,
    k: int,
    quantile: float = 0.1,
    risk: np.ndarray | None = None,
) -> pd.DataFrame:
    """Per-day metrics (module docstring) of ``scores`` and ``realised`` (D, N), one row per date;
    ``p_at_k_vol_neutral`` too when ``risk`` (D, N, positive; NaN or <= 0 leaves the stock out) is given."""
    x, y = pd.DataFrame(scores, index=dates), pd.DataFrame(realised, index=dates)
    frame = pd.DataFrame(
        {
            "rankic": rank_ic_series(x, y),
            "p_at_k": precision_at_k(x, y, k),
            "random_p_at_k": random_precision_at_k(x, y, k),
            "spread": top_bottom_spread(x, y, quantile),
        }
    )
    frame["delta_p_at_k"] = frame["p_at_k"] - frame["random_p_at_k"]
    if risk is not None:
        scale = np.asarray(risk, dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            scaled = np.where(scale > 0, np.asarray(realised, dtype=np.float64) / scale, np.nan)
        frame["p_at_k_vol_neutral"] = precision_at_k(x, pd.DataFrame(scaled, index=dates), k)
    frame["win"] = np.where(frame["spread"].notna(), (frame["spread"] > 0).astype(float), np.nan)
    frame["jpx_spread"] = jpx_spread_returns(scores, realised)
    frame.index.name = "date"
    return frame


def jpx_spread_returns(scores: np.ndarray, realised: np.ndarray, top: int = JPX_TOP) -> np.ndarray:
    """(D,) the JPX competition's weighted top-minus-bottom daily spread return (module docstring)."""
    out = np.full(len(scores), np.nan)
    for d, (s, r) in enumerate(zip(scores, realised, strict=True)):
        both = np.isfinite(s) & np.isfinite(r)
        n = min(top, int(both.sum()) // 2)
        if n < 1:
            continue
        ordered = r[both][np.argsort(-s[both], kind="stable")]  # realised returns, best score first
        weights = np.linspace(2.0, 1.0, n)
        out[d] = (weights @ ordered[:n] - weights @ ordered[::-1][:n]) / weights.mean()
    return out


def summarize(daily: pd.DataFrame, horizon: int = 1) -> dict[str, float]:
    """One horizon's per-day metrics as numbers: means, RankIC IR, win rate, JPX score, and the mean
    RankIC's Newey-West error, t-stat and 95 % interval (``horizon``-session labels overlap)."""
    rankic = ic_summary(daily["rankic"], label_sessions=horizon)
    return {
        "rankic_mean": rankic["mean"],
        "rankic_std": rankic["std"],
        "rankic_ir": rankic["ir"],
        "rankic_se": rankic["se"],
        "rankic_t": rankic["t_stat"],
        "rankic_ci_low": rankic["ci_low"],
        "rankic_ci_high": rankic["ci_high"],
        "p_at_k": _mean(daily["p_at_k"]),
        "random_p_at_k": _mean(daily["random_p_at_k"]),
        "delta_p_at_k": _mean(daily["delta_p_at_k"]),
        "p_at_k_vol_neutral": _mean(daily["p_at_k_vol_neutral"]) if "p_at_k_vol_neutral" in daily else math.nan,
        "spread": _mean(daily["spread"]),
        "win_rate": _mean(daily["win"]),
        "jpx_score": sharpe_ratio(daily["jpx_spread"].to_numpy()) / math.sqrt(TRADING_DAYS),
        "days": rankic["n"],
    }


def horizon_metrics(
    scores: np.ndarray,
    realised: np.ndarray,
    dates: pd.DatetimeIndex,
    horizons: Sequence[int],
    k: int,
    quantile: float = 0.1,
    risk: np.ndarray | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-day metrics of every horizon (long: date, horizon, metrics) and their summary (horizon x metric).

    ``scores`` and ``realised`` are (D, N, H), the last axis in the order of ``horizons``; ``risk`` (D, N).
    """
    days, rows = [], {}
    for j, h in enumerate(horizons):
        daily = daily_metrics(scores[:, :, j], realised[:, :, j], dates, k, quantile, risk)
        days.append(daily.assign(horizon=h).reset_index())
        rows[h] = summarize(daily, h)
    summary = pd.DataFrame.from_dict(rows, orient="index").rename_axis("horizon")
    return pd.concat(days, ignore_index=True), summary


def paired_rankic(daily: dict[str, pd.DataFrame], baselines: Sequence[str]) -> pd.DataFrame:
    """Every model minus every baseline it is not: the mean per-date RankIC difference at each horizon.

    ``daily``: run name -> the long per-day frame of :func:`horizon_metrics`; ``baselines``: the run
    names that are baselines (LightGBM, the ``feature:`` rankings). Each difference is over the dates
    both have, with its Newey-West error (lag = 2 x the horizon) and 95 % interval: a model beats a
    baseline only where the interval lies above 0. One row per (model, baseline, horizon).
    """
    rows = []
    for model, frame in daily.items():
        for baseline in baselines:
            if baseline == model or model.startswith("feature:"):
                continue
            other = daily[baseline]
            for h in sorted(frame["horizon"].unique()):
                ours = frame[frame["horizon"] == h].set_index("date")["rankic"]
                theirs = other[other["horizon"] == h].set_index("date")["rankic"].reindex(ours.index)
                e = paired_difference(ours.to_numpy(), theirs.to_numpy(), label_lag(int(h)))
                rows.append(
                    {"model": model, "baseline": baseline, "horizon": int(h), **e.to_dict(), "method": e.method}
                )
    return pd.DataFrame(rows)


def mean_rank_ic(pred: np.ndarray, target: np.ndarray) -> float:
    """Mean over dates of the cross-sectional RankIC of (D, N) predictions and targets (NaN targets left out).

    The fast path of :func:`daily_metrics`' ``rankic`` for training loops (no pandas alignment).
    """
    pred = np.where(np.isfinite(target), pred.astype(np.float64), np.nan)
    ic = row_corr(row_ranks(pred), row_ranks(target.astype(np.float64)))
    return float(np.nanmean(ic)) if np.isfinite(ic).any() else math.nan


def _mean(values: pd.Series) -> float:
    finite = values.to_numpy(dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    return float(finite.mean()) if len(finite) else math.nan

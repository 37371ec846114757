"""Cross-sectional and return-series metrics: pure functions, numpy + pandas only.

Panel convention: a **wide frame**, one row per date (ascending ``DatetimeIndex``, JST trading
dates) and one column per ticker. A Qlib-style Series indexed by (date, ticker) is turned into one
with :func:`to_wide`. Scores are any real numbers (higher = expected to do better); realised values
are simple returns (0.01 = +1 %). NaN or infinite entries mean "no value" and are left out pair by
pair: a (date, ticker) counts only where both the score and the realised return are finite.

Per-date metrics (one value per date, NaN where undefined):

- :func:`ic_series` / :func:`rank_ic_series`: Pearson / Spearman correlation across tickers (ties get
  their average rank); NaN for a date with fewer than :data:`MIN_TICKERS` pairs or a constant side.
- :func:`precision_at_k`: share of the predicted top K that is in the realised top K;
  :func:`random_precision_at_k` is what a random ranking scores on average, K / N. Both are NaN for a
  date with N <= K pairs. Ties at the cut-off go to the leftmost columns, so results are deterministic.
- :func:`top_bottom_spread`: mean realised return of the predicted top quantile minus the bottom one.
- :func:`hit_rate`: share of pairs with ``sign(score) == sign(realised)``, sign in {-1, 0, +1}.

Return-series metrics take one daily simple-return series and follow empyrical (empyrical-reloaded
0.7) exactly, which the tests check to 1e-9:

- :data:`TRADING_DAYS` = 252 periods a year, risk-free rate 0;
- Sharpe = mean / std (ddof=1) * sqrt(252); volatility = std (ddof=1) * sqrt(252);
- Sortino = 252 * mean / downside risk, downside risk = sqrt(mean over ALL days of min(r, 0)^2)
  * sqrt(252) (days above 0 count as 0, they are not dropped);
- annual return (CAGR) = prod(1 + r) ^ (252 / n) - 1, with n counting every day;
- max drawdown: the worst (value - running peak) / running peak of the compounded equity curve that
  starts at 1 before the first day (a first-day loss is a drawdown); it is <= 0;
- Calmar = annual return / |max drawdown|, NaN when there is no drawdown;
- NaN returns are skipped by means and std and count as 0 in compounding, as in empyrical.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from kabucast.evaluation.uncertainty import label_lag, mean_estimate

MIN_TICKERS = 3
"""A date needs at least this many (score, realised) pairs to have an IC or RankIC."""

TRADING_DAYS = 252
"""Trading days per year, used to annualise every return-series metric."""


def to_wide(values: pd.Series | pd.DataFrame) -> pd.DataFrame:
    """``values`` as a date x ticker frame: a (date, ticker) MultiIndex Series is unstacked, a frame is kept."""
    if isinstance(values, pd.DataFrame):
        return values
    if values.index.nlevels != 2:
        raise ValueError(f"expected a Series indexed by (date, ticker), got {values.index.nlevels} index level(s)")
    return values.unstack(level=1)


def paired(scores: pd.DataFrame | pd.Series, realised: pd.DataFrame | pd.Series) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Both panels on their common dates and tickers, NaN on both sides wherever either is missing."""
    x, y = to_wide(scores), to_wide(realised)
    dates = x.index.intersection(y.index, sort=True)
    tickers = x.columns.intersection(y.columns, sort=False)
    xa = x.reindex(index=dates, columns=tickers).to_numpy(dtype=np.float64)  # (T, N)
    ya = y.reindex(index=dates, columns=tickers).to_numpy(dtype=np.float64)  # (T, N)
    both = np.isfinite(xa) & np.isfinite(ya)
    xa, ya = np.where(both, xa, np.nan), np.where(both, ya, np.nan)
    return pd.DataFrame(xa, index=dates, columns=tickers), pd.DataFrame(ya, index=dates, columns=tickers)


# --- per-date cross-sectional metrics -------------------------------------------------------------


def ic_series(scores: pd.DataFrame | pd.Series, realised: pd.DataFrame | pd.Series) -> pd.Series:
    """Per-date Pearson correlation of scores and realised returns across tickers (the IC)."""
    x, y = paired(scores, realised)
    return pd.Series(row_corr(x.to_numpy(), y.to_numpy()), index=x.index, name="ic")


def rank_ic_series(scores: pd.DataFrame | pd.Series, realised: pd.DataFrame | pd.Series) -> pd.Series:
    """Per-date Spearman correlation across tickers (the RankIC): Pearson of the average ranks."""
    x, y = paired(scores, realised)
    corr = row_corr(row_ranks(x.to_numpy()), row_ranks(y.to_numpy()))
    return pd.Series(corr, index=x.index, name="rankic")


def ic_summary(ic: pd.Series, label_sessions: int = 1) -> dict[str, float]:
    """Mean, std (ddof=1), IR = mean / std, and the mean's Newey-West error over the finite per-date values.

    ``label_sessions``: the length of the labels the ICs are computed on; consecutive dates share
    most of a long label, so ``se`` (and ``t_stat = mean / se``, the 95 % ``ci_low`` / ``ci_high``)
    come from :func:`kabucast.evaluation.uncertainty.mean_estimate` with the label's lag, not from
    ``std / sqrt(n)``.
    """
    values = np.asarray(ic, dtype=np.float64)
    values = values[np.isfinite(values)]
    n = len(values)
    mean = float(values.mean()) if n else math.nan
    std = float(values.std(ddof=1)) if n > 1 else math.nan
    ir = mean / std if std > 0 else math.nan
    estimate = mean_estimate(values, label_lag(label_sessions))
    return {
        "mean": mean,
        "std": std,
        "ir": ir,
        "se": estimate.se,
        "t_stat": estimate.t,
        "ci_low": estimate.ci_low,
        "ci_high": estimate.ci_high,
        "lag": float(label_lag(label_sessions)),
        "n": float(n),
    }


def precision_at_k(scores: pd.DataFrame | pd.Series, realised: pd.DataFrame | pd.Series, k: int) -> pd.Series:
    """Per-date share of the predicted top ``k`` that is also in the realised top ``k``."""
    x, y = paired(scores, realised)
    xa, ya = x.to_numpy(), y.to_numpy()
    hits = (top_k_mask(xa, k) & top_k_mask(ya, k)).sum(axis=1)
    n = np.isfinite(xa).sum(axis=1)
    return pd.Series(np.where(n > k, hits / k, np.nan), index=x.index, name="precision_at_k")


def random_precision_at_k(scores: pd.DataFrame | pd.Series, realised: pd.DataFrame | pd.Series, k: int) -> pd.Series:
    """Per-date expected P@K of a random ranking, K / N (N = pairs that date): the bar a model must beat."""
    x, _ = paired(scores, realised)
    n = np.isfinite(x.to_numpy()).sum(axis=1)
    with np.errstate(divide="ignore"):
        return pd.Series(np.where(n > k, k / n, np.nan), index=x.index, name="random_precision_at_k")


def top_bottom_spread(
    scores: pd.DataFrame | pd.Series, realised: pd.DataFrame | pd.Series, quantile: float = 0.2
) -> pd.Series:
    """Per-date mean realised return of the predicted top ``quantile`` minus that of the bottom one."""
    x, y = paired(scores, realised)
    ya = y.to_numpy()
    top, bottom = quantile_masks(x.to_numpy(), quantile)
    with np.errstate(invalid="ignore"):
        spread = _masked_mean(ya, top) - _masked_mean(ya, bottom)
    return pd.Series(spread, index=x.index, name="top_bottom_spread")


def hit_rate(scores: pd.DataFrame | pd.Series, realised: pd.DataFrame | pd.Series) -> pd.Series:
    """Per-date share of pairs whose signs agree (a zero is its own sign); NaN for a date with no pair."""
    x, y = paired(scores, realised)
    xa, ya = x.to_numpy(), y.to_numpy()
    valid = np.isfinite(xa)
    with np.errstate(invalid="ignore"):
        rate = _masked_mean((np.sign(xa) == np.sign(ya)).astype(np.float64), valid)
    return pd.Series(rate, index=x.index, name="hit_rate")


def calibration_table(scores: np.ndarray, realised: np.ndarray, bins: int = 10) -> pd.DataFrame:
    """Pairs pooled over dates, cut into ``bins`` quantile bins of the prediction: mean predicted vs realised.

    A calibrated forecast has ``pred_mean`` close to ``realised_mean`` in every bin. Columns:
    ``pred_mean``, ``realised_mean``, ``count``; one row per non-empty bin, lowest predictions first.
    """
    x, y = np.ravel(np.asarray(scores, dtype=np.float64)), np.ravel(np.asarray(realised, dtype=np.float64))
    keep = np.isfinite(x) & np.isfinite(y)
    frame = pd.DataFrame({"pred": x[keep], "realised": y[keep]})
    frame["bin"] = pd.qcut(frame["pred"].rank(method="first"), bins, labels=False) if len(frame) >= bins else 0
    table = frame.groupby("bin").agg(
        pred_mean=("pred", "mean"), realised_mean=("realised", "mean"), count=("pred", "size")
    )
    return table.rename_axis("bin")


# --- selection and ranking on (T, N) arrays --------------------------------------------------------


def row_corr(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """(T,) Pearson correlation of each row of ``x`` and ``y`` (T, N), NaN entries already paired.

    NaN for a row with fewer than :data:`MIN_TICKERS` pairs, or with a constant side (checked exactly:
    rounding would fake a tiny variance).
    """
    valid = np.isfinite(x)
    n = valid.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        dx = np.where(valid, x - (np.where(valid, x, 0.0).sum(axis=1) / n)[:, None], 0.0)
        dy = np.where(valid, y - (np.where(valid, y, 0.0).sum(axis=1) / n)[:, None], 0.0)
        corr = (dx * dy).sum(axis=1) / np.sqrt((dx * dx).sum(axis=1) * (dy * dy).sum(axis=1))
    ok = (n >= MIN_TICKERS) & ~_is_constant(x, valid) & ~_is_constant(y, valid)
    return np.where(ok, corr, np.nan)


def row_ranks(x: np.ndarray) -> np.ndarray:
    """(T, N) ranks 1..n of the finite values of each row of ``x``, ties given their average rank; NaN elsewhere."""
    rows, cols = x.shape
    valid = np.isfinite(x)
    filled = np.where(valid, x, np.inf)  # invalid entries sort last (and an inf key keeps numpy's fast sort)
    order = np.argsort(filled, axis=1)
    ordered = np.take_along_axis(filled, order, axis=1)
    starts = np.ones((rows, cols), dtype=bool)
    starts[:, 1:] = ordered[:, 1:] != ordered[:, :-1]  # a new tie group begins (never across rows)
    first = np.flatnonzero(starts)  # (G,) first slot of each tie group, rows laid end to end
    size = np.diff(first, append=starts.size)  # (G,) slots in the group
    average = first % cols + (size + 1) / 2.0  # mean of the 1-based positions the group spans
    ranks = np.empty((rows, cols))
    ranks[np.arange(rows)[:, None], order] = np.repeat(average, size).reshape(rows, cols)
    return np.where(valid, ranks, np.nan)


def top_k_mask(x: np.ndarray, k: int | np.ndarray) -> np.ndarray:
    """(T, N) True for the ``k`` largest finite values of each row (``k`` an int or (T,)).

    Ties at the cut-off go to the leftmost columns, so the choice is deterministic.
    """
    rows, cols = x.shape
    valid = np.isfinite(x)
    k = np.minimum(np.broadcast_to(np.asarray(k, dtype=np.int64), (rows,)), valid.sum(axis=1))
    ascending = np.sort(np.where(valid, x, -np.inf), axis=1)  # the finite values fill the last n slots
    cutoff = ascending[np.arange(rows), np.clip(cols - k, 0, cols - 1)][:, None]  # the k-th largest
    above = valid & (x > cutoff)
    tied = valid & (x == cutoff)
    room = k - above.sum(axis=1)
    if (tied.sum(axis=1) > room).any():  # more ties at the cut-off than places: the leftmost ones win
        tied &= np.cumsum(tied, axis=1) <= room[:, None]
    return above | tied


def quantile_masks(scores: np.ndarray, quantile: float) -> tuple[np.ndarray, np.ndarray]:
    """(T, N) top and bottom ``quantile`` of each row's finite scores, as two disjoint boolean masks.

    Each side holds floor(quantile * n) names, at least 1 when n >= 2 and never more than n // 2.
    """
    scores = np.where(np.isfinite(scores), scores, np.nan)
    n = np.isfinite(scores).sum(axis=1)
    k = np.clip(np.floor(quantile * n + 1e-9).astype(np.int64), np.minimum(n // 2, 1), n // 2)
    top = top_k_mask(scores, k)
    bottom = top_k_mask(np.where(top, np.nan, -scores), k)
    return top, bottom


def _is_constant(x: np.ndarray, valid: np.ndarray) -> np.ndarray:
    return np.where(valid, x, -np.inf).max(axis=1) == np.where(valid, x, np.inf).min(axis=1)


def _masked_mean(x: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """(T,) mean of ``x`` over the True entries of each row; NaN for a row without one."""
    count = mask.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(mask, x, 0.0).sum(axis=1) / np.where(count > 0, count, np.nan)


# --- return-series metrics (empyrical conventions) -------------------------------------------------


def sharpe_ratio(returns: pd.Series | np.ndarray) -> float:
    """Annualised Sharpe ratio of daily simple returns: mean / std (ddof=1) * sqrt(252), risk-free 0."""
    r = _returns(returns)
    if len(r) < 2:
        return math.nan
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.nanmean(r) / _std(r) * math.sqrt(TRADING_DAYS))


def downside_risk(returns: pd.Series | np.ndarray) -> float:
    """Annualised downside deviation: sqrt(mean over all days of min(r, 0)^2) * sqrt(252)."""
    r = _returns(returns)
    if not len(r):
        return math.nan
    return float(np.sqrt(np.nanmean(np.minimum(r, 0.0) ** 2)) * math.sqrt(TRADING_DAYS))


def sortino_ratio(returns: pd.Series | np.ndarray) -> float:
    """Annualised Sortino ratio: 252 * mean daily return / :func:`downside_risk`."""
    r = _returns(returns)
    if len(r) < 2:
        return math.nan
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.float64(np.nanmean(r) * TRADING_DAYS) / np.float64(downside_risk(r)))


def annual_volatility(returns: pd.Series | np.ndarray) -> float:
    """Annualised volatility: std (ddof=1) of daily returns * sqrt(252)."""
    r = _returns(returns)
    return float(np.nanstd(r, ddof=1) * math.sqrt(TRADING_DAYS)) if len(r) >= 2 else math.nan


def annual_return(returns: pd.Series | np.ndarray) -> float:
    """Compound annual growth rate: prod(1 + r) ** (252 / n) - 1, n = every day of the series."""
    r = _returns(returns)
    if not len(r):
        return math.nan
    return float(np.nanprod(1.0 + r) ** (TRADING_DAYS / len(r)) - 1.0)


def cumulative_returns(returns: pd.Series | np.ndarray) -> np.ndarray:
    """(n,) compounded return since the start, prod(1 + r) - 1 up to each day; NaN days count as 0."""
    return np.cumprod(1.0 + np.nan_to_num(_returns(returns), nan=0.0)) - 1.0


def drawdown_series(returns: pd.Series | np.ndarray) -> np.ndarray:
    """(n,) (equity - running peak) / running peak, with equity starting at 1 before day one; all <= 0."""
    equity = 1.0 + cumulative_returns(returns)
    peak = np.maximum.accumulate(np.r_[1.0, equity])[1:]
    return (equity - peak) / peak


def max_drawdown(returns: pd.Series | np.ndarray) -> float:
    """The worst drawdown, a number <= 0 (-0.2 = the equity fell 20 % below its previous peak)."""
    r = _returns(returns)
    return float(drawdown_series(r).min()) if len(r) else math.nan


def calmar_ratio(returns: pd.Series | np.ndarray) -> float:
    """Annual return / |max drawdown|; NaN when the series never draws down."""
    mdd = max_drawdown(returns)
    if not mdd < 0:
        return math.nan
    ratio = annual_return(returns) / abs(mdd)
    return ratio if math.isfinite(ratio) else math.nan


def turnover(weights: pd.DataFrame) -> pd.Series:
    """Per-date sum over tickers of |w(t) - w(t-1)|, with w = 0 before the first date (entering counts).

    Weights are fractions of the portfolio notional (a short is negative); NaN counts as 0. A full
    switch of a long-only book is 2.0 (sell 1, buy 1).
    """
    traded = np.abs(weight_changes(weights.to_numpy(dtype=np.float64)))
    return pd.Series(traded.sum(axis=1), index=weights.index, name="turnover")


def weight_changes(weights: np.ndarray) -> np.ndarray:
    """(T, N) trades w(t) - w(t-1) of a (T, N) weight array, from w = 0 before the first row; NaN = 0."""
    return np.diff(np.nan_to_num(weights, nan=0.0), axis=0, prepend=0.0)


def return_metrics(returns: pd.Series | np.ndarray) -> dict[str, float]:
    """Every return-series metric of one daily series, by name."""
    return {
        "sharpe": sharpe_ratio(returns),
        "sortino": sortino_ratio(returns),
        "calmar": calmar_ratio(returns),
        "max_drawdown": max_drawdown(returns),
        "annual_return": annual_return(returns),
        "volatility": annual_volatility(returns),
    }


def _returns(returns: pd.Series | np.ndarray) -> np.ndarray:
    return np.asarray(returns, dtype=np.float64).ravel()


def _std(r: np.ndarray) -> float:
    """std (ddof=1), exactly 0 when every value is equal (the mean can differ from them in the last bit)."""
    finite = r[np.isfinite(r)]
    if len(finite) and finite.max() == finite.min():
        return 0.0
    return float(np.nanstd(r, ddof=1))

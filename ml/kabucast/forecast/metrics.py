"""Per-horizon forecast metrics and the two trivial baselines (numpy + pandas only: the daily path imports this).

Inputs are log returns: ``y_true`` and ``y_pred`` (N, 12), column ``m - 1`` is the return ``21 * m``
trading days ahead, and ``dates`` (N,) says which as-of date each row belongs to (any sortable
values: datetimes, ints). The cross-sectional metrics are computed per date, across tickers, then
averaged over dates (Qlib's ``calc_ic`` convention):

- ``ic``: Pearson correlation of prediction and outcome across tickers of one date;
- ``rankic``: Spearman correlation (Pearson of the ranks, ties given their average rank);
- a date with fewer than :data:`MIN_TICKERS` tickers, or with constant predictions or outcomes, has
  no IC (NaN) and is left out of the mean; a horizon with no usable date gets NaN.

The per-date correlation is kabucast.evaluation.metrics' (``row_corr`` / ``row_ranks``, the one
the backtest and the ranker use): the rows are laid out one date per row first (:func:`by_date`).

The pooled metrics use every row:

- ``dir_acc``: share of rows with ``sign(y_pred) == sign(y_true)``, with sign in {-1, 0, +1}, so a
  zero outcome is its own case: it counts as a hit only for a prediction of exactly 0 (and the
  zero-return baseline therefore scores about 0, not 50%);
- ``mae``: mean absolute error (log-return units);
- ``pred_std``: std of the predictions over all rows; ``pred_xs_std``: mean over dates of the
  cross-sectional std. Either near 0 flags a collapsed (near-constant) model.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from kabucast.evaluation.metrics import MIN_TICKERS, row_corr, row_ranks

MOMENTUM_SHRINK = 0.1
"""Scale of the momentum baseline. IC, RankIC and direction are blind to a positive scale; the shrink
only keeps the baseline's MAE honest (trailing-year returns do not repeat at full size)."""

METRIC_NAMES = ("ic", "rankic", "dir_acc", "mae", "pred_std", "pred_xs_std")


def horizon_metrics(y_true: np.ndarray, y_pred: np.ndarray, dates: np.ndarray) -> dict[str, list[float]]:
    """Every metric of :data:`METRIC_NAMES` -> one float per horizon (a list of 12); NaN where undefined.

    Raises ValueError when the shapes disagree or there is no row.
    """
    y_true, y_pred = np.asarray(y_true, dtype=np.float64), np.asarray(y_pred, dtype=np.float64)
    if y_true.ndim != 2 or y_true.shape != y_pred.shape or len(dates) != len(y_true) or not len(y_true):
        raise ValueError(
            f"need y_true, y_pred (N, H) and dates (N,), N > 0; got {y_true.shape}, {y_pred.shape}, {len(dates)}"
        )
    codes = pd.factorize(np.asarray(dates), sort=True)[0]  # (N,) date index 0..D-1
    result: dict[str, list[float]] = {name: [] for name in METRIC_NAMES}
    for h in range(y_true.shape[1]):
        true, pred = y_true[:, h], y_pred[:, h]
        wide_true, wide_pred = _paired_by_date(true, pred, codes)
        result["ic"].append(_nanmean(row_corr(wide_true, wide_pred)))
        result["rankic"].append(_nanmean(row_corr(row_ranks(wide_true), row_ranks(wide_pred))))
        result["dir_acc"].append(float(np.mean(np.sign(pred) == np.sign(true))))
        result["mae"].append(float(np.mean(np.abs(pred - true))))
        result["pred_std"].append(float(np.std(pred)))
        result["pred_xs_std"].append(_nanmean(per_date_std(pred, codes)))
    return result


def per_date_rankic(y_true: np.ndarray, y_pred: np.ndarray, dates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(D, H) RankIC of every date and horizon (NaN below :data:`MIN_TICKERS` known pairs), and the D dates, sorted.

    The per-date series whose mean ``horizon_metrics`` reports, for error bars and paired comparisons
    (kabucast.evaluation.uncertainty). A NaN outcome or prediction leaves its ticker out of that date.
    """
    y_true, y_pred = np.asarray(y_true, dtype=np.float64), np.asarray(y_pred, dtype=np.float64)
    codes, uniques = pd.factorize(np.asarray(dates), sort=True)
    out = np.full((len(uniques), y_true.shape[1]), np.nan)
    for h in range(y_true.shape[1]):
        wide_true, wide_pred = _paired_by_date(y_true[:, h], y_pred[:, h], codes)
        out[:, h] = row_corr(row_ranks(wide_true), row_ranks(wide_pred))
    return out, np.asarray(uniques)


def _paired_by_date(true: np.ndarray, pred: np.ndarray, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both sides laid out by date (:func:`by_date`), a ticker left out of a date where either is NaN."""
    wide_true, wide_pred = by_date(true, codes), by_date(pred, codes)
    unpaired = ~(np.isfinite(wide_true) & np.isfinite(wide_pred))
    wide_true[unpaired] = wide_pred[unpaired] = np.nan
    return wide_true, wide_pred


def by_date(x: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """(D, M) ``x`` (N,) laid out one date code 0..D-1 per row, M the most rows of a date; NaN-padded."""
    counts = np.bincount(codes)
    order = np.argsort(codes, kind="stable")
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    column = np.arange(len(codes)) - starts[codes[order]]  # position within its date
    out = np.full((len(counts), counts.max(initial=0)), np.nan)
    out[codes[order], column] = x[order]
    return out


def per_date_std(x: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """(D,) cross-sectional std (ddof=0) of ``x`` (N,) within each date; NaN below :data:`MIN_TICKERS` rows."""
    n = np.bincount(codes)
    centred = x - (np.bincount(codes, weights=x) / n)[codes]  # centring first keeps 1e-12 accuracy
    std = np.sqrt(np.bincount(codes, weights=centred * centred, minlength=len(n)) / n)
    return np.where(n >= MIN_TICKERS, std, np.nan)


def zero_baseline(n: int, horizons: int = 12) -> np.ndarray:
    """(n, horizons) float32 zeros: "prices do not move" (its IC is undefined, its MAE is the bar to beat)."""
    return np.zeros((n, horizons), dtype=np.float32)


def momentum_baseline(
    trailing: np.ndarray, horizons: int = 12, shrink: float = MOMENTUM_SHRINK, lookback_months: int = 12
) -> np.ndarray:
    """(N, horizons) float32 log-return forecasts from a trailing log return (N,) over ``lookback_months``.

    Its monthly rate carried forward for at most ``lookback_months`` months, times ``shrink``: horizon
    m = 1..12 gets ``trailing x min(m, lookback_months) / lookback_months x shrink``. The 12-month
    momentum baseline is ``m / 12``; the 1-month reversal baseline (minus the trailing month) is flat.
    """
    months = np.minimum(np.arange(1, horizons + 1), lookback_months) / lookback_months  # (H,)
    return (np.asarray(trailing, dtype=np.float64)[:, None] * months * shrink).astype(np.float32)


def _nanmean(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if finite.size else float("nan")

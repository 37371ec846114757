"""Trailing-window statistics of (T, N) arrays, vectorised over stocks and dates.

Every statistic at row t uses rows t - w + 1 .. t only (point in time) and is NaN unless all w values
are finite, so a warm-up of w - 1 rows (and any window touching a missing bar) is NaN. Sums come from
cumulative sums, one pass per statistic: the value at t is a difference of two prefix sums that end at
or before t, so changing rows after t cannot move it.
"""

from __future__ import annotations

import numpy as np


def lagged(x: np.ndarray, k: int) -> np.ndarray:
    """(T, N) ``x`` moved down by ``k`` rows (row t holds x[t - k]); the first k rows are NaN."""
    out = np.full(x.shape, np.nan)
    out[k:] = x[: len(x) - k]
    return out


def rolling_sum(x: np.ndarray, w: int) -> np.ndarray:
    """(T, N) sum of the last ``w`` rows; NaN unless all of them are finite."""
    if w < 1:
        raise ValueError(f"a window is at least 1 row, got {w}")
    out = np.full(x.shape, np.nan)
    if w > len(x):
        return out
    invalid = ~np.isfinite(x)
    total = _prefix(np.where(invalid, 0.0, x))
    out[w - 1 :] = total[w:] - total[:-w]
    if invalid.any():
        missing = _prefix(invalid.astype(np.float64))
        out[w - 1 :][missing[w:] - missing[:-w] > 0] = np.nan
    return out


def rolling_mean(x: np.ndarray, w: int) -> np.ndarray:
    """(T, N) mean of the last ``w`` rows."""
    return rolling_sum(x, w) / w


def rolling_cov(x: np.ndarray, y: np.ndarray, w: int) -> np.ndarray:
    """(T, N) sample covariance (ddof=1) of the last ``w`` rows of ``x`` and ``y`` (``w`` >= 2)."""
    return _co_moment(rolling_sum(x, w), rolling_sum(y, w), rolling_sum(x * y, w), w)


def rolling_var(x: np.ndarray, w: int) -> np.ndarray:
    """(T, N) sample variance (ddof=1) of the last ``w`` rows, floored at 0 (rounding)."""
    sx = rolling_sum(x, w)
    return np.maximum(_co_moment(sx, sx, rolling_sum(x * x, w), w), 0.0)


def rolling_std(x: np.ndarray, w: int) -> np.ndarray:
    """(T, N) sample standard deviation (ddof=1) of the last ``w`` rows."""
    return np.sqrt(rolling_var(x, w))


def rolling_corr(x: np.ndarray, y: np.ndarray, w: int) -> np.ndarray:
    """(T, N) Pearson correlation of the last ``w`` rows; NaN where either side is constant."""
    sx, sy = rolling_sum(x, w), rolling_sum(y, w)
    vx = _co_moment(sx, sx, rolling_sum(x * x, w), w)
    vy = _co_moment(sy, sy, rolling_sum(y * y, w), w)
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = _co_moment(sx, sy, rolling_sum(x * y, w), w) / np.sqrt(vx * vy)
    return np.where((vx > 0) & (vy > 0), np.clip(corr, -1.0, 1.0), np.nan)


def _co_moment(sx: np.ndarray, sy: np.ndarray, sxy: np.ndarray, w: int) -> np.ndarray:
    """Sample covariance (ddof=1) from the window sums of x, y and x * y."""
    return (sxy - sx * sy / w) / (w - 1)


def _prefix(x: np.ndarray) -> np.ndarray:
    """(T + 1, N) prefix sums with a zero first row: row t is the sum of rows before t."""
    out = np.zeros((len(x) + 1, *x.shape[1:]))
    np.cumsum(x, axis=0, out=out[1:])
    return out

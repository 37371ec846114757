"""The 23 weekly features of kabucast.features.registry.WEEKLY_FEATURES, for all tickers at once.

A week's features depend on its own bar and on statistics of the complete weeks before it (lagged
closes, window sums, window extremes). :class:`WeekStats` holds those statistics, computed once from
the complete weeks; :func:`feature_rows` turns bars and the weeks they belong to into features.
A complete week and a partial week (as of any date) are the same kind of input, which is what
makes many as-of dates cheap (kabucast.features.sequences).

Fill policy: windows that reach before a ticker's first week use the weeks that exist (expanding
window); a lagged close before the first week is the first week's close (so a return is 0 there);
a value still undefined (no daily returns in the window, no sessions this week, zero variance) is
the feature's ``neutral`` value from the registry. No NaN or inf leaves :func:`feature_rows` except
on rows before a ticker's first bar, which the sample builders never return.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from kabucast.features.bars import WeeklyBars, carry_close
from kabucast.features.registry import TRADING_DAYS_PER_YEAR, WEEKLY_FEATURES, feature_names, neutral_values

WEEKLY_NAMES = feature_names(WEEKLY_FEATURES)
_NEUTRAL = neutral_values(WEEKLY_FEATURES)  # (23,)
_EXTREME_WEEKS = 52
_RSI_WEEKS = 14


@dataclass(frozen=True, eq=False)
class WeekStats:
    """What the complete weeks before each week k contribute to week k's features."""

    close: np.ndarray  # (W, N) weekly closes carried over empty weeks, JPY; NaN before the first bar
    first_week: np.ndarray  # (N,) int64 each ticker's first week with a bar (W if none)
    first_close: np.ndarray  # (N,) close of that first week, JPY
    prefix: dict[str, np.ndarray]  # name -> (W + 1, N): row k = sum of the weekly values of weeks < k
    high_before: np.ndarray  # (W, N) highest high of the 51 weeks before k, JPY
    low_before: np.ndarray  # (W, N) lowest low of the 51 weeks before k, JPY

    def close_lag(self, week: np.ndarray, lag: int, close: np.ndarray) -> np.ndarray:
        """(R, N) close ``lag`` weeks before each ``week`` (R,), for rows whose own close is ``close`` (R, N).

        Before a ticker's first week it is the first week's close: the complete one for a later
        row, the row's own ``close`` for a row of the first week itself (it may be partial).
        """
        before = week - lag
        lagged = np.where((before >= 0)[:, None], self.close[np.maximum(before, 0)], np.nan)
        first = np.where(week[:, None] > self.first_week, self.first_close, close)
        return np.where(np.isnan(lagged), first, lagged)

    def sum_before(self, name: str, week: np.ndarray, weeks: int) -> np.ndarray:
        """(R, N) sum of ``name`` over the ``weeks - 1`` weeks before each ``week`` (fewer at the start)."""
        prefix = self.prefix[name]
        return prefix[week] - prefix[np.maximum(week - weeks + 1, 0)]


def week_stats(complete: WeeklyBars) -> WeekStats:
    """Statistics of the complete weekly bars (W, N) that later weeks' features read."""
    close = carry_close(complete.close)
    first_week = first_weeks(complete)
    padded = np.vstack([close, np.full((1, close.shape[1]), np.nan)])  # (W + 1, N): row W for "never traded"
    first_close = padded[first_week, np.arange(close.shape[1])]
    high_before, low_before = _rolling_before(complete.high, True), _rolling_before(complete.low, False)
    stats = WeekStats(close, first_week, first_close, {}, high_before, low_before)
    weekly_return = np.log(close / stats.close_lag(np.arange(len(close)), 1, close))
    log_volume = _log_session_volume(complete)
    values = {name: getattr(complete, name) for name in ("ret_sq", "n_ret", "park_sq", "sessions", "volume")}
    values |= {
        "log_volume": log_volume,
        "log_volume_sq": log_volume**2,
        "n_log_volume": np.isfinite(log_volume),
        "close": close,
        "n_close": np.isfinite(close),
        "up_return": np.maximum(weekly_return, 0.0),
        "down_return": np.maximum(-weekly_return, 0.0),
    }
    stats.prefix.update({name: _prefix_sums(value) for name, value in values.items()})
    return stats


def feature_rows(bars: WeeklyBars, stats: WeekStats, week: np.ndarray) -> np.ndarray:
    """(R, N, 23) float64 features of ``bars`` (R, N), row r being a bar of week ``week[r]``.

    Rows are taken together for the market-relative features: they subtract the mean over the N
    tickers of the same row, so a row must hold one date for every ticker.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        values = _returns(bars, stats, week) | _volatility(bars, stats, week) | _volume(bars, stats, week)
        values |= _trend(bars, stats, week)
        values["mkt_rel_1w"] = _minus_row_mean(values["ret_1w"])
        values["mkt_rel_13w"] = _minus_row_mean(values["ret_13w"])
    stacked = np.stack([values[name] for name in WEEKLY_NAMES], axis=-1)  # (R, N, 23)
    listed = np.isfinite(bars.close)[..., None]  # (R, N, 1)
    return np.where(np.isfinite(stacked) | ~listed, stacked, _NEUTRAL)


def _returns(bars: WeeklyBars, stats: WeekStats, week: np.ndarray) -> dict[str, np.ndarray]:
    close = bars.close
    out = {f"ret_{w}w": np.log(close / stats.close_lag(week, w, close)) for w in (1, 4, 13, 26, 52)}
    out["body_1w"] = np.log(close / bars.open)
    out["overnight_1w"] = bars.gap
    out["range_1w"] = np.log(bars.high / bars.low)
    out["up_frac_1w"] = bars.up_days / bars.n_ret
    return out


def _volatility(bars: WeeklyBars, stats: WeekStats, week: np.ndarray) -> dict[str, np.ndarray]:
    out = {}
    for w in (4, 13, 52):
        squares = stats.sum_before("ret_sq", week, w) + bars.ret_sq
        days = stats.sum_before("n_ret", week, w) + bars.n_ret
        out[f"rvol_{w}w"] = np.where(days >= 2, np.sqrt(TRADING_DAYS_PER_YEAR * squares / days), np.nan)
    squares = stats.sum_before("park_sq", week, 4) + bars.park_sq
    days = stats.sum_before("sessions", week, 4) + bars.sessions
    out["parkinson_4w"] = np.sqrt(TRADING_DAYS_PER_YEAR * squares / (4.0 * np.log(2.0) * days))
    return out


def _volume(bars: WeeklyBars, stats: WeekStats, week: np.ndarray) -> dict[str, np.ndarray]:
    level = _log_session_volume(bars)  # (R, N), NaN without sessions
    volume = stats.sum_before("volume", week, 52) + bars.volume
    sessions = stats.sum_before("sessions", week, 52) + bars.sessions
    count = stats.sum_before("n_log_volume", week, 13) + np.isfinite(level)
    mean = (stats.sum_before("log_volume", week, 13) + np.nan_to_num(level)) / count
    square = (stats.sum_before("log_volume_sq", week, 13) + np.nan_to_num(level) ** 2) / count
    variance = square - mean**2
    z_score = np.where((count >= 2) & (variance > 1e-12), (level - mean) / np.sqrt(variance), np.nan)
    return {"volume_rel_52w": level - np.log1p(volume / sessions), "volume_z_13w": z_score}


def _trend(bars: WeeklyBars, stats: WeekStats, week: np.ndarray) -> dict[str, np.ndarray]:
    close = bars.close
    out = {
        "dist_high_52w": np.log(close / np.fmax(stats.high_before[week], bars.high)),
        "dist_low_52w": np.log(close / np.fmin(stats.low_before[week], bars.low)),
    }
    for w in (13, 26, 52):
        mean = (stats.sum_before("close", week, w) + close) / (stats.sum_before("n_close", week, w) + 1.0)
        out[f"ma_ratio_{w}w"] = np.log(close / mean)
    weekly_return = np.log(close / stats.close_lag(week, 1, close))
    up = stats.sum_before("up_return", week, _RSI_WEEKS) + np.maximum(weekly_return, 0.0)
    down = stats.sum_before("down_return", week, _RSI_WEEKS) + np.maximum(-weekly_return, 0.0)
    out["rsi_14w"] = up / (up + down)
    return out


def first_weeks(complete: WeeklyBars) -> np.ndarray:
    """(N,) int64 position of each ticker's first week with a bar; W (the number of weeks) if none."""
    traded = np.vstack([complete.sessions > 0, np.ones((1, complete.sessions.shape[1]), dtype=bool)])  # (W + 1, N)
    return traded.argmax(axis=0).astype(np.int64)


def _log_session_volume(bars: WeeklyBars) -> np.ndarray:
    """(R, N) ln(1 + shares per session) of each week; NaN for a week without sessions."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log1p(bars.volume / np.where(bars.sessions > 0, bars.sessions, np.nan))


def _minus_row_mean(values: np.ndarray) -> np.ndarray:
    """(R, N) ``values`` minus the mean of each row over the tickers that have a value."""
    valid = np.isfinite(values)
    mean = np.where(valid, values, 0.0).sum(axis=1, keepdims=True) / valid.sum(axis=1, keepdims=True)
    return values - mean


def _prefix_sums(values: np.ndarray) -> np.ndarray:
    """(W + 1, N) row k = sum of ``values`` (W, N) over rows < k, NaN counting as 0."""
    sums = np.nan_to_num(values.astype(np.float64)).cumsum(axis=0)
    return np.vstack([np.zeros((1, values.shape[1])), sums])


def _rolling_before(values: np.ndarray, highest: bool) -> np.ndarray:
    """(W, N) max (or min) of ``values`` over the 51 weeks before each week; NaN when there are none."""
    window = pd.DataFrame(values).shift(1).rolling(_EXTREME_WEEKS - 1, min_periods=1)
    return (window.max() if highest else window.min()).to_numpy()

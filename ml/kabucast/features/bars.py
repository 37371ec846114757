"""Weekly bars: the daily bars of a :class:`PricePanel` aggregated into calendar weeks.

Conventions (docs/FEATURES.md restates them):

- A week is the Monday-to-Friday calendar week (JST) of a date. It exists as a row only when at
  least one date of the panel falls in it: a week closed entirely by holidays has no row.
- The *running* bar of a date t is the bar of t's week from its Monday up to and including t: the
  partial week as of t. A week's complete bar is the running bar of its last panel date, so the
  partial last week of a sample and the complete weeks before it come from one computation.
- Prices are dividend-adjusted: ``close`` is the last ``adj_close``; ``open``, ``high`` and ``low``
  are scaled by the same day's ``adj_close / close``. Back-adjustment multiplies all earlier prices
  by one constant, so the ratios the features use do not change when a later dividend is booked.
- A week in which a ticker has no bar (suspension, missing data) is a flat bar at the previous
  close with zero volume and zero sessions; before a ticker's first bar its rows are NaN.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from kabucast.features.panel import PricePanel

SUM_FIELDS: tuple[str, ...] = ("volume", "sessions", "n_ret", "ret_sq", "up_days", "gap", "park_sq")
"""Bar fields that are sums over the week's days (zero for a week without bars)."""


@dataclass(frozen=True, eq=False)
class WeeklyBars:
    """Weekly bars of N tickers, one row per (possibly partial) week; every field is (R, N) float64."""

    open: np.ndarray  # first adjusted open of the week, JPY
    high: np.ndarray  # highest adjusted high, JPY
    low: np.ndarray  # lowest adjusted low, JPY
    close: np.ndarray  # last adj_close, JPY
    volume: np.ndarray  # shares traded in the week
    sessions: np.ndarray  # days with a bar
    n_ret: np.ndarray  # daily log returns in the week (bars that have an earlier bar)
    ret_sq: np.ndarray  # sum of squared daily log returns log(adj_close_t / adj_close_prev)^2
    up_days: np.ndarray  # daily log returns > 0
    gap: np.ndarray  # sum of overnight log returns log(open_t / adj_close_prev), open adjusted
    park_sq: np.ndarray  # sum of squared daily log ranges log(high_t / low_t)^2

    def take(self, rows: np.ndarray) -> WeeklyBars:
        """The bars at row positions ``rows`` (R',)."""
        return WeeklyBars(**{name: value[rows] for name, value in vars(self).items()})


def week_of_dates(dates: pd.DatetimeIndex) -> np.ndarray:
    """(T,) int64: for each date, the position of its week among the weeks that have a date."""
    mondays = (dates - pd.to_timedelta(dates.day_of_week, unit="D")).to_numpy()
    return np.unique(mondays, return_inverse=True)[1].astype(np.int64)


def running_bars(panel: PricePanel, week_of_date: np.ndarray) -> WeeklyBars:
    """(T, N) bars of each date's week from Monday up to and including that date."""
    day = _daily_terms(panel)
    group = pd.DataFrame(day["close"]).groupby(week_of_date)
    seen = pd.DataFrame(day["sessions"]).groupby(week_of_date).cumsum().to_numpy() > 0
    opened = pd.DataFrame(day["open"]).groupby(week_of_date).transform("first").to_numpy()
    sums = pd.DataFrame(np.hstack([day[name] for name in SUM_FIELDS])).groupby(week_of_date).cumsum().to_numpy()
    return WeeklyBars(
        open=np.where(seen, opened, np.nan),
        high=_running_extreme(day["high"], week_of_date, highest=True),
        low=_running_extreme(day["low"], week_of_date, highest=False),
        close=group.ffill().to_numpy(),
        **dict(zip(SUM_FIELDS, np.hsplit(sums, len(SUM_FIELDS)), strict=True)),
    )


def complete_bars(running: WeeklyBars, week_of_date: np.ndarray) -> WeeklyBars:
    """(W, N) complete bars: the running bar at each week's last date, empty weeks filled flat."""
    last_rows = np.flatnonzero(np.r_[np.diff(week_of_date) != 0, len(week_of_date) > 0])
    bars = running.take(last_rows)
    carried = carry_close(bars.close)
    return fill_empty(bars, close_before(carried, np.arange(len(last_rows))))


def fill_empty(bars: WeeklyBars, previous_close: np.ndarray) -> WeeklyBars:
    """Rows without sessions become a flat bar at ``previous_close`` (R, N); sums are already zero."""
    empty = bars.sessions == 0
    flat = {name: np.where(empty, previous_close, getattr(bars, name)) for name in ("open", "high", "low", "close")}
    return replace(bars, **flat)


def carry_close(close: np.ndarray) -> np.ndarray:
    """(W, N) weekly closes with each NaN replaced by the latest earlier close (NaN before the first)."""
    return pd.DataFrame(close).ffill().to_numpy()


def close_before(carried: np.ndarray, week: np.ndarray) -> np.ndarray:
    """(R, N) the carried close of the week before each ``week`` (R,), NaN for week 0."""
    previous = carried[np.maximum(week - 1, 0)]
    return np.where((week >= 1)[:, None], previous, np.nan)


def _daily_terms(panel: PricePanel) -> dict[str, np.ndarray]:
    """(T, N) daily quantities: adjusted prices and the per-day terms the weekly sums add up."""
    factor = panel.adj_close / panel.close
    close = panel.adj_close
    has_bar = np.isfinite(close)
    previous = pd.DataFrame(close).ffill().shift(1).to_numpy()  # the ticker's latest earlier close
    with np.errstate(divide="ignore", invalid="ignore"):
        ret = np.log(close / previous)
        gap = np.log(panel.open * factor / previous)
        park = np.log(panel.high / panel.low) ** 2
    return {
        "open": panel.open * factor,
        "high": panel.high * factor,
        "low": panel.low * factor,
        "close": close,
        "volume": np.where(has_bar, np.nan_to_num(panel.volume), 0.0),
        "sessions": has_bar.astype(np.float64),
        "n_ret": np.isfinite(ret).astype(np.float64),
        "ret_sq": np.nan_to_num(ret**2),
        "up_days": (ret > 0).astype(np.float64),
        "gap": np.nan_to_num(gap),
        "park_sq": np.nan_to_num(park),
    }


def _running_extreme(values: np.ndarray, week_of_date: np.ndarray, highest: bool) -> np.ndarray:
    """(T, N) running max (or min) of ``values`` within each week, NaN until the week's first bar."""
    missing = -np.inf if highest else np.inf
    group = pd.DataFrame(np.where(np.isnan(values), missing, values)).groupby(week_of_date)
    out = (group.cummax() if highest else group.cummin()).to_numpy()
    return np.where(out == missing, np.nan, out)

"""Samples of weekly features: each ticker's 156-week sequence as of a date.

The last row of a sample is the partial week of the as-of date (Monday up to the as-of date); the
155 rows before it are the complete weeks before that week. Two ways lead to the same numbers:

- :func:`weekly_features_at` (inference, one date) cuts the panel after the as-of date, so no later
  bar can reach the result, and computes the last 156 weeks;
- :func:`weekly_feature_history` (training, many dates) computes the complete weeks' features once
  and adds one partial-week row per date; :meth:`WeeklyFeatureHistory.windows` gathers samples on
  demand, since 40,000 samples at once would be (40000, 156, 23) float32 = 570 MB.

A test checks that both give the same arrays for every date.

With slow-data groups (``slow``: kabucast.features.slow.SlowInputs; off by default) each row gains the groups'
columns after the 23, as visible on the row's date: a complete week's last session, a partial week's as-of date
(its latest panel date). Without them the arrays are exactly those of the 23 features.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from kabucast.errors import InsufficientHistory
from kabucast.features.bars import close_before, complete_bars, fill_empty, running_bars, week_of_dates
from kabucast.features.panel import PricePanel
from kabucast.features.registry import SEQ_WEEKS, WEEKLY_FEATURES
from kabucast.features.slow import SlowInputs
from kabucast.features.weekly import feature_rows, week_stats


@dataclass(frozen=True, eq=False)
class WeeklyBatch:
    """Weekly samples of one as-of date for the tickers with enough history, and why the others have none."""

    tickers: tuple[str, ...]  # (N,) in the requested order
    features: np.ndarray  # (N, 156, 23 + G) float32; G: the slow groups' columns (0 by default)
    failures: dict[str, InsufficientHistory]


def weekly_features_checked(
    panel: PricePanel, as_of: object, tickers: Sequence[str] | None = None, slow: SlowInputs | None = None
) -> WeeklyBatch:
    """Each ticker's sequence as of ``as_of`` (JST date), using only bars dated on or before it (and slow data
    visible on each row's date).

    A ticker with fewer than 156 weeks up to the as-of week (or not in the panel) is listed in
    ``failures`` instead; one short ticker never stops the others.
    """
    wanted = panel.tickers if tickers is None else tuple(tickers)
    past = panel.until(as_of)
    week_of_date = week_of_dates(past.dates)
    complete = complete_bars(running_bars(past, week_of_date), week_of_date)
    stats = week_stats(complete)
    n_weeks = len(complete.close)
    available = dict(zip(past.tickers, (n_weeks - stats.first_week).tolist(), strict=True))
    failures = {
        t: InsufficientHistory(t, available.get(t, 0), SEQ_WEEKS) for t in wanted if available.get(t, 0) < SEQ_WEEKS
    }
    ok = tuple(t for t in wanted if t not in failures)
    if not ok:
        width = len(WEEKLY_FEATURES) + (slow.width if slow else 0)
        return WeeklyBatch((), np.zeros((0, SEQ_WEEKS, width), dtype=np.float32), failures)
    week = np.arange(n_weeks - SEQ_WEEKS, n_weeks)
    rows = feature_rows(complete.take(week), stats, week)  # (156, N_panel, 23)
    if slow is not None:
        dates = week_last_dates(past.dates, week_of_date)[week]
        rows = np.concatenate([rows, slow.rows(dates, past.tickers)], axis=-1)  # (156, N_panel, 23 + G)
    features = rows[:, past.positions(ok)].transpose(1, 0, 2)  # (N, 156, 23 + G)
    return WeeklyBatch(ok, np.ascontiguousarray(features, dtype=np.float32), failures)


def weekly_features_at(
    panel: PricePanel, as_of: object, tickers: Sequence[str] | None = None, slow: SlowInputs | None = None
) -> np.ndarray:
    """(N, 156, 23 + G) float32 sequences of ``tickers`` (default: all) as of ``as_of``.

    Raises :class:`InsufficientHistory` for the first ticker with fewer than 156 weeks.
    """
    batch = weekly_features_checked(panel, as_of, tickers, slow)
    if batch.failures:
        raise next(iter(batch.failures.values()))
    return batch.features


@dataclass(frozen=True, eq=False)
class WeeklyFeatureHistory:
    """Weekly features for many as-of dates, stored once; :meth:`windows` builds samples from them."""

    tickers: tuple[str, ...]  # (N,)
    as_of: pd.DatetimeIndex  # (D,) the requested as-of dates
    complete: np.ndarray  # (W, N, 23 + G) float32 features of every complete week of the panel
    partial: np.ndarray  # (D, N, 23 + G) float32 features of each as-of date's partial week
    week: np.ndarray  # (D,) int64 week of each as-of date (row of ``complete``)
    first_week: np.ndarray  # (N,) int64 each ticker's first week with a bar (W if none)

    @property
    def width(self) -> int:
        """Weekly features per row: 23, plus the slow-data groups' columns when the history has them."""
        return int(self.complete.shape[-1])

    @property
    def weeks_available(self) -> np.ndarray:
        """(D, N) int64 weeks from each ticker's first week up to the as-of week, both included."""
        return np.maximum(self.week[:, None] + 1 - self.first_week[None, :], 0)

    def windows(self, date_pos: np.ndarray, ticker_pos: np.ndarray) -> np.ndarray:
        """(B, 156, 23 + G) float32 samples for as-of positions ``date_pos`` (B,) and tickers ``ticker_pos`` (B,).

        Raises :class:`InsufficientHistory` naming the first sample whose ticker is short of weeks.
        """
        date_pos, ticker_pos = np.asarray(date_pos, dtype=np.int64), np.asarray(ticker_pos, dtype=np.int64)
        weeks = self.weeks_available[date_pos, ticker_pos]
        short = np.flatnonzero(weeks < SEQ_WEEKS)
        if short.size:
            i = short[0]
            raise InsufficientHistory(self.tickers[ticker_pos[i]], int(weeks[i]), SEQ_WEEKS)
        rows = self.week[date_pos, None] + np.arange(1 - SEQ_WEEKS, 0)  # (B, 155)
        before = self.complete[rows, ticker_pos[:, None]]  # (B, 155, 23 + G)
        last = self.partial[date_pos, ticker_pos][:, None]  # (B, 1, 23 + G)
        return np.concatenate([before, last], axis=1)


def weekly_feature_history(
    panel: PricePanel, as_of_dates: Sequence[object] | pd.DatetimeIndex, slow: SlowInputs | None = None
) -> WeeklyFeatureHistory:
    """Weekly features of ``panel`` for every date of ``as_of_dates`` (JST dates, any order), with the ``slow``
    groups' columns when given.

    An as-of date that is not a panel date takes the latest panel date before it, as
    :func:`weekly_features_at` does. Raises ValueError for a date before the panel's first date.
    """
    as_of = pd.DatetimeIndex(as_of_dates).normalize()
    rows = panel.dates.searchsorted(as_of, side="right") - 1  # (D,) latest panel date on or before each
    if len(rows) and rows.min() < 0:
        first = panel.dates[0].date() if len(panel.dates) else "none"
        raise ValueError(f"as-of date {as_of[rows.argmin()].date()} is before the panel's first date ({first})")
    week_of_date = week_of_dates(panel.dates)
    running = running_bars(panel, week_of_date)
    complete = complete_bars(running, week_of_date)
    stats = week_stats(complete)
    week = week_of_date[rows]
    partial = fill_empty(running.take(rows), close_before(stats.close, week))
    complete_rows = feature_rows(complete, stats, np.arange(len(complete.close)))  # (W, N, 23)
    partial_rows = feature_rows(partial, stats, week)  # (D, N, 23)
    if slow is not None:
        complete_dates = week_last_dates(panel.dates, week_of_date)
        complete_rows = np.concatenate([complete_rows, slow.rows(complete_dates, panel.tickers)], axis=-1)
        partial_rows = np.concatenate([partial_rows, slow.rows(panel.dates[rows], panel.tickers)], axis=-1)
    return WeeklyFeatureHistory(
        tickers=panel.tickers,
        as_of=as_of,
        complete=complete_rows.astype(np.float32),
        partial=partial_rows.astype(np.float32),
        week=week,
        first_week=stats.first_week,
    )


def week_last_dates(dates: pd.DatetimeIndex, week_of_date: np.ndarray) -> pd.DatetimeIndex:
    """(W,) the last of ``dates`` in each week (``week_of_date``: kabucast.features.bars.week_of_dates)."""
    last = np.zeros(int(week_of_date.max()) + 1 if len(week_of_date) else 0, dtype=np.int64)
    np.maximum.at(last, week_of_date, np.arange(len(dates)))
    return dates[last]

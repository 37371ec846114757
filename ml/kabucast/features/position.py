"""Position features: where the as-of date sits in its trading week.

``day_of_week`` is the weekday of the as-of date scaled to [0, 1] (Monday 0, Friday 1; a weekend
date counts as Friday). ``week_progress`` is the share of the week's sessions (the universe's exchange) (Monday..Friday)
that fall on or before the as-of date, so a holiday Monday makes Tuesday the first session rather
than the second of five. A week without sessions counts as finished (1). Together they tell the
model how much of the partial last week of a sample has happened.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from kabucast.data.calendar import TradingCalendar


def position_features(as_of_dates: Sequence[object] | pd.DatetimeIndex, calendar: TradingCalendar) -> np.ndarray:
    """(D, 2) float32 ``[day_of_week, week_progress]`` of each as-of date (local dates of the calendar's exchange).

    Raises :class:`~kabucast.data.calendar.OutsideCalendar` when a date's week leaves the calendar's range.
    """
    as_of = pd.DatetimeIndex(as_of_dates).normalize()
    weekday = np.asarray(as_of.day_of_week)
    if len(as_of) == 0:
        return np.zeros((0, 2), dtype=np.float32)
    monday = as_of - pd.to_timedelta(weekday, unit="D")
    friday = monday + pd.Timedelta(days=4)
    calendar.check_range(monday.min(), friday.max(), "as-of weeks")
    sessions = calendar.sessions(monday.min(), friday.max()).to_numpy()
    start = sessions.searchsorted(monday.to_numpy(), side="left")
    total = sessions.searchsorted(friday.to_numpy(), side="right") - start
    elapsed = sessions.searchsorted(as_of.to_numpy(), side="right") - start
    progress = np.where(total > 0, elapsed / np.maximum(total, 1), 1.0)
    day_of_week = np.minimum(weekday, 4) / 4.0
    return np.stack([day_of_week, progress], axis=1).astype(np.float32)

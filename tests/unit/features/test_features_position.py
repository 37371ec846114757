"""Position features: weekday and the share of the week's JPX sessions elapsed."""

from __future__ import annotations

import numpy as np
import pytest

from kabucast.data.calendar import OutsideCalendar, TradingCalendar
from kabucast.features.position import position_features


@pytest.mark.parametrize(
    ("as_of", "day_of_week", "week_progress"),
    [
        ("2024-03-11", 0.0, 1 / 5),  # an ordinary Monday
        ("2024-03-13", 0.5, 3 / 5),  # an ordinary Wednesday
        ("2024-03-15", 1.0, 1.0),  # an ordinary Friday
        ("2024-01-09", 0.25, 1 / 4),  # Tuesday after Coming-of-Age Day: the week's first session
        ("2024-05-01", 0.5, 2 / 3),  # Golden Week 2024: only Apr 30, May 1, May 2 trade
        ("2024-03-16", 1.0, 1.0),  # a Saturday counts as the end of the week
        ("2019-05-01", 0.5, 1.0),  # a week closed by holidays (2019 enthronement) counts as finished
    ],
)
def test_position_features(calendar: TradingCalendar, as_of: str, day_of_week: float, week_progress: float) -> None:
    # GIVEN an as-of date WHEN its position features are built THEN they match the JPX calendar
    features = position_features([as_of], calendar)
    assert features.shape == (1, 2) and features.dtype == np.float32
    np.testing.assert_allclose(features[0], [day_of_week, week_progress], rtol=1e-6)


def test_many_dates_at_once_and_none(calendar: TradingCalendar) -> None:
    # GIVEN several dates in different weeks WHEN built together THEN each row equals its single build
    dates = ["2024-01-09", "2024-05-01", "2024-03-13"]
    together = position_features(dates, calendar)
    np.testing.assert_array_equal(together, np.vstack([position_features([d], calendar) for d in dates]))
    assert position_features([], calendar).shape == (0, 2)


def test_a_date_outside_the_calendar_is_refused(calendar: TradingCalendar) -> None:
    # GIVEN a date before the calendar starts WHEN / THEN it is refused
    with pytest.raises(OutsideCalendar, match=r"as-of weeks 1996-12-30\.\.1997-01-03 is outside the XTKS calendar"):
        position_features(["1997-01-03"], calendar)

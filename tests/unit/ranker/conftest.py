"""Small seeded synthetic panels for the ranker tests (`calendar` comes from tests/conftest.py)."""

from __future__ import annotations

import pytest

from kabucast.data.calendar import TradingCalendar
from kabucast.ranker.sample import SamplePanel, sample_panel
from kabucast.ranker.settings import PlantSettings

START, END = "2020-01-06", "2020-12-30"
"""One year of sessions (243), enough for the 64-session warm-up of the default features."""


@pytest.fixture(scope="session")
def small(calendar: TradingCalendar) -> SamplePanel:
    """40 synthetic stocks over one year, with the default planted signal."""
    return sample_panel(40, START, END, seed=3, plant=PlantSettings(), calendar=calendar)

"""The slow-data screen (kabucast.experiments.slow_screen) finds a planted signal and nothing in noise."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from tests.unit.features.conftest import random_walk

from kabucast.experiments.slow_screen import forward_log_returns, screen_lines, slow_screen
from kabucast.features.panel import PricePanel
from kabucast.features.slow import slow_inputs


@pytest.fixture(scope="module")
def market(calendar, universe) -> PricePanel:
    """Ten names that were members from 2019 to 2023, as random walks on JPX sessions."""
    names = sorted(set(universe.members_on("2019-01-04")) & set(universe.members_on("2023-06-30")))[:10]
    sessions = calendar.sessions("2019-01-04", "2023-06-30")
    return PricePanel.from_frames({t: random_walk(sessions, i) for i, t in enumerate(names)})


def margin_rows(panel: PricePanel, calendar, signal: np.ndarray) -> pd.DataFrame:
    """A margin row per ticker each Friday, published that day, whose ln(long / short) is ``signal`` (T, N) on the
    session after it (the first the row is visible on)."""
    rows = []
    for day in pd.date_range("2020-01-03", "2023-05-26", freq="W-FRI"):
        if not calendar.is_session(day):
            continue
        seen = panel.dates.get_loc(calendar.session_after(day, 1))
        for j, ticker in enumerate(panel.tickers):
            rows.append({"ticker": ticker, "date": day - pd.Timedelta(days=3), "published": day,
                         "long_vol": 1e6 * np.exp(signal[seen, j]), "short_vol": 1e6})  # fmt: skip
    return pd.DataFrame(rows)


def test_a_planted_signal_is_found_and_noise_is_not(market: PricePanel, calendar, universe, sectors) -> None:
    forward = forward_log_returns(market, 21).to_numpy()
    planted = np.nan_to_num(forward)  # the value published each Friday is next month's return from Monday
    noise = np.random.default_rng(0).normal(size=forward.shape)
    start, end = pd.Timestamp("2020-02-03"), pd.Timestamp("2023-05-26")
    found = {}
    for name, signal in (("planted", planted), ("noise", noise)):
        inputs = slow_inputs({"margin": margin_rows(market, calendar, signal)}, calendar, {}, sectors)
        found[name] = slow_screen(market, inputs, universe, start, end)["margin_long_short"]
    # THEN the planted signal ranks the returns on Mondays (its visible day) and less on the days after
    assert found["planted"]["ci_low"] > 0.2
    assert found["noise"]["ci_low"] < 0 < found["noise"]["ci_high"]
    assert found["planted"]["n"] > 700
    assert "margin_long_short" in screen_lines({"margin_long_short": found["noise"]})[0]

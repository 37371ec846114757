"""The adaptive band state: what a matured forecast teaches it, what it remembers, and its JSON
(kabucast.forecast.adaptive_bands)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from kabucast.evaluation.calibration import ADAPTIVE_GAMMA
from kabucast.forecast.adaptive_bands import HISTORY_SESSIONS, BandSnapshot, BandState, issued_bands
from kabucast.forecast.document import forecast_document

FIVE = (0.05, 0.25, 0.5, 0.75, 0.95)


TICKERS = ("1001.T", "1002.T")


def banded_document(
    day: pd.Timestamp, tickers: tuple[str, ...], quantiles: np.ndarray | None, levels: tuple[float, ...]
) -> dict:
    """A forecast of ``tickers`` on ``day`` as the daily job publishes it, its month quantiles ``quantiles``
    (N, 12, Q) log returns at ``levels`` (None: a kind without bands). Its current prices are 1: nothing here
    may read them."""
    n = len(tickers)
    return forecast_document(
        tickers,
        np.zeros((n, 12)),
        {t: day for t in tickers},
        {t: 1.0 for t in tickers},
        {},
        {},
        "v1",
        day,
        quantiles=quantiles,
        levels=levels if quantiles is not None else (),
    )


def document(quantiles: np.ndarray | None, levels: tuple[float, ...] = FIVE) -> dict:
    """Two names' forecast whose month quantiles are ``quantiles`` (2, 12, Q)."""
    return banded_document(pd.Timestamp("2025-03-03"), TICKERS, quantiles, levels)


def test_a_published_band_is_read_back_as_the_log_quantiles_issued() -> None:
    q = np.sort(np.random.default_rng(0).normal(0, 0.1, (2, 12, 5)), axis=-1)
    issued = issued_bands(document(q), 4)
    assert issued.tickers == TICKERS and issued.levels == FIVE
    assert np.allclose(issued.quantiles, q[:, 3], atol=1e-5)  # the document rounds simple returns to 6 decimals
    assert issued_bands(document(None), 4) is None


def test_each_central_interval_learns_from_its_own_misses() -> None:
    # GIVEN a month-2 forecast whose outcomes lie between the 0.25-0.75 and the 0.05-0.95 intervals
    q = np.tile([-0.2, -0.1, 0.0, 0.1, 0.2], (2, 12, 1))
    issued = issued_bands(document(q), 2)
    # WHEN it matures
    learnt = BandSnapshot().learn("2025-03-03", 2, issued, np.array([0.15, -0.15]))
    # THEN the inner interval (all missed, nominal 50 %) widens, the outer one (all held, nominal 90 %) narrows
    factors = learnt.factors(FIVE)
    assert factors[1, [1, 3]] == pytest.approx([np.exp(ADAPTIVE_GAMMA * 0.5)] * 2)
    assert factors[1, [0, 4]] == pytest.approx([np.exp(-ADAPTIVE_GAMMA * 0.1)] * 2)
    assert np.allclose(np.delete(factors, 1, axis=0), 1.0) and np.allclose(factors[:, 2], 1.0)
    assert learnt.matured_forecasts == 1 and learnt.through == {2: "2025-03-03"}
    # AND a model served later with other levels gets factor 1 for a pair never learnt
    record = learnt.record((0.1, 0.5, 0.9), "2025-04-01")
    assert record["factors"] == {"0.1-0.9": [1.0] * 12} and record["factors_as_of"] == "2025-04-01"


def test_a_forecast_without_bands_or_known_outcomes_only_moves_through() -> None:
    start = BandSnapshot(log_factors={"0.1-0.9": (0.1,) * 12}, matured_forecasts=3, through={1: "2025-01-06"})
    issued = issued_bands(document(np.tile([-0.1, 0.0, 0.1], (2, 12, 1)), (0.1, 0.5, 0.9)), 1)
    for learnt in (
        start.learn("2025-03-03", 1, None, np.empty(0)),
        start.learn("2025-03-03", 1, issued, np.full(2, np.nan)),
    ):
        assert learnt.log_factors == start.log_factors and learnt.matured_forecasts == 3
        assert learnt.through == {1: "2025-03-03"}


def test_the_state_remembers_the_factors_of_its_last_sessions() -> None:
    # GIVEN a state issued on more sessions than it keeps, each with its own factors
    sessions = [str(d.date()) for d in pd.bdate_range("2024-01-01", periods=HISTORY_SESSIONS + 30)]
    state = BandState()
    for i, day in enumerate(sessions):
        state = state.with_issue(day, BandSnapshot(log_factors={"0.1-0.9": (i / 1000,) * 12}, matured_forecasts=i))
    # THEN it keeps the newest HISTORY_SESSIONS, and a day between two issued sessions gets the earlier one's
    assert len(state.issued) == HISTORY_SESSIONS and state.as_of == sessions[-1]
    assert min(state.issued) == sessions[30]
    assert state.in_force(sessions[100]) == (sessions[100], state.issued[sessions[100]])
    saturday = str((pd.Timestamp(sessions[100]) + pd.offsets.Week(weekday=5)).date())
    assert state.in_force(saturday)[0] == max(d for d in sessions if d <= saturday)
    assert state.in_force(sessions[29]) == (None, BandSnapshot())
    # AND its JSON gives back the same state, float for float
    assert BandState.from_json(json.loads(json.dumps(state.to_json()))) == state


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"as_of": "2025-01-01"}, "newest issued"),
        ({"issued": {"2025-13-1": {}}}, "not a date"),
        ({"issued": {"2025-03-03": {"gamma": 0.01}}}, "must hold"),
    ],
)
def test_a_malformed_state_says_what_is_wrong(change: dict, problem: str) -> None:
    good = BandState().with_issue("2025-03-03", BandSnapshot()).to_json()
    with pytest.raises(ValueError, match=problem):
        BandState.from_json({**good, **change})

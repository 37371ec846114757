"""The daily job's adaptive bands against a LocalStore: planted prices and published forecasts in, the factors
and the stored state out (kabucast.jobs.band_step)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from tests.unit.forecast.test_adaptive_bands import banded_document

from kabucast.data.prices import prices_key
from kabucast.errors import ConcurrentUpdate, CorruptObject
from kabucast.evaluation.calibration import ADAPTIVE_GAMMA
from kabucast.features import PricePanel
from kabucast.jobs.band_step import BANDS_KEY, BandPlan, commit_bands, plan_bands
from kabucast.jobs.publish import ADHOC_PREFIX, LATEST_KEY, prediction_key
from kabucast.storage import LocalStore
from kabucast.storage.base import dumps_json

TICKERS = ("1001.T", "1002.T", "1003.T")
LEVELS = (0.1, 0.5, 0.9)
GROWTH = 0.01  # every planted price grows 1 % a session: a month's log return is 21 x log(1.01) = 0.209
NARROW, WIDE = 0.1, 1.0  # half-widths of a planted band around 0: the month-1 outcome is outside / inside


def price_frame(sessions: pd.DatetimeIndex) -> pd.DataFrame:
    price = 100.0 * (1 + GROWTH) ** np.arange(len(sessions))
    columns = {c: price for c in ("open", "high", "low", "close", "adj_close")}
    return pd.DataFrame({**columns, "volume": 1000}, index=sessions.rename("date"))


@pytest.fixture
def store(tmp_path, calendar) -> LocalStore:
    s = LocalStore(tmp_path)
    for t in TICKERS:
        s.put_parquet(prices_key(t), price_frame(calendar.sessions("2025-01-01", "2025-12-31")))
    return s


def panel(store: LocalStore) -> PricePanel:
    """The run's own panel holds the first name only: the others are read from the store."""
    return PricePanel.from_frames({TICKERS[0]: store.get_parquet(prices_key(TICKERS[0]))}, TICKERS[:1])


def publish(store: LocalStore, day: pd.Timestamp, half_width: float | None, tickers=TICKERS, key=None) -> None:
    """A forecast of ``day`` whose every month's band is [-half_width, +half_width] (log returns; None: no bands),
    stored as the daily job publishes it. Its current_price is nonsense: the outcome must come from the store."""
    quantiles = None if half_width is None else np.tile([-half_width, 0.0, half_width], (len(tickers), 12, 1))
    document = banded_document(day, tuple(tickers), quantiles, LEVELS)
    store.put_json(key or prediction_key(day), document)


def run(store: LocalStore, calendar, day: pd.Timestamp, subset: bool = False) -> BandPlan:
    plan = plan_bands(store, calendar, day, LEVELS, panel(store), subset)
    commit_bands(store, plan)
    return plan


def month_one(plan: BandPlan) -> float:
    assert np.allclose(plan.factors[1:], 1.0) and np.allclose(plan.factors[:, 1], 1.0)
    return float(plan.factors[0, 0])


@pytest.mark.parametrize(("half_width", "miss"), [(NARROW, 1.0), (WIDE, 0.0)])
def test_matured_misses_widen_the_band_and_hits_narrow_it(store, calendar, half_width, miss) -> None:
    # GIVEN three published forecasts whose month-1 bands all miss (or all hold) the stored outcome
    days = calendar.sessions("2025-03-03", "2025-03-05")
    for day in days:
        publish(store, day, half_width)
    # WHEN the daily job runs 21 sessions after the last of them
    today = calendar.session_after(days[-1], 21)
    plan = run(store, calendar, today)
    # THEN month 1's factor took three steps of gamma x (miss - 0.2); no other month has matured
    assert month_one(plan) == pytest.approx(np.exp(3 * ADAPTIVE_GAMMA * (miss - 0.2)))
    assert (month_one(plan) > 1) == (miss == 1.0)
    record = plan.record
    assert record["matured_forecasts"] == 3 and record["through"] == {"1": str(days[-1].date())}
    assert record["factors_as_of"] == str(today.date()) and record["factors"]["0.1-0.9"][0] == round(month_one(plan), 6)
    # AND the band it issues is stretched around the median by that factor
    served = np.tile([-0.2, 0.05, 0.3], (2, 12, 1))
    issued = plan.apply(served, LEVELS)
    assert issued[:, 0, 2] - issued[:, 0, 0] == pytest.approx(0.5 * month_one(plan))
    assert np.array_equal(issued[:, 1:], served[:, 1:]) and np.array_equal(issued[..., 1], served[..., 1])
    # AND the state is stored as of that session
    assert store.get_json(BANDS_KEY)["as_of"] == str(today.date())


@pytest.mark.parametrize(("half_width", "miss"), [(NARROW, 1.0), (WIDE, 0.0)])
def test_a_name_without_prices_is_not_counted(store, calendar, half_width, miss) -> None:
    # GIVEN a forecast whose priced names all miss (or all hold) their outcome, and a fourth name without prices
    day = pd.Timestamp("2025-03-03")
    publish(store, day, half_width, tickers=(*TICKERS, "9999.T"))
    # WHEN its month 1 matures
    plan = run(store, calendar, calendar.session_after(day, 21))
    # THEN the unpriced name counted neither as a hit nor as a miss
    assert month_one(plan) == pytest.approx(np.exp(ADAPTIVE_GAMMA * (miss - 0.2)))


def test_only_dated_banded_forecasts_are_learnt_from(store, calendar) -> None:
    # GIVEN missing bands in latest.json and an ad-hoc document, and a dated forecast of a kind without bands
    day = pd.Timestamp("2025-03-03")
    publish(store, day, NARROW, key=LATEST_KEY)
    publish(store, day, NARROW, key=f"{ADHOC_PREFIX}/{day.date()}/1001.T.json")
    publish(store, day, None)
    # WHEN that date's month 1 matures
    plan = run(store, calendar, calendar.session_after(day, 21))
    # THEN nothing was learnt, and the forecast without bands is not read again
    assert month_one(plan) == 1.0 and plan.record["matured_forecasts"] == 0
    assert plan.record["through"] == {"1": str(day.date())}


def test_each_month_learns_from_a_forecast_once(store, calendar) -> None:
    # GIVEN one forecast whose bands all miss, learnt from at month 1
    day = pd.Timestamp("2025-03-03")
    publish(store, day, NARROW)
    first = run(store, calendar, calendar.session_after(day, 21))
    # WHEN a later run sees its month 2 mature
    later = run(store, calendar, calendar.session_after(day, 42))
    # THEN month 2 took its step and month 1 did not take a second one
    step = np.exp(0.8 * ADAPTIVE_GAMMA)
    assert first.factors[0, 0] == pytest.approx(step) and later.factors[0, 0] == first.factors[0, 0]
    assert later.factors[1, 0] == pytest.approx(step) and np.allclose(later.factors[2:], 1.0)
    assert later.record["matured_forecasts"] == 2 and later.record["through"] == {"1": "2025-03-03", "2": "2025-03-03"}


class CountingStore(LocalStore):
    """A LocalStore that remembers which forecast documents were read."""

    read: list[str]

    def get_versioned(self, key: str):
        self.read.append(key)
        return super().get_versioned(key)


def test_a_daily_run_reads_one_forecast_per_month_in_steady_state(store, calendar) -> None:
    # GIVEN a year of daily forecasts, learnt from up to one session
    days = calendar.sessions("2025-01-06", "2025-12-10")
    for day in days[:-1]:
        publish(store, day, NARROW)
    run(store, calendar, days[-2])
    # WHEN the next session's run learns what matured on it
    counting = CountingStore(store.root)
    counting.read = []
    plan = plan_bands(counting, calendar, days[-1], LEVELS, panel(store), False)
    # THEN it read the state and one forecast per month whose outcome matured that session, no more
    forecasts = [k for k in counting.read if k.startswith("predictions/")]
    matured = [days[-1 - 21 * h] for h in range(1, 13) if len(days) > 21 * h]
    assert sorted(forecasts) == sorted(prediction_key(d) for d in matured)
    assert counting.read.count(BANDS_KEY) == 1 and plan.state is not None


def test_a_rerun_of_the_same_session_issues_the_same_factors_and_stores_nothing(store, calendar) -> None:
    day = pd.Timestamp("2025-03-03")
    publish(store, day, NARROW)
    today = calendar.session_after(day, 21)
    first = run(store, calendar, today)
    stored = store.get_bytes(BANDS_KEY)
    # WHEN the same session runs again, even after a forecast whose month 2 matures on it was backfilled
    publish(store, calendar.sessions("2025-01-01", day)[-22], NARROW)
    again = run(store, calendar, today)
    # THEN it issues what the first run issued, and the state is as the first run left it
    assert again.record == first.record and np.array_equal(again.factors, first.factors)
    assert again.state is None and store.get_bytes(BANDS_KEY) == stored


def test_a_past_session_issues_the_factors_of_its_time_and_leaves_the_state(store, calendar) -> None:
    # GIVEN a state learnt on two sessions from forecasts whose bands missed
    days = calendar.sessions("2025-03-03", "2025-03-05")
    for day in days:
        publish(store, day, NARROW)
    first, second = calendar.session_after(days[0], 21), calendar.session_after(days[-1], 21)
    in_force_then = run(store, calendar, first)
    latest = run(store, calendar, second)
    stored = store.get_bytes(BANDS_KEY)
    assert latest.factors[0, 0] > in_force_then.factors[0, 0] > 1.0
    # WHEN a missed session between them is backfilled, and one before any state
    between = run(store, calendar, calendar.session_after(first, 1))
    before = run(store, calendar, calendar.previous_session(first, inclusive=False))
    # THEN the first takes the nearest earlier session's factors, the second factors 1, and both say so
    assert between.record == in_force_then.record and between.record["factors_as_of"] == str(first.date())
    assert np.allclose(before.factors, 1.0) and before.record["factors_as_of"] is None
    # AND the state did not move back
    assert store.get_bytes(BANDS_KEY) == stored and store.get_json(BANDS_KEY)["as_of"] == str(second.date())


def test_a_subset_run_uses_the_factors_and_never_writes_the_state(store, calendar) -> None:
    day = pd.Timestamp("2025-03-03")
    publish(store, day, NARROW)
    learnt = run(store, calendar, calendar.session_after(day, 21))
    stored = store.get_bytes(BANDS_KEY)
    later = run(store, calendar, calendar.session_after(day, 30), subset=True)
    assert (
        np.array_equal(later.factors, learnt.factors)
        and later.record["factors_as_of"] == learnt.record["factors_as_of"]
    )
    assert store.get_bytes(BANDS_KEY) == stored


def test_a_rival_state_write_fails_the_run_and_is_kept(store, calendar) -> None:
    # GIVEN a run that read no state and learnt from a matured forecast
    day = pd.Timestamp("2025-03-03")
    publish(store, day, NARROW)
    today = calendar.session_after(day, 21)
    plan = plan_bands(store, calendar, today, LEVELS, panel(store), False)
    # WHEN another run stores the very same state first, this run's write is no conflict
    store.put_bytes(BANDS_KEY, plan.state)
    commit_bands(store, plan)
    # BUT when another run stored a different state between this run's read and its write
    rival = plan_bands(store, calendar, calendar.session_after(today, 1), LEVELS, panel(store), False)
    store.put_bytes(BANDS_KEY, b'{"rival": true}\n')
    # THEN it fails with ConcurrentUpdate and the rival's state stays
    with pytest.raises(ConcurrentUpdate):
        commit_bands(store, rival)
    assert store.get_bytes(BANDS_KEY) == b'{"rival": true}\n'


def first_snapshot(state: dict) -> dict:
    return next(iter(state["issued"].values()))


@pytest.mark.parametrize(
    "mangle",
    [
        lambda state: {**state, "as_of": "2000-01-01"},
        lambda state: first_snapshot(state).update(matured_forecasts=-1),
        lambda state: first_snapshot(state).update(through={"13": "2025-03-03"}),
        lambda state: first_snapshot(state).update(log_factors={"0.9-0.1": [0.0] * 12}),
        lambda state: first_snapshot(state).update(log_factors={"0.1-0.9": [0.0] * 11}),
        lambda state: first_snapshot(state).update(log_factors={"0.1-0.9": [0.0] * 11 + [True]}),
        lambda state: first_snapshot(state).update(log_factors={"0.1-0.9": [0.0] * 11 + ["0.1"]}),
        lambda state: first_snapshot(state).update(log_factors={"0.1-0.9": [0.0] * 10 + [1e308, 1e308]}),
        lambda state: first_snapshot(state).update(through={"1": "2025-3-3"}),
        lambda state: {"issued": {}},
        lambda state: ["not", "a", "state"],
    ],
)
def test_a_malformed_state_is_a_named_error_and_is_kept(store, calendar, mangle) -> None:
    # GIVEN a stored state that is not one kabucast writes
    day = pd.Timestamp("2025-03-03")
    publish(store, day, NARROW)
    today = calendar.session_after(day, 21)
    run(store, calendar, today)
    state = store.get_json(BANDS_KEY)
    broken = dumps_json(mangle(state) or state)
    assert broken != store.get_bytes(BANDS_KEY)
    store.put_bytes(BANDS_KEY, broken)
    # WHEN the next run reads it
    with pytest.raises(CorruptObject, match=r"bands\.json .*Move it aside"):
        plan_bands(store, calendar, calendar.session_after(today, 1), LEVELS, panel(store), False)
    # THEN it is left as it was
    assert store.get_bytes(BANDS_KEY) == broken


def test_a_state_that_is_not_json_is_a_named_error(store, calendar) -> None:
    store.put_bytes(BANDS_KEY, b"{not json")
    with pytest.raises(CorruptObject, match=r"bands\.json is not valid JSON.*Move it aside"):
        plan_bands(store, calendar, pd.Timestamp("2025-06-02"), LEVELS, panel(store), False)
    assert store.get_bytes(BANDS_KEY) == b"{not json"


class ListingStore(CountingStore):
    """A CountingStore that also remembers which prefixes were listed."""

    listed: list[str]

    def list(self, prefix: str = ""):
        self.listed.append(prefix)
        return super().list(prefix)


def test_once_every_month_has_learnt_the_run_reads_the_matured_forecasts_by_key_without_a_listing(
    store, calendar
) -> None:
    # GIVEN two years of prices and daily forecasts, but none published on one session whose month 3 matures last
    for t in TICKERS:
        store.put_parquet(prices_key(t), price_frame(calendar.sessions("2024-01-01", "2025-12-31")))
    days = calendar.sessions("2024-01-04", "2025-12-10")
    missed = days[-1 - 21 * 3]
    for day in days[:-1]:
        if day != missed:
            publish(store, day, NARROW)
    before = run(store, calendar, days[-2])  # a first run: a listing, then a forecast learnt for every month
    assert before.record["through"].keys() == {str(h) for h in range(1, 13)}
    # WHEN the next session runs
    counting = ListingStore(store.root)
    counting.read, counting.listed = [], []
    plan = plan_bands(counting, calendar, days[-1], LEVELS, panel(store), False)
    # THEN it lists nothing and reads the state and each forecast whose month matured that session, by key
    assert not [p for p in counting.listed if p.startswith("predictions")]
    forecasts = sorted(k for k in counting.read if k.startswith("predictions/"))
    assert forecasts == sorted(prediction_key(days[-1 - 21 * h]) for h in range(1, 13))
    # AND the missed session teaches nothing: month 3 keeps its factor, the others learn from their misses
    learnt = plan.factors[:, 0] / before.factors[:, 0]
    assert learnt[2] == 1.0 and (np.delete(learnt, 2) > 1.0).all(), learnt
    assert plan.record["through"]["3"] == before.record["through"]["3"]


def test_the_band_step_and_the_scorecard_of_one_run_read_each_matured_forecast_once(store, calendar) -> None:
    # GIVEN two years of daily forecasts, the band state and the scorecard up to the session before
    from kabucast.jobs.matured_reads import MaturedReads
    from kabucast.jobs.scorecard_step import daily_scorecard

    for t in TICKERS:
        store.put_parquet(prices_key(t), price_frame(calendar.sessions("2024-01-01", "2025-12-31")))
    days = calendar.sessions("2024-01-04", "2025-12-10")
    for day in days[:-1]:
        publish(store, day, NARROW)
    run(store, calendar, days[-2])
    daily_scorecard(store, calendar, days[-2], lambda _day: TICKERS, panel(store))
    # WHEN a run's band step and its scorecard share the run's reads
    counting = ListingStore(store.root)
    counting.read, counting.listed = [], []
    reads = MaturedReads(counting, panel(store))
    plan = plan_bands(counting, calendar, days[-1], LEVELS, panel(store), False, reads)
    scorecard = daily_scorecard(counting, calendar, days[-1], lambda _day: TICKERS, panel(store), None, reads)
    # THEN both did their work, and each of the twelve forecasts matured that session was read once
    assert scorecard["status"] == "ok" and plan.record["through"]["1"] == str(days[-22].date())
    forecasts = [k for k in counting.read if k.startswith("predictions/2")]
    assert sorted(forecasts) == sorted(prediction_key(days[-1 - 21 * h]) for h in range(1, 13))

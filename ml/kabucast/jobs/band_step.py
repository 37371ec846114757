"""The daily job's adaptive bands: ``models/bands.json`` brought up to the run's session from the published
forecasts whose outcomes have matured, applied to the served quantiles, and stored once the forecast is published.

The state and the update are kabucast.forecast.adaptive_bands'; this module reads and writes the store.

1. A full-universe run for a session T later than the state's ``as_of`` learns, in date order, from every
   published ``predictions/<D>.json`` whose month-h outcome is known at T (T at least 21 h sessions after D)
   and that the state has not consumed for month h. The issued interval is the document's ``quantiles``;
   the outcome is the log return of the stored ``adj_close`` from D to the session 21 h after it, read from
   the store now (history rebased after a split stays comparable), so a name without both prices is not
   counted. Then the forecast of T is issued with the factors learnt (update, then issue: a rerun of T finds
   nothing new and publishes the same bytes).
2. A run for a session the state already covers (a rerun, or a backfill of a missed day) learns nothing and
   issues the factors in force on that session (the nearest earlier one the state remembers, else 1;
   the document's ``factors_as_of`` says which). The state never moves back in time.
3. A subset run issues the factors in force and never writes the state.
4. The new state is written after the forecast was published, conditionally on the state read
   (:meth:`Store.put_if`): a rival run that wrote other bytes makes this one fail with ``ConcurrentUpdate``.

Reads: the state, each document that has a month newly matured (in steady state one per month: 12, by key, found
from the calendar once every month has learnt from a forecast, by the scorecard's function
:meth:`~kabucast.data.calendar.TradingCalendar.due_sessions`; before that from a listing of ``predictions/``), and
prices of names the run did not load already, through the run's :class:`~kabucast.jobs.matured_reads.MaturedReads`:
the scorecard then reuses the same parsed documents. A session with no forecast published teaches nothing, even if
it is backfilled after its months were passed.
bench/bench_band_step.py (medians of 9 paired runs): 51 ms of a 488 ms step, most of it parsing the 12 documents
the scorecard then reuses; the served step is 0.94x the product as issue 25 found it (the demo BiLSTM champion, no
band step: 584 ms).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from kabucast.data.calendar import SESSIONS_PER_MONTH, TradingCalendar
from kabucast.errors import CorruptObject
from kabucast.evaluation.calibration import rescale_quantiles
from kabucast.features import PricePanel
from kabucast.forecast.adaptive_bands import HORIZONS, BandSnapshot, BandState, issued_bands
from kabucast.forecast.registry import MODELS
from kabucast.jobs.matured_reads import MaturedReads
from kabucast.jobs.publish import FORECASTS, dated_days, write_if_unchanged
from kabucast.storage.base import Store, Versioned, dumps_json, loads_json

BANDS_KEY = f"{MODELS}/bands.json"


@dataclass(frozen=True)
class BandPlan:
    """What one run issues (``factors`` (12, Q) for the served quantiles, the document's ``record``) and the
    state it stores once the forecast is published (``state``; None: it leaves the state as ``seen``)."""

    factors: np.ndarray
    record: dict[str, Any]
    state: bytes | None
    seen: Versioned | None
    outcome: str  # what happens to the state, for the run's summary

    def apply(self, quantiles: np.ndarray, levels: Sequence[float]) -> np.ndarray:
        """(N, 12, Q) served log-return quantiles stretched by the factors around their median."""
        return rescale_quantiles(quantiles, self.factors, levels)


def plan_bands(
    store: Store,
    calendar: TradingCalendar,
    as_of: pd.Timestamp,
    levels: Sequence[float],
    prices: PricePanel,
    subset: bool,
    reads: MaturedReads | None = None,
) -> BandPlan:
    """The bands of the forecast of session ``as_of`` at ``levels`` (rules above). ``prices`` is the run's price
    panel (other names are read from the store when a matured forecast holds them); ``subset``: a subset run;
    ``reads``: the run's reads of matured forecasts, shared with its scorecard (None: this call's own)."""
    seen = store.get_versioned(BANDS_KEY)
    state = read_state(seen, f"{store.url}/{BANDS_KEY}")
    day = str(as_of.date())
    if subset or (state.as_of is not None and day <= state.as_of):
        factors_as_of, snapshot = state.in_force(day)
        outcome = "untouched (subset run)" if subset else f"kept: it is as of {state.as_of}"
        return BandPlan(snapshot.factors(levels), snapshot.record(levels, factors_as_of), None, seen, outcome)
    snapshot = learn_matured(reads or MaturedReads(store, prices), calendar, as_of, state.in_force(day)[1])
    data = dumps_json(state.with_issue(day, snapshot).to_json(), compact=True)
    return BandPlan(snapshot.factors(levels), snapshot.record(levels, day), data, seen, f"updated to {day}")


def commit_bands(store: Store, plan: BandPlan) -> str:
    """Store the plan's state (after the forecast was published), conditionally on the state it read."""
    if plan.state is not None and (plan.seen is None or plan.seen.data != plan.state):
        write_if_unchanged(store, BANDS_KEY, plan.state, plan.seen)
    return plan.outcome


def read_state(seen: Versioned | None, where: str) -> BandState:
    """The stored state (an empty one when there is none); :class:`CorruptObject` when it is not one."""
    if seen is None:
        return BandState()
    fix = (
        "nothing was published or written. Move it aside to keep it (e.g. to models/bands.broken.json): the "
        "next run then starts the factors again at 1 and learns them from the published forecasts still stored"
    )
    try:
        return BandState.from_json(loads_json(seen.data, where))
    except CorruptObject as exc:
        raise CorruptObject(f"{exc}; {fix}") from exc
    except ValueError as exc:
        raise CorruptObject(f"{where} is not the adaptive band state kabucast writes: {exc}; {fix}") from exc


def learn_matured(
    reads: MaturedReads, calendar: TradingCalendar, as_of: pd.Timestamp, snapshot: BandSnapshot
) -> BandSnapshot:
    """``snapshot`` after every published forecast whose month-h outcome is known at ``as_of`` and that it has
    not consumed for month h, in date order (each document is read once, for all its newly matured months)."""
    for day in candidate_days(reads.store, calendar, as_of, snapshot):
        ends = calendar.maturities(day, SESSIONS_PER_MONTH, HORIZONS, as_of)  # month h's outcome is known on ends[h-1]
        due = [h for h in range(1, len(ends) + 1) if day > snapshot.through.get(h, "")]
        if not due:
            continue
        document = reads.document(FORECASTS, day)
        if document is None:
            continue  # no forecast published that session (a missed day): nothing to learn
        for h in due:
            issued = issued_bands(document, h)
            outcome = reads.closes.log_returns(issued.tickers, day, ends[h - 1]) if issued else np.empty(0)
            snapshot = snapshot.learn(day, h, issued, outcome)
    return snapshot


def candidate_days(store: Store, calendar: TradingCalendar, as_of: pd.Timestamp, snapshot: BandSnapshot) -> list[str]:
    """The sessions whose forecast has a month newly matured at ``as_of``, oldest first. Once the state has consumed
    a forecast for every month h, those are, per month, the sessions after the last one it consumed whose month h
    ends on or before ``as_of`` (:meth:`TradingCalendar.due_sessions`, as the scorecard finds its own; read by key:
    in steady state one document per month); before that, every published dated forecast (a listing of
    ``predictions/``)."""
    if len(snapshot.through) < HORIZONS:
        return dated_days(store, FORECASTS)
    return [str(d.date()) for d in calendar.due_sessions(SESSIONS_PER_MONTH, HORIZONS, as_of, after=snapshot.through)]

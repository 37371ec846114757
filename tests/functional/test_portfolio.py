"""The daily target portfolio end to end on the sample market: published books == the backtest's books.

The daily prediction step (real ONNX Runtime, a LocalStore) runs on consecutive sessions and
publishes ``portfolio/<date>.json``; a backtest of the forecasts it published, with the same settings,
must hold exactly the published weights on every one of those sessions.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil

import numpy as np
import pandas as pd
import pytest
from tests.functional.conftest import AS_OF

from kabucast.config import BacktestSettings, load_settings, resolve_config_path
from kabucast.evaluation.backtest import backtest_from_store
from kabucast.evaluation.target_portfolio import PortfolioPlan, weights_of
from kabucast.experiments.predictions import load_prediction_history
from kabucast.jobs.forecast_step import OnnxPredictor
from kabucast.jobs.portfolio_step import PortfolioStep
from kabucast.jobs.publish import PORTFOLIOS, PublishPolicy
from kabucast.storage import LocalStore

BACKTEST = load_settings(BacktestSettings, resolve_config_path("backtest.yaml"))


@pytest.fixture
def store(trained, tmp_path) -> LocalStore:
    """The trained store without any published document."""
    shutil.copytree(trained[0].root, tmp_path / "s", ignore=shutil.ignore_patterns("predictions", "portfolio"))
    return LocalStore(tmp_path / "s")


def predictor(universe, sectors, calendar, settings: BacktestSettings, **policy) -> OnnxPredictor:
    step = PortfolioStep(PortfolioPlan(settings, horizon_month=1), calendar)
    return OnnxPredictor(universe, sectors, calendar, PublishPolicy(**policy), step)


def test_the_published_books_are_the_backtests_books_day_by_day(store, trained, universe, sectors) -> None:
    # GIVEN capped long-short rules that bind (30 % of the names a leg, at most 30 % of a leg per sector),
    # a rebalance every 5 sessions, and the daily step run on 12 consecutive sessions
    calendar = trained[1]
    settings = dataclasses.replace(BACKTEST, quantile=0.3, max_weight=0.2, max_sector=0.3, rebalance_days=5)
    days = calendar.sessions("2026-10-01", AS_OF)[-13:-1]  # the last has no next-day return to backtest
    step = predictor(universe, sectors, calendar, settings)
    summaries = [step(store, day, universe.tickers)["portfolio"] for day in days]
    docs = [store.get_json(PORTFOLIOS.dated_key(day)) for day in days]
    # THEN it rebalanced on the first session and every 5 sessions after, naming the next date each time
    assert [d["rebalance"]["today"] for d in docs] == [i % 5 == 0 for i in range(len(days))]
    assert [d["rebalance"]["next"] for d in docs[:5]] == [str(days[5].date())] * 5
    assert summaries[-1]["latest"] == "replaced" and store.get_json(PORTFOLIOS.latest_key) == docs[-1]
    # AND every book respects the caps, and trades nothing between rebalances
    for doc in docs:
        weights = pd.Series(weights_of(doc))
        sector = pd.Series({p["ticker"]: p["sector"] for p in doc["positions"]})
        for leg in (weights[weights > 0], -weights[weights < 0]):
            assert leg.max() <= 0.2 + 1e-12 and leg.groupby(sector[leg.index]).sum().max() <= 0.3 + 1e-12
            assert 0.5 < leg.sum() <= 1.0 + 1e-12
        assert doc["gross"]["long"] == pytest.approx(weights[weights > 0].sum())
        if not doc["rebalance"]["today"]:
            assert doc["turnover"] == 0.0 and doc["estimated_cost"]["amount"] == 0.0
    unequal = [doc for doc in docs if len({round(abs(w), 12) for w in weights_of(doc).values()}) > 1]
    assert unequal, "the caps never bound: the test checks nothing"
    # WHEN the forecasts it published are backtested with the same settings
    history = load_prediction_history(store, horizon_month=1)
    result = backtest_from_store(store, history, settings, universe.tickers, "JPY", universe.sectors_of)
    # THEN the backtest held exactly the published weights on every session, with the same turnover and cost
    assert list(result.weights.index) == list(days)
    for day, doc in zip(days, docs, strict=True):
        row = result.weights.loc[day]
        assert weights_of(doc) == {t: w for t, w in row.items() if w != 0.0}, day
        assert doc["turnover"] == pytest.approx(result.daily.at[day, "turnover"], rel=1e-12)
        assert doc["estimated_cost"]["fraction_of_leg"] == pytest.approx(result.daily.at[day, "cost"], rel=1e-9)
    assert sum(d["turnover"] for d in docs) > 0


def test_the_default_book_is_fully_invested_and_a_rerun_changes_nothing(store, trained, universe, sectors) -> None:
    # GIVEN the default backtest settings (long-short, top and bottom 20 %, no caps)
    calendar = trained[1]
    step = predictor(universe, sectors, calendar, BACKTEST)
    step(store, AS_OF, universe.tickers)
    first = store.get_bytes(PORTFOLIOS.latest_key)
    doc = store.get_json(PORTFOLIOS.latest_key)
    # THEN the long leg sums to +1 and the short leg to -1 (gross 2, net 0), over floor(20 % x 30) names a side
    weights = np.array([p["weight"] for p in doc["positions"]])
    assert weights[weights > 0].sum() == pytest.approx(1.0) and weights[weights < 0].sum() == pytest.approx(-1.0)
    assert (weights > 0).sum() == (weights < 0).sum() == 6 and doc["num_scored"] == 30
    assert doc["gross"] == pytest.approx({"long": 1.0, "short": -1.0, "net": 0.0, "exposure": 2.0})
    # AND the first book is bought from nothing: turnover 2, its cost an amount in yen
    assert doc["turnover"] == pytest.approx(2.0) and doc["estimated_cost"]["amount"] > 0
    assert doc["estimated_cost"]["currency"] == "JPY"
    # AND it names the forecast it was built from by key, date, model and the sha256 of its published bytes
    forecast = store.get_bytes("predictions/2026-11-20.json")
    assert doc["forecast"] == {
        "key": "predictions/2026-11-20.json",
        "data_as_of": "2026-11-20",
        "model_version": json.loads(forecast)["model_version"],
        "sha256": hashlib.sha256(forecast).hexdigest(),
    }
    assert hashlib.sha256(store.get_bytes("predictions/latest.json")).hexdigest() == doc["forecast"]["sha256"]
    # AND a re-run of the same day writes the very same bytes
    step(store, AS_OF, universe.tickers)
    assert store.get_bytes(PORTFOLIOS.latest_key) == first == store.get_bytes(PORTFOLIOS.dated_key(AS_OF))

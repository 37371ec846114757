"""The daily target portfolio document: rebalance calendar, weights, turnover and cost; its publication."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from kabucast.config import BacktestSettings
from kabucast.data.calendar import TradingCalendar
from kabucast.errors import ConfigError
from kabucast.evaluation.backtest import average_daily_value
from kabucast.evaluation.target_portfolio import (
    PortfolioPlan,
    last_adv,
    portfolio_document,
    rebalance_for,
    weights_of,
)
from kabucast.features import PricePanel
from kabucast.forecast.document import forecast_document
from kabucast.jobs.publish import PORTFOLIOS, PublicationRefused, PublishPolicy, publish_document
from kabucast.storage import LocalStore

CAL = TradingCalendar()
NAMES = tuple(f"{1000 + i}.T" for i in range(10))
SECTORS = {t: ("Autos" if i < 4 else f"S{i}") for i, t in enumerate(NAMES)}
SETTINGS = BacktestSettings(env="local", quantile=0.3, rebalance_days=3, impact_k_bps=0.0)


def forecast(day: str, returns: np.ndarray, names: tuple[str, ...] = NAMES) -> dict:
    ts = pd.Timestamp(day)
    log_returns = np.repeat(np.log1p(returns)[:, None], 12, axis=1)
    prices = {t: 100.0 for t in names}
    return forecast_document(names, log_returns, {t: ts for t in names}, prices, SECTORS, {}, "v1", ts)


def build(day: str, returns: np.ndarray, plan: PortfolioPlan, previous: dict | None, adv: dict | None = None) -> dict:
    doc = forecast(day, returns)
    scores = {row["ticker"]: row["predictions"][0]["return"] for row in doc["predictions"]}
    rebalance = rebalance_for(pd.Timestamp(day), previous, plan, CAL)
    ref = {"key": f"predictions/{day}.json", "data_as_of": day, "model_version": "v1", "sha256": "0" * 64}
    return portfolio_document(doc, scores, plan, rebalance, previous, SECTORS, adv or {}, ref)


def test_rebalances_first_then_every_n_sessions_and_when_the_rules_change() -> None:
    plan = PortfolioPlan(SETTINGS)
    ramp = np.linspace(-0.05, 0.05, 10)
    first = build("2026-11-16", ramp, plan, None)  # a Monday
    assert first["rebalance"] == {
        "today": True,
        "reason": "first portfolio",
        "last": "2026-11-16",
        "next": "2026-11-19",
    }
    held = build("2026-11-18", -ramp, plan, first)  # 2 of 3 sessions: the book stays, whatever the forecast says
    assert not held["rebalance"]["today"] and held["rebalance"]["next"] == "2026-11-19"
    assert weights_of(held) == weights_of(first) and held["turnover"] == 0.0
    due = build("2026-11-19", -ramp, plan, held)
    assert due["rebalance"]["today"] and due["rebalance"]["reason"].startswith("due: 3 sessions")
    assert weights_of(due) == {t: -w for t, w in weights_of(first).items()}  # the ranking flipped
    assert due["turnover"] == pytest.approx(4.0)  # both legs sold out and bought back the other way
    capped = PortfolioPlan(dataclasses.replace(SETTINGS, max_sector=0.5))
    changed = build("2026-11-18", ramp, capped, first)
    assert changed["rebalance"]["reason"] == "the rules changed" and changed["rebalance"]["today"]


def test_weights_follow_the_rules_and_the_gross_is_what_the_legs_hold() -> None:
    # the 3 best are all Autos: a 50 % sector cap leaves half the long leg uninvested
    returns = np.array([0.09, 0.08, 0.07, 0.0, 0.01, 0.02, -0.03, -0.04, -0.05, 0.03])
    plan = PortfolioPlan(dataclasses.replace(SETTINGS, max_sector=0.5))
    doc = build("2026-11-16", returns, plan, None)
    w = weights_of(doc)
    assert sum(w[t] for t in NAMES[:3]) == pytest.approx(0.5) and max(w, key=w.get) in NAMES[:3]
    assert doc["gross"] == pytest.approx({"long": 0.5, "short": -1.0, "net": -0.5, "exposure": 1.5})
    assert {t for t, x in w.items() if x < 0} == set(NAMES[6:9])
    long_only = build("2026-11-16", returns, PortfolioPlan(dataclasses.replace(SETTINGS, long_only=True)), None)
    assert all(x > 0 for x in weights_of(long_only).values())
    assert long_only["gross"]["exposure"] == pytest.approx(1.0)


def test_the_cost_is_the_backtests_formula_in_the_universes_currency() -> None:
    returns = np.linspace(-0.05, 0.05, 10)
    settings = dataclasses.replace(SETTINGS, base_bps=10.0, slippage_bps=2.0, impact_k_bps=100.0)
    adv = {t: 1e9 for t in NAMES}  # each name trades 1 bn JPY a day; the leg is 1 bn JPY
    doc = build("2026-11-16", returns, PortfolioPlan(settings), None, adv)
    # 6 names bought at 1/3 of the leg: turnover 2, 12 bps on it, impact 100 bps x sqrt(1/3) on each
    expected = 2.0 * 12e-4 + 6 * (1 / 3) * 100e-4 * np.sqrt(1 / 3)
    assert doc["turnover"] == pytest.approx(2.0)
    assert doc["estimated_cost"]["fraction_of_leg"] == pytest.approx(expected)
    assert doc["estimated_cost"]["amount"] == pytest.approx(expected * 1e9) and doc["notional_per_leg"] == 1e9


def test_last_adv_is_the_last_row_of_the_backtests_adv() -> None:
    rng = np.random.default_rng(0)
    dates, names = pd.bdate_range("2026-01-01", periods=30), ("A", "B", "C")
    close, volume = rng.uniform(100, 200, (30, 3)), rng.uniform(1e5, 1e6, (30, 3))
    close[-5:, 1] = np.nan  # B missed its last 5 bars
    close[:, 2] = np.nan  # C never traded
    nan = np.full((30, 3), np.nan)
    panel = PricePanel(dates, names, nan, nan, nan, close, nan, volume)
    frame = average_daily_value(pd.DataFrame(close, dates, names), pd.DataFrame(volume, dates, names), 20)
    assert last_adv(panel, 20) == pytest.approx(frame.iloc[-1].dropna().to_dict(), rel=1e-12)
    assert set(last_adv(panel, 20)) == {"A", "B"}


def test_a_plan_refuses_an_oracle_and_a_month_outside_the_forecast() -> None:
    with pytest.raises(ConfigError, match="fast_mode"):
        PortfolioPlan(dataclasses.replace(SETTINGS, fast_mode=True))
    with pytest.raises(ConfigError, match=r"1\.\.12"):
        PortfolioPlan(SETTINGS, horizon_month=13)


def test_a_portfolio_is_published_by_the_forecasts_rules(tmp_path) -> None:
    store, plan = LocalStore(tmp_path), PortfolioPlan(SETTINGS)
    returns = np.linspace(-0.05, 0.05, 10)
    full = build("2026-11-16", returns, plan, None)
    out = publish_document(store, full, PORTFOLIOS, NAMES, NAMES, PublishPolicy())
    assert out["key"] == "portfolio/2026-11-16.json" and out["latest"] == "replaced"
    published = store.get_bytes(PORTFOLIOS.latest_key)
    smaller = {**full, "num_scored": 9}
    with pytest.raises(PublicationRefused, match="holds 10 scored names, this run has only 9"):
        publish_document(store, smaller, PORTFOLIOS, NAMES, NAMES, PublishPolicy(min_coverage=0.5))
    older = {**build("2026-11-13", returns, plan, None)}
    assert "kept" in publish_document(store, older, PORTFOLIOS, NAMES, NAMES, PublishPolicy())["latest"]
    assert store.get_bytes(PORTFOLIOS.latest_key) == published

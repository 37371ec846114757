"""The daily target portfolio: ``portfolio/<date>.json``, the book the backtest would hold after this close.

Built from one forecast document by the backtest's own pieces, so what is published is what was
backtested (a test replays a backtest over the published days and compares every weight exactly):

- the scores are the forecast's predicted return ``horizon_month`` months ahead (the backtest's
  ``--horizon-month`` history, kabucast.experiments.predictions);
- the weights come from kabucast.evaluation.portfolio.target_weights with the rules of the backtest
  settings (quantile, long-only or long-short, ``max_weight``, ``max_sector``);
- the book is rebalanced every ``rebalance_days`` sessions (null: 21 x ``horizon_month``, the
  forecast's horizon) counted from the last rebalance, and held unchanged in between (no drift), as
  the backtest's every-R-th-row rebalance does when the job has run every session;
- the turnover is ``sum |w - w_previous|`` against the previous session's published book, and the
  estimated cost is kabucast.evaluation.backtest.trading_costs of those trades (commission, slippage,
  square-root impact against each name's ADV), as a fraction of the leg notional and as an amount in
  the universe's currency.

Gross exposure: each leg is sized to the notional, so the long weights sum to +1 and, long-short, the
short weights to -1 (net 0, gross 2; long-only: gross 1). Caps that bind on every name of a leg leave
the rest uninvested: that leg then sums to less, and ``gross`` says so. A rebalance happens on the
first run, every ``rebalance_sessions`` sessions after the last one, and when the rules changed since.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from kabucast.config import BacktestSettings
from kabucast.data.calendar import SESSIONS_PER_MONTH, TradingCalendar
from kabucast.errors import ConfigError
from kabucast.evaluation.backtest import check_settings, notional_for, portfolio_rules, trading_costs
from kabucast.evaluation.portfolio import PortfolioRules, target_weights
from kabucast.features import PricePanel

SCHEMA = "kabucast.portfolio/2"
"""2: ``forecast`` names the forecast by key, date, model and sha256 (1: its key alone)."""


@dataclass(frozen=True)
class PortfolioPlan:
    """How the daily job turns a forecast into a book: the backtest's settings and the month that scores."""

    settings: BacktestSettings
    horizon_month: int = 1

    def __post_init__(self) -> None:
        if not 1 <= self.horizon_month <= 12:
            raise ConfigError(f"portfolio horizon_month must be 1..12, got {self.horizon_month}")
        if self.settings.fast_mode:
            raise ConfigError("portfolio: the backtest settings have fast_mode: true (an oracle); it cannot trade")
        check_settings(self.settings)

    @property
    def rules(self) -> PortfolioRules:
        return portfolio_rules(self.settings)

    @property
    def rebalance_sessions(self) -> int:
        """Sessions between rebalances: the settings' ``rebalance_days``, else the horizon in sessions."""
        return self.settings.rebalance_days or SESSIONS_PER_MONTH * self.horizon_month

    def describe(self) -> dict[str, Any]:
        """The rules the weights follow (a change of any forces a rebalance); costs do not change weights."""
        s = self.settings
        return {
            "score": f"predicted return, month {self.horizon_month}",
            "horizon_month": self.horizon_month,
            "quantile": s.quantile,
            "long_only": s.long_only,
            "max_weight": s.max_weight,
            "max_sector": s.max_sector,
            "rebalance_sessions": self.rebalance_sessions,
        }

    def costs(self) -> dict[str, Any]:
        """The cost model of the estimate (kabucast.evaluation.backtest.trading_costs)."""
        s = self.settings
        names = ("base_bps", "slippage_bps", "impact_k_bps", "adv_days")
        return {name: getattr(s, name) for name in names}


@dataclass(frozen=True)
class Rebalance:
    """Whether this session trades, why, and the dates of the last and next rebalance."""

    today: bool
    reason: str
    last: pd.Timestamp
    next: pd.Timestamp

    def to_dict(self) -> dict[str, Any]:
        dates = {"last": str(self.last.date()), "next": str(self.next.date())}
        return {"today": self.today, "reason": self.reason, **dates}


def rebalance_for(
    day: pd.Timestamp, previous: Mapping[str, Any] | None, plan: PortfolioPlan, calendar: TradingCalendar
) -> Rebalance:
    """The rebalance decision of session ``day`` after the ``previous`` published document (None: none)."""
    every = plan.rebalance_sessions
    if previous is None:
        reason = "first portfolio"
    elif previous.get("rules") != plan.describe():
        reason = "the rules changed"
    else:
        last = pd.Timestamp(previous["rebalance"]["last"])
        since = calendar.sessions_since(last, day)
        if since < every:
            holding = f"holding: {since} of {every} sessions since the last rebalance"
            return Rebalance(False, holding, last, calendar.session_after(last, every))
        reason = f"due: {since} sessions since the last rebalance (every {every})"
    return Rebalance(True, reason, day, calendar.session_after(day, every))


def portfolio_document(
    forecast: Mapping[str, Any],
    scores: Mapping[str, float],
    plan: PortfolioPlan,
    rebalance: Rebalance,
    previous: Mapping[str, Any] | None,
    sectors_of: Mapping[str, str],
    adv: Mapping[str, float],
    forecast_ref: Mapping[str, Any],
) -> dict[str, Any]:
    """The JSON document of ``portfolio/<date>.json`` for the ``forecast`` document (module docstring).

    ``scores``: ticker -> the forecast's predicted return at ``plan.horizon_month``; ``previous``: the
    previous session's portfolio document (None: none); ``adv``: ticker -> mean daily traded value in
    the forecast's currency over ``adv_days`` (a name without one is charged participation 1);
    ``forecast_ref``: how the book names its forecast (kabucast.jobs.portfolio_step.forecast_reference).
    """
    currency = str(forecast["currency"])
    notional = notional_for(plan.settings, currency)
    held = _weights(previous)
    if rebalance.today:
        names = sorted(scores)
        labels = np.array([sectors_of.get(t, t) for t in names], dtype=object)
        values = np.array([scores[t] for t in names], dtype=np.float64)
        new = dict(zip(names, target_weights(values, plan.rules, labels).tolist(), strict=True))
    else:
        new = dict(held)
    tickers = sorted(t for t in set(new) | set(held) if new.get(t, 0.0) != 0.0 or held.get(t, 0.0) != 0.0)
    w = np.array([new.get(t, 0.0) for t in tickers])
    trades = w - np.array([held.get(t, 0.0) for t in tickers])
    liquidity = np.array([adv.get(t, np.nan) for t in tickers], dtype=np.float64)
    cost = float(trading_costs(trades[None, :], liquidity[None, :], plan.settings, notional)[0]) if len(w) else 0.0
    positions = [
        {
            "ticker": t,
            "sector": sectors_of.get(t, "Unknown"),
            "weight": float(w[i]),
            "previous_weight": held.get(t, 0.0),
            "trade": float(trades[i]),
            "score": scores.get(t),
        }
        for i, t in enumerate(tickers)
    ]
    positions.sort(key=lambda p: (-p["weight"], -(p["score"] or 0.0), p["ticker"]))
    long, short = round(float(w[w > 0].sum()), 10), round(float(w[w < 0].sum()), 10)
    return {
        "schema": SCHEMA,
        "timestamp": forecast["timestamp"],
        "data_as_of": forecast["data_as_of"],
        "currency": currency,
        "model_version": forecast["model_version"],
        "forecast": dict(forecast_ref),
        "rules": plan.describe(),
        "num_scored": len(scores),
        "rebalance": rebalance.to_dict(),
        "gross": {"long": long, "short": short, "net": round(long + short, 10), "exposure": round(long - short, 10)},
        "notional_per_leg": notional,
        "turnover": float(np.abs(trades).sum()),
        "estimated_cost": {"fraction_of_leg": cost, "amount": cost * notional, "currency": currency, **plan.costs()},
        "positions": positions,
        "failures": list(forecast.get("failures", [])),
    }


def weights_of(document: Mapping[str, Any]) -> dict[str, float]:
    """Ticker -> weight of a published portfolio document (names with weight 0 left out)."""
    return {p["ticker"]: float(p["weight"]) for p in document.get("positions", []) if p["weight"] != 0.0}


def _weights(document: Mapping[str, Any] | None) -> dict[str, float]:
    return {} if document is None else weights_of(document)


def last_adv(panel: PricePanel, window: int) -> dict[str, float]:
    """Ticker -> mean traded value (close x volume) over the panel's last ``window`` dates, NaN days
    skipped: the last row of kabucast.evaluation.backtest.average_daily_value, without the other rows."""
    value = panel.close[-window:] * panel.volume[-window:]
    seen = np.isfinite(value).sum(axis=0)
    total = np.where(np.isfinite(value), value, 0.0).sum(axis=0)
    return {t: float(total[i] / seen[i]) for i, t in enumerate(panel.tickers) if seen[i]}

"""The daily job's portfolio step: the forecast just published -> ``portfolio/<date>.json`` then ``latest.json``.

The book is kabucast.evaluation.target_portfolio's (the backtest's rules, rebalance cadence and
costs); publication follows the forecast's rules (kabucast.jobs.publish, :data:`PORTFOLIOS`). The
previous book is the newest published ``portfolio/<date>.json`` dated before this session, so a
re-run of a day, or a backfill of a missed one, builds on the session before it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from kabucast.data.calendar import TradingCalendar
from kabucast.evaluation.target_portfolio import (
    PortfolioPlan,
    last_adv,
    portfolio_document,
    rebalance_for,
)
from kabucast.features import PricePanel
from kabucast.forecast.document import document_returns
from kabucast.jobs.publish import FORECASTS, PORTFOLIOS, PublishPolicy, publish_document
from kabucast.storage.base import Store

_DATED = re.compile(rf"{PORTFOLIOS.prefix}/(\d{{4}}-\d{{2}}-\d{{2}})\.json")


def previous_portfolio(store: Store, day: pd.Timestamp) -> dict[str, Any] | None:
    """The newest published portfolio document dated before ``day`` (None: there is none)."""
    before = str(day.date())
    dates = [m.group(1) for k in store.list(f"{PORTFOLIOS.prefix}/") if (m := _DATED.fullmatch(k))]
    earlier = [d for d in dates if d < before]
    return store.get_json(PORTFOLIOS.dated_key(max(earlier))) if earlier else None


@dataclass(frozen=True)
class PortfolioStep:
    """Builds and publishes the target portfolio of one published forecast."""

    plan: PortfolioPlan
    calendar: TradingCalendar

    def __call__(
        self,
        store: Store,
        forecast: dict[str, Any],
        panel: PricePanel,
        sectors_of: Mapping[str, str],
        members: Sequence[str],
        tickers: Sequence[str],
        policy: PublishPolicy,
    ) -> dict[str, Any]:
        if set(tickers) != set(members):
            return {"latest": "untouched (subset run: a portfolio is built from the whole universe's forecast)"}
        day = pd.Timestamp(forecast["data_as_of"])
        previous = previous_portfolio(store, day)
        rebalance = rebalance_for(day, previous, self.plan, self.calendar)
        doc = portfolio_document(
            forecast,
            document_returns(forecast, self.plan.horizon_month),
            self.plan,
            rebalance,
            previous,
            sectors_of,
            last_adv(panel, self.plan.settings.adv_days),
            FORECASTS.dated_key(day),
        )
        published = publish_document(store, doc, PORTFOLIOS, members, tickers, policy)
        cost = doc["estimated_cost"]
        return {
            **published,
            "rebalance": doc["rebalance"],
            "gross": doc["gross"],
            "turnover": round(doc["turnover"], 6),
            "estimated_cost": f"{cost['amount']:,.0f} {cost['currency']}",
        }

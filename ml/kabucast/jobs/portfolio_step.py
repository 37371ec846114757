"""The daily job's portfolio step: the forecast just published -> ``portfolio/<date>.json`` then ``latest.json``.

The book is kabucast.evaluation.target_portfolio's (the backtest's rules, rebalance cadence and
costs); publication follows the forecast's rules (kabucast.jobs.publish, :data:`PORTFOLIOS`). The
previous book is the newest published ``portfolio/<date>.json`` dated before this session, so a
re-run of a day, or a backfill of a missed one, builds on the session before it.

Each book names the forecast it was built from (``forecast``: its dated key, ``data_as_of``,
``model_version`` and the sha256 of the bytes published there), so a reader can check that
``portfolio/latest.json`` and ``predictions/latest.json`` agree: they do when the sha256 of the
forecast's bytes is the book's ``forecast.sha256`` (a run stopped between the two publications
leaves the book one date behind until the next run).
"""

from __future__ import annotations

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
from kabucast.jobs.publish import PORTFOLIOS, PublishPolicy, previous_document, publish_document
from kabucast.storage.base import Store


def forecast_reference(forecast: Mapping[str, Any], published: Mapping[str, Any]) -> dict[str, Any]:
    """What a book says about its forecast: the dated key, date, model and sha256 of the bytes published
    there (``published``: the forecast's publication summary, kabucast.jobs.publish)."""
    return {
        "key": published["key"],
        "data_as_of": forecast["data_as_of"],
        "model_version": forecast["model_version"],
        "sha256": published["sha256"],
    }


@dataclass(frozen=True)
class PortfolioStep:
    """Builds and publishes the target portfolio of one published forecast."""

    plan: PortfolioPlan
    calendar: TradingCalendar

    def __call__(
        self,
        store: Store,
        forecast: dict[str, Any],
        published: Mapping[str, Any],
        panel: PricePanel,
        sectors_of: Mapping[str, str],
        members: Sequence[str],
        tickers: Sequence[str],
        policy: PublishPolicy,
    ) -> dict[str, Any]:
        if set(tickers) != set(members):
            return {"latest": "untouched (subset run: a portfolio is built from the whole universe's forecast)"}
        day = pd.Timestamp(forecast["data_as_of"])
        previous = previous_document(store, PORTFOLIOS, day)
        rebalance = rebalance_for(day, previous, self.plan, self.calendar)
        doc = portfolio_document(
            forecast,
            document_returns(forecast, self.plan.horizon_month),
            self.plan,
            rebalance,
            previous,
            sectors_of,
            last_adv(panel, self.plan.settings.adv_days),
            forecast_reference(forecast, published),
        )
        out = publish_document(store, doc, PORTFOLIOS, members, tickers, policy)
        cost = doc["estimated_cost"]
        return {
            **out,
            "rebalance": doc["rebalance"],
            "gross": doc["gross"],
            "turnover": round(doc["turnover"], 6),
            "estimated_cost": f"{cost['amount']:,.0f} {cost['currency']}",
        }

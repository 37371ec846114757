"""The prediction step: champion model + stored prices -> ``predictions/<date>.json`` then ``latest.json``,
and (when configured) the target portfolio built from that forecast (kabucast.jobs.portfolio_step). A model
with quantiles issues them stretched by the adaptive band factors, whose state is stored after the forecast
is published (kabucast.jobs.band_step). A full-universe run then writes the live scorecard of its session
(kabucast.jobs.scorecard_step) and the live page (kabucast.jobs.site_step); a failure of either is reported in
the summary and the forecast stays published.

Runs on ONNX Runtime only (no torch). The ONNX session is cached per model version, so a warm
Lambda container reuses it across invocations. What may be published where is
:mod:`kabucast.jobs.publish`'s decision.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from kabucast.config import SectorSettings, UniverseSettings
from kabucast.data.calendar import TradingCalendar
from kabucast.features.registry import contract_groups
from kabucast.forecast.document import forecast_document
from kabucast.forecast.kinds import stored_kind
from kabucast.forecast.missing import failure_reasons, with_missing
from kabucast.forecast.onnx_model import OnnxModel
from kabucast.forecast.registry import ModelFiles, check_features, load_model
from kabucast.jobs.band_step import BandPlan, commit_bands, plan_bands
from kabucast.jobs.daily import PredictRequest
from kabucast.jobs.inputs import ModelInputs, load_model_inputs
from kabucast.jobs.matured_reads import MaturedReads
from kabucast.jobs.portfolio_step import PortfolioStep
from kabucast.jobs.publish import (
    FORECASTS,
    LATEST_KEY,
    PublishPolicy,
    prediction_key,
    previous_document,
    publish_forecast,
)
from kabucast.jobs.scorecard_step import daily_scorecard
from kabucast.jobs.site_step import daily_site
from kabucast.storage.base import Store

__all__ = ["LATEST_KEY", "OnnxPredictor", "prediction_key"]


@dataclass
class OnnxPredictor:
    """Callable daily-pipeline step; holds the ONNX session of the last model version it served."""

    universe: UniverseSettings
    sectors: SectorSettings
    calendar: TradingCalendar
    policy: PublishPolicy = field(default_factory=PublishPolicy)
    portfolio: PortfolioStep | None = None
    site: bool = True  # a full run writes site/index.html after its scorecard (kabucast.jobs.site_step)
    _cache: dict[str, OnnxModel] = field(default_factory=dict)

    def __call__(
        self, store: Store, today: pd.Timestamp, tickers: Sequence[str], request: PredictRequest | None = None
    ) -> dict[str, Any]:
        request = request or PredictRequest()
        model = load_model(store)
        check_features(model)
        served = self._served(model)
        groups = contract_groups(model.meta.get("features"))  # the slow-data groups it was trained on (none: 23)
        inputs = load_model_inputs(store, self.universe, self.sectors, self.calendar, today, tickers, groups)
        fs = inputs.features
        members = self.universe.members_on(today)
        levels = served.quantile_levels
        reads = MaturedReads(store, inputs.panel)  # the band step's and the scorecard's, shared
        log_returns, quantiles, bands = self._predict(store, served, inputs, set(tickers) != set(members), reads)
        sectors_of = {m.ticker: m.sector for m in self.universe.members}
        doc = forecast_document(
            fs.tickers,
            log_returns,
            inputs.last_date,
            inputs.last_close,
            sectors_of,
            failure_reasons(fs.failures, request.fetch_failures),
            model.version,
            fs.as_of,
            currency=self.universe.currency,
            close_time=self.calendar.close_time(fs.as_of).isoformat(),
            quantiles=quantiles,
            levels=levels,
            model_kind=stored_kind(model.meta),
            band_adaptation=None if bands is None else bands.record,
        )
        doc = with_missing(doc, tickers, previous_document(store, FORECASTS, fs.as_of), self.calendar)
        policy = replace(self.policy, force=True) if request.force else self.policy
        published = publish_forecast(store, doc, members, tickers, policy)
        band_state = {} if bands is None else {"bands": commit_bands(store, bands)}  # after the forecast is out
        summary = {
            **published,
            **band_state,
            "model_version": model.version,
            "model_as_of": model.meta.get("run", {}).get("as_of"),
            "predicted": len(fs.tickers),
            "failures": doc["failures"],
            "missing": doc["missing"],
        }
        if self.portfolio is not None:
            book = self.portfolio(store, doc, published, inputs.panel, sectors_of, members, tickers, policy)
            summary["portfolio"] = book
        if set(tickers) == set(members):
            summary["scorecard"] = daily_scorecard(
                store,
                self.calendar,
                fs.as_of,
                self.universe.members_on,
                inputs.panel,
                model.meta.get("walk_forward"),
                reads,
            )
            if self.site:
                warning = self.calendar.review_warning(self.universe)
                summary["site"] = daily_site(store, self.universe, str(fs.as_of.date()), inputs.panel, warning)
        return summary

    def _predict(
        self, store: Store, served: OnnxModel, inputs: ModelInputs, subset: bool, reads: MaturedReads
    ) -> tuple[np.ndarray, np.ndarray | None, BandPlan | None]:
        """(N, 12) log returns, (N, 12, Q) quantiles stretched by the adaptive band factors (None: a model without
        quantiles), and the band plan that issued them (kabucast.jobs.band_step)."""
        fs = inputs.features
        arrays = (fs.weekly, fs.static, fs.position, fs.sector_id)
        levels = served.quantile_levels
        if not levels:
            return served.predict_arrays(*arrays), None, None
        log_returns, quantiles = served.predict_arrays_with_quantiles(*arrays)
        bands = plan_bands(store, self.calendar, fs.as_of, levels, inputs.panel, subset, reads)
        return log_returns, bands.apply(quantiles, levels), bands

    def _served(self, model: ModelFiles) -> OnnxModel:
        if model.version not in self._cache:
            self._cache.clear()
            self._cache[model.version] = OnnxModel.from_files(model)
        return self._cache[model.version]

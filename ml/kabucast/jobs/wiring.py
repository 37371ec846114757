"""The two scheduled jobs, wired from settings files: used by the CLI and by the Lambda handlers.

This is where adapters are built (price source, ONNX predictor, fine-tune step, calendar) from
``config/`` files; the orchestration itself is in :mod:`kabucast.jobs.daily` and
:mod:`kabucast.jobs.monthly`. A job object holds
what is expensive to build (the ONNX session, the calendar) so a warm Lambda container reuses it.
Nothing here imports torch: the fine-tune step imports it when it runs.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import pandas as pd

from kabucast.config import (
    BacktestSettings,
    EnrichSettings,
    FetchSettings,
    FinetuneSettings,
    PortfolioSettings,
    PredictSettings,
    UniverseSettings,
    forecast_settings,
    load_settings,
    load_universe,
    resolve_config_path,
)
from kabucast.data.calendar import TradingCalendar, calendar_for
from kabucast.data.sources.base import PriceSource
from kabucast.data.sources.factory import make_source
from kabucast.errors import ConfigError
from kabucast.jobs.daily import DailyOptions, Predictor, run_daily
from kabucast.jobs.monthly import Finetuner, run_monthly
from kabucast.storage.base import Store

if TYPE_CHECKING:
    from kabucast.forecast.dataset import ForecastData
    from kabucast.jobs.portfolio_step import PortfolioStep

DAILY_FETCH_CONFIG = "fetch_daily_universe.yaml"
PREDICT_CONFIG = "predict.yaml"
MONTHLY_ENRICH_CONFIG = "enrich_universe.yaml"
FINETUNE_CONFIG = "finetune.yaml"


def check_tickers(tickers: Sequence[str], universe: UniverseSettings) -> list[str]:
    """``tickers`` if every one is in the universe (no duplicates), else a ConfigError naming the strays."""
    unknown = [t for t in tickers if t not in universe.every_ticker]
    if unknown:
        raise ConfigError(f"not in the {universe.name} universe: {', '.join(unknown)} (see its config file)")
    if len(set(tickers)) != len(tickers):
        raise ConfigError("a ticker is listed twice")
    if not tickers:
        raise ConfigError("the ticker list is empty")
    return list(tickers)


def onnx_predictor(config: str = PREDICT_CONFIG, universe: UniverseSettings | None = None) -> Predictor:
    """The ONNX prediction step (a run is forced by its :class:`~kabucast.jobs.daily.PredictRequest`)."""
    from kabucast.jobs.forecast_step import OnnxPredictor
    from kabucast.jobs.publish import PublishPolicy

    cfg, configured, sectors = forecast_settings(config, PredictSettings)
    policy = PublishPolicy(min_coverage=cfg.min_coverage)
    members = universe or configured
    calendar = calendar_for(members.exchange)
    return OnnxPredictor(members, sectors, calendar, policy, portfolio_step(cfg.portfolio, calendar), cfg.site)


def portfolio_step(settings: PortfolioSettings | None, calendar: TradingCalendar) -> PortfolioStep | None:
    """The daily portfolio step of ``settings`` (None: the job publishes no portfolio)."""
    from kabucast.evaluation.target_portfolio import PortfolioPlan
    from kabucast.jobs.portfolio_step import PortfolioStep

    if settings is None:
        return None
    backtest = load_settings(BacktestSettings, resolve_config_path(settings.backtest))
    return PortfolioStep(PortfolioPlan(backtest, settings.horizon_month), calendar)


@dataclass(frozen=True)
class FinetuneStep:
    """The monthly pipeline's fine-tune step: fine-tune the champion, then the promotion gate.

    ``threads``: torch CPU threads (None: kabucast.compute's default, also in the monthly Lambda)."""

    config: str = FINETUNE_CONFIG
    threads: int | None = None

    def check(self, store: Store, today: pd.Timestamp) -> None:
        """Raise what would stop a fine-tune as of ``today`` before it starts (TooEarlyToFineTune); reads only."""
        from kabucast.forecast.train import finetune_samples

        finetune_samples(self._load(store)[1], today)

    def __call__(self, store: Store, today: pd.Timestamp) -> dict[str, Any]:
        from kabucast.compute import set_torch_threads
        from kabucast.forecast.gate import gate_and_promote
        from kabucast.forecast.train import finetune, train_in_tempdir

        set_torch_threads(self.threads)
        cfg, data = self._load(store)
        run = train_in_tempdir(finetune, cfg, data, today)
        print(run.summary(), file=sys.stderr)
        decision = gate_and_promote(run.version, cfg.gate, data, today)
        print(decision.summary(), file=sys.stderr)
        return {
            "version": run.version,
            "parent": run.meta["run"]["parent"],
            "promoted": decision.promoted,
            "gate": decision.to_dict(),
            "run": run.meta["run"],
        }

    def _load(self, store: Store) -> tuple[FinetuneSettings, ForecastData]:
        from kabucast.forecast.dataset import ForecastData

        cfg, universe, sectors = forecast_settings(self.config, FinetuneSettings)
        return cfg, ForecastData(store, universe, sectors, calendar_for(universe.exchange))


@dataclass
class DailyJob:
    """The daily job's adapters; ``run`` is one invocation."""

    universe: UniverseSettings
    source: PriceSource
    predictor: Predictor
    calendar: TradingCalendar
    options: DailyOptions

    def run(
        self,
        store: Store,
        today: pd.Timestamp,
        tickers: Sequence[str] | None = None,
        skip_fetch: bool = False,
        force: bool = False,
    ) -> dict[str, Any]:
        """One run; ``force`` lifts kabucast.jobs.publish's coverage and no-shrink rules (never empty, never back)."""
        members = self.universe.members_on(today)  # a name that left stops being fetched and forecast
        chosen = check_tickers(tickers, self.universe) if tickers is not None else list(members)
        options = replace(self.options, skip_fetch=skip_fetch, force=force)
        summary = run_daily(store, self.source, self.calendar, today, chosen, options, self.predictor)
        warning = self.calendar.review_warning(self.universe)
        if warning:
            print(f"warning: {warning}", file=sys.stderr)
            summary["warnings"] = [warning]
        return summary


def build_daily_job(
    fetch_config: str = DAILY_FETCH_CONFIG,
    predict_config: str = PREDICT_CONFIG,
    source: str | None = None,
    universe: str | None = None,
) -> DailyJob:
    """The daily job from its settings; ``source`` and ``universe`` override the fetch config's."""
    fetch = load_settings(FetchSettings, resolve_config_path(fetch_config))
    members = load_universe(universe or fetch.universe)
    return DailyJob(
        universe=members,
        source=make_source(source or fetch.source, members, fetch.retry, fetch.batch_size),
        predictor=onnx_predictor(predict_config, members),
        calendar=calendar_for(members.exchange),
        options=DailyOptions(
            overlap_sessions=fetch.overlap_sessions,
            period=fetch.period,
            accepted_level_shifts=fetch.accepted_level_shifts,
        ),
    )


@dataclass
class MonthlyJob:
    """The monthly job's adapters; ``run`` is one invocation."""

    universe: UniverseSettings
    source: PriceSource
    finetune: Finetuner

    def run(
        self, store: Store, today: pd.Timestamp, tickers: Sequence[str] | None = None, skip_enrich: bool = False
    ) -> dict[str, Any]:
        members = self.universe.members_on(today)
        chosen = check_tickers(tickers, self.universe) if tickers is not None else list(members)
        sectors_of = self.universe.sectors_of
        return run_monthly(store, self.source, today, chosen, sectors_of, self.finetune, skip_enrich=skip_enrich)


def build_monthly_job(
    enrich_config: str = MONTHLY_ENRICH_CONFIG,
    finetune_config: str = FINETUNE_CONFIG,
    source: str | None = None,
    universe: str | None = None,
    threads: int | None = None,
) -> MonthlyJob:
    cfg = load_settings(EnrichSettings, resolve_config_path(enrich_config))
    members = load_universe(universe or cfg.universe)
    return MonthlyJob(
        universe=members,
        source=make_source(source or cfg.source, members, cfg.retry, cfg.batch_size),
        finetune=FinetuneStep(finetune_config, threads),
    )

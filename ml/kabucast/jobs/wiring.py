"""The two scheduled jobs, wired from settings files: used by the CLI and by the Lambda handlers.

This is where adapters are built (price source, ONNX predictor, fine-tune step, calendar) from
``config/`` files; the orchestration itself is in :mod:`kabucast.jobs.daily` and
:mod:`kabucast.jobs.monthly`. A job object holds
what is expensive to build (the ONNX session, the calendar) so a warm Lambda container reuses it.
Nothing here imports torch: the fine-tune step imports it when it runs.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
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
    SectorSettings,
    UniverseSettings,
    forecast_settings,
    load_sectors,
    load_settings,
    load_universe,
    resolve_config_path,
)
from kabucast.data.calendar import TradingCalendar, calendar_for
from kabucast.data.sources.base import PriceSource
from kabucast.data.sources.factory import make_source
from kabucast.data.stored_universe import stored_universe
from kabucast.errors import ConfigError, KabucastError
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


class NotInUniverse(ConfigError):
    """A requested ticker is no member, past or present, of the universe the run reads (the store's copy if synced)."""


def check_tickers(tickers: Sequence[str], universe: UniverseSettings) -> list[str]:
    """``tickers`` if every one is in the universe (no duplicates), else :class:`NotInUniverse` naming the strays."""
    unknown = [t for t in tickers if t not in universe.every_ticker]
    if unknown:
        raise NotInUniverse(
            f"not in the {universe.name} universe: {', '.join(unknown)} (`kabucast universe` lists its members as "
            "the jobs read them: the store's synced copy when there is one)"
        )
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

        cfg, shipped, sectors = forecast_settings(self.config, FinetuneSettings)
        universe = stored_universe(store, shipped)
        return cfg, ForecastData(store, universe, sectors, calendar_for(universe.exchange))


@dataclass
class DailyJob:
    """The daily job's adapters; ``run`` is one invocation.

    ``rewire`` builds the same job on another universe: a run whose store holds a synced copy of the universe
    (``universe/<name>.yaml``, kabucast.data.stored_universe) adopts it, and keeps it while it is unchanged."""

    universe: UniverseSettings
    source: PriceSource
    predictor: Predictor
    calendar: TradingCalendar
    options: DailyOptions
    rewire: Callable[[UniverseSettings], DailyJob] | None = None

    def adopt(self, store: Store) -> None:
        """Work on the store's copy of the universe when there is one and it differs from the job's."""
        current = stored_universe(store, self.universe)
        if current != self.universe and self.rewire is not None:
            job = self.rewire(current)
            self.universe, self.source, self.predictor, self.calendar = (
                job.universe,
                job.source,
                job.predictor,
                job.calendar,
            )

    def run(
        self,
        store: Store,
        today: pd.Timestamp,
        tickers: Sequence[str] | None = None,
        skip_fetch: bool = False,
        force: bool = False,
    ) -> dict[str, Any]:
        """One run; ``force`` lifts kabucast.jobs.publish's coverage and no-shrink rules (never empty, never back)."""
        self.adopt(store)
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

    def wired(members: UniverseSettings) -> DailyJob:
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
            rewire=wired,
        )

    return wired(load_universe(universe or fetch.universe))


@dataclass
class MonthlyJob:
    """The monthly job's adapters; ``run`` is one invocation.

    ``source`` builds the price / fundamentals source for a universe; ``sync``: the index whose J-Quants master the
    run first syncs the universe from (kabucast.data.universe_sync; None: no sync), naming a new member's sector by
    ``sectors``' tse33 map. The run works on the store's copy of the universe when there is one."""

    universe: UniverseSettings
    source: Callable[[UniverseSettings], PriceSource]
    finetune: Finetuner
    sectors: SectorSettings
    sync: str | None = None

    def run(
        self, store: Store, today: pd.Timestamp, tickers: Sequence[str] | None = None, skip_enrich: bool = False
    ) -> dict[str, Any]:
        synced, universe = self.universe_for(store, today)
        members = universe.members_on(today)
        chosen = check_tickers(tickers, universe) if tickers is not None else list(members)
        source = self.source(universe)
        summary = run_monthly(store, source, today, chosen, universe.sectors_of, self.finetune, skip_enrich=skip_enrich)
        return {**summary, "universe_sync": synced} if synced is not None else summary

    def universe_for(self, store: Store, today: pd.Timestamp) -> tuple[dict[str, Any] | None, UniverseSettings]:
        """The sync's report (None: not configured) and the universe the run works on. A sync that fails or is refused
        leaves the store's copy as it was, and the run goes on with it (the report says why)."""
        from kabucast.data.universe_sync import run_sync

        if self.sync is None:
            return None, stored_universe(store, self.universe)
        calendar = calendar_for(self.universe.exchange)
        try:
            report, synced = run_sync(store, self.universe, calendar, today, self.sectors.tse33, self.sync, write=True)
        except KabucastError as exc:
            print(f"warning: universe sync failed: {type(exc).__name__}: {exc}", file=sys.stderr)
            return {"status": "failed", "reason": f"{type(exc).__name__}: {exc}"}, stored_universe(store, self.universe)
        print(report.summary(), file=sys.stderr)
        return {"status": "ok", **report.to_dict()}, synced


def build_monthly_job(
    enrich_config: str = MONTHLY_ENRICH_CONFIG,
    finetune_config: str = FINETUNE_CONFIG,
    source: str | None = None,
    universe: str | None = None,
    threads: int | None = None,
) -> MonthlyJob:
    cfg = load_settings(EnrichSettings, resolve_config_path(enrich_config))
    finetune = load_settings(FinetuneSettings, resolve_config_path(finetune_config))
    return MonthlyJob(
        universe=load_universe(universe or cfg.universe),
        source=lambda members: make_source(source or cfg.source, members, cfg.retry, cfg.batch_size),
        finetune=FinetuneStep(finetune_config, threads),
        sectors=load_sectors(finetune.sectors),  # the map the fine-tuned model embeds
        sync=cfg.sync_index if cfg.sync_universe else None,
    )

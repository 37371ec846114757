"""Typed, frozen settings of the YAML files under ``config/``: one dataclass per kind of file.

How a file becomes a dataclass (every key checked, errors naming the file and the dotted key) is
kabucast.settings_files'; its functions are importable from here too.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from kabucast.errors import ConfigError
from kabucast.settings_files import (
    CONFIG_DIR,
    ENV_CONFIG_DIR,
    build_section,
    load_settings,
    load_yaml,
    resolve_config_path,
)
from kabucast.universe import UniverseMember, UniverseSettings
from kabucast.universe_listing import Tse33Sector

__all__ = [  # re-exported: every settings class and the file functions are importable from here
    "CONFIG_DIR",
    "ENV_CONFIG_DIR",
    "UniverseMember",
    "UniverseSettings",
    "build_section",
    "load_settings",
    "load_yaml",
    "resolve_config_path",
]


T = TypeVar("T")

SECTORS_CONFIG = "sectors.yaml"
"""The shipped sector map (config/sectors.yaml)."""


class UnmappedSector(ConfigError):
    """A TSE 33-sector code of the sector file maps to a sector name the embedding does not have."""


@dataclass(frozen=True)
class StorageSettings:
    """Where jobs read and write: a local folder (``env: local``) or an S3 bucket (``env: s3``)."""

    local_root: str = ".kabucast"
    s3_bucket: str = ""
    s3_prefix: str = ""


@dataclass(frozen=True)
class RetrySettings:
    """Exponential backoff for rate limits and network errors: ``base_seconds * 2**attempt``."""

    max_attempts: int = 4
    base_seconds: float = 2.0


@dataclass(frozen=True)
class SectorSettings:
    """The shared sector map: sector name -> embedding id (``config/sectors.yaml``), and ``tse33``: the exchange's
    33-sector codes (J-Quants' master ``S33``) -> their English name and the sector name they count as."""

    env: Literal["local", "s3"]
    unknown_id: int
    sectors: dict[str, int]
    tse33: dict[str, Tse33Sector] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for code, entry in self.tse33.items():
            if not (len(code) == 4 and code.isdigit()):
                raise ConfigError(f'tse33: code {code!r} is not a 4-digit TSE 33-sector code (e.g. "0050", quoted)')
            if entry.sector not in self.sectors:
                raise UnmappedSector(
                    f"tse33.{code} ({entry.name}): sector {entry.sector!r} is not in the sector map "
                    f"(sectors: {', '.join(self.sectors)}); map the code to one of them, or add the sector (a new id)"
                )

    def id_of(self, sector: str) -> int:
        return self.sectors.get(sector, self.unknown_id)

    @property
    def n_ids(self) -> int:
        return max([*self.sectors.values(), self.unknown_id]) + 1


@dataclass(frozen=True)
class AcceptedLevelShift:
    """A level shift an operator accepts as a real market move, not an unadjusted split.

    ``date`` is the first bar at the new level, the exchange's local date: the one in the quarantine
    reason "unadjusted corporate action on D, ratio R" (kabucast.data.corporate_actions).
    """

    ticker: str
    date: datetime.date


@dataclass(frozen=True)
class FetchSettings:
    """A price fetch: the one-off backfill or the daily incremental fetch.

    ``period`` is how far back a backfill reaches (``5y``, ``18mo``, ``30d``); ``overlap_sessions`` is
    how many already-stored sessions an incremental fetch downloads again, so revised bars replace
    old ones and a split (which rescales the whole history) is noticed. ``accepted_level_shifts``:
    the level shifts that look like a split the source left unadjusted but are real moves, so they
    are stored and flagged instead of quarantining their ticker (docs/OPERATIONS.md).
    """

    env: Literal["local", "s3"]
    universe: str
    source: str
    period: str
    overlap_sessions: int
    batch_size: int
    retry: RetrySettings = field(default_factory=RetrySettings)
    storage: StorageSettings = field(default_factory=StorageSettings)
    accepted_level_shifts: tuple[AcceptedLevelShift, ...] = ()


@dataclass(frozen=True)
class EnrichSettings:
    """The monthly refresh of static (fundamental) features.

    ``sync_universe``: the monthly job first syncs the universe from J-Quants' master of ``sync_index``
    (kabucast.data.universe_sync) into the store's copy, which the jobs then read."""

    env: Literal["local", "s3"]
    universe: str
    source: str
    batch_size: int
    retry: RetrySettings = field(default_factory=RetrySettings)
    storage: StorageSettings = field(default_factory=StorageSettings)
    sync_universe: bool = False
    sync_index: str = "TOPIX Core30"


@dataclass(frozen=True)
class TrainDataSettings:
    """Which samples a training run sees (kabucast.forecast.dataset).

    ``static_mode``: ``snapshot`` (each day the newest static snapshot; days before the first get the earliest: a
    counted look-ahead), ``point_in_time`` (days before the first get neutral values: 0 look-ahead; with the history
    of ``enrich --source jquants``) or ``none`` (no static features). ``feature_groups``: the slow-data groups whose
    columns the weekly features gain (margin, short_selling, flows: docs/FEATURES.md; none by default)."""

    static_mode: Literal["snapshot", "point_in_time", "none"] = "snapshot"
    feature_groups: tuple[str, ...] = ()
    as_of_stride: int = 1
    max_train_samples: int = 40_000
    max_val_samples: int = 10_000
    val_fraction: float = 0.2
    purge_sessions: int = 252
    shuffle_labels: bool = False  # control experiment: permute training labels across samples


@dataclass(frozen=True)
class TrainSettings:
    """A full training run: ``model`` and ``training`` are checked against ForecasterConfig / TrainConfig.

    ``universe`` is the served universe (validation scores its members); ``training_universe``, when
    set, is the universe file whose names the model trains on instead, point-in-time (train broad,
    serve narrow: docs/FORECASTER.md). Its sector names must be in ``sectors``' map.
    """

    env: Literal["local", "s3"]
    universe: str
    sectors: str
    data: TrainDataSettings
    model: dict[str, Any]
    training: dict[str, Any]
    storage: StorageSettings = field(default_factory=StorageSettings)
    training_universe: str | None = None


@dataclass(frozen=True)
class GateSettings:
    """When a challenger replaces the champion (kabucast.forecast.gate, docs/FORECASTER.md).

    Judged on the days after every training sample of either model whose outcomes are known
    (``window_sessions`` at most), horizon by horizon where at least ``min_dates`` days have a label.
    """

    min_pred_xs_std: float = 0.001  # collapse: the cross-sectional std of every horizon's predictions
    tolerance: float = 0.02  # the challenger's mean RankIC may trail the champion's by this much
    min_rankic: float = 0.0  # ... and must beat the trivial (zero-return) baseline's 0 by this much
    momentum_margin: float | None = 0.0  # ... and the 12-month momentum's, day by day, by this much (None: not asked)
    window_sessions: int = 231  # how far back the scoring window reaches
    min_dates: int = 20  # a horizon counts only with this many scored days
    coverage_tolerance: float | None = 0.10  # a quantile model's widest interval: |coverage - nominal| at most this


@dataclass(frozen=True)
class FinetuneSettings:
    """The monthly fine-tune from the champion: ~67 % recent-month samples, ~33 % random older ones."""

    env: Literal["local", "s3"]
    universe: str
    sectors: str
    recent_sessions: int
    recent_share: float
    n_samples: int
    val_fraction: float
    training: dict[str, Any]
    gate: GateSettings = field(default_factory=GateSettings)
    storage: StorageSettings = field(default_factory=StorageSettings)


@dataclass(frozen=True)
class PortfolioSettings:
    """The daily target portfolio (kabucast.evaluation.target_portfolio): the names are scored by the
    forecast's ``horizon_month``; the rules, rebalance cadence, costs and notional are those of the
    backtest settings file ``backtest`` (the one ``kabucast backtest`` reads), so the published book
    is the backtested one."""

    backtest: str = "backtest.yaml"
    horizon_month: int = 1


@dataclass(frozen=True)
class PredictSettings:
    """The daily prediction step.

    ``min_coverage``: the share of the universe (0..1] a full run must forecast before it may
    replace ``predictions/<date>.json`` and ``latest.json`` (kabucast.jobs.publish).
    ``portfolio``: also publish ``portfolio/<date>.json`` and ``portfolio/latest.json`` (null: no).
    ``site``: a full run also writes the live page ``site/index.html`` (kabucast.jobs.site_step).
    """

    env: Literal["local", "s3"]
    universe: str
    sectors: str
    storage: StorageSettings = field(default_factory=StorageSettings)
    min_coverage: float = 0.9
    portfolio: PortfolioSettings | None = field(default_factory=PortfolioSettings)
    site: bool = True

    def __post_init__(self) -> None:
        if not 0.0 < self.min_coverage <= 1.0:
            raise ConfigError(f"min_coverage must be in (0, 1], got {self.min_coverage}")


def load_universe(path: str) -> UniverseSettings:
    """A universe file (``config/universes/*.yaml``, or any path)."""
    return load_settings(UniverseSettings, resolve_config_path(path))


def load_sectors(path: str = SECTORS_CONFIG) -> SectorSettings:
    """A sector map file (default: the shipped config/sectors.yaml)."""
    return load_settings(SectorSettings, resolve_config_path(path))


def forecast_settings(config: str, cls: type[T]) -> tuple[T, UniverseSettings, SectorSettings]:
    """A forecast settings file (train, finetune, predict: it names ``universe`` and ``sectors``) with
    the universe and sector map it names."""
    cfg = load_settings(cls, resolve_config_path(config))
    universe, sectors = cfg.universe, cfg.sectors  # type: ignore[attr-defined]
    return cfg, load_universe(universe), load_sectors(sectors)


@dataclass(frozen=True)
class SelectSettings:
    """Choosing the champion across kinds (kabucast.experiments.select, docs/EVALUATION.md).

    ``evaluate`` names the walk-forward settings every recipe runs with (its ``train_config`` is
    replaced by each recipe); ``baselines`` the free baselines as servable recipes (momentum,
    reversal); ``candidates`` the recipes that must beat the best of them at ``months`` with
    family-wise error ``alpha`` (Holm) to be served.
    """

    env: Literal["local", "s3"]
    evaluate: str
    candidates: tuple[str, ...]
    baselines: tuple[str, ...] = ("train_momentum.yaml", "train_reversal.yaml")
    months: tuple[int, ...] = (1, 2, 3)
    alpha: float = 0.05
    storage: StorageSettings = field(default_factory=StorageSettings)

    def __post_init__(self) -> None:
        if not self.baselines:
            raise ConfigError("select: baselines must name at least one recipe (what is served when nothing wins)")
        if not self.months or any(not 1 <= m <= 12 for m in self.months):
            raise ConfigError(f"select: months must be in 1..12, got {list(self.months)}")
        if not 0.0 < self.alpha < 1.0:
            raise ConfigError(f"select: alpha must be in (0, 1), got {self.alpha}")
        names = [*self.baselines, *self.candidates]
        if len(set(names)) != len(names):
            raise ConfigError("select: a recipe is listed twice among baselines and candidates")


@dataclass(frozen=True)
class BacktestSettings:
    """The cost-aware long-short backtest (kabucast.evaluation.backtest, docs/EVALUATION.md).

    Costs are charged on traded notional: ``base_bps + slippage_bps`` per unit of turnover, plus a
    market impact of ``impact_k_bps * sqrt(participation)`` on each trade, participation = traded value /
    the ticker's average daily traded value over ``adv_days``. ``notional`` is the size of each leg,
    per currency: the backtest takes the entry of the universe's currency (no exchange rate is
    guessed; a currency without an entry is a ConfigError). ``days`` keeps only the most recent
    sessions (None: all); ``fast_mode`` ignores the predictions and trades on the realised returns (an
    oracle that checks the plumbing). ``rebalance_days`` None: the forecast's horizon (the backtest
    command makes it 21 x ``--horizon-month``, 1 in ``fast_mode``; the library, 1).
    """

    env: Literal["local", "s3"]
    quantile: float = 0.2
    long_only: bool = False
    max_weight: float | None = None  # cap per name, a share of its leg (kabucast.evaluation.portfolio)
    max_sector: float | None = None  # cap per sector, a share of its leg
    rebalance_days: int | None = None
    days: int | None = None
    base_bps: float = 10.0
    slippage_bps: float = 2.0
    impact_k_bps: float = 100.0
    notional: dict[str, float] = field(default_factory=lambda: {"JPY": 1_000_000_000.0, "USD": 7_000_000.0})
    adv_days: int = 20
    fast_mode: bool = False
    storage: StorageSettings = field(default_factory=StorageSettings)


@dataclass(frozen=True)
class EvaluateSettings:
    """Walk-forward evaluation of a training recipe (kabucast.experiments.walkforward, docs/EVALUATION.md).

    ``train_config`` names the recipe (a TrainSettings file: universe, model, training, data); its
    ``data.val_fraction`` becomes the share of each fold's training samples drawn at random for early
    stopping, its ``purge_sessions`` is not used (``purge_sessions`` here is), except for a recipe with
    quantiles or a model of whole dates (the cross-sectional kind): those early-stop on the last
    ``val_fraction`` of each fold's training dates, ``data.purge_sessions`` after those they fit. The last
    ``holdout_fraction`` of the sample dates is the holdout: no fold trains or tests on it, and it is
    scored once at the end by the last fold's model (``last_fold``) or by a model trained on every
    earlier date up to the purge (``refit``). Each fold tests on ``test_sessions`` dates (null: the
    dates left after the first training window and the purges, split evenly with that window) and
    trains on every date up to ``purge_sessions`` before its test (``expanding``) or on the
    ``train_sessions`` dates before that (``rolling``). ``report_month`` picks the horizon of the IC
    over time and calibration charts.
    """

    env: Literal["local", "s3"]
    train_config: str
    folds: int = 3
    window: Literal["expanding", "rolling"] = "expanding"
    train_sessions: int | None = None
    test_sessions: int | None = None
    purge_sessions: int = 252
    holdout_fraction: float = 0.1
    holdout_model: Literal["last_fold", "refit"] = "refit"
    compare_champion: bool = True
    report_month: int = 1
    storage: StorageSettings = field(default_factory=StorageSettings)
    evaluation_universe: str | None = None  # the names scored, members per date (None: the recipe's served universe)

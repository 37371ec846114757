"""Objectives: what one sweep trial trains and how it is scored, one plug-in per model.

An :class:`Objective` takes a trial's parameters and an epoch budget and returns a
:class:`TrialOutcome`; it knows nothing of Optuna (pruning reaches it as an :data:`EpochReport`
callable), so the Optuna search and the grid sweep share it. ``OBJECTIVES`` maps a model name to a
factory: ``"forecaster"`` and ``"ranker"`` (:class:`RankerObjective`, at the end of this module).

The forecaster's data (built once per worker process): the samples of the trial settings' training
config, split time-forward (kabucast.forecast.dataset.time_split) into training, a purge gap and an
evaluation period; the evaluation period's first ``1 - holdout_fraction`` of dates validate (early
stopping, pruning, the sweep's gate and score), and after ``holdout_gap_sessions`` more sessions the
rest is held out (reported, never used to choose). The 1-month labels of validation end before the
held-out period; longer labels reach into it, which only matters for selection (docs/SWEEPS.md).
"""

from __future__ import annotations

import atexit
import dataclasses
import math
import shutil
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import lightning as L
import numpy as np
import pandas as pd
import torch
from lightning.pytorch.callbacks import Callback

from kabucast.config import TrainSettings, build_section, load_yaml, resolve_config_path
from kabucast.data.calendar import TradingCalendar
from kabucast.data.sources.jquants_slow import check_groups
from kabucast.data.stored_universe import stored_universe
from kabucast.errors import ConfigError
from kabucast.forecast.cross_sectional_model import CrossSectionalMonitor
from kabucast.forecast.dataset import ForecastSamples, NotEnoughData, cap_samples, load_samples, time_split
from kabucast.forecast.diagnostics import CollapseMonitor, CollapseSettings
from kabucast.forecast.forecaster_module import TrainConfig
from kabucast.forecast.interface import ForecastModel, SampleSplit, TrainableModel, trains_on_whole_dates
from kabucast.forecast.kinds import DEFAULT_KIND, build_model, model_kind
from kabucast.storage.base import Store
from kabucast.sweeps.scoring import period_scores

EpochReport = Callable[[int, float], bool]
"""Called after each validation epoch with (epoch, validation score); True asks the run to stop (pruned)."""

COLLAPSE_KNOB = "collapse_output"
"""Test-only parameter: zero and freeze the output layer's weights, so every stock gets the same forecast."""


@dataclass(frozen=True)
class TrialSettings:
    """What a trial trains on, shared by the Optuna and grid settings files (``trial:`` section)."""

    model: str = "forecaster"
    train_config: str = "train_demo.yaml"  # data, model and training settings the trials start from
    # forecaster: {data|model|training: {key: value}}; ranker: {data: ..., <RankerTrainSettings section>: ...}
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    data_config: str | None = None  # ranker only: its data settings file (default ranker/features.yaml)
    holdout_fraction: float = 0.5  # share of the evaluation period held out (the later dates)
    holdout_gap_sessions: int = 21  # sessions between validation and the held-out dates
    collapse: CollapseSettings = field(default_factory=CollapseSettings)


@dataclass
class TrialOutcome:
    """A finished (or stopped) trial: scalar metrics, per-epoch history, and why it stopped early, if it did."""

    params: dict[str, Any]
    metrics: dict[str, float]  # val_* and test_* scores (kabucast.sweeps.scoring), epochs_run
    history: dict[str, list[Any]]  # per epoch: val_score and the collapse diagnostics
    collapsed: str | None = None
    pruned: bool = False

    @property
    def score(self) -> float:
        """The value a search maximises: validation RankIC (0 for a model with no ranking)."""
        return self.metrics["val_rankic"]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class Objective(Protocol):
    """One model's trial: train with ``params`` for at most ``max_epochs`` in ``work_dir``, then score."""

    def run(
        self, params: Mapping[str, Any], max_epochs: int, work_dir: Path, report: EpochReport | None = None
    ) -> TrialOutcome: ...


class EpochScore(Callback):
    """Hands each validation epoch's mean RankIC (NaN -> 0) to an :data:`EpochReport`; stops when told to."""

    def __init__(self, report: EpochReport | None) -> None:
        self.report = report
        self.scores: list[float] = []
        self.stopped = False

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking or trainer.state.fn != "fit" or not pl_module.val_metrics:
            return
        finite = [v for v in pl_module.val_metrics["rankic"] if math.isfinite(v)]
        score = sum(finite) / len(finite) if finite else 0.0
        self.scores.append(score)
        if self.report is not None and self.report(trainer.current_epoch, score):
            self.stopped = trainer.should_stop = True


@dataclass(frozen=True, eq=False)
class ForecasterData:
    """The forecaster's datasets for every trial of a worker (see the module docstring)."""

    samples: ForecastSamples
    train_idx: np.ndarray
    val_idx: np.ndarray
    test_idx: np.ndarray
    model: dict[str, Any]  # the base recipe's model section (its ``kind`` names the model)
    training: dict[str, Any]
    n_sectors: int


MONITORS: dict[str, Callable[[CollapseSettings], CollapseMonitor]] = {
    DEFAULT_KIND: CollapseMonitor,
    "cross_sectional": CrossSectionalMonitor,
}
"""The kinds a forecaster sweep trains (Lightning's: epochs to score, prune and watch) -> their collapse monitor."""


def sweep_kind(model: Mapping[str, Any], where: str) -> str:
    """The ``model.kind`` of a sweep's base recipe, if a sweep can train it; a named ConfigError otherwise."""
    kind = str(model.get("kind", DEFAULT_KIND))
    model_kind(kind, where)
    if kind not in MONITORS:
        raise ConfigError(
            f"{where}: model.kind '{kind}' has no epochs to score or prune; sweeps train {', '.join(MONITORS)}"
        )
    return kind


class ForecasterObjective:
    """The forecaster its base recipe's ``model.kind`` names (bilstm, cross_sectional) as a sweep objective;
    parameters are TrainConfig keys or keys of that kind's model section."""

    def __init__(self, data: ForecasterData, collapse: CollapseSettings) -> None:
        self.data = data
        self.collapse = collapse
        self.kind = sweep_kind(data.model, "sweep trial")
        self.split = SampleSplit(data.samples, data.train_idx, data.val_idx)  # datasets prepared once, kept

    def run(
        self, params: Mapping[str, Any], max_epochs: int, work_dir: Path, report: EpochReport | None = None
    ) -> TrialOutcome:
        model, collapse_output = self.build(params, max_epochs)
        monitor, epoch_score = MONITORS[self.kind](self.collapse), EpochScore(report)
        callbacks: list[Callback] = [monitor, epoch_score]
        if collapse_output:
            callbacks.insert(0, FreezeOutputAtZero())
        result = model.fit(self.split, work_dir, progress=False, callbacks=callbacks)
        metrics = {"epochs_run": float(result.epochs_run), **self.scores(model)}
        history = {"val_score": epoch_score.scores, **monitor.history}
        return TrialOutcome(dict(params), metrics, history, monitor.collapsed, epoch_score.stopped)

    def build(self, params: Mapping[str, Any], max_epochs: int) -> tuple[TrainableModel, bool]:
        """The trial's model: the base settings with ``params`` laid over them (TrainConfig keys on the training
        section, the others on the model section, checked against the kind's config), and the collapse knob."""
        if "kind" in params:
            raise ConfigError("sweep parameter 'kind': a sweep searches one kind, the one its train_config names")
        train_keys = set(TrainConfig.__dataclass_fields__)
        training = {**self.data.training, **{k: v for k, v in params.items() if k in train_keys}}
        over = {k: v for k, v in params.items() if k not in train_keys and k != COLLAPSE_KNOB}
        where = f"sweep parameters (TrainConfig keys, or model keys of kind {self.kind})"
        model = build_model(
            {**self.data.model, **over}, {**training, "max_epochs": max_epochs}, self.data.n_sectors, where
        )
        return model, bool(params.get(COLLAPSE_KNOB, False))

    def scores(self, model: ForecastModel) -> dict[str, float]:
        """Validation and held-out scores of ``model`` (kabucast.sweeps.scoring), prefixed val_ / test_."""
        out: dict[str, float] = {}
        for prefix, idx in (("val", self.data.val_idx), ("test", self.data.test_idx)):
            s = self.data.samples
            pred = model.predict(s, idx)
            for name, value in period_scores(pred, s.target[idx], s.date_pos[idx], s.ticker_pos[idx]).items():
                out[f"{prefix}_{name}"] = value
        return out


def freeze_output_at_zero(model: torch.nn.Module) -> None:
    """Zero the output layer's (``head[-1]``: the BiLSTM's, the cross-sectional network's) weights and freeze
    them: the forecast is the bias alone, equal for every stock."""
    last = model.head[-1]
    with torch.no_grad():
        last.weight.zero_()
    last.weight.requires_grad_(False)


class FreezeOutputAtZero(Callback):
    """The test-only :data:`COLLAPSE_KNOB`: :func:`freeze_output_at_zero` on the fresh network before training."""

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        freeze_output_at_zero(pl_module.model)


def split_forecaster_samples(
    samples: ForecastSamples, settings: TrainSettings, trial: TrialSettings, seed: int, whole_dates: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Training, validation and held-out sample indices (module docstring), capped like a training run (of whole
    dates for a model that learns from cross-sections, ``whole_dates``)."""
    data = settings.data
    split = time_split(samples, data.val_fraction, data.purge_sessions)
    strided = samples.date_pos % data.as_of_stride == 0
    evaluation = split.val[strided[split.val]]
    sessions = np.unique(samples.date_pos[evaluation])
    last_val = sessions[int(len(sessions) * (1 - trial.holdout_fraction)) - 1]
    val = evaluation[samples.date_pos[evaluation] <= last_val]
    test = evaluation[samples.date_pos[evaluation] > last_val + trial.holdout_gap_sessions]
    rng, by_date = np.random.default_rng(seed), samples.date_pos if whole_dates else None
    train = cap_samples(split.train[strided[split.train]], data.max_train_samples, rng, by_date)
    val, test = (cap_samples(idx, data.max_val_samples, rng, by_date) for idx in (val, test))
    if min(len(val), len(test)) < 2 or len(train) < 2:
        raise NotEnoughData(f"{len(train)} training / {len(val)} validation / {len(test)} held-out samples")
    return train, val, test


def trial_train_settings(trial: TrialSettings) -> tuple[TrainSettings, Any, Any]:
    """The training settings file of ``trial`` with its overrides applied, and its universe and sectors."""
    from kabucast.config import forecast_settings

    settings, universe, sectors = forecast_settings(trial.train_config, TrainSettings)
    unknown = sorted(set(trial.overrides) - {"data", "model", "training"})
    if unknown:
        raise ConfigError(f"trial.overrides: unknown section '{unknown[0]}' (allowed: data, model, training)")
    over = trial.overrides
    data = build_section(
        type(settings.data), {**dataclasses.asdict(settings.data), **over.get("data", {})}, "sweep", "data."
    )
    settings = dataclasses.replace(
        settings,
        data=data,
        model={**settings.model, **over.get("model", {})},
        training={**settings.training, **over.get("training", {})},
    )
    return settings, universe, sectors


def _forecaster(trial: TrialSettings, store: Store, calendar: TradingCalendar, as_of: pd.Timestamp) -> Objective:
    settings, shipped, sectors = trial_train_settings(trial)
    sweep_kind(settings.model, trial.train_config)
    base = build_model(settings.model, settings.training, sectors.n_ids, trial.train_config)  # checked before loading
    universe = stored_universe(store, shipped)  # the synced copy, as train and evaluate read it
    groups = check_groups(settings.data.feature_groups)  # the recipe's slow-data groups, as train reads them
    samples = load_samples(store, universe, sectors, calendar, as_of, settings.data.static_mode, feature_groups=groups)
    seed = int(settings.training.get("seed", 0))
    train, val, test = split_forecaster_samples(samples, settings, trial, seed, trains_on_whole_dates(base))
    data = ForecasterData(samples, train, val, test, dict(settings.model), settings.training, sectors.n_ids)
    return ForecasterObjective(data, trial.collapse)


class RankerObjective:
    """The ranker (kabucast.ranker) as a sweep objective; parameters are LossWeights, FitSettings or model keys.

    Every trial trains one model on the first purged fold (validation: the fold's test block) and is
    scored there and on the held-out period (kabucast.ranker.neural.train_trial): ``val_rankic`` is
    RankIC@``monitor_horizon`` (5), ``val_sharpe`` the daily top-bottom spread's Sharpe x sqrt(252).
    """

    def __init__(self, arrays: Any, splits: Any, settings: Any, collapse: CollapseSettings) -> None:
        self.arrays, self.splits, self.settings, self.collapse = arrays, splits, settings, collapse

    def run(
        self, params: Mapping[str, Any], max_epochs: int, work_dir: Path, report: EpochReport | None = None
    ) -> TrialOutcome:
        from kabucast.ranker.neural import train_trial

        result = train_trial(
            self.arrays, self.splits, self.settings, params, max_epochs, work_dir, report, self.collapse
        )
        return TrialOutcome(dict(params), result.metrics, result.history, result.collapsed, result.pruned)


def merged_settings(cls: type, path: str, overrides: Mapping[str, Any]) -> Any:
    """The settings file ``path`` (under config/) with ``overrides`` merged in key by key, checked against ``cls``."""
    resolved = resolve_config_path(path)
    return build_section(cls, _deep_merge(load_yaml(resolved), overrides), str(resolved), "")


def _deep_merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        nested = isinstance(value, Mapping) and isinstance(out.get(key), Mapping)
        out[key] = _deep_merge(out[key], value) if nested else value
    return out


def _ranker(trial: TrialSettings, store: Store, calendar: TradingCalendar, as_of: pd.Timestamp) -> Objective:
    """The ranker's arrays (in a temporary folder removed at exit) and its purged splits; ``as_of`` is unused.

    The ranker's data settings name their own period (``panel.start`` / ``end``).
    """
    from kabucast.ranker.features import warmup_sessions
    from kabucast.ranker.runs import RankerTrainSettings
    from kabucast.ranker.settings import RankerDataSettings
    from kabucast.ranker.train import plan_splits, prepare_arrays

    allowed = {"data", *RankerTrainSettings.__dataclass_fields__}
    unknown = sorted(set(trial.overrides) - allowed)
    if unknown:
        raise ConfigError(
            f"trial.overrides: unknown ranker section '{unknown[0]}' (allowed: {', '.join(sorted(allowed))})"
        )
    over = {k: v for k, v in trial.overrides.items() if k != "data"}
    data = merged_settings(
        RankerDataSettings, trial.data_config or "ranker/features.yaml", trial.overrides.get("data", {})
    )
    settings = merged_settings(RankerTrainSettings, trial.train_config, over)
    directory = Path(tempfile.mkdtemp(prefix="kabucast-ranker-sweep-"))
    atexit.register(shutil.rmtree, directory, True)
    arrays = prepare_arrays(store, data, calendar, directory / "arrays")
    splits = plan_splits(len(arrays.dates), warmup_sessions(data.features), settings, max(data.horizons))
    return RankerObjective(arrays, splits, settings, trial.collapse)


ObjectiveFactory = Callable[[TrialSettings, Store, TradingCalendar, pd.Timestamp], Objective]
OBJECTIVES: dict[str, ObjectiveFactory] = {"forecaster": _forecaster, "ranker": _ranker}


def make_objective(trial: TrialSettings, store: Store, calendar: TradingCalendar, as_of: pd.Timestamp) -> Objective:
    """The objective of ``trial.model`` with its data loaded from ``store`` as of ``as_of``."""
    if trial.model not in OBJECTIVES:
        raise ConfigError(f"unknown sweep model '{trial.model}' (known: {', '.join(OBJECTIVES)})")
    return OBJECTIVES[trial.model](trial, store, calendar, as_of)

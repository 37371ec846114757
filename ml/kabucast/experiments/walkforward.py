"""Walk-forward evaluation of a training recipe: purged time folds, an untouched holdout, model vs baselines.

The folds and the holdout are laid out by kabucast.experiments.folds (purged time folds, expanding
or rolling, and a holdout no fold trains or tests on).

Each fold trains the recipe (``train_config``: model, training, data) with the project's training
step (kabucast.forecast.train) into a temporary folder; its model is exported to ONNX there and
never published. Early stopping watches a random ``data.val_fraction`` of the fold's own training
samples (the test is never seen). A recipe with a quantile head splits the fold's training dates in
time instead, as ``kabucast train`` does: the last ``val_fraction`` of them, ``data.purge_sessions``
after the rest, early-stop and then calibrate the intervals
(kabucast.forecast.interface.calibrate_quantiles). Then every model is scored on the fold's test
samples with ONNX Runtime, per horizon (kabucast.forecast.metrics), beside the zero-return, 12-month momentum and
1-month reversal baselines and, when the store has one, the current champion, flagged ``in_sample`` on a fold whose
test days it may have trained on (the last day it trained or early-stopped on is less than a purge before the test).

Torch is imported only when a fold trains. The files and the report a run writes are
kabucast.experiments.walkforward_report's.
"""

from __future__ import annotations

import dataclasses
import hashlib
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from kabucast.config import EvaluateSettings, SectorSettings, TrainSettings, forecast_settings
from kabucast.data.calendar import SESSIONS_PER_MONTH, TradingCalendar
from kabucast.evaluation.calibration import unconditional_quantiles
from kabucast.evaluation.uncertainty import label_lag
from kabucast.experiments.folds import Fold, plan_folds
from kabucast.forecast.dataset import (
    ForecastData,
    ForecastSamples,
    NotEnoughData,
    cap_samples,
    forecast_data,
    split_samples,
)
from kabucast.forecast.interface import (
    ForecastModel,
    SampleSplit,
    calibrate_quantiles,
    finite_mean,
    quantile_levels,
    trains_on_whole_dates,
)
from kabucast.forecast.kinds import build_model
from kabucast.forecast.metrics import horizon_metrics, momentum_baseline, per_date_rankic, zero_baseline
from kabucast.forecast.onnx_model import OnnxModel
from kabucast.forecast.registry import (
    FeatureMismatch,
    ModelFiles,
    champion_version,
    check_features,
    last_seen_day,
    load_model,
)
from kabucast.forecast.ridge_model import RidgeForecaster
from kabucast.storage.base import Store, dumps_json

MODELS = ("model", "ridge", "zero_return", "momentum_12m", "reversal_1m", "champion")
"""Names of the scored forecasts, in report order (``champion`` only when the store has one)."""

Log = Callable[[str], None]
T = TypeVar("T")


def stderr_line(line: str) -> None:
    """The default progress log of a run: one line on stderr, flushed."""
    print(line, file=sys.stderr, flush=True)


# --- training and scoring ------------------------------------------------------------------------


@dataclass(frozen=True)
class FoldResult:
    """A scored fold: its layout (dates, counts), metrics per forecast, the predictions the report draws, and
    each forecast's per-date RankIC (what the intervals and paired differences are computed from)."""

    name: str
    layout: dict[str, Any]
    metrics: dict[str, dict[str, list[float]]]  # forecast name -> horizon_metrics
    test_idx: np.ndarray
    predictions: dict[str, np.ndarray] = field(default_factory=dict)  # forecast name -> (n_test, 12) log returns
    daily_rankic: dict[str, np.ndarray] = field(default_factory=dict)  # forecast -> (test days, 12); no zero_return
    quantiles: dict[str, np.ndarray] = field(default_factory=dict)  # forecast with a quantile head -> (n_test, 12, Q)
    levels: tuple[float, ...] = ()  # the quantile head's levels (the model's; () without one)
    unconditional: np.ndarray | None = None  # (12, Q) the fold's training targets' quantiles: the baseline


@dataclass(frozen=True)
class WalkForward:
    """Every fold then the holdout, with what the run was: settings, recipe, as-of date, champion."""

    settings: EvaluateSettings
    recipe: TrainSettings
    as_of: pd.Timestamp
    samples: ForecastSamples
    folds: list[FoldResult]
    champion: dict[str, Any] | None
    _derived: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def run_id(self) -> str:
        return run_id(self.settings, self.recipe, self.as_of)

    def derived(self, key: str, build: Callable[[], T]) -> T:
        """``build()``'s result, computed on the first call for ``key`` and kept with the run (the summary,
        the report and stderr all show the same derived figures)."""
        if key not in self._derived:
            self._derived[key] = build()
        return self._derived[key]


@dataclass(frozen=True)
class Champion:
    """The store's champion and the last day it trained on (None: unknown, so never clean)."""

    files: ModelFiles
    train_end: pd.Timestamp | None


def run_id(settings: EvaluateSettings, recipe: TrainSettings, as_of: pd.Timestamp) -> str:
    """``evaluate-<as-of>-<8 hex digits of the settings and recipe>``: the same inputs name the same folder."""
    digest = hashlib.sha256(
        dumps_json({"evaluate": dataclasses.asdict(settings), "recipe": dataclasses.asdict(recipe)})
    )
    return f"evaluate-{as_of.date()}-{digest.hexdigest()[:8]}"


def walk_forward(
    settings: EvaluateSettings,
    store: Store,
    calendar: TradingCalendar,
    as_of: pd.Timestamp,
    work_dir: Path,
    log: Log = stderr_line,
) -> WalkForward:
    """Walk-forward of the recipe ``settings.train_config`` names, on its universe (``kabucast evaluate``)."""
    recipe, universe, sectors = forecast_settings(settings.train_config, TrainSettings)
    data = forecast_data(store, calendar, recipe, universe, sectors, settings.evaluation_universe)
    return walk_forward_recipe(settings, recipe, data, as_of, work_dir, log)


def walk_forward_recipe(
    settings: EvaluateSettings,
    recipe: TrainSettings,
    data: ForecastData,
    as_of: pd.Timestamp,
    work_dir: Path,
    log: Log = stderr_line,
) -> WalkForward:
    """Train and score every fold, then the holdout; models stay in ``work_dir`` (nothing is published).

    ``recipe.data.shuffle_labels`` trains every fold's model and ridge on shuffled labels, early-stopping
    (and the ridge's penalty) judged on shuffled labels too, so nothing in the run sees a real label
    before the test: the control run. Its intervals are conditional on the one random function of the
    features it learned; judge a control across several seeds (``uncertainty.across_runs``,
    bench/bench_planted_evaluation.py).
    """
    day = data.calendar.previous_session(as_of)
    samples = data.samples(day, recipe.data.static_mode)
    sectors = data.sectors
    # a fold trains on the training universe's samples (train broad) and tests on the scored universe's members
    planned = plan_folds(samples.date_pos, settings)
    folds = [dataclasses.replace(f, train=samples.training_pool(f.train)) for f in planned]
    champion = load_champion(data.store, log) if settings.compare_champion else None
    results: list[FoldResult] = []
    models: dict[str, ForecastModel] | None = None
    for k, fold in enumerate(folds, 1):
        started = time.monotonic()
        log(f"[{k}/{len(folds)}] {fold.name}: {_describe(samples, fold)}")
        if not fold.reuse_model or models is None:
            models, trained = train_fold(recipe, sectors, samples, fold, work_dir / fold.name, log)
        layout = {**fold_layout(samples, fold), **trained}
        result = score_fold(samples, fold, models, champion, layout, settings.purge_sessions)
        results.append(result)
        log(f"[{k}/{len(folds)}] {fold.name}: {_rankic_line(result.metrics)} ({time.monotonic() - started:.0f} s)")
    info = None if champion is None else champion_info(champion, results)
    return WalkForward(settings, recipe, day, samples, results, info)


def load_champion(store: Store, log: Log = stderr_line) -> Champion | None:
    """The store's champion to compare with, or None (no champion, or one trained on other features)."""
    version = champion_version(store)
    if version is None:
        return None
    files = load_model(store, version)
    try:
        check_features(files)
    except FeatureMismatch as exc:
        log(f"champion left out of the comparison: {exc}")
        return None
    return Champion(files, last_seen_day(files.meta))  # training and early-stopping days are both in-sample


def train_fold(
    recipe: TrainSettings,
    sectors: SectorSettings,
    samples: ForecastSamples,
    fold: Fold,
    work_dir: Path,
    log: Log = stderr_line,
) -> tuple[dict[str, ForecastModel], dict[str, Any]]:
    """Train the recipe's model on ``fold.train`` (early stopping on a random share of it; for a quantile
    recipe, or a model of whole dates, on its last dates, purged, which then calibrate the intervals: a random
    share of the same dates would leak through their overlapping labels and split their cross-sections),
    served from ONNX, and the ridge baseline on the same split.

    The model comes from the recipe (kabucast.forecast.kinds.build_model) and fits as in
    ``kabucast train``; it is exported into ``work_dir`` and scored as the daily job would serve it.
    The ridge (kabucast.forecast.ridge_model) sees the same samples, labels and validation share.
    Returns the models (never stored) by forecast name and what the training saw.
    """
    model = build_model(recipe.model, recipe.training, sectors.n_ids)
    rng = np.random.default_rng(model.seed)
    whole = trains_on_whole_dates(model)
    if quantile_levels(model) or whole:  # calibration, or a model of whole dates, needs a later block, purged
        try:
            fit_idx, val_idx, _ = split_samples(samples, recipe.data, rng, model.min_train_samples, fold.train, whole)
        except NotEnoughData as exc:
            raise NotEnoughData(
                f"{fold.name}: {exc}. A quantile or cross-sectional recipe early-stops (and calibrates) on the last "
                f"{recipe.data.val_fraction:.0%} of each fold's training dates, {recipe.data.purge_sessions} sessions "
                "after those it fits (or use fewer folds or a shorter test_sessions)"
            ) from exc
    else:
        fit_idx, val_idx = inner_split(samples, fold.train, recipe, rng)
    if len(fit_idx) < model.min_train_samples or len(val_idx) < 2:
        raise NotEnoughData(f"{fold.name}: {len(fit_idx)} training / {len(val_idx)} early-stopping samples")
    split = SampleSplit(samples, fit_idx, val_idx)
    if recipe.data.shuffle_labels:  # the control: training AND early-stopping labels permuted (blind selection)
        rng = np.random.default_rng(model.seed)
        split = SampleSplit(samples, fit_idx, val_idx, rng.permutation(len(fit_idx)), rng.permutation(len(val_idx)))
    result = model.fit(split, work_dir, progress=True)
    # the control's: on its permuted labels, like its selection
    calibration = calibrate_quantiles(model, split, lambda line: log(f"{fold.name}: {line}"))
    onnx_path = work_dir / "model.onnx"
    model.export(onnx_path, samples, val_idx[:64])
    served = OnnxModel(onnx_path.read_bytes(), fold.name, recipe.data.static_mode)
    ridge = RidgeForecaster(seed=model.seed)
    ridge.fit(split, work_dir / "ridge", progress=False)
    info = {"n_train": len(fit_idx), "n_early_stopping": len(val_idx), "epochs_run": result.epochs_run}
    info["fit_range"] = [str(samples.dates[fit_idx].min().date()), str(samples.dates[fit_idx].max().date())]
    if calibration is not None:
        info["quantile_calibration"] = calibration
    return {"model": served, "ridge": ridge}, {**info, "ridge_alpha": ridge.alpha}


def inner_split(
    samples: ForecastSamples,
    train: np.ndarray,
    recipe: TrainSettings,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Fold training samples (every ``as_of_stride``-th date) split at random into fit / early-stopping, each capped."""
    data = recipe.data
    strided = train[samples.date_pos[train] % data.as_of_stride == 0]
    held = rng.random(len(strided)) < data.val_fraction
    return cap_samples(strided[~held], data.max_train_samples, rng), cap_samples(
        strided[held], data.max_val_samples, rng
    )


def month_lag(h: int) -> int:
    """The Newey-West lag of month ``h + 1``'s daily figures (2 x its label, kabucast.evaluation.uncertainty)."""
    return label_lag(SESSIONS_PER_MONTH * (h + 1))


def score_fold(
    samples: ForecastSamples,
    fold: Fold,
    models: dict[str, ForecastModel],
    champion: Champion | None,
    layout: dict[str, Any],
    purge_sessions: int,
) -> FoldResult:
    """Per-horizon metrics of the model, the ridge, the free baselines and the champion on the fold's test samples of
    tickers that were in the index on their date (no survivorship from today's list)."""
    idx = samples.members_only(fold.test)
    layout["test_members"] = len(idx)
    target, dates = samples.target[idx], samples.dates[idx].to_numpy()
    predictions, quantiles = {}, {}
    for name, model in models.items():
        if quantile_levels(model):  # one pass of the graph for both outputs
            predictions[name], quantiles[name] = model.predict_with_quantiles(samples, idx)
        else:
            predictions[name] = model.predict(samples, idx)
    predictions["zero_return"] = zero_baseline(len(idx))
    predictions["momentum_12m"] = momentum_baseline(samples.momentum_12m[idx])
    predictions["reversal_1m"] = momentum_baseline(samples.reversal_1m[idx], lookback_months=1)
    if champion is not None:
        predictions["champion"] = OnnxModel.from_files(champion.files).predict(samples, idx)
        layout["champion_in_sample"] = champion_in_sample(samples, idx, champion.train_end, purge_sessions)
    metrics = {name: horizon_metrics(target, pred, dates) for name, pred in predictions.items()}
    daily = {
        name: per_date_rankic(target, pred, dates)[0] for name, pred in predictions.items() if name != "zero_return"
    }
    levels = quantile_levels(models["model"])
    unconditional = unconditional_quantiles(samples.target[fold.train], levels) if levels else None
    return FoldResult(fold.name, layout, metrics, idx, predictions, daily, quantiles, levels, unconditional)


def champion_in_sample(
    samples: ForecastSamples, test: np.ndarray, train_end: pd.Timestamp | None, purge_sessions: int
) -> bool:
    """True when the champion's last training or early-stopping day is less than ``purge_sessions`` before the test."""
    if train_end is None:
        return True
    end_row = samples.history.as_of.searchsorted(train_end, side="right") - 1
    return bool(samples.date_pos[test].min() - end_row < purge_sessions)


def fold_layout(samples: ForecastSamples, fold: Fold) -> dict[str, Any]:
    """Dates, session rows and sizes of a fold: what the tests and the summary check the purge with."""
    train_rows, test_rows = samples.date_pos[fold.train], samples.date_pos[fold.test]
    as_of = samples.history.as_of
    return {
        "train_range": [str(as_of[train_rows.min()].date()), str(as_of[train_rows.max()].date())],
        "test_range": [str(as_of[test_rows.min()].date()), str(as_of[test_rows.max()].date())],
        "gap_sessions": int(test_rows.min() - train_rows.max()),
        "train_dates": len(np.unique(train_rows)),
        "test_dates": len(np.unique(test_rows)),
        "n_test": len(fold.test),
        "reused_model": fold.reuse_model,
    }


def champion_info(champion: Champion, results: list[FoldResult]) -> dict[str, Any]:
    """The champion's version, last training day, and the periods it may have trained on."""
    end = None if champion.train_end is None else str(champion.train_end.date())
    in_sample = [r.name for r in results if r.layout.get("champion_in_sample")]
    return {"version": champion.files.version, "train_end": end, "in_sample": in_sample}


def _describe(samples: ForecastSamples, fold: Fold) -> str:
    layout = fold_layout(samples, fold)
    train, test = layout["train_range"], layout["test_range"]
    reuse = ", last fold's model" if fold.reuse_model else ""
    return (
        f"train {train[0]}..{train[1]} ({len(fold.train):,} samples{reuse}), purge {layout['gap_sessions']} sessions, "
        f"test {test[0]}..{test[1]} ({len(fold.test):,} samples)"
    )


def _rankic_line(metrics: dict[str, dict[str, list[float]]]) -> str:
    parts = [f"{name} {finite_mean(m['rankic']):+.3f}" for name, m in metrics.items() if name != "zero_return"]
    return "mean RankIC over horizons: " + ", ".join(parts)

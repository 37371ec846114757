"""``kabucast ranker train`` / ``baseline``: data, folds, the neural ranker and LightGBM, held-out metrics, report.

1. The panel's raw features are normalised once and written as the loader's arrays in ``work_dir``.
2. Usable sessions: a full lookback after the features' warm-up, every target known (the last ``h_max``
   sessions have none). Their last ``cv.holdout_fraction`` is the held-out period; the development
   period before it (purged and embargoed, kabucast.ranker.cv) is cut into CV folds.
3. Each fold trains a model on its training sessions; the neural ranker early-stops on the fold's test
   block (so its CV score is slightly optimistic), LightGBM has a fixed number of trees. The fold
   models' held-out scores, z-scored per date, are averaged: nothing about the held-out period was
   seen by any model or by early stopping.
4. Per-day, per-horizon metrics of the held-out period (kabucast.ranker.metrics) go to
   ``reports/<run-id>/`` as CSV beside ``metrics.json`` and ``report.html``; fold checkpoints to
   ``ranker/models/<run-id>/``.

``shuffle_seed`` turns the run into a control: the targets are permuted across dates and across stocks
within each date before anything else, so every model should score zero within noise.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from kabucast.data.calendar import TradingCalendar
from kabucast.evaluation.report import ReportInputs, write_report
from kabucast.ranker.arrays import PanelArray
from kabucast.ranker.baseline import fit_baseline, permutation_importance, predict_baseline
from kabucast.ranker.cv import holdout_split, make_folds
from kabucast.ranker.dataset import build_dataset, load_panel
from kabucast.ranker.features import warmup_sessions
from kabucast.ranker.loader import WindowArrays, write_arrays
from kabucast.ranker.metrics import horizon_metrics, paired_rankic
from kabucast.ranker.neural import train_neural
from kabucast.ranker.normalize import normalize
from kabucast.ranker.runs import (
    MODELS,
    EvaluationSettings,
    ModelRun,
    RankerRunResult,
    RankerTrainSettings,
    Splits,
    average_scores,
    fold_rankic,
    horizon_list,
)
from kabucast.ranker.settings import RankerDataSettings
from kabucast.storage import Store
from kabucast.storage.base import json_safe

Progress = Callable[[str], None]


def run_ranker(
    store: Store,
    data_settings: RankerDataSettings,
    settings: RankerTrainSettings,
    run_id: str,
    work_dir: Path,
    calendar: TradingCalendar,
    models: Sequence[str] = MODELS,
    shuffle_seed: int | None = None,
    progress: Progress = lambda _: None,
) -> RankerRunResult:
    """Build the data, train ``models`` on every fold, score the held-out period and report it (module docstring)."""
    risk = settings.evaluation.risk_feature
    arrays = prepare_arrays(store, data_settings, calendar, work_dir / "arrays", shuffle_seed, progress, risk)
    h_max = max(data_settings.horizons)
    splits = plan_splits(len(arrays.dates), warmup_sessions(data_settings.features), settings, h_max)
    progress(
        f"{len(splits.rows)} usable sessions: {len(splits.development)} development in {len(splits.folds)} "
        f"{settings.cv.kind} fold(s), {len(splits.holdout)} held out"
    )
    runs: dict[str, ModelRun] = {}
    if "neural" in models:
        runs["neural"] = train_neural(store, arrays, splits, settings, run_id, work_dir / "neural", progress)
    if "lightgbm" in models:
        runs["lightgbm"] = train_lightgbm(store, arrays, splits, settings, run_id, progress)
    runs.update(feature_rankings(arrays, splits, settings.evaluation.feature_rankings))
    return report_runs(store, run_id, arrays, splits, runs, settings.evaluation)


def feature_rankings(arrays: WindowArrays, splits: Splits, prefixes: Sequence[str]) -> dict[str, ModelRun]:
    """``feature:<name>`` runs that score each held-out date by one feature's value, for every horizon.

    The bar a model's P@K must clear (see EvaluationSettings.feature_rankings); a prefix no feature
    matches is skipped.
    """
    holdout = np.asarray(arrays.features()[splits.rows[splits.holdout]])  # (D, N, F) features of date t
    n_horizons = len(horizon_list(arrays))
    runs = {}
    for prefix in prefixes:
        name = next((f for f in arrays.feature_names if f.startswith(prefix)), None)
        if name is None:
            continue
        values = holdout[:, :, arrays.feature_names.index(name)]
        runs[f"feature:{name}"] = ModelRun(f"feature:{name}", np.repeat(values[:, :, None], n_horizons, axis=2), [])
    return runs


def prepare_arrays(
    store: Store,
    data_settings: RankerDataSettings,
    calendar: TradingCalendar,
    directory: Path,
    shuffle_seed: int | None = None,
    progress: Progress = lambda _: None,
    risk_feature: str | None = None,
) -> WindowArrays:
    """The stored (or freshly built) panel's normalised features and targets, written as the loader's arrays,
    with the raw values of the first feature named ``risk_feature...`` as the arrays' ``risk`` (vol-neutral P@K)."""
    panel = load_panel(store, data_settings.panel, calendar)
    progress(f"features and targets: {len(panel.dates)} sessions x {len(panel.tickers)} stocks")
    data = build_dataset(panel, data_settings)
    targets = data.targets
    if shuffle_seed is not None:
        targets = shuffle_targets(targets, max(data_settings.horizons), shuffle_seed)
    risk_name = next((n for n in data.features.names if risk_feature and n.startswith(risk_feature)), None)
    risk = None if risk_name is None else data.features.column(risk_name)
    return write_arrays(normalize(data.features, data_settings.normalization), targets, directory, risk)


def shuffle_targets(targets: PanelArray, h_max: int, seed: int) -> PanelArray:
    """The control's targets: rows with targets permuted across dates, then stocks permuted within each date.

    Every horizon moves together; the last ``h_max`` rows (targets partly unknown) stay in place.
    """
    rng = np.random.default_rng(seed)
    values = targets.values.copy()  # (T, N, H)
    n = len(values) - h_max
    values[:n] = values[rng.permutation(n)]
    order = np.argsort(rng.random(values.shape[:2]), axis=1)  # (T, N) a permutation per date
    values = np.take_along_axis(values, order[:, :, None], axis=1)
    return dataclasses.replace(targets, values=values)


def plan_splits(n_sessions: int, warmup: int, settings: RankerTrainSettings, h_max: int) -> Splits:
    """Usable rows, the held-out tail and the development folds (kabucast.ranker.cv)."""
    rows = np.arange(warmup + settings.lookback - 1, n_sessions - h_max, dtype=np.int64)
    cv = settings.cv
    development, holdout = holdout_split(len(rows), cv.holdout_fraction, h_max, cv.embargo_days)
    return Splits(rows, development, holdout, make_folds(len(development), cv, h_max))


def train_lightgbm(
    store: Store,
    arrays: WindowArrays,
    splits: Splits,
    settings: RankerTrainSettings,
    run_id: str,
    progress: Progress = lambda _: None,
) -> ModelRun:
    """LightGBM on each fold (kabucast.ranker.baseline), its held-out ensemble and permutation importance."""
    x, y = arrays.features(), arrays.targets()
    holdout_x = np.asarray(x[splits.rows[splits.holdout]])  # (D, N, F) features of date t only
    horizons = horizon_list(arrays)
    cv, fold_models, artifacts = [], [], []
    for k, fold in enumerate(splits.folds):
        progress(f"lightgbm fold {k + 1}/{len(splits.folds)}: {len(fold.train)} training sessions")
        train_rows, test_rows = splits.rows[fold.train], splits.rows[fold.test]
        models = fit_baseline(np.asarray(x[train_rows]), np.asarray(y[train_rows]), settings.baseline)
        test_scores = predict_baseline(models, np.asarray(x[test_rows]))
        cv.append(fold_rankic(test_scores, np.asarray(y[test_rows]), horizons))
        fold_models.append(models)
        for h, model in zip(horizons, models, strict=True):
            key = f"ranker/models/{run_id}/lightgbm_fold{k}_h{h}.txt"
            store.put_bytes(key, model.model_to_string().encode("utf-8"), content_type="text/plain")
            artifacts.append(key)

    def ensemble(features: np.ndarray, columns: Sequence[int]) -> np.ndarray:
        """(D, N, len(columns)) fold-averaged scores of the horizons at ``columns``."""
        return average_scores([predict_baseline([models[c] for c in columns], features) for models in fold_models])

    j = horizons.index(settings.baseline.importance_horizon)
    holdout_y = np.asarray(y[splits.rows[splits.holdout]])[:, :, j]
    importance = permutation_importance(
        lambda f: ensemble(f, [j])[:, :, 0], holdout_x, holdout_y, arrays.feature_names, settings.baseline.seed
    )
    scores = ensemble(holdout_x, range(len(horizons)))
    return ModelRun("lightgbm", scores, cv, artifacts, importance)


def report_runs(
    store: Store,
    run_id: str,
    arrays: WindowArrays,
    splits: Splits,
    runs: dict[str, ModelRun],
    evaluation: EvaluationSettings,
) -> RankerRunResult:
    """Held-out metrics of every run; ``daily_<model>.csv``, ``summary.csv``, ``metrics.json`` and the HTML report."""
    rows = splits.rows[splits.holdout]
    dates, realised, horizons = arrays.dates[rows], np.asarray(arrays.targets()[rows]), horizon_list(arrays)
    risk = arrays.risk()
    risk = None if risk is None else np.asarray(risk[rows])
    prefix = f"reports/{run_id}/"
    daily, summary, keys = {}, {}, []
    for name, run in runs.items():
        daily[name], summary[name] = horizon_metrics(
            run.holdout_scores, realised, dates, horizons, evaluation.k, evaluation.quantile, risk
        )
        keys.append(_put_csv(store, f"{prefix}daily_{name}.csv", daily[name]))
        if run.importance is not None:
            keys.append(_put_csv(store, f"{prefix}importance_{name}.csv", run.importance.reset_index()))
    table = pd.concat(summary, names=["model"]).reset_index()
    keys.append(_put_csv(store, f"{prefix}summary.csv", table))
    paired = paired_rankic(daily, [n for n in runs if n == "lightgbm" or n.startswith("feature:")])
    if not paired.empty:
        keys.append(_put_csv(store, f"{prefix}paired.csv", paired))
    store.put_json(f"{prefix}metrics.json", json_safe(_metrics_json(runs, summary, splits, arrays)))  # NaN: null
    keys.append(f"{prefix}metrics.json")
    inputs = _report_inputs(daily, summary, evaluation, dates, paired)
    keys.insert(0, write_report(store, run_id, inputs, "kabucast ranker: held-out"))
    return RankerRunResult(daily, summary, runs, keys)


def _report_inputs(
    daily: dict[str, pd.DataFrame],
    summary: dict[str, pd.DataFrame],
    evaluation: EvaluationSettings,
    dates: Any,
    paired: pd.DataFrame,
) -> ReportInputs:
    """Mean RankIC by horizon and model, RankIC over time at the main horizon, the settings, then one row per
    model and horizon (summary.csv has every figure).

    No dispersion chart: the neural scores are z-scored per date (std 1 by construction) and the others
    are on their own scales, so their spreads compare nothing.
    """
    by_horizon = pd.DataFrame({name: table["rankic_mean"] for name, table in summary.items()})
    by_horizon.index.name = "horizon h (sessions ahead; return from close t to close t + h)"
    by_horizon.columns.name = "mean held-out RankIC (Spearman across stocks, per date)"
    main = _main_horizon(next(iter(daily.values())))
    over_time = pd.DataFrame({name: f[f["horizon"] == main].set_index("date")["rankic"] for name, f in daily.items()})
    settings = {
        "held-out period": f"{dates[0].date()}..{dates[-1].date()} ({len(dates)} sessions)",
        "P@K": f"K = {evaluation.k}; vol-neutral: realised returns divided by {evaluation.risk_feature}*",
        "spread": f"top minus bottom {evaluation.quantile:.0%} of the scores, realised return at the horizon",
    }
    rows = {
        f"{name} h{h}": (
            f"RankIC {row['rankic_mean']:+.4f} [{row['rankic_ci_low']:+.4f}, {row['rankic_ci_high']:+.4f}]; "
            f"P@K {row['p_at_k']:.3f} (random {row['random_p_at_k']:.3f}, "
            f"vol-neutral {row['p_at_k_vol_neutral']:.3f}); "
            f"spread {row['spread']:+.4f}; win rate {row['win_rate']:.2f}; JPX {row['jpx_score']:+.3f}"
        )
        for name, table in summary.items()
        for h, row in table.iterrows()
    }
    captions = {
        "ic_by_horizon": "Mean RankIC per horizon h on the held-out sessions: the Spearman correlation across stocks, "
        "each day, of the scores and the realised return from close t to close t + h sessions; 95 % intervals below",
        "ic_over_time": f"RankIC per held-out session at h = {main} sessions (close t to close t + {main}), "
        "21-session mean drawn over the daily values",
    }
    versus = {
        f"{model} - {baseline} (paired RankIC, 95 %)": "; ".join(
            f"h{r.horizon} {r.value:+.4f} [{r.ci_low:+.4f}, {r.ci_high:+.4f}]{_verdict(r.ci_low, r.ci_high)}"
            for r in group.itertuples()
        )
        for (model, baseline), group in (paired.groupby(["model", "baseline"], sort=False) if len(paired) else [])
    }
    metrics = {**settings, **rows, **versus}
    return ReportInputs(ic_by_horizon=by_horizon, ic_over_time=over_time, metrics=metrics, captions=captions)


def _verdict(low: float, high: float) -> str:
    return " better" if low > 0 else " WORSE" if high < 0 else " ~0"


def _main_horizon(frame: pd.DataFrame) -> int:
    horizons = sorted(frame["horizon"].unique())
    return 5 if 5 in horizons else int(horizons[0])


def _metrics_json(
    runs: dict[str, ModelRun], summary: dict[str, pd.DataFrame], splits: Splits, arrays: WindowArrays
) -> dict:
    held_out = arrays.dates[splits.rows[splits.holdout]]
    return {
        "holdout": {"start": str(held_out[0].date()), "end": str(held_out[-1].date()), "sessions": len(held_out)},
        "folds": [{"train": len(f.train), "test": len(f.test)} for f in splits.folds],
        "models": {
            name: {
                "holdout": {str(h): row.to_dict() for h, row in summary[name].iterrows()},
                "cv_rankic": [{str(h): v for h, v in fold.items()} for fold in run.cv_rankic],
                "artifacts": run.artifacts,
            }
            for name, run in runs.items()
        },
    }


def _put_csv(store: Store, key: str, frame: pd.DataFrame) -> str:
    store.put_bytes(key, frame.to_csv(index=False).encode("utf-8"), content_type="text/csv")
    return key

"""Training runs of the forecaster: stored prices -> samples -> Lightning fit -> ONNX -> a model version.

``train`` runs a full training; ``finetune`` starts from the champion's checkpoint on a mix of the
most recent labelled month and random older samples. A model with a quantile head is calibrated after
``train`` on the validation block (kabucast.forecast.interface.calibrate_quantiles); a fine-tune keeps
its parent's calibration. Both export a new immutable version under
``models/<version>/``; the first model ever trained becomes the champion, later ones are
challengers until a gate promotes them.
"""

from __future__ import annotations

import dataclasses
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from kabucast import __version__
from kabucast.config import FinetuneSettings, TrainSettings
from kabucast.errors import InvalidDate, KabucastError
from kabucast.features.registry import SEQ_WEEKS, contract_groups, feature_contract
from kabucast.forecast.dataset import (
    HORIZONS,
    ForecastData,
    ForecastSamples,
    NotEnoughData,
    StaticMode,
    split_samples,
)
from kabucast.forecast.interface import (
    FitResult,
    SampleSplit,
    TrainableModel,
    calibrate_quantiles,
    trains_on_whole_dates,
)
from kabucast.forecast.kinds import build_model, load_trainable
from kabucast.forecast.metrics import horizon_metrics, momentum_baseline, zero_baseline
from kabucast.forecast.registry import champion_version, model_key, save_model, set_champion, verify_artifact


class TooEarlyToFineTune(InvalidDate):
    """The as-of date leaves no labelled sample: 156 weeks of prices before a sample and 12 months after it."""

    def __init__(self, as_of: pd.Timestamp, samples: ForecastSamples) -> None:
        dates = samples.history.as_of  # the stored sessions up to the as-of date
        if len(dates):
            earliest = dates[0] + pd.Timedelta(weeks=SEQ_WEEKS) + pd.DateOffset(months=HORIZONS)
            why = (
                f"the stored prices start on {dates[0].date()}, so the first as-of that can fine-tune is in "
                f"about {earliest:%Y-%m}"
            )
        else:
            why = "the store holds no prices on or before it"
        super().__init__(
            f"as of {as_of.date()} there is no labelled sample to fine-tune on: a sample needs {SEQ_WEEKS} weeks "
            f"of prices before it and {HORIZONS} months after it, and {why}; pass a later --as-of (as_of_date "
            "in an event), or backfill a longer history"
        )


@dataclass(frozen=True)
class TrainRun:
    version: str
    champion: bool
    fit: FitResult
    meta: dict[str, Any]

    def summary(self) -> str:
        role = "champion" if self.champion else "challenger"
        return f"model {self.version} ({role}): {self.fit.summary()}"

    def table(self) -> str:
        """Validation RankIC per horizon beside the momentum baseline, and the prediction spread."""
        v = self.meta["validation"]
        lines = ["month  RankIC  momentum  IC      dir.acc  pred xs-std"]
        for h in range(12):
            lines.append(
                f"{h + 1:>5}  {_fmt(v['model']['rankic'][h])}  {_fmt(v['momentum_12m']['rankic'][h])}    "
                f"{_fmt(v['model']['ic'][h])}  {_fmt(v['model']['dir_acc'][h])}   {_fmt(v['model']['pred_xs_std'][h])}"
            )
        return "\n".join(lines)


def _fmt(value: float | None) -> str:
    return "   nan" if value is None else f"{value:+.3f}"


def train(
    settings: TrainSettings,
    data: ForecastData,
    as_of: pd.Timestamp,
    work_dir: Path,
    progress: bool = True,
    walk_forward: dict[str, Any] | None = None,
) -> TrainRun:
    """A full training run as of ``as_of``; returns the new version (champion if there was none). ``walk_forward``:
    the evidence that chose this recipe (``kabucast select --train``), recorded in model.json."""
    model = build_model(settings.model, settings.training, data.sectors.n_ids)
    samples = data.samples(as_of, settings.data.static_mode)
    rng = np.random.default_rng(model.seed)
    pool = samples.training_pool()  # the training universe's samples (train broad, serve narrow)
    train_idx, val_idx, split = split_samples(
        samples, settings.data, rng, model.min_train_samples, pool, trains_on_whole_dates(model)
    )
    # the control: same inputs, labels of other samples; validation untouched
    order = rng.permutation(len(train_idx)) if settings.data.shuffle_labels else None
    print(
        f"training a {settings.model.get('kind', 'bilstm')} model on {len(train_idx):,} samples "
        f"({split.train_end.date()} and before), validating on {len(val_idx):,} ({split.val_start.date()} on)"
    )
    sample_split = SampleSplit(samples, train_idx, val_idx, order)
    result = model.fit(sample_split, work_dir, progress)
    calibrate_quantiles(model, sample_split)  # the validation block: later, purged
    run = {
        "kind": "train",
        "as_of": str(data.calendar.previous_session(as_of).date()),
        "train_range": [str(samples.dates[train_idx].min().date()), str(split.train_end.date())],
        "val_range": [str(split.val_start.date()), str(samples.dates[val_idx].max().date())],
        "n_train": len(train_idx),
        "n_val": len(val_idx),
        "shuffled_labels": settings.data.shuffle_labels,
        "static_lookahead_samples_all": samples.static_lookahead,
        "universes": data.describe(),
    }
    extra = {} if walk_forward is None else {"walk_forward": walk_forward}
    return publish(data, model, samples, val_idx, result, run, settings.data.static_mode, work_dir, extra)


def publish(
    data: ForecastData,
    model: TrainableModel,
    samples: ForecastSamples,
    val_idx: np.ndarray,
    result: FitResult,
    run: dict[str, Any],
    static_mode: StaticMode,
    work_dir: Path,
    extra: dict[str, Any] | None = None,
) -> TrainRun:
    """Export to ONNX (with parity check), write the version (``extra``: more model.json keys), make it champion if
    there is none."""
    onnx_path = work_dir / "model.onnx"
    parity = model.export(onnx_path, samples, val_idx[:64])
    meta = {
        "package_version": __version__,
        "features": feature_contract(data.feature_groups),
        "static_mode": static_mode,
        "horizons_months": list(range(1, 13)),
        "sessions_per_month": 21,
        "sector_map": dict(data.sectors.sectors),
        "sector_unknown_id": data.sectors.unknown_id,
        **model.describe(),  # model_config, parameters, normalizer, train_config
        "validation": validation_report(samples, val_idx, result.val_metrics),
        "onnx_parity_max_abs_diff": parity,
        "run": {**run, "epochs_run": result.epochs_run, "best_val_loss": result.best_score},
        **(extra or {}),
    }
    store = data.store
    version = save_model(store, onnx_path.read_bytes(), result.best_checkpoint.read_bytes(), meta)
    first = champion_version(store) is None
    if first:
        set_champion(store, version, "first trained model")
    return TrainRun(version=version, champion=first, fit=result, meta=meta)


def validation_report(samples: ForecastSamples, val_idx: np.ndarray, model: dict[str, list[float]]) -> dict:
    """Per-horizon validation metrics of the model beside the zero-return and momentum baselines."""
    target, dates = samples.target[val_idx], samples.dates[val_idx].to_numpy()
    return {
        "model": model,
        "zero_return": horizon_metrics(target, zero_baseline(len(val_idx)), dates),
        "momentum_12m": horizon_metrics(target, momentum_baseline(samples.momentum_12m[val_idx]), dates),
    }


def finetune(
    settings: FinetuneSettings, data: ForecastData, as_of: pd.Timestamp, work_dir: Path, progress: bool = True
) -> TrainRun:
    """Fine-tune the champion on recent + older samples and write a challenger version (not promoted)."""
    store = data.store
    parent = champion_version(store)
    if parent is None:
        raise KabucastError(f"no champion model in {store.url}: run `kabucast train` before fine-tuning")
    meta_parent = store.get_json(model_key(parent, "model.json"))
    data = dataclasses.replace(data, feature_groups=contract_groups(meta_parent.get("features")))  # the parent's
    samples = finetune_samples(data, as_of, meta_parent["static_mode"])
    ckpt = work_dir / "parent.ckpt"
    ckpt.parent.mkdir(parents=True, exist_ok=True)
    parent_ckpt = store.get_bytes(model_key(parent, "model.ckpt"))
    verify_artifact(store, parent, meta_parent, "model.ckpt", parent_ckpt)
    ckpt.write_bytes(parent_ckpt)
    model = load_trainable(meta_parent, ckpt, settings.training)
    idx = finetune_indices(samples, settings, np.random.default_rng(model.seed))
    rng = np.random.default_rng(model.seed + 1)
    val_mask = np.zeros(len(idx), dtype=bool)
    val_mask[rng.choice(len(idx), size=max(2, round(len(idx) * settings.val_fraction)), replace=False)] = True
    train_idx, val_idx = idx[~val_mask], idx[val_mask]
    result = model.finetune(SampleSplit(samples, train_idx, val_idx), work_dir, progress)
    if "quantile_calibration" in meta_parent:  # no later block to calibrate on: the parent's factors stay
        print(f"intervals keep {parent}'s calibration ({meta_parent['quantile_calibration']['block'][1]} block)")
    recent = samples.dates[idx] >= _recent_start(samples, settings.recent_sessions)
    run = {
        "kind": "finetune",
        "parent": parent,
        "as_of": str(data.calendar.previous_session(as_of).date()),
        "n_samples": len(idx),
        "n_recent": int(recent.sum()),
        "n_older": int((~recent).sum()),
        "n_val": len(val_idx),
        "train_range": [str(samples.dates[idx].min().date()), str(samples.dates[idx].max().date())],
        "note": f"validation is a random {settings.val_fraction:.0%} of the fine-tune samples (monitoring only); "
        "the gate judges promotion",
    }
    # the recipe's walk-forward evidence carries over to its fine-tunes, saying from which version
    inherited = meta_parent.get("walk_forward")
    extra = None if inherited is None else {"walk_forward": {**inherited, "inherited_from": parent}}
    return publish(data, model, samples, val_idx, result, run, meta_parent["static_mode"], work_dir, extra)


def finetune_samples(data: ForecastData, as_of: pd.Timestamp, static_mode: StaticMode = "none") -> ForecastSamples:
    """The labelled samples a fine-tune as of ``as_of`` draws from; :class:`TooEarlyToFineTune` when there are none.

    Which samples exist does not depend on ``static_mode`` (only their static features do), so the monthly
    job asks this with the default before it enriches: an as-of too early fails before anything is fetched
    or written. Reads prices and static snapshots only, no model and no torch.
    """
    samples = data.samples(as_of, static_mode)
    if not len(samples):
        raise TooEarlyToFineTune(as_of, samples)
    return samples


def _recent_start(samples: ForecastSamples, recent_sessions: int) -> pd.Timestamp:
    rows = np.unique(samples.date_pos)
    return samples.history.as_of[rows[-min(recent_sessions, len(rows))]]


def finetune_indices(samples: ForecastSamples, settings: FinetuneSettings, rng: np.random.Generator) -> np.ndarray:
    """~``recent_share`` of ``n_samples`` from the last ``recent_sessions`` labelled dates, the rest older, at random.

    "Labelled" means all 12 horizons are known, so the most recent fine-tune month ends 252
    sessions before the as-of date: the freshest data the model can be scored against.
    """
    recent_mask = samples.dates >= _recent_start(samples, settings.recent_sessions)
    recent, older = np.flatnonzero(recent_mask), np.flatnonzero(~recent_mask)
    n_recent = min(len(recent), round(settings.n_samples * settings.recent_share))
    n_older = min(len(older), settings.n_samples - n_recent)
    if n_recent + n_older < 4:
        raise NotEnoughData(f"only {len(recent) + len(older)} labelled samples to fine-tune on")
    picked = [rng.choice(recent, n_recent, replace=False), rng.choice(older, n_older, replace=False)]
    return np.sort(np.concatenate(picked))


def train_in_tempdir(fn: Any, *args: Any, **kwargs: Any) -> TrainRun:
    """Run ``train`` or ``finetune`` with a throwaway work folder (checkpoints and logs)."""
    with tempfile.TemporaryDirectory(prefix="kabucast-train-") as tmp:
        return fn(*args, work_dir=Path(tmp), **kwargs)

"""``kabucast train --from-sweep DIR``: the sweep winner trained in two stages into one ensemble model version.

1. **Variance bootstrap** (``stage1``): a few epochs with the winner's settings but no turnover term,
   a strong ``pred_var_weight`` and ``output_noise_std`` > 0, so the forecasts spread out before the
   ranking terms take over. Stage 1 ends on its best (lowest val_loss) weights.
2. **Optimisation** (``stage2``), from stage 1's weights: more epochs with the winner's own loss
   weights, optionally a cosine learning rate restarted every ``cycle_epochs`` epochs. Two kinds of
   averaging run along the way:

   - **snapshots**: the weights at the end of each cycle (the learning-rate minima), or of every
     epoch when ``cycle_epochs`` is 0; the last ``snapshots`` of them are kept;
   - **SWA**: ``torch.optim.swa_utils.AveragedModel`` averages the weights at the end of every epoch
     from ``swa_start_epoch`` (0-based, within stage 2) on; with ``swa_member`` the average joins the
     ensemble as one more member.

The members become one :class:`~kabucast.forecast.ensemble.SnapshotEnsemble`, exported as ONE ONNX
file whose forward averages their forecasts (same inputs and output as a single forecaster; the
ONNX parity check covers the whole ensemble). It is published like ``kabucast train``'s models
(:func:`kabucast.forecast.train.publish`); the checkpoint holds the SWA weights (else the last
snapshot) as the single model a fine-tune would start from, and every member's weights under
``ensemble``. When a champion exists, the promotion gate (:func:`kabucast.forecast.gate.gate_and_promote`)
judges the new version; the first model ever becomes champion as with ``train``.

The data split is ``kabucast.train``'s (time-forward, purged, strided, capped) on the training
settings file ``train_config`` (default: the train command's ``--config``) with ``overrides``.
``model.json``'s ``run`` section records both stages per epoch (validation prediction std per
horizon, validation RankIC, diagnostics) and each member's and the ensemble's validation scores.
"""

from __future__ import annotations

import copy
import dataclasses
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import pandas as pd
import torch
from lightning.pytorch.callbacks import Callback
from torch.optim.swa_utils import AveragedModel

from kabucast.config import GateSettings, SectorSettings, TrainSettings, UniverseSettings, build_section
from kabucast.errors import ConfigError, KabucastError
from kabucast.forecast.dataset import ForecastData, split_samples
from kabucast.forecast.diagnostics import CollapseMonitor, CollapseSettings
from kabucast.forecast.ensemble import SnapshotEnsemble
from kabucast.forecast.forecaster_module import TrainConfig
from kabucast.forecast.gate import Decision, gate_and_promote
from kabucast.forecast.interface import FitResult, SampleSplit, calibrate_quantiles
from kabucast.forecast.metrics import horizon_metrics
from kabucast.forecast.model import BiLSTMForecaster, ForecasterConfig, count_parameters
from kabucast.forecast.registry import champion_version
from kabucast.forecast.torch_model import TorchForecaster, predict_network
from kabucast.forecast.train import TrainRun, publish
from kabucast.storage.base import Store
from kabucast.sweeps.evaluate import best_params
from kabucast.sweeps.objective import COLLAPSE_KNOB, EpochScore

DEFAULT_CONFIG = "sweep/two_stage.yaml"


@dataclass(frozen=True)
class StageOneSettings:
    """Variance bootstrap: the winner's settings with these laid over them."""

    epochs: int = 3
    pred_var_weight: float = 1.0  # strong: any horizon whose spread is below pred_std_floor is pushed up
    output_noise_std: float = 0.03  # must be > 0
    turnover_weight: float = 0.0
    lr: float | None = None  # None: the winner's

    def __post_init__(self) -> None:
        if self.epochs < 1 or not self.output_noise_std > 0:
            raise ValueError(f"stage1 needs epochs >= 1 and output_noise_std > 0, got {self}")


@dataclass(frozen=True)
class StageTwoSettings:
    """The winner's loss weights from stage 1's weights; SWA and snapshots (module docstring)."""

    epochs: int = 12
    cycle_epochs: int = 3  # cosine learning rate restarted every this many epochs; 0: constant lr
    min_lr_ratio: float = 0.05  # the cosine's floor, as a share of the lr
    snapshots: int = 3  # K: snapshots kept (cycle ends, or epochs when cycle_epochs is 0), the last K
    swa_start_epoch: int = 6  # 0-based epoch of stage 2 from which SWA averages; -1 disables SWA
    swa_member: bool = True  # the SWA average joins the ensemble as a member

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.snapshots < 1 or self.cycle_epochs < 0 or self.swa_start_epoch >= self.epochs:
            raise ValueError(f"stage2 needs epochs >= 1, snapshots >= 1, cycle_epochs >= 0, swa_start < epochs: {self}")
        if self.cycle_epochs and self.epochs // self.cycle_epochs < 1:
            raise ValueError(f"stage2: {self.epochs} epochs hold no whole cycle of {self.cycle_epochs}")


@dataclass(frozen=True)
class TwoStageSettings:
    """``config/sweep/two_stage.yaml``."""

    train_config: str | None = None  # training settings file (data, model, training); None: train's --config
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)  # {data|model|training: {key: value}}
    stage1: StageOneSettings = field(default_factory=StageOneSettings)
    stage2: StageTwoSettings = field(default_factory=StageTwoSettings)
    collapse: CollapseSettings = field(default_factory=CollapseSettings)
    gate: GateSettings = field(default_factory=GateSettings)


@dataclass(frozen=True)
class TwoStageRun:
    run: TrainRun
    members: list[str]
    decision: Decision | None  # None when there was no champion to judge against (this one became champion)

    @property
    def version(self) -> str:
        return self.run.version

    def summary(self) -> str:
        ens = self.run.meta["run"]["ensemble"]
        head = (
            f"two-stage model {self.version}: ensemble of {len(self.members)} ({', '.join(self.members)}), "
            f"val RankIC {ens['val_rankic_mean']:+.4f}"
        )
        if self.decision is None:
            return f"{head}; first model: champion"
        return f"{head}; {self.decision.summary()}"


def load_two_stage(
    path: str, train_config: str
) -> tuple[TwoStageSettings, TrainSettings, UniverseSettings, SectorSettings]:
    """The two-stage settings and the training settings they name (``train_config`` when they name none)."""
    from kabucast.config import load_settings, resolve_config_path
    from kabucast.sweeps.objective import TrialSettings, trial_train_settings

    settings = load_settings(TwoStageSettings, resolve_config_path(path))
    trial = TrialSettings(train_config=settings.train_config or train_config, overrides=settings.overrides)
    train_settings, universe, sectors = trial_train_settings(trial)
    return settings, train_settings, universe, sectors


def winner(store: Store, sweep_dir: str) -> tuple[str, dict[str, Any]]:
    """The top config id of an evaluated sweep and its parameters (sweeps.evaluate.best_params)."""
    key = f"{sweep_dir.rstrip('/')}/top_config_ids.txt"
    if not store.exists(key):
        raise KabucastError(f"{store.url}/{key} not found: run `kabucast sweep evaluate {sweep_dir}` first")
    params = best_params(store, sweep_dir)
    return store.get_bytes(key).decode().split()[0], dict(params)


def winner_configs(
    params: dict[str, Any], settings: TrainSettings, n_sectors: int
) -> tuple[TrainConfig, ForecasterConfig]:
    """The training settings with the winner's parameters (TrainConfig or ForecasterConfig keys) laid over them."""
    if params.get(COLLAPSE_KNOB):
        raise ConfigError("the sweep winner has the test-only collapse_output knob set: refusing to train it")
    train_keys, model_keys = set(TrainConfig.__dataclass_fields__), set(ForecasterConfig.__dataclass_fields__)
    params = {k: v for k, v in params.items() if k != COLLAPSE_KNOB}
    unknown = sorted(set(params) - train_keys - model_keys)
    if unknown:
        raise ConfigError(f"sweep parameter '{unknown[0]}' is neither a TrainConfig nor a ForecasterConfig key")
    training = {**settings.training, **{k: v for k, v in params.items() if k in train_keys}}
    model = {**settings.model, **{k: v for k, v in params.items() if k in model_keys}, "n_sectors": n_sectors}
    cfg = build_section(TrainConfig, training, "two-stage training", "training.")
    return cfg, build_section(ForecasterConfig, model, "two-stage training", "model.")


class Snapshots(Callback):
    """Keeps the last ``k`` snapshots (epoch, state_dict) and the SWA average of the forecaster (see module doc)."""

    def __init__(self, k: int, cycle_epochs: int, swa_start_epoch: int) -> None:
        self.kept: deque[tuple[int, dict[str, torch.Tensor]]] = deque(maxlen=k)
        self.cycle_epochs, self.swa_start = cycle_epochs, swa_start_epoch
        self.swa: AveragedModel | None = None
        self.swa_epochs: list[int] = []
        self.lr: list[float] = []

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        epoch, model = trainer.current_epoch, pl_module.model
        self.lr.append(float(trainer.optimizers[0].param_groups[0]["lr"]))
        if not self.cycle_epochs or (epoch + 1) % self.cycle_epochs == 0:
            self.kept.append((epoch, {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}))
        if 0 <= self.swa_start <= epoch:
            if self.swa is None:
                self.swa = AveragedModel(copy.deepcopy(model).cpu())
            self.swa.update_parameters(model)  # the first call copies, later ones average
            self.swa_epochs.append(epoch)


def two_stage_train(
    settings: TwoStageSettings,
    train_settings: TrainSettings,
    data: ForecastData,
    as_of: pd.Timestamp,
    sweep_dir: str,
    work_dir: Path,
    progress: bool = False,
) -> TwoStageRun:
    """Train the winner of ``sweep_dir`` in two stages, publish the ensemble, gate it against the champion."""
    store, samples_settings = data.store, train_settings.data
    cid, params = winner(store, sweep_dir)
    cfg, model_cfg = winner_configs(params, train_settings, data.sectors.n_ids)
    samples = data.samples(as_of, samples_settings.static_mode)
    rng = np.random.default_rng(cfg.seed)
    train_idx, val_idx, split = split_samples(samples, samples_settings, rng, cfg.batch_size, samples.training_pool())
    sample_split = SampleSplit(samples, train_idx, val_idx)
    s1, s2 = settings.stage1, settings.stage2
    print(f"two-stage training of {sweep_dir} winner {cid}: {params}")

    # stage 1: variance bootstrap
    cfg1 = dataclasses.replace(
        cfg,
        max_epochs=s1.epochs,
        patience=s1.epochs + 1,
        turnover_weight=s1.turnover_weight,
        pred_var_weight=s1.pred_var_weight,
        output_noise_std=s1.output_noise_std,
        lr=s1.lr or cfg.lr,
    )
    stage1 = TorchForecaster(model_cfg, cfg1)
    monitor1, score1 = CollapseMonitor(settings.collapse), EpochScore(None)
    r1 = stage1.fit(sample_split, work_dir / "stage1", progress, callbacks=[monitor1, score1])
    print(f"stage 1 (variance bootstrap): {r1.summary()}")

    # stage 2: the winner's loss weights from stage 1's best weights; snapshots and SWA
    cycle = {"lr_cycle_epochs": s2.cycle_epochs, "min_lr_ratio": s2.min_lr_ratio}
    cfg2 = dataclasses.replace(cfg, max_epochs=s2.epochs, patience=s2.epochs + 1, **cycle)
    stage2 = stage1.with_training(cfg2)
    monitor2, score2 = CollapseMonitor(settings.collapse), EpochScore(None)
    snaps = Snapshots(s2.snapshots, s2.cycle_epochs, s2.swa_start_epoch)
    r2 = stage2.finetune(sample_split, work_dir / "stage2", progress, callbacks=[monitor2, score2, snaps])
    print(f"stage 2 (SWA + snapshots): {r2.summary()}")

    model = stage2.network
    names, states = [f"snapshot_epoch{e}" for e, _ in snaps.kept], [s for _, s in snaps.kept]
    if snaps.swa is not None and s2.swa_member:
        names.append(f"swa_epochs{snaps.swa_epochs[0]}-{snaps.swa_epochs[-1]}")
        states.append(snaps.swa.module.state_dict())
    if not states:  # a stage 2 stopped (collapsed) before its first snapshot
        names, states = ["stage2_best"], [model.state_dict()]
    template = BiLSTMForecaster(model_cfg, model.normalizer)
    ensemble = TorchForecaster(model_cfg, cfg2, SnapshotEnsemble.from_state_dicts(template, states))
    ens_metrics, members = _scores(ensemble, sample_split)
    calibrate_quantiles(ensemble, sample_split)  # the ensemble's own, after averaging
    primary = states[-1] if snaps.swa is None else snaps.swa.module.state_dict()
    ckpt = _write_checkpoint(work_dir / "two_stage.ckpt", model_cfg, cfg2, primary, names, states)
    epochs_run = r1.epochs_run + r2.epochs_run
    result = FitResult(ckpt, members.pop("ensemble_val_loss"), epochs_run, ens_metrics)
    run = {
        "kind": "two_stage",
        "as_of": str(data.calendar.previous_session(as_of).date()),
        "train_range": [str(samples.dates[train_idx].min().date()), str(split.train_end.date())],
        "val_range": [str(split.val_start.date()), str(samples.dates[val_idx].max().date())],
        "n_train": len(train_idx),
        "n_val": len(val_idx),
        "shuffled_labels": False,
        "static_lookahead_samples_all": samples.static_lookahead,
        "sweep": {"dir": sweep_dir, "winner": cid, "params": params},
        "stages": {
            "stage1": _stage_figures(r1, monitor1, score1, cfg1, cfg),
            "stage2": {
                **_stage_figures(r2, monitor2, score2, cfg2, cfg),
                "lr": snaps.lr,
                "swa_epochs": snaps.swa_epochs,
                "snapshot_epochs": [e for e, _ in snaps.kept],
            },
        },
        "ensemble": {"members": names, "parameters_per_member": count_parameters(template), **members},
    }
    had_champion = champion_version(store) is not None
    published = publish(data, ensemble, samples, val_idx, result, run, samples_settings.static_mode, work_dir)
    print(f"published {published.version} (ONNX parity {published.meta['onnx_parity_max_abs_diff']:.2e})")
    decision = None
    if had_champion:
        decision = gate_and_promote(published.version, settings.gate, data, as_of)
        print(decision.summary())
    print(f"report: {store.url}/{two_stage_report(store, published, decision)}")
    return TwoStageRun(published, names, decision)


def two_stage_report(store: Store, published: TrainRun, decision: Decision | None) -> str:
    """``reports/two-stage-<version>/report.html``: validation RankIC by horizon beside the baselines,
    the prediction spread (collapse), the per-epoch stage figures and the gate's decision."""
    from kabucast.evaluation.report import ReportInputs, write_report

    v = published.meta["validation"]
    months = pd.Index(range(1, 13), name="month")
    ic = pd.DataFrame({name: v[name]["rankic"] for name in ("model", "zero_return", "momentum_12m")}, index=months)
    spread = pd.DataFrame({"model pred xs-std": v["model"]["pred_xs_std"]}, index=months)
    ic.columns.name = "validation RankIC (Spearman across tickers, mean over dates)"
    spread.columns.name = "cross-sectional std of the forecasts (log return)"
    stages = published.meta["run"]["stages"]
    metrics: dict[str, Any] = {
        "version": published.version,
        "members": ", ".join(published.meta["run"]["ensemble"]["members"]),
    }
    for stage, figures in stages.items():
        metrics[f"{stage} epochs"] = figures["epochs_run"]
        metrics[f"{stage} val RankIC per epoch"] = ", ".join(f"{x:+.3f}" for x in figures["val_rankic"])
        metrics[f"{stage} pred std (min over horizons) per epoch"] = ", ".join(
            f"{x:.4f}" for x in figures["pred_std_min"]
        )
        metrics[f"{stage} collapsed"] = figures["collapsed"]
    metrics["gate"] = "no champion: became the champion" if decision is None else decision.summary()
    inputs = ReportInputs(ic_by_horizon=ic, dispersion=spread, metrics=metrics)
    return write_report(store, f"two-stage-{published.version}", inputs, title="kabucast two-stage training")


def _stage_figures(
    result: FitResult, monitor: CollapseMonitor, score: EpochScore, cfg: TrainConfig, base: TrainConfig
) -> dict[str, Any]:
    """Per-epoch validation figures of one stage and the settings it changed from the winner's."""
    pred_std = monitor.history["pred_std"]
    return {
        "changed": {k: getattr(cfg, k) for k in cfg.__dataclass_fields__ if getattr(cfg, k) != getattr(base, k)},
        "epochs_run": result.epochs_run,
        "best_val_loss": result.best_score,
        "collapsed": monitor.collapsed,
        "val_rankic": score.scores,  # per epoch, mean over the 12 horizons
        "pred_std_mean": [float(np.nanmean(s)) for s in pred_std],  # per epoch, mean over horizons
        "pred_std_min": [float(np.nanmin(s)) for s in pred_std],
        **monitor.history,  # pred_std per epoch per horizon, gradient norms, encoder stats
    }


def _scores(ensemble: TorchForecaster, split: SampleSplit) -> tuple[dict[str, list[float]], dict[str, Any]]:
    """The ensemble's per-horizon validation metrics, and each member's and the ensemble's summary figures."""
    samples, val = split.samples, split.val
    target, dates = samples.target[val], samples.date_pos[val]
    members = [predict_network(m, samples, val) for m in ensemble.network.members]  # type: ignore[union-attr]
    pred = ensemble.predict(samples, val)
    metrics = horizon_metrics(target, pred, dates)
    scored = [horizon_metrics(target, p, dates) for p in members]
    return metrics, {
        "val_rankic_mean": float(np.nanmean(metrics["rankic"])),
        "val_pred_xs_std_mean": float(np.nanmean(metrics["pred_xs_std"])),
        "member_val_rankic_mean": [float(np.nanmean(m["rankic"])) for m in scored],
        "member_val_pred_xs_std_mean": [float(np.nanmean(m["pred_xs_std"])) for m in scored],
        "ensemble_val_loss": ensemble.val_loss(split, pred),
    }


def _write_checkpoint(
    path: Path,
    model_cfg: ForecasterConfig,
    cfg: TrainConfig,
    primary: dict[str, torch.Tensor],
    names: list[str],
    states: list[dict[str, torch.Tensor]],
) -> Path:
    """A checkpoint ``load_forecaster`` reads (the ``primary`` weights), with every member under ``ensemble``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(
        {
            "hyper_parameters": {"model": model_cfg.to_dict(), "train": dataclasses.asdict(cfg)},
            "state_dict": {f"model.{k}": v for k, v in primary.items()},
            "ensemble": {"members": names, "state_dicts": [dict(s) for s in states]},
        },
        path,
    )
    return path

"""The neural ranker trained with Lightning: a module around :class:`PatchRanker`, :func:`fit`, :func:`score_dates`.

A batch is one date's cross-section from :class:`kabucast.ranker.loader.CrossSectionDataset`: x (N, L, F)
and y (N, H) (NaN: no target). Validation scores each date's predictions against its realised targets;
the monitored score is the mean per-date RankIC at ``monitor_horizon`` sessions (``val_score``), on which
early stopping and the best checkpoint are chosen. Device-agnostic (``accelerator="auto"``) and
deterministic for a seed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import Callback
from torch.utils.data import DataLoader

from kabucast.fitting import FitLoop, fit_best
from kabucast.ranker.loader import CrossSectionDataset, WindowArrays, date_sampler, make_loader
from kabucast.ranker.losses import LossWeights, cross_section_loss
from kabucast.ranker.metrics import mean_rank_ic
from kabucast.ranker.model import PatchRanker, PatchRankerConfig, build_model
from kabucast.ranker.runs import (
    FitSettings,
    ModelRun,
    RankerTrainSettings,
    Splits,
    average_scores,
    horizon_list,
    trial_scores,
    with_params,
)
from kabucast.storage import Store


class RankerModule(L.LightningModule):
    """Loss, optimiser and per-date validation RankIC around an injected :class:`PatchRanker`."""

    def __init__(self, model: PatchRanker, weights: LossWeights, fit_settings: FitSettings) -> None:
        super().__init__()
        self.model = model
        self.weights = weights
        self.fit_settings = fit_settings
        self.horizons = model.config.horizons
        if fit_settings.monitor_horizon not in self.horizons:
            raise ValueError(f"monitor_horizon {fit_settings.monitor_horizon} is not a horizon {self.horizons}")
        self.save_hyperparameters(
            {"model": model.config.to_dict(), "loss": asdict(weights), "training": asdict(fit_settings)}
        )
        self._val: list[tuple[np.ndarray, np.ndarray]] = []  # (pred (N, H), target (N, H)) per date
        self.val_rankic: dict[int, float] = {}
        self.val_pred_std: list[float] = []  # per horizon: mean over dates of the cross-sectional std of the scores

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        return self.model(windows)  # (N, H)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        x, y = batch
        terms = cross_section_loss(self(x), y, self.weights)
        self.log_dict({f"train_{k}": v for k, v in terms.items()}, on_step=False, on_epoch=True, batch_size=1)
        return terms["loss"]

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        x, y = batch
        pred = self(x)
        self.log("val_loss", cross_section_loss(pred, y, self.weights)["loss"], on_epoch=True, batch_size=1)
        self._val.append((pred.float().cpu().numpy(), y.float().cpu().numpy()))

    def on_validation_epoch_start(self) -> None:
        self._val.clear()

    def on_validation_epoch_end(self) -> None:
        """Mean per-date RankIC of every horizon over the whole validation set; ``val_score`` is the monitored one."""
        pred = np.stack([p for p, _ in self._val])  # (D, N, H)
        target = np.stack([t for _, t in self._val])  # (D, N, H)
        self.val_rankic = {h: mean_rank_ic(pred[:, :, j], target[:, :, j]) for j, h in enumerate(self.horizons)}
        self.log_dict({f"val_rankic_{h}": v for h, v in self.val_rankic.items()})
        self.val_pred_std = [float(v) for v in np.nanmean(pred.std(axis=1), axis=0)]
        self.log("val_pred_std", float(np.nanmean(pred.std(axis=1))))
        self.log("val_score", self.val_rankic[self.fit_settings.monitor_horizon], prog_bar=True)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        s = self.fit_settings
        return torch.optim.AdamW(self.parameters(), lr=s.lr, weight_decay=s.weight_decay)


EPOCH_LINE_METRICS = ("train_loss", "val_loss", "val_score", "val_pred_std")


@dataclass(frozen=True)
class FitResult:
    """The best checkpoint (highest ``val_score``), its score and RankIC per horizon, and the epochs run."""

    best_checkpoint: Path
    best_score: float
    val_rankic: dict[int, float]
    epochs_run: int


def fit(
    module: RankerModule,
    train_loader: DataLoader,
    val_loader: DataLoader,
    out_dir: Path,
    progress: bool = True,
    callbacks: Sequence[Callback] = (),
    desc: str = "",
) -> FitResult:
    """Train with early stopping on ``val_score``; ``module`` ends holding the best weights.

    With ``progress``, a bar on a terminal, else one line per epoch on stderr (prefixed ``[desc]``).

    Seed (``L.seed_everything``) before building the model and the loaders so that a run repeats.
    Writes ``out_dir/checkpoints/best.ckpt`` and CSV logs under ``out_dir/logs``. ``callbacks`` run
    beside early stopping and checkpointing (e.g. a sweep's per-epoch report, :class:`EpochMonitor`).
    """
    s = module.fit_settings
    loop = FitLoop(
        monitor="val_score",
        mode="max",
        patience=s.patience,
        max_epochs=s.max_epochs,
        gradient_clip=s.gradient_clip,
        accumulate=s.accumulate_dates,
        epoch_metrics=EPOCH_LINE_METRICS,
        desc=desc,
    )
    best, score, epochs = fit_best(module, train_loader, val_loader, out_dir, loop, progress, callbacks)
    return FitResult(best, score, dict(module.val_rankic), epochs)


@torch.no_grad()
def score_dates(model: PatchRanker, loader: DataLoader) -> np.ndarray:
    """(D, N, H) float32 scores of every date of the (unshuffled) cross-section ``loader``, on the model's device."""
    model.eval()
    device = next(model.parameters()).device
    return np.stack([model(x.to(device)).float().cpu().numpy() for x, _ in loader])


def load_ranker(checkpoint: Path) -> PatchRanker:
    """The plain model (eval mode, CPU) saved in a :func:`fit` checkpoint."""
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    model = PatchRanker(PatchRankerConfig.from_dict(state["hyper_parameters"]["model"]))
    model.load_state_dict({k.removeprefix("model."): v for k, v in state["state_dict"].items()})
    return model.eval()


def train_neural(
    store: Store,
    arrays: WindowArrays,
    splits: Splits,
    settings: RankerTrainSettings,
    run_id: str,
    out_dir: Path,
    progress: Callable[[str], None] = lambda _: None,
) -> ModelRun:
    """One :class:`PatchRanker` per fold, early-stopped on the fold's test block; their held-out ensemble.

    Fold k is seeded with ``training.seed + k``; its best checkpoint goes to ``ranker/models/<run-id>/``.
    """
    s, horizons = settings.training, tuple(horizon_list(arrays))
    holdout = CrossSectionDataset(arrays.directory, splits.rows[splits.holdout], settings.lookback)
    cv, scores, artifacts = [], [], []
    for k, fold in enumerate(splits.folds):
        progress(f"neural fold {k + 1}/{len(splits.folds)}: {len(fold.train)} training sessions")
        L.seed_everything(s.seed + k, workers=True, verbose=False)
        model = build_model(len(arrays.feature_names), settings.lookback, horizons, settings.model)
        module = RankerModule(model, settings.loss, s)
        train = CrossSectionDataset(arrays.directory, splits.rows[fold.train], settings.lookback)
        test = CrossSectionDataset(arrays.directory, splits.rows[fold.test], settings.lookback)
        result = fit(
            module,
            make_loader(train, date_sampler(len(train), shuffle=True, seed=s.seed + k), s.num_workers),
            make_loader(test, date_sampler(len(test), shuffle=False), s.num_workers),
            out_dir / f"fold{k}",
            desc=f"neural fold {k + 1}/{len(splits.folds)}",
        )
        progress(
            f"neural fold {k + 1}: best val RankIC@{s.monitor_horizon} {result.best_score:+.4f} "
            f"after {result.epochs_run} epochs"
        )
        cv.append(result.val_rankic)
        scores.append(score_dates(module.model, make_loader(holdout, date_sampler(len(holdout), shuffle=False), 0)))
        key = f"ranker/models/{run_id}/neural_fold{k}.ckpt"
        store.put_bytes(key, result.best_checkpoint.read_bytes())
        artifacts.append(key)
    return ModelRun("neural", average_scores(scores), cv, artifacts)


EpochReport = Callable[[int, float], bool]
"""(epoch, validation RankIC@monitor_horizon) -> True to stop the run (an Optuna pruner's verdict)."""


class EpochMonitor(Callback):
    """Per validation epoch: records the monitored RankIC and the per-horizon score spread, reports, stops.

    Stops when ``report`` says so (``pruned``), or when ``collapse`` (a
    :class:`kabucast.forecast.diagnostics.CollapseSettings`) sees the smallest per-horizon spread below
    its threshold for its patience (``collapsed`` says why).
    """

    def __init__(self, report: EpochReport | None = None, collapse: Any = None) -> None:
        self.report, self.collapse = report, collapse
        self.history: dict[str, list[Any]] = {"val_score": [], "pred_std": []}
        self.pruned = False
        self.collapsed: str | None = None

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking or trainer.state.fn != "fit" or not pl_module.val_rankic:
            return
        score = pl_module.val_rankic[pl_module.fit_settings.monitor_horizon]
        score = score if math.isfinite(score) else 0.0
        self.history["val_score"].append(score)
        self.history["pred_std"].append(list(pl_module.val_pred_std))
        epoch = trainer.current_epoch
        if self.collapse is not None and self.collapsed is None:
            from kabucast.fitting import collapse_message

            self.collapsed = collapse_message(self.history["pred_std"], self.collapse, epoch)
            trainer.should_stop = trainer.should_stop or self.collapsed is not None
        if self.report is not None and self.report(epoch, score):
            self.pruned = trainer.should_stop = True


@dataclass(frozen=True)
class TrialResult:
    """One ranker trained by :func:`train_trial`: val_* / test_* scores (kabucast.ranker.runs.trial_scores)."""

    metrics: dict[str, float]
    history: dict[str, list[Any]] = field(default_factory=dict)  # per epoch: val_score, pred_std (per horizon)
    collapsed: str | None = None
    pruned: bool = False


def train_trial(
    arrays: WindowArrays,
    splits: Splits,
    settings: RankerTrainSettings,
    params: Mapping[str, Any],
    max_epochs: int,
    out_dir: Path,
    report: EpochReport | None = None,
    collapse: Any = None,
    quantile: float | None = None,
) -> TrialResult:
    """Train ONE ranker with ``params`` laid over ``settings`` on the first purged fold of ``splits``.

    ``params`` are LossWeights, FitSettings or PatchModelSettings keys (kabucast.ranker.runs.with_params);
    at most ``max_epochs`` epochs, early-stopped on the fold's test block (the validation dates), whose
    RankIC@monitor_horizon goes to ``report`` after every epoch. The model ends on its best epoch and is
    scored on the validation dates (``val_*``) and the held-out period (``test_*``): RankIC@5, the
    daily top-bottom spread's annualised Sharpe, the scores' cross-sectional std.
    """
    settings = with_params(settings, params)
    s = replace(settings.training, max_epochs=max_epochs)
    horizons = tuple(horizon_list(arrays))
    fold = splits.folds[0]
    L.seed_everything(s.seed, workers=True, verbose=False)
    model = build_model(len(arrays.feature_names), settings.lookback, horizons, settings.model)
    module = RankerModule(model, settings.loss, s)
    train = CrossSectionDataset(arrays.directory, splits.rows[fold.train], settings.lookback)
    monitor = EpochMonitor(report, collapse)
    periods = {"val": splits.rows[fold.test], "test": splits.rows[splits.holdout]}
    loaders = {
        name: make_loader(
            CrossSectionDataset(arrays.directory, rows, settings.lookback),
            date_sampler(len(rows), shuffle=False),
            s.num_workers,
        )
        for name, rows in periods.items()
    }
    train_loader = make_loader(train, date_sampler(len(train), shuffle=True, seed=s.seed), s.num_workers)
    result = fit(module, train_loader, loaders["val"], out_dir, progress=False, callbacks=[monitor])
    q = settings.evaluation.quantile if quantile is None else quantile
    metrics: dict[str, float] = {"epochs_run": float(result.epochs_run)}
    targets = arrays.targets()
    for name, rows in periods.items():
        scores = score_dates(module.model, loaders[name])
        for key, value in trial_scores(scores, np.asarray(targets[rows]), horizons, s.monitor_horizon, q).items():
            metrics[f"{name}_{key}"] = value
    return TrialResult(metrics, monitor.history, monitor.collapsed, monitor.pruned)

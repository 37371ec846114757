"""The forecaster's Lightning module: loss, optimiser and validation metrics around :class:`BiLSTMForecaster`.

A batch is a dict of tensors (kabucast.forecast.arrays): ``weekly`` (B, 156, 23), ``static`` (B, 6),
``position`` (B, 2) float32; ``sector_id`` (B,) int64; ``target`` (B, 12) float32 log returns (month m
= 21*m trading days ahead); ``date_index`` (B,) int64 naming the as-of date, used to group the
cross-sectional metrics. :func:`fit` runs the shared Lightning loop (kabucast.fitting) on it;
:class:`kabucast.forecast.torch_model.TorchForecaster` is the model interface around both.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal, Self

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from lightning.pytorch.callbacks import Callback
from torch.utils.data import DataLoader

from kabucast.config import build_section
from kabucast.fitting import FitLoop, fit_best
from kabucast.forecast.arrays import ArrayDataset
from kabucast.forecast.interface import FitResult, finite_mean
from kabucast.forecast.metrics import horizon_metrics
from kabucast.forecast.model import BiLSTMForecaster, ForecasterConfig


@dataclass(frozen=True)
class TrainConfig:
    """Optimiser and loop settings of one training (or fine-tuning) run."""

    lr: float = 1e-3
    weight_decay: float = 1e-2
    batch_size: int = 256
    max_epochs: int = 50
    patience: int = 5  # epochs without a better val_loss before early stopping
    seed: int = 0
    loss: Literal["huber", "mse"] = "huber"
    huber_delta: float = 0.1  # log-return units: errors beyond it count linearly
    num_workers: int = 0  # DataLoader workers; 0 loads in the training process
    gradient_clip: float = 1.0  # max gradient norm; 0 disables clipping
    # terms against variance collapse (docs/SWEEPS.md); all 0 = the plain regression loss
    pred_var_weight: float = 0.0  # weight of the shortfall of the batch's prediction std below pred_std_floor
    pred_std_floor: float = 0.01  # log-return units of the average horizon (residual scale, see ForecasterModule)
    rankic_weight: float = 0.0  # weight of 1 - Pearson(standardised prediction, standardised target), per horizon
    output_noise_std: float = 0.0  # Gaussian noise added to the outputs in training only (log-return units)
    turnover_weight: float = 0.0  # ranker-only: accepted so one sweep grid serves both models, ignored here
    lr_cycle_epochs: int = 0  # > 0: cosine learning rate restarted every this many epochs (two-stage training)
    min_lr_ratio: float = 0.05  # the cosine's floor, as a share of lr
    quantile_weight: float = 1.0  # weight of the quantile head's pinball loss (a model with model.quantiles)
    # cross-sectional kind only (its batches are whole dates; ignored elsewhere): the regression loss reads each
    # date's forecasts and labels less their date's mean, so the fit spends nothing on the date's common move
    date_excess: bool = False

    def __post_init__(self) -> None:
        if self.loss not in ("huber", "mse"):
            raise ValueError(f"loss must be 'huber' or 'mse', not {self.loss!r}")
        weights = ("pred_var_weight", "rankic_weight", "output_noise_std", "quantile_weight")
        negative = [k for k in weights if getattr(self, k) < 0]
        if self.lr_cycle_epochs < 0 or not 0 <= self.min_lr_ratio <= 1:
            raise ValueError(f"lr_cycle_epochs must be >= 0 and min_lr_ratio in [0, 1], got {self}")
        if negative or self.pred_std_floor <= 0:
            raise ValueError(f"{negative or ['pred_std_floor']} must be >= 0 (pred_std_floor > 0)")


class NetworkKind:
    """What the Lightning kinds share (the BiLSTM's TorchForecaster, CrossSectionalForecaster): their training
    settings give the seed and the smallest training set (a batch), and both are built from a settings file's
    ``model`` section (keys of the kind's ``CONFIG`` dataclass) and ``training`` section (TrainConfig keys)."""

    CONFIG: ClassVar[type]
    training: TrainConfig

    @property
    def seed(self) -> int:
        return self.training.seed

    @property
    def min_train_samples(self) -> int:
        return self.training.batch_size

    @classmethod
    def from_settings(
        cls, model: Mapping[str, Any], training: Mapping[str, Any], n_sectors: int, where: str = "train settings"
    ) -> Self:
        """From a settings file's ``model`` (``CONFIG`` keys) and ``training`` (TrainConfig keys) sections."""
        cfg = build_section(TrainConfig, dict(training), where, "training.")
        return cls(build_section(cls.CONFIG, {**model, "n_sectors": n_sectors}, where, "model."), cfg)


class ForecasterModule(L.LightningModule):
    """Loss, optimiser and validation metrics around an injected :class:`BiLSTMForecaster`."""

    def __init__(self, model: BiLSTMForecaster, cfg: TrainConfig, target_std: tuple[float, ...] | None = None) -> None:
        """``target_std`` (12,), the training targets' std per horizon, balances the horizons in the loss.

        Without it the 12-month horizon (std ~0.3) dominates and the 1-month one (std ~0.08) is barely
        fitted. Residuals are divided by ``target_std / mean(target_std)``, so the loss keeps the
        scale of log returns (and ``huber_delta`` its meaning) on average.
        """
        super().__init__()
        self.model = model
        self.cfg = cfg
        scale = np.ones(model.config.horizons) if target_std is None else np.asarray(target_std, dtype=np.float64)
        self.register_buffer(
            "horizon_scale", torch.as_tensor(scale / scale.mean(), dtype=torch.float32), persistent=False
        )
        self.save_hyperparameters({"model": model.config.to_dict(), "train": asdict(cfg)})
        self._val_outputs: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # (target, pred, date) per batch
        self.val_metrics: dict[str, list[float]] = {}  # per-horizon metrics of the last full validation

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.model(batch["weekly"], batch["static"], batch["position"], batch["sector_id"])  # (B, 12)

    @property
    def levels(self) -> tuple[float, ...]:
        """The quantile head's levels (empty without one)."""
        return tuple(self.model.config.quantiles)

    def outputs(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(B, 12) forecasts and, with a quantile head, its (B, 12, Q) raw quantiles (else None): the loss
        trains the head, the calibration set after training stays out of it."""
        inputs = (batch["weekly"], batch["static"], batch["position"], batch["sector_id"])
        if not self.levels:
            return self.model(*inputs), None
        return self.model.forward_with_quantiles(*inputs, calibrated=False)

    def pinball(self, quantiles: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Mean pinball loss of (B, 12, Q) ``quantiles`` for (B, 12) ``target``, horizons balanced as :meth:`loss`."""
        scale = self.horizon_scale[:, None]
        return pinball_loss(quantiles / scale, target / self.horizon_scale, self.levels)

    def loss(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Mean over samples and the 12 horizons, each horizon's residual scaled by ``horizon_scale``."""
        pred, target = pred / self.horizon_scale, target / self.horizon_scale
        if self.cfg.loss == "huber":
            return F.huber_loss(pred, target, delta=self.cfg.huber_delta)
        return F.mse_loss(pred, target)

    def training_loss(self, pred: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
        """The terms of the training loss (only those with a weight), ``pred`` and ``target`` (B, 12).

        ``output_noise_std`` perturbs the outputs seen by the regression and RankIC terms; the
        variance term looks at the clean outputs (noise would fake the spread it asks for).
        """
        noisy = pred + torch.randn_like(pred) * self.cfg.output_noise_std if self.cfg.output_noise_std else pred
        terms = {"fit": self.loss(noisy, target)}
        if self.cfg.pred_var_weight:
            shortfall = pred_std_shortfall(pred / self.horizon_scale, self.cfg.pred_std_floor)
            terms["pred_var"] = self.cfg.pred_var_weight * shortfall
        if self.cfg.rankic_weight:
            terms["rankic"] = self.cfg.rankic_weight * (1.0 - batch_pearson(noisy, target).mean())
        return terms

    def fit_pair(
        self, pred: torch.Tensor, target: torch.Tensor, batch: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The (B, 12) forecasts and labels the regression terms compare (training and ``val_loss``): as they are
        here; a kind may read them otherwise from the batch (the cross-sectional kind's ``date_excess``)."""
        return pred, target

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        pred, quantiles = self.outputs(batch)
        terms = self.training_loss(*self.fit_pair(pred, batch["target"], batch))
        if quantiles is not None and self.cfg.quantile_weight:
            terms["pinball"] = self.cfg.quantile_weight * self.pinball(quantiles, batch["target"])
        loss = torch.stack(list(terms.values())).sum()
        n = len(batch["target"])
        self.log("train_loss", loss, on_step=False, on_epoch=True, prog_bar=True, batch_size=n)
        if len(terms) > 1:
            self.log_dict({f"train_{k}": v for k, v in terms.items()}, on_step=False, on_epoch=True, batch_size=n)
        return loss

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> dict[str, torch.Tensor]:
        """``val_loss``: the regression loss, plus the weighted pinball loss with a quantile head (the
        checkpoint kept is the best at both)."""
        pred, quantiles = self.outputs(batch)
        loss, n = self.loss(*self.fit_pair(pred, batch["target"], batch)), len(batch["target"])
        if quantiles is not None:
            pinball = self.pinball(quantiles, batch["target"])
            self.log("val_pinball", pinball, on_step=False, on_epoch=True, batch_size=n)
            loss = loss + self.cfg.quantile_weight * pinball
        self.log("val_loss", loss, on_step=False, on_epoch=True, prog_bar=True, batch_size=n)
        return {"pred": pred.detach()}

    def on_validation_epoch_start(self) -> None:
        self._val_outputs.clear()

    def on_validation_batch_end(
        self, outputs: Any, batch: dict[str, torch.Tensor], batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        target, pred = batch["target"].float().cpu().numpy(), outputs["pred"].float().cpu().numpy()
        self._val_outputs.append((target, pred, batch["date_index"].cpu().numpy()))

    def on_validation_epoch_end(self) -> None:
        """Metrics over the whole validation set (the cross-sectional ones need every ticker of a date)."""
        target, pred, dates = (np.concatenate(parts) for parts in zip(*self._val_outputs, strict=True))
        self.val_metrics = horizon_metrics(target, pred, dates)
        logged = {
            **{f"val_{name}_h{h + 1}": v for name in ("rankic", "ic") for h, v in enumerate(self.val_metrics[name])},
            **{f"val_{name}_mean": finite_mean(self.val_metrics[name]) for name in ("ic", "dir_acc", "mae")},
            "val_pred_std_min": min(self.val_metrics["pred_std"]),
        }
        self.log_dict(logged)
        self.log("val_rankic_mean", finite_mean(self.val_metrics["rankic"]), prog_bar=True)

    def configure_optimizers(self) -> Any:
        """AdamW; with ``lr_cycle_epochs``, a cosine learning rate restarted every that many epochs."""
        optimizer = torch.optim.AdamW(self.parameters(), lr=self.cfg.lr, weight_decay=self.cfg.weight_decay)
        if not self.cfg.lr_cycle_epochs:
            return optimizer
        scheduler = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(
            optimizer, T_0=self.cfg.lr_cycle_epochs, eta_min=self.cfg.lr * self.cfg.min_lr_ratio
        )
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "epoch"}}


def pred_std_shortfall(pred: torch.Tensor, floor: float) -> torch.Tensor:
    """Mean over horizons of ``relu(floor - std) / floor``: 0 above the floor, 1 for constant outputs.

    ``pred`` (B, H); the std is taken over the batch (its samples' spread, across tickers and dates).
    """
    return F.relu(floor - pred.std(dim=0, unbiased=False)).mean() / floor


def pinball_loss(quantiles: torch.Tensor, target: torch.Tensor, levels: Sequence[float]) -> torch.Tensor:
    """Mean over samples, horizons and levels of the pinball (quantile) loss.

    ``quantiles`` (B, H, Q) at ``levels`` (Q,), ``target`` (B, H): ``max(tau * d, (tau - 1) * d)`` with
    ``d = target - quantile``; minimised in expectation by the true tau-quantile.
    """
    tau = torch.as_tensor(levels, dtype=quantiles.dtype, device=quantiles.device)
    diff = target.unsqueeze(-1) - quantiles  # (B, H, Q)
    return torch.maximum(tau * diff, (tau - 1.0) * diff).mean()


def batch_pearson(pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """(H,) differentiable Pearson correlation per horizon over the batch: mean of the standardised products.

    A differentiable stand-in for RankIC (ranks have no gradient); pooled over the batch, whose samples
    mix as-of dates.
    """
    zp = (pred - pred.mean(dim=0)) / (pred.std(dim=0, unbiased=False) + eps)  # (B, H)
    zt = (target - target.mean(dim=0)) / (target.std(dim=0, unbiased=False) + eps)  # (B, H)
    return (zp * zt).mean(dim=0)


def fit(
    module: ForecasterModule,
    train_ds: ArrayDataset,
    val_ds: ArrayDataset,
    cfg: TrainConfig,
    out_dir: Path,
    progress: bool = True,
    callbacks: Sequence[Callback] = (),
    loader: Callable[[ArrayDataset, TrainConfig, bool], DataLoader[dict[str, torch.Tensor]]] | None = None,
) -> FitResult:
    """Train ``module`` with early stopping on val_loss; leave it holding the best weights.

    Seeds everything with ``cfg.seed`` first (data order, dropout); seed before building the model too
    if its initial weights must repeat. Writes ``out_dir/checkpoints/best_model.ckpt`` and CSV logs.
    ``callbacks`` run beside early stopping and checkpointing (diagnostics, sweep pruning). ``loader``
    (dataset, settings, shuffle) -> DataLoader batches the samples (default: ``batch_size`` samples, shuffled
    across dates; the cross-sectional model batches whole dates).
    """
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    loop = FitLoop(
        monitor="val_loss",
        mode="min",
        patience=cfg.patience,
        max_epochs=cfg.max_epochs,
        gradient_clip=cfg.gradient_clip,
        checkpoint="best_model",
        epoch_metrics=EPOCH_LINE_METRICS,
    )
    make = loader or _loader
    train_loader, val_loader = make(train_ds, cfg, True), make(val_ds, cfg, False)
    best, score, epochs = fit_best(module, train_loader, val_loader, out_dir, loop, progress, callbacks)
    return FitResult(best, score, epochs, module.val_metrics)


EPOCH_LINE_METRICS = ("train_loss", "val_loss", "val_rankic_h1", "val_rankic_mean", "val_pred_std_min")


def load_forecaster(checkpoint: Path) -> BiLSTMForecaster:
    """The plain model (eval mode, on CPU) saved in a :func:`fit` checkpoint, for export or fine-tuning."""
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    model = BiLSTMForecaster(ForecasterConfig.from_dict(state["hyper_parameters"]["model"]))
    model.load_state_dict({k.removeprefix("model."): v for k, v in state["state_dict"].items()})
    return model.eval()


def _loader(ds: ArrayDataset, cfg: TrainConfig, shuffle: bool) -> DataLoader[dict[str, torch.Tensor]]:
    workers = cfg.num_workers
    return DataLoader(
        ds, batch_size=cfg.batch_size, shuffle=shuffle, num_workers=workers, persistent_workers=workers > 0
    )

"""Training: in-memory datasets, a thin LightningModule around :class:`BiLSTMForecaster`, and :func:`fit`.

A batch is a dict of tensors: ``weekly`` (B, 156, 23), ``static`` (B, 6), ``position`` (B, 2) float32;
``sector_id`` (B,) int64; ``target`` (B, 12) float32 log returns (month m = 21*m trading days ahead);
``date_index`` (B,) int64 naming the as-of date, used to group the cross-sectional metrics.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from lightning.pytorch.callbacks import Callback
from torch.utils.data import DataLoader, Dataset

from kabucast.fitting import FitLoop, fit_best
from kabucast.forecast.metrics import horizon_metrics
from kabucast.forecast.model import BiLSTMForecaster, ForecasterConfig
from kabucast.forecast.normalize import Normalizer

if TYPE_CHECKING:
    from kabucast.features import WeeklyFeatureHistory


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

    def __post_init__(self) -> None:
        if self.loss not in ("huber", "mse"):
            raise ValueError(f"loss must be 'huber' or 'mse', not {self.loss!r}")
        negative = [k for k in ("pred_var_weight", "rankic_weight", "output_noise_std") if getattr(self, k) < 0]
        if negative or self.pred_std_floor <= 0:
            raise ValueError(f"{negative or ['pred_std_floor']} must be >= 0 (pred_std_floor > 0)")


@dataclass(frozen=True, eq=False)
class WindowedArrays:
    """Weekly sequences stored once per ticker instead of once per sample (40,000 x 156 x 23 floats = 570 MB).

    ``weeks`` (n_tickers, n_weeks, 23) float32 holds each ticker's complete weeks. Sample i is
    ``weeks[ticker_idx[i], week_end_idx[i] - 155 : week_end_idx[i]]`` (the 155 complete weeks before
    the as-of week) followed by ``last_row[i]`` (23,), the as-of date's partial week: the layout of
    kabucast.features' ``WeeklyFeatureHistory`` (see :meth:`from_history`).
    """

    weeks: np.ndarray  # (n_tickers, n_weeks, F) float32
    ticker_idx: np.ndarray  # (N,) int64
    week_end_idx: np.ndarray  # (N,) int64, exclusive end of the complete weeks
    last_row: np.ndarray  # (N, F) float32
    seq_len: int = 156

    def __post_init__(self) -> None:
        n = len(self.ticker_idx)
        if len(self.week_end_idx) != n or self.last_row.shape != (n, self.weeks.shape[2]):
            raise ValueError("ticker_idx, week_end_idx and last_row must describe the same samples")
        if n and (self.week_end_idx.min() < self.seq_len - 1 or self.week_end_idx.max() > self.weeks.shape[1]):
            raise ValueError(f"week_end_idx must lie in [{self.seq_len - 1}, {self.weeks.shape[1]}]")

    @classmethod
    def from_history(
        cls, history: WeeklyFeatureHistory, date_pos: np.ndarray, ticker_pos: np.ndarray
    ) -> WindowedArrays:
        """Samples (as-of row ``date_pos``, ticker column ``ticker_pos``), each (S,), of a feature history.

        Gives the same sequences as ``history.windows(date_pos, ticker_pos)`` without materialising them.
        """
        date_pos, ticker_pos = np.asarray(date_pos, dtype=np.int64), np.asarray(ticker_pos, dtype=np.int64)
        return cls(
            weeks=np.ascontiguousarray(history.complete.transpose(1, 0, 2)),  # (W, N, F) -> (N, W, F)
            ticker_idx=ticker_pos,
            week_end_idx=history.week[date_pos],
            last_row=history.partial[date_pos, ticker_pos],
        )

    def __len__(self) -> int:
        return len(self.ticker_idx)

    def __getitem__(self, i: int) -> np.ndarray:
        """(seq_len, F) float32 sequence of sample ``i``, as a (N, seq_len, F) array would give it."""
        return self.windows(np.array([i]))[0]

    def windows(self, index: np.ndarray) -> np.ndarray:
        """(B, seq_len, F) float32 sequences of samples ``index`` (B,)."""
        index = np.asarray(index)
        rows = self.week_end_idx[index, None] + np.arange(1 - self.seq_len, 0)  # (B, seq_len - 1)
        before = self.weeks[self.ticker_idx[index, None], rows]  # (B, seq_len - 1, F)
        return np.concatenate([before, self.last_row[index, None]], axis=1)

    def weekly_rows(self) -> tuple[np.ndarray, np.ndarray]:
        """Distinct week rows (R, F) and how many samples contain each (R,): the data of ``Normalizer.fit``.

        Weeks no sample reaches (e.g. the validation period) get weight 0.
        """
        n_tickers, n_weeks, n_features = self.weeks.shape
        starts = np.zeros((n_tickers, n_weeks + 1))
        np.add.at(starts, (self.ticker_idx, self.week_end_idx - (self.seq_len - 1)), 1.0)
        np.add.at(starts, (self.ticker_idx, self.week_end_idx), -1.0)
        counts = starts.cumsum(axis=1)[:, :n_weeks]  # (n_tickers, n_weeks)
        rows = np.concatenate([self.weeks.reshape(-1, n_features), self.last_row])
        return rows, np.concatenate([counts.reshape(-1), np.ones(len(self))])


class ArrayDataset(Dataset[dict[str, np.ndarray]]):
    """Samples held in memory; ``weekly`` is either (N, 156, 23) or a :class:`WindowedArrays`."""

    def __init__(
        self,
        weekly: np.ndarray | WindowedArrays,
        static: np.ndarray,
        position: np.ndarray,
        sector_id: np.ndarray,
        target: np.ndarray,
        date_index: np.ndarray,
    ) -> None:
        self.weekly = weekly
        self.static = np.asarray(static, dtype=np.float32)  # (N, 6)
        self.position = np.asarray(position, dtype=np.float32)  # (N, 2)
        self.sector_id = np.asarray(sector_id, dtype=np.int64)  # (N,)
        self.target = np.asarray(target, dtype=np.float32)  # (N, 12)
        self.date_index = np.asarray(date_index, dtype=np.int64)  # (N,)
        lengths = {len(a) for a in (weekly, self.static, self.position, self.sector_id, self.target, self.date_index)}
        if len(lengths) != 1:
            raise ValueError(f"every array needs the same number of samples; got lengths {sorted(lengths)}")

    def __len__(self) -> int:
        return len(self.static)

    def __getitem__(self, i: int) -> dict[str, np.ndarray]:
        return {
            "weekly": np.asarray(self.weekly[i], dtype=np.float32),  # (156, 23)
            "static": self.static[i],
            "position": self.position[i],
            "sector_id": self.sector_id[i],
            "target": self.target[i],
            "date_index": self.date_index[i],
        }


def fit_normalizer(train: ArrayDataset) -> Normalizer:
    """Normalizer statistics from the training set only, weighting each week by the samples that contain it."""
    if isinstance(train.weekly, WindowedArrays):
        rows, weights = train.weekly.weekly_rows()
        return Normalizer.fit(rows, train.static, weights)
    return Normalizer.fit(np.asarray(train.weekly), train.static)


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

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        terms = self.training_loss(self(batch), batch["target"])
        loss = torch.stack(list(terms.values())).sum()
        n = len(batch["target"])
        self.log("train_loss", loss, on_step=False, on_epoch=True, prog_bar=True, batch_size=n)
        if len(terms) > 1:
            self.log_dict({f"train_{k}": v for k, v in terms.items()}, on_step=False, on_epoch=True, batch_size=n)
        return loss

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> dict[str, torch.Tensor]:
        pred = self(batch)
        loss = self.loss(pred, batch["target"])
        self.log("val_loss", loss, on_step=False, on_epoch=True, prog_bar=True, batch_size=len(batch["target"]))
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
            **{f"val_{name}_mean": _finite_mean(self.val_metrics[name]) for name in ("ic", "dir_acc", "mae")},
            "val_pred_std_min": min(self.val_metrics["pred_std"]),
        }
        self.log_dict(logged)
        self.log("val_rankic_mean", _finite_mean(self.val_metrics["rankic"]), prog_bar=True)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.AdamW(self.parameters(), lr=self.cfg.lr, weight_decay=self.cfg.weight_decay)


def pred_std_shortfall(pred: torch.Tensor, floor: float) -> torch.Tensor:
    """Mean over horizons of ``relu(floor - std) / floor``: 0 above the floor, 1 for constant outputs.

    ``pred`` (B, H); the std is taken over the batch (its samples' spread, across tickers and dates).
    """
    return F.relu(floor - pred.std(dim=0, unbiased=False)).mean() / floor


def batch_pearson(pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """(H,) differentiable Pearson correlation per horizon over the batch: mean of the standardised products.

    A differentiable stand-in for RankIC (ranks have no gradient); pooled over the batch, whose samples
    mix as-of dates.
    """
    zp = (pred - pred.mean(dim=0)) / (pred.std(dim=0, unbiased=False) + eps)  # (B, H)
    zt = (target - target.mean(dim=0)) / (target.std(dim=0, unbiased=False) + eps)  # (B, H)
    return (zp * zt).mean(dim=0)


@dataclass(frozen=True)
class FitResult:
    """What :func:`fit` produced: the best checkpoint (lowest val_loss) and its validation metrics."""

    best_checkpoint: Path
    best_score: float  # val_loss of the best checkpoint
    epochs_run: int
    val_metrics: dict[str, list[float]]  # per horizon, see kabucast.forecast.metrics

    def summary(self) -> str:
        """One line for the end of a run."""
        rankic = _finite_mean(self.val_metrics.get("rankic", []))
        std = min(self.val_metrics.get("pred_std", [math.nan]))
        return (
            f"trained {self.epochs_run} epochs: best val_loss {self.best_score:.5f}, mean val RankIC {rankic:+.4f}, "
            f"min pred std {std:.4f} -> {self.best_checkpoint}"
        )


def fit(
    module: ForecasterModule,
    train_ds: ArrayDataset,
    val_ds: ArrayDataset,
    cfg: TrainConfig,
    out_dir: Path,
    progress: bool = True,
    callbacks: Sequence[Callback] = (),
) -> FitResult:
    """Train ``module`` with early stopping on val_loss; leave it holding the best weights.

    Seeds everything with ``cfg.seed`` first (data order, dropout); seed before building the model too
    if its initial weights must repeat. Writes ``out_dir/checkpoints/best_model.ckpt`` and CSV logs.
    ``callbacks`` run beside early stopping and checkpointing (diagnostics, sweep pruning).
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
    train_loader, val_loader = _loader(train_ds, cfg, shuffle=True), _loader(val_ds, cfg, shuffle=False)
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


def _finite_mean(values: list[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return sum(finite) / len(finite) if finite else math.nan

"""Lightning helpers shared by every trained model (the forecaster and the ranker).

:func:`fit_best` is the one Lightning fit loop of both model families: early stopping on a monitored
value, the best checkpoint restored at the end. :class:`EpochLines` prints one line per finished epoch
when stderr is not a terminal, where Lightning's own bar would leave nothing readable in a log
(``kabucast.progress`` decides which).
:class:`CollapseSettings` / :func:`collapse_message` tell when a model's cross-sectional predictions
have collapsed (the forecaster's and the ranker's monitors both stop on it).
"""

from __future__ import annotations

import math
import sys
import time
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import lightning as L
from lightning.pytorch.callbacks import Callback, EarlyStopping, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger

from kabucast.progress import epoch_line, interactive


class EpochLines(Callback):
    """``[desc] epoch 2/4: train_loss 0.1234 val_loss 0.1301 (85 s)`` on stderr after each epoch.

    ``metrics`` names the logged values to show (others are left out to keep the line short).
    """

    def __init__(self, metrics: Iterable[str], desc: str = "") -> None:
        self.metrics = frozenset(metrics)
        self.prefix = f"[{desc}] " if desc else ""
        self._started = time.monotonic()

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._started = time.monotonic()

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        shown = {k: v for k, v in trainer.callback_metrics.items() if k in self.metrics}
        line = epoch_line(trainer.current_epoch + 1, trainer.max_epochs, shown, time.monotonic() - self._started)
        print(self.prefix + line, file=sys.stderr, flush=True)


@dataclass(frozen=True)
class CollapseSettings:
    """Collapsed: the smallest per-horizon spread below ``threshold`` for ``patience`` epochs in a row."""

    threshold: float = 1e-3  # log-return units; the promotion gate's min_pred_xs_std
    patience: int = 2  # consecutive epochs

    def __post_init__(self) -> None:
        if self.threshold < 0 or self.patience < 1:
            raise ValueError(f"collapse threshold must be >= 0 and patience >= 1, got {self}")


def collapse_message(pred_std: list[list[float]], settings: CollapseSettings, epoch: int) -> str | None:
    """Why the run counts as collapsed after the epochs' per-horizon spreads ``pred_std``, or None."""
    recent = [min(_finite(s), default=math.inf) for s in pred_std[-settings.patience :]]
    if len(recent) < settings.patience or not all(s < settings.threshold for s in recent):
        return None
    return (
        f"validation predictions collapsed: smallest per-horizon cross-sectional std "
        f"{max(recent):.2e} < {settings.threshold:g} for {settings.patience} consecutive epochs "
        f"(up to epoch {epoch})"
    )


def _finite(values: list[float]) -> list[float]:
    return [v for v in values if math.isfinite(v)]


@dataclass(frozen=True)
class FitLoop:
    """How :func:`fit_best` trains: what it monitors and how long it may go on."""

    monitor: str  # a value the module logs each validation, e.g. val_loss
    mode: Literal["min", "max"]
    patience: int  # validations without a better ``monitor`` before stopping
    max_epochs: int
    gradient_clip: float = 0.0  # max gradient norm; 0 disables clipping
    accumulate: int = 1  # batches per optimiser step
    checkpoint: str = "best"  # out_dir/checkpoints/<checkpoint>.ckpt
    epoch_metrics: tuple[str, ...] = ()  # shown in the per-epoch lines
    desc: str = ""  # their prefix, e.g. a fold


def fit_best(
    module: L.LightningModule,
    train_loader: Any,
    val_loader: Any,
    out_dir: Path,
    loop: FitLoop,
    progress: bool = True,
    callbacks: Sequence[Callback] = (),
) -> tuple[Path, float, int]:
    """Train ``module`` with early stopping on ``loop.monitor``; it ends holding the best weights.

    Writes ``out_dir/checkpoints/<loop.checkpoint>.ckpt`` and CSV logs under ``out_dir/logs``; with
    ``progress``, a bar on a terminal, else one line per epoch on stderr. ``callbacks`` run beside
    early stopping and checkpointing. Returns the best checkpoint, its score and the epochs run.
    Device-agnostic: Lightning picks the accelerator (a GPU when there is one).
    """
    checkpoint = ModelCheckpoint(
        dirpath=out_dir / "checkpoints",
        filename=loop.checkpoint,
        monitor=loop.monitor,
        mode=loop.mode,
        enable_version_counter=False,
    )
    bar = progress and interactive()  # a bar on a terminal, one line per epoch in a log
    lines = [EpochLines(loop.epoch_metrics, loop.desc)] if progress and not bar else []
    trainer = L.Trainer(
        accelerator="auto",
        devices=1,
        deterministic=True,
        max_epochs=loop.max_epochs,
        gradient_clip_val=loop.gradient_clip or None,
        accumulate_grad_batches=loop.accumulate,
        callbacks=[
            EarlyStopping(monitor=loop.monitor, mode=loop.mode, patience=loop.patience),
            checkpoint,
            *lines,
            *callbacks,
        ],
        logger=CSVLogger(out_dir, name="logs"),
        log_every_n_steps=max(1, min(50, len(train_loader))),
        enable_progress_bar=bar,
        enable_model_summary=bar,
    )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*does not have many workers.*")
        trainer.fit(module, train_loader, val_loader)
        best = Path(checkpoint.best_model_path)
        trainer.validate(module, val_loader, ckpt_path=best, verbose=False)
    return best, float(checkpoint.best_model_score), trainer.current_epoch

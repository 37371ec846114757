"""Lightning helpers shared by every trained model (the forecaster and the ranker).

:class:`EpochLines` prints one line per finished epoch when stderr is not a terminal, where
Lightning's own bar would leave nothing readable in a log (``kabucast.progress`` decides which).
:class:`CollapseSettings` / :func:`collapse_message` tell when a model's cross-sectional predictions
have collapsed (the forecaster's and the ranker's monitors both stop on it).
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass

import lightning as L
from lightning.pytorch.callbacks import Callback

from kabucast.progress import epoch_line


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

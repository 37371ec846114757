"""Lightning helpers shared by every trained model (the forecaster and the ranker).

:class:`EpochLines` prints one line per finished epoch when stderr is not a terminal, where
Lightning's own bar would leave nothing readable in a log (``kabucast.progress`` decides which).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable

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

"""Diagnostics against variance collapse (SEEDS_DIGEST section 3): watch the spread, the gradients, the encoder.

A collapsed forecaster emits (nearly) the same forecast for every stock, so its RankIC is undefined
and the regression loss can still look fine. :class:`CollapseMonitor` records, per epoch:

- ``pred_std``: per horizon (a list of 12), the mean over validation dates of the cross-sectional std
  of the predictions (log-return units; ``pred_xs_std`` of kabucast.forecast.metrics);
- ``grad_norm_encoder`` / ``grad_norm_head``: mean over the epoch's optimiser steps of the L2 norm of
  the LSTM's / the MLP head's gradients (before clipping);
- ``encoder_mean`` / ``encoder_std`` / ``encoder_saturation``: over the validation samples, the mean
  and std of the encoder summary (the top LSTM layer's final hidden states, both directions) and the
  share of its units with ``|h| > 0.95`` (saturated tanh: no gradient flows back through them).

When the smallest per-horizon ``pred_std`` stays below ``threshold`` for ``patience`` consecutive
epochs the run stops early, and :attr:`CollapseMonitor.collapsed` says why.
"""

from __future__ import annotations

import math
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.trainer.states import TrainerFn

from kabucast.fitting import CollapseSettings, collapse_message

SATURATED = 0.95
"""|h| above this counts as a saturated LSTM unit."""


class CollapseMonitor(Callback):
    """Per-epoch diagnostics of a :class:`~kabucast.forecast.forecaster_module.ForecasterModule`; stops on collapse."""

    def __init__(self, settings: CollapseSettings | None = None) -> None:
        self.settings = settings or CollapseSettings()
        self.history: dict[str, list[Any]] = {
            name: []
            for name in (
                "pred_std",
                "grad_norm_encoder",
                "grad_norm_head",
                "encoder_mean",
                "encoder_std",
                "encoder_saturation",
            )
        }
        self.collapsed: str | None = None
        self._grads: dict[str, list[float]] = {"encoder": [], "head": []}
        self._act = torch.zeros(4, dtype=torch.float64)  # sum, sum of squares, count, saturated
        self._hook: torch.utils.hooks.RemovableHandle | None = None

    def on_before_optimizer_step(self, trainer: L.Trainer, pl_module: L.LightningModule, optimizer: Any) -> None:
        self._grads["encoder"].append(grad_norm(pl_module.model.lstm))
        self._grads["head"].append(grad_norm(pl_module.model.head))

    def on_validation_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if _fitting(trainer):
            self._act.zero_()
            self._hook = pl_module.model.lstm.register_forward_hook(self._record_encoder)

    def _record_encoder(self, module: torch.nn.Module, inputs: Any, output: Any) -> None:
        h_n = output[1][0][-2:].detach().double()  # (2, B, H): top layer, both directions
        self._act += torch.stack(
            [h_n.sum(), (h_n * h_n).sum(), torch.tensor(h_n.numel()), (h_n.abs() > SATURATED).sum()]
        ).double()

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Record the epoch (skipping the sanity check and post-fit validations) and stop on collapse."""
        if self._hook is not None:
            self._hook.remove()
            self._hook = None
        if not _fitting(trainer) or trainer.sanity_checking or not pl_module.val_metrics:
            return
        self._record_epoch(pl_module.val_metrics["pred_xs_std"])
        message = collapse_message(self.history["pred_std"], self.settings, trainer.current_epoch)
        if message and self.collapsed is None:
            self.collapsed = message
            trainer.should_stop = True
            print(f"stopping early: {message}")

    def _record_epoch(self, pred_std: list[float]) -> None:
        total, squares, count, saturated = self._act.tolist()
        mean = total / count if count else math.nan
        self.history["pred_std"].append([float(s) for s in pred_std])
        self.history["grad_norm_encoder"].append(_mean(self._grads["encoder"]))
        self.history["grad_norm_head"].append(_mean(self._grads["head"]))
        self.history["encoder_mean"].append(mean)
        self.history["encoder_std"].append(math.sqrt(max(squares / count - mean * mean, 0.0)) if count else math.nan)
        self.history["encoder_saturation"].append(saturated / count if count else math.nan)
        self._grads = {"encoder": [], "head": []}


def grad_norm(module: torch.nn.Module) -> float:
    """L2 norm of all of ``module``'s parameter gradients (0 when none has a gradient yet)."""
    grads = [p.grad.detach().double().norm() for p in module.parameters() if p.grad is not None]
    return float(torch.stack(grads).norm()) if grads else 0.0


def _fitting(trainer: L.Trainer) -> bool:
    return trainer.state.fn == TrainerFn.FITTING


def _finite(values: list[float]) -> list[float]:
    return [v for v in values if math.isfinite(v)]


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else math.nan

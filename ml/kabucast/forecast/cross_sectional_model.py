"""The cross-sectional forecaster (``model.kind: cross_sectional``) behind the model interface, trained with
Lightning: stocks that see each other and the market (kabucast.forecast.cross_sectional_net).

The cross-section is the unit. Training batches are whole dates (:class:`DateBatches`: the dates in a shuffled
order, about ``training.batch_size`` samples a batch), the network is told each row's date, and
:meth:`CrossSectionalForecaster.predict` groups any ``idx`` by date inside, so it keeps the interface's contract.
The exported ONNX graph takes one date's stocks (any number: the daily job's call) and its metadata says so
(``cross_sectional: true``): :class:`~kabucast.forecast.onnx_model.OnnxModel` then runs one date per call when
it scores many (the gate, evaluation).

Collapse (the seeds' model forecast a constant): the attention is residual, so each stock keeps its own
features; and after every fit the validation forecasts' cross-sectional spread is measured per horizon. Below
the promotion gate's floor (``min_pred_xs_std``, 0.001) a :class:`CollapseWarning` names the horizons and
model.json records them (``collapsed_months``), so the gate refuses the version: never a silent constant.
"""

from __future__ import annotations

import math
import sys
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import Callback
from torch import nn
from torch.utils.data import DataLoader, Sampler

from kabucast.config import build_section
from kabucast.forecast.arrays import ArrayDataset
from kabucast.forecast.cross_sectional_net import CrossSectionalConfig, CrossSectionalNet
from kabucast.forecast.dataset import ForecastSamples
from kabucast.forecast.diagnostics import CollapseMonitor, grad_norm
from kabucast.forecast.export import export_onnx
from kabucast.forecast.forecaster_module import ForecasterModule, NetworkKind, TrainConfig, fit
from kabucast.forecast.interface import FitResult, SampleSplit
from kabucast.forecast.metrics import horizon_metrics
from kabucast.forecast.model import count_parameters
from kabucast.forecast.torch_model import prepare

KIND = "cross_sectional"
PREDICT_ROWS = 2048
COLLAPSE_FLOOR = 0.001
"""Log-return units: the promotion gate's default ``min_pred_xs_std`` (kabucast.config.GateSettings)."""


class CollapseWarning(UserWarning):
    """A trained cross-sectional model's forecasts barely differ across the stocks of a date at some horizon."""


class CrossSectionalModule(ForecasterModule):
    """The forecaster's loss, optimiser and validation metrics, with each row's date passed to the network."""

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        inputs = (batch["weekly"], batch["static"], batch["position"], batch["sector_id"])
        return self.model(*inputs, batch["date_index"])

    def fit_pair(
        self, pred: torch.Tensor, target: torch.Tensor, batch: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """With ``training.date_excess``, each date's forecasts and labels less their date's mean: the loss (and
        any anti-collapse term) then reads the cross-section only."""
        if not self.cfg.date_excess:
            return pred, target
        return date_excess(pred, batch["date_index"]), date_excess(target, batch["date_index"])

    def outputs(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor | None]:
        return self.forward(batch), None


def date_excess(values: torch.Tensor, dates: torch.Tensor) -> torch.Tensor:
    """(B, H) ``values`` less the mean of the rows of their date (``dates`` (B,)): the cross-section only."""
    _, codes = torch.unique(dates, return_inverse=True)
    sums = torch.zeros(int(codes.max()) + 1, values.shape[1], dtype=values.dtype, device=values.device)
    counts = torch.zeros(len(sums), 1, dtype=values.dtype, device=values.device)
    sums = sums.index_add(0, codes, values)
    counts = counts.index_add(0, codes, torch.ones_like(values[:, :1]))
    return values - (sums / counts)[codes]


class CrossSectionalMonitor(CollapseMonitor):
    """The per-epoch collapse diagnostics (kabucast.forecast.diagnostics) of this network: its GRU is the encoder
    (gradient norm, and its final state as ``encoder_*``), its head the head. Sweeps watch trials with it."""

    def on_before_optimizer_step(self, trainer: L.Trainer, pl_module: L.LightningModule, optimizer: Any) -> None:
        self._grads["encoder"].append(grad_norm(pl_module.model.gru))
        self._grads["head"].append(grad_norm(pl_module.model.head))

    def on_validation_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.state.fn == "fit":
            self._act.zero_()
            self._hook = pl_module.model.gru.register_forward_hook(self._record_gru)

    def _record_gru(self, module: nn.Module, inputs: Any, output: Any) -> None:
        """The GRU's output (out, h_n (1, B, H)) in the LSTM's shape the parent reads: (out, (h_n, ...))."""
        self._record_encoder(module, inputs, (output[0], (output[1],)))


class DateBatches(Sampler[list[int]]):
    """Batches of whole dates: ``max(1, round(batch_size / mean date size))`` dates each, in a shuffled order
    (torch's global generator, seeded by the fit) or in date order."""

    def __init__(self, date_index: np.ndarray, batch_size: int, shuffle: bool) -> None:
        order = np.argsort(date_index, kind="stable")
        _, starts = np.unique(np.asarray(date_index)[order], return_index=True)
        self.groups = [g.tolist() for g in np.split(order, starts[1:])] if len(order) else []
        mean_size = len(order) / max(len(self.groups), 1)
        self.dates_per_batch = max(1, round(batch_size / max(mean_size, 1.0)))
        self.shuffle = shuffle

    def __iter__(self) -> Iterator[list[int]]:
        order = torch.randperm(len(self.groups)).tolist() if self.shuffle else range(len(self.groups))
        order = list(order)
        for start in range(0, len(order), self.dates_per_batch):
            yield [i for g in order[start : start + self.dates_per_batch] for i in self.groups[g]]

    def __len__(self) -> int:
        return math.ceil(len(self.groups) / self.dates_per_batch)


def date_loader(ds: ArrayDataset, cfg: TrainConfig, shuffle: bool) -> DataLoader[dict[str, torch.Tensor]]:
    workers = cfg.num_workers
    sampler = DateBatches(ds.date_index, cfg.batch_size, shuffle)
    return DataLoader(ds, batch_sampler=sampler, num_workers=workers, persistent_workers=workers > 0)


class OneDate(nn.Module):
    """The exported graph: the network over one date's stocks (the four inputs every served model takes)."""

    def __init__(self, net: CrossSectionalNet) -> None:
        super().__init__()
        self.net, self.config = net, net.config

    def forward(
        self, weekly: torch.Tensor, static: torch.Tensor, position: torch.Tensor, sector_id: torch.Tensor
    ) -> torch.Tensor:
        return self.net(weekly, static, position, sector_id)


class CrossSectionalForecaster(NetworkKind):
    """The cross-sectional network with its training settings: fit, finetune, predict, export (module docstring)."""

    CONFIG = CrossSectionalConfig
    whole_dates = True  # it learns from cross-sections: runs give it whole dates (forecast.interface)

    def __init__(
        self, config: CrossSectionalConfig, training: TrainConfig, network: CrossSectionalNet | None = None
    ) -> None:
        self.config, self.training, self.network = config, training, network
        self.collapsed_months: list[int] = []

    @classmethod
    def from_checkpoint(
        cls, checkpoint: Path, training: Mapping[str, Any], where: str = "finetune settings"
    ) -> CrossSectionalForecaster:
        state = torch.load(checkpoint, map_location="cpu", weights_only=True)
        config = CrossSectionalConfig.from_dict(state["hyper_parameters"]["model"])
        network = CrossSectionalNet(config)
        network.load_state_dict({k.removeprefix("model."): v for k, v in state["state_dict"].items()})
        return cls(config, build_section(TrainConfig, dict(training), where, "training."), network.train())

    def fit(
        self, split: SampleSplit, work_dir: Path, progress: bool = True, callbacks: Sequence[Callback] = ()
    ) -> FitResult:
        """Fresh weights (seeded with ``training.seed``), the normaliser from the training samples, then train."""
        data = prepare(split)
        L.seed_everything(self.training.seed, workers=True, verbose=False)
        self.config = replace(self.config, n_weekly=split.samples.history.width)  # 23 + slow groups
        self.network = CrossSectionalNet(self.config, data.normalizer)
        return self._fit(split, work_dir, progress, callbacks)

    def finetune(
        self, split: SampleSplit, work_dir: Path, progress: bool = True, callbacks: Sequence[Callback] = ()
    ) -> FitResult:
        return self._fit(split, work_dir, progress, callbacks)

    def _fit(self, split: SampleSplit, work_dir: Path, progress: bool, callbacks: Sequence[Callback]) -> FitResult:
        data = prepare(split)
        module = CrossSectionalModule(self._network().train(), self.training, data.target_std)
        result = fit(module, data.train, data.val, self.training, work_dir, progress, callbacks, loader=date_loader)
        self._check_spread(split)
        return result

    def _check_spread(self, split: SampleSplit) -> None:
        """Warn (:class:`CollapseWarning`) and record the months whose validation forecasts collapsed."""
        if len(split.val) == 0:
            return
        pred = self.predict(split.samples, split.val)
        spread = horizon_metrics(split.val_target(), pred, split.samples.date_pos[split.val])["pred_xs_std"]
        self.collapsed_months = [m for m, s in enumerate(spread, 1) if not s >= COLLAPSE_FLOOR]
        if self.collapsed_months:
            message = (
                f"the cross-sectional model's forecasts collapsed at months {self.collapsed_months}: their spread "
                f"across a date's stocks is below {COLLAPSE_FLOOR} (the promotion gate refuses it). Check the "
                "normaliser statistics and the training loss (training.pred_var_weight, rankic_weight)"
            )
            warnings.warn(message, CollapseWarning, stacklevel=2)
            print(f"warning: {message}", file=sys.stderr)

    def predict(self, samples: ForecastSamples, idx: np.ndarray) -> np.ndarray:
        """(len(idx), 12) float32 forecasts: each date's samples of ``idx`` seen together (eval mode, CPU)."""
        idx = np.asarray(idx)
        out = np.zeros((len(idx), self.config.horizons), dtype=np.float32)
        network = self._network().eval().cpu()
        for rows in date_chunks(samples.date_pos[idx], PREDICT_ROWS):
            batch = samples.take(idx[rows])
            inputs = [torch.as_tensor(np.asarray(batch[k], dtype=np.float32)) for k in ("weekly", "static", "position")]
            with torch.no_grad():
                pred = network(
                    *inputs, torch.as_tensor(batch["sector_id"]), torch.as_tensor(samples.date_pos[idx[rows]])
                )
            out[rows] = pred.numpy()
        return out

    def export(self, path: Path, samples: ForecastSamples, idx: np.ndarray) -> float:
        """The ONNX file of one date's cross-section; max |ONNX Runtime - torch| on the first date of ``idx``."""
        idx = np.asarray(idx)
        first = idx[samples.date_pos[idx] == samples.date_pos[idx].min()] if len(idx) else idx
        return export_onnx(OneDate(self._network()), path, samples.take(first))  # type: ignore[arg-type]

    def describe(self) -> dict[str, Any]:
        network = self._network()
        return {
            "model_kind": KIND,
            "model_config": network.config.to_dict(),
            "parameters": count_parameters(network),
            "normalizer": network.normalizer.to_dict(),
            "train_config": asdict(self.training),
            "collapsed_months": self.collapsed_months,
        }

    def _network(self) -> CrossSectionalNet:
        if self.network is None:
            raise RuntimeError("the forecaster has no network yet: fit it or load a checkpoint first")
        return self.network


def date_chunks(date_pos: np.ndarray, rows: int) -> Iterator[np.ndarray]:
    """Positions into ``date_pos`` in chunks of whole dates (one date may exceed ``rows`` alone)."""
    order = np.argsort(date_pos, kind="stable")
    _, starts = np.unique(date_pos[order], return_index=True)
    chunk: list[np.ndarray] = []
    size = 0
    for group in np.split(order, starts[1:]) if len(order) else []:
        if chunk and size + len(group) > rows:
            yield np.concatenate(chunk)
            chunk, size = [], 0
        chunk.append(group)
        size += len(group)
    if chunk:
        yield np.concatenate(chunk)

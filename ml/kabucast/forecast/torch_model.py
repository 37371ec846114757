"""The BiLSTM forecaster behind the model interface (kabucast.forecast.interface), trained with Lightning.

:class:`TorchForecaster` is a :class:`~kabucast.forecast.interface.TrainableModel`: ``fit`` builds
a fresh :class:`BiLSTMForecaster` whose normaliser is fitted on the split's training samples,
``finetune`` trains the network it holds (a loaded checkpoint, an earlier stage), both through
:func:`kabucast.forecast.forecaster_module.fit` with the 12 horizons balanced by the training
targets' std. ``predict`` runs torch on the CPU; ``export`` writes the ONNX file and checks parity.
The network may also be a :class:`~kabucast.forecast.ensemble.SnapshotEnsemble` (two-stage training).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import Callback

from kabucast.config import build_section
from kabucast.evaluation.calibration import calibration_record, conformal_scale
from kabucast.forecast.arrays import ArrayDataset, fit_normalizer, split_datasets
from kabucast.forecast.dataset import ForecastSamples
from kabucast.forecast.ensemble import SnapshotEnsemble
from kabucast.forecast.export import export_onnx
from kabucast.forecast.forecaster_module import ForecasterModule, NetworkKind, TrainConfig, fit, load_forecaster
from kabucast.forecast.interface import FitResult, SampleSplit
from kabucast.forecast.model import BiLSTMForecaster, ForecasterConfig, count_parameters
from kabucast.forecast.normalize import Normalizer

Network = BiLSTMForecaster | SnapshotEnsemble
PREDICT_BATCH = 512


@dataclass(frozen=True, eq=False)
class PreparedSplit:
    """What a fit derives from a split once: the datasets, the normaliser, the training targets' std."""

    train: ArrayDataset
    val: ArrayDataset
    normalizer: Normalizer
    target_std: tuple[float, ...]


def prepare(split: SampleSplit) -> PreparedSplit:
    """The split's datasets and statistics, built on first use and kept with the split."""

    def build() -> PreparedSplit:
        train, val = split_datasets(split)
        return PreparedSplit(train, val, fit_normalizer(train), tuple(train.target.std(axis=0).tolist()))

    return split.prepared("torch", build)


class TorchForecaster(NetworkKind):
    """The BiLSTM (or an ensemble of them) with its training settings: fit, finetune, predict, export."""

    CONFIG = ForecasterConfig

    def __init__(self, config: ForecasterConfig, training: TrainConfig, network: Network | None = None) -> None:
        self.config = config
        self.training = training
        self.network = network
        self.calibration: dict[str, Any] | None = None  # model.json's quantile_calibration, once calibrated

    @classmethod
    def from_checkpoint(
        cls,
        checkpoint: Path,
        training: Mapping[str, Any],
        where: str = "finetune settings",
        calibration: Mapping[str, Any] | None = None,
    ) -> TorchForecaster:
        """The network saved in a checkpoint (training mode), to fine-tune with ``training`` (TrainConfig keys).

        ``calibration``: the stored version's ``quantile_calibration`` (model.json), kept: a fine-tune
        trains the raw head and serves it through its parent's calibration (it has no later block).
        """
        network = load_forecaster(checkpoint).train()
        model = cls(network.config, build_section(TrainConfig, dict(training), where, "training."), network)
        if calibration is not None and network.calibration is not None:
            network.calibration.set_scale(np.asarray(calibration["scale"]))
            model.calibration = {**calibration, "inherited": True}
        return model

    def fit(
        self, split: SampleSplit, work_dir: Path, progress: bool = True, callbacks: Sequence[Callback] = ()
    ) -> FitResult:
        """Fresh weights (seeded with ``training.seed``), normaliser from the training samples (and a quantile
        head started at their targets' unconditional quantiles), then train."""
        data = prepare(split)
        L.seed_everything(self.training.seed, workers=True, verbose=False)
        self.config = replace(self.config, n_weekly=split.samples.history.width)  # 23 + slow groups
        self.network = BiLSTMForecaster(self.config, data.normalizer)
        if self.network.quantile_head is not None:  # start at the training targets' unconditional quantiles
            levels = list(self.config.quantiles)
            self.network.quantile_head.start_at(np.quantile(data.train.target, levels, axis=0).T)
        return self._fit(data, work_dir, progress, callbacks)

    def finetune(
        self, split: SampleSplit, work_dir: Path, progress: bool = True, callbacks: Sequence[Callback] = ()
    ) -> FitResult:
        """Train the network held (its normaliser kept) on ``split``."""
        return self._fit(prepare(split), work_dir, progress, callbacks)

    def _fit(self, data: PreparedSplit, work_dir: Path, progress: bool, callbacks: Sequence[Callback]) -> FitResult:
        module = ForecasterModule(self._network().train(), self.training, data.target_std)  # predict() left eval
        return fit(module, data.train, data.val, self.training, work_dir, progress=progress, callbacks=callbacks)

    def with_training(self, training: TrainConfig) -> TorchForecaster:
        """The same network (shared, not copied) with other training settings: the next stage of a run."""
        return TorchForecaster(self.config, training, self._network())

    def predict(self, samples: ForecastSamples, idx: np.ndarray) -> np.ndarray:
        """(len(idx), 12) float32 forecasts of the network in eval mode on the CPU."""
        return predict_network(self._network(), samples, idx)

    @property
    def quantile_levels(self) -> tuple[float, ...]:
        """The levels of the quantile head (empty without one); known before the network is built."""
        return tuple(self.config.quantiles)

    def predict_quantiles(self, samples: ForecastSamples, idx: np.ndarray) -> np.ndarray:
        """(len(idx), 12, Q) float32 quantiles of the log returns, in eval mode on the CPU."""
        return predict_network(self._network(), samples, idx, quantiles=True)

    def predict_with_quantiles(self, samples: ForecastSamples, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`predict` and :meth:`predict_quantiles` of samples ``idx``, from one pass of the network."""
        mean, quantiles = network_outputs(self._network(), samples, idx, quantiles=True)
        return mean, quantiles  # type: ignore[return-value]

    def calibrate_quantiles(self, split: SampleSplit) -> dict[str, Any]:
        """Set the quantile head's calibration from ``split.val``, a block later than ``split.train`` and
        purged from it (kabucast.evaluation.calibration.conformal_scale on its raw quantiles and its
        labels as the split gives them); returns what model.json records (:meth:`describe`)."""
        network = self._network()
        if network.calibration is None:
            raise ValueError("this forecaster has no quantile head to calibrate (model.quantiles is empty)")
        levels = self.quantile_levels
        raw = predict_network(network, split.samples, split.val, quantiles=True, calibrated=False)
        target = split.val_target()
        scale = conformal_scale(raw, target, levels)
        network.calibration.set_scale(scale)
        dates = split.samples.dates[split.val]
        block = [str(dates.min().date()), str(dates.max().date())]
        self.calibration = {**calibration_record(raw, target, levels, scale), "block": block}
        return self.calibration

    def val_loss(self, split: SampleSplit, pred: np.ndarray | None = None) -> float:
        """The training loss (horizons balanced as in training) of the network's forecasts on ``split.val``.

        ``pred``: those forecasts when the caller already has them (:meth:`predict` of ``split.val``).
        """
        module = ForecasterModule(self._network(), self.training, prepare(split).target_std)
        pred = self.predict(split.samples, split.val) if pred is None else pred
        target = split.val_target()
        with torch.no_grad():
            return float(module.loss(torch.as_tensor(pred), torch.as_tensor(target)))

    def export(self, path: Path, samples: ForecastSamples, idx: np.ndarray) -> float:
        """The ONNX file (raw features in, 12 log returns out); max |ONNX Runtime - torch| on samples ``idx``."""
        return export_onnx(self._network(), path, samples.take(idx))

    def describe(self) -> dict[str, Any]:
        network = self._network()
        return {
            "model_kind": "bilstm",
            "model_config": network.config.to_dict(),
            "parameters": count_parameters(network),
            "normalizer": network.normalizer.to_dict(),
            "train_config": asdict(self.training),
            **({"quantile_calibration": self.calibration} if self.calibration is not None else {}),
        }

    def _network(self) -> Network:
        if self.network is None:
            raise RuntimeError("the forecaster has no network yet: fit it or load a checkpoint first")
        return self.network


def predict_network(
    network: Network, samples: ForecastSamples, idx: np.ndarray, quantiles: bool = False, calibrated: bool = True
) -> np.ndarray:
    """(len(idx), 12) float32 forecasts of ``network`` (put in eval mode, on the CPU), in batches;
    with ``quantiles``, its (len(idx), 12, Q) quantiles instead (``calibrated``, or the head's raw ones)."""
    mean, q = network_outputs(network, samples, idx, quantiles, calibrated)
    return q if quantiles else mean  # type: ignore[return-value]


@torch.no_grad()
def network_outputs(
    network: Network, samples: ForecastSamples, idx: np.ndarray, quantiles: bool, calibrated: bool = True
) -> tuple[np.ndarray, np.ndarray | None]:
    """The (len(idx), 12) forecasts and, with ``quantiles``, the (len(idx), 12, Q) quantiles from the same
    passes of ``network`` (eval mode, CPU, batches of :data:`PREDICT_BATCH`); None without."""
    network = network.eval().cpu()
    cfg = network.config
    means = [np.zeros((0, cfg.horizons), dtype=np.float32)]
    levels = [np.zeros((0, cfg.horizons, len(cfg.quantiles)), dtype=np.float32)]
    for start in range(0, len(idx), PREDICT_BATCH):
        batch = samples.take(idx[start : start + PREDICT_BATCH])
        inputs = [torch.as_tensor(np.asarray(batch[k], dtype=np.float32)) for k in ("weekly", "static", "position")]
        inputs.append(torch.as_tensor(batch["sector_id"]))
        if quantiles:
            mean, q = network.forward_with_quantiles(*inputs, calibrated)
            levels.append(q.numpy())
        else:
            mean = network(*inputs)
        means.append(mean.numpy())
    return np.concatenate(means), np.concatenate(levels) if quantiles else None

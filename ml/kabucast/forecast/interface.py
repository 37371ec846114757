"""The forecaster's model interface: what every workflow calls, whatever the model is.

Modelled on Qlib's ``Model.fit / predict`` and ``ModelFT.finetune``. Training, fine-tuning, the
promotion gate, walk-forward evaluation, two-stage training, sweeps, the predictions loader and the
daily job call these methods only:

- :class:`ForecastModel` forecasts: ``predict(samples, idx)`` gives (len(idx), 12) log returns
  (month m = 21 * m sessions ahead) for samples ``idx`` of a
  :class:`~kabucast.forecast.dataset.ForecastSamples`. :class:`kabucast.forecast.onnx_model.OnnxModel`
  (ONNX Runtime, torch-free) is the served one: daily job, gate, evaluation.
- :class:`QuantileModel` also forecasts quantiles: ``predict_quantiles(samples, idx)`` gives
  (len(idx), 12, Q) ascending quantiles of those log returns at ``quantile_levels`` (the BiLSTM with
  ``model.quantiles``, served or in torch); :func:`quantile_levels` is () for any other model.
- :class:`CalibratableModel` also calibrates its intervals after training
  (``calibrate_quantiles(split)`` on ``split.val``, a later held-out block: conformal rescaling);
  :func:`calibrate_quantiles` does it for any model that has quantiles.
- :class:`TrainableModel` also learns: ``fit(split, work_dir)`` from fresh weights,
  ``finetune(split, work_dir)`` from its current ones, each returning a :class:`FitResult`;
  ``export(path, samples, idx)`` writes the ONNX file the serving side loads and returns the parity
  on those samples; ``describe()`` is what ``model.json`` records about it.
  :class:`kabucast.forecast.torch_model.TorchForecaster` is the BiLSTM (and its snapshot ensembles).

:mod:`kabucast.forecast.kinds` makes the trainable model a settings file names (``model.kind``).
This module imports no torch.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar, runtime_checkable

import numpy as np

from kabucast.forecast.dataset import ForecastSamples

T = TypeVar("T")


@dataclass(eq=False)
class SampleSplit:
    """What one fit sees: the samples, training and validation indices, and the label control.

    ``label_order``, when set, is a permutation of the training labels: training sample i learns the
    label of training sample ``label_order[i]`` (the shuffled-label control). ``val_order`` does the same
    to the validation labels, for a control whose model selection (early stopping, a penalty chosen on
    validation) sees no real label either; left None when the validation is itself the reported score.
    A model keeps what it derives from the split (in-memory datasets, normaliser statistics) through
    :meth:`prepared`, so many fits on one split (a sweep's trials) derive it once.
    """

    samples: ForecastSamples
    train: np.ndarray
    val: np.ndarray
    label_order: np.ndarray | None = None
    val_order: np.ndarray | None = None
    _prepared: dict[str, Any] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self.label_order is not None and sorted(self.label_order.tolist()) != list(range(len(self.train))):
            raise ValueError("label_order must be a permutation of the training samples")
        if self.val_order is not None and sorted(self.val_order.tolist()) != list(range(len(self.val))):
            raise ValueError("val_order must be a permutation of the validation samples")

    def train_target(self) -> np.ndarray:
        """(n_train, 12) training labels, permuted by ``label_order`` when it is set."""
        target = self.samples.target[self.train]
        return target if self.label_order is None else target[self.label_order]

    def val_target(self) -> np.ndarray:
        """(n_val, 12) validation labels, permuted by ``val_order`` when it is set."""
        target = self.samples.target[self.val]
        return target if self.val_order is None else target[self.val_order]

    def prepared(self, key: str, build: Callable[[], T]) -> T:
        """``build()``'s result, computed on the first call for ``key`` and kept with the split."""
        if key not in self._prepared:
            self._prepared[key] = build()
        return self._prepared[key]


@dataclass(frozen=True)
class FitResult:
    """A finished fit: the best checkpoint, its validation score and per-horizon validation metrics."""

    best_checkpoint: Path
    best_score: float  # val_loss of the best checkpoint
    epochs_run: int
    val_metrics: dict[str, list[float]]  # per horizon, see kabucast.forecast.metrics

    def summary(self) -> str:
        """One line for the end of a run."""
        rankic = finite_mean(self.val_metrics.get("rankic", []))
        std = min(self.val_metrics.get("pred_std", [math.nan]))
        return (
            f"trained {self.epochs_run} epochs: best val_loss {self.best_score:.5f}, mean val RankIC {rankic:+.4f}, "
            f"min pred std {std:.4f} -> {self.best_checkpoint}"
        )


def finite_mean(values: list[float]) -> float:
    """Mean of the finite values (NaN when there are none)."""
    finite = [v for v in values if math.isfinite(v)]
    return sum(finite) / len(finite) if finite else math.nan


@runtime_checkable
class ForecastModel(Protocol):
    """Anything that forecasts: (len(idx), 12) float32 log returns for samples ``idx``."""

    def predict(self, samples: ForecastSamples, idx: np.ndarray) -> np.ndarray: ...


@runtime_checkable
class QuantileModel(ForecastModel, Protocol):
    """A model that also forecasts quantiles of the log returns: (len(idx), 12, Q), ascending in Q, at
    ``quantile_levels`` (empty when this one has no quantile head)."""

    @property
    def quantile_levels(self) -> tuple[float, ...]: ...

    def predict_quantiles(self, samples: ForecastSamples, idx: np.ndarray) -> np.ndarray: ...

    def predict_with_quantiles(self, samples: ForecastSamples, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``predict`` and ``predict_quantiles`` together (a served model runs its graph once)."""
        ...


def trains_on_whole_dates(model: ForecastModel) -> bool:
    """Whether ``model`` learns from whole cross-sections (its ``whole_dates``, e.g. the cross-sectional kind): its
    training and early-stopping samples are then whole dates, and early stopping is on later dates, purged."""
    return bool(getattr(model, "whole_dates", False))


def quantile_levels(model: ForecastModel) -> tuple[float, ...]:
    """The levels ``model`` forecasts quantiles at (empty for a model without quantiles, e.g. the ridge)."""
    return tuple(model.quantile_levels) if isinstance(model, QuantileModel) else ()


@runtime_checkable
class CalibratableModel(QuantileModel, Protocol):
    """A quantile model whose intervals are calibrated after training on a held-out later block."""

    def calibrate_quantiles(self, split: SampleSplit) -> dict[str, Any]:
        """Calibrate on ``split.val`` (later than ``split.train``, purged); return what model.json records."""
        ...


def calibrate_quantiles(
    model: ForecastModel, split: SampleSplit, log: Callable[[str], None] = print
) -> dict[str, Any] | None:
    """Calibrate ``model``'s intervals on ``split.val`` when it forecasts quantiles (None when it does not),
    and ``log`` one line of what it did (:func:`calibration_summary`).

    The validation block of ``kabucast train`` (and of walk-forward folds of a quantile recipe) is the
    last dates before the as-of, a purge after the training ones: the conformal factors are taken on
    outcomes the weights never saw, as close in time to the future as the labels allow.
    """
    if not quantile_levels(model) or not isinstance(model, CalibratableModel):
        return None
    record = model.calibrate_quantiles(split)
    log(calibration_summary(record))
    return record


def calibration_summary(record: dict[str, Any]) -> str:
    """One line: the calibrated interval's coverage on the block, before and after, averaged over horizons."""
    low, high = record["interval"]
    calibrated = finite_mean(record["coverage_calibrated"])
    raw = f"{finite_mean(record['coverage_raw']):.1%} -> " if "coverage_raw" in record else ""
    return (
        f"calibrated the {low:g}-{high:g} interval on {record['n_samples']:,} samples "
        f"({record['block'][0]}..{record['block'][1]}): coverage {raw}{calibrated:.1%} (mean of 12 months)"
    )


@runtime_checkable
class TrainableModel(ForecastModel, Protocol):
    """A model that learns from a :class:`SampleSplit` and exports what the serving side loads.

    ``seed`` seeds the run (the caller's sample split and the fit); ``min_train_samples`` is the
    smallest training set the model can fit (for the BiLSTM: one batch).
    """

    @property
    def seed(self) -> int: ...

    @property
    def min_train_samples(self) -> int: ...

    def fit(self, split: SampleSplit, work_dir: Path, progress: bool = True, callbacks: Any = ()) -> FitResult:
        """Train from fresh weights; the model ends holding its best weights."""
        ...

    def finetune(self, split: SampleSplit, work_dir: Path, progress: bool = True, callbacks: Any = ()) -> FitResult:
        """Train on from the current weights (a loaded checkpoint, an earlier stage)."""
        ...

    def export(self, path: Path, samples: ForecastSamples, idx: np.ndarray) -> float:
        """Write the ONNX file of the model to ``path``; the max |served - trained| output on ``idx``."""
        ...

    def describe(self) -> dict[str, Any]:
        """What ``model.json`` records of the model (config, size, normaliser, training settings)."""
        ...

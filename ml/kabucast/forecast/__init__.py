"""The BiLSTM forecaster: model, training, ONNX export and ONNX Runtime inference.

Only the torch-free parts are imported here, so ``from kabucast.forecast import OnnxForecaster`` works in
the daily Lambda (no torch). Training code lives in its modules and is imported from them:
``kabucast.forecast.model`` (BiLSTMForecaster, ForecasterConfig), ``.normalize`` (Normalizer),
``.lit`` (TrainConfig, ArrayDataset, WindowedArrays, ForecasterModule, fit), ``.export`` (export_onnx).
"""

from __future__ import annotations

from kabucast.forecast.metrics import horizon_metrics, momentum_baseline, zero_baseline
from kabucast.forecast.onnx_model import ForecastInputError, ModelLoadError, OnnxForecaster

__all__ = [
    "ForecastInputError",
    "ModelLoadError",
    "OnnxForecaster",
    "horizon_metrics",
    "momentum_baseline",
    "zero_baseline",
]

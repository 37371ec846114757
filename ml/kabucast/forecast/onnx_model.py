"""Inference with an exported forecaster on ONNX Runtime: numpy in, 12 monthly log returns out.

This module is what the daily Lambda imports, so it uses numpy and onnxruntime only: it must never
import torch, directly or through another kabucast module (a test enforces it).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from kabucast.errors import KabucastError

INPUT_DTYPES: dict[str, type[np.generic]] = {
    "weekly": np.float32,  # (B, 156, 23) raw weekly features
    "static": np.float32,  # (B, 6) raw static features
    "position": np.float32,  # (B, 2) day_of_week, week_progress
    "sector_id": np.int64,  # (B,) ids of config/sectors.yaml
}
INPUT_NAMES = tuple(INPUT_DTYPES)
OUTPUT_NAME = "log_returns"  # (B, 12): month m = 21 * m trading days ahead
CONFIG_METADATA_KEY = "kabucast.forecaster_config"
DEFAULT_THREADS = 1
"""Measured (bench/bench_onnx_predict.py, 2-core x86): 31 tickers in ~37 ms on 1 thread, ~20 ms on 2. A 512 MB
Lambda has under one vCPU, where a second thread only competes; 1 is the default, pass 2 on a bigger machine."""


class ModelLoadError(KabucastError):
    """The ONNX file is missing, unreadable, or is not a kabucast forecaster."""


class ForecastInputError(KabucastError, ValueError):
    """Feature arrays given to :meth:`OnnxForecaster.predict` do not match the model's inputs."""


class OnnxForecaster:
    """One ONNX Runtime session (CPU), created once and reused for every :meth:`predict`."""

    def __init__(self, model: str | Path | bytes, intra_op_threads: int = DEFAULT_THREADS) -> None:
        """``model``: the path of a model.onnx or its bytes (as read from the store)."""
        options = ort.SessionOptions()
        options.intra_op_num_threads = intra_op_threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        source = model if isinstance(model, bytes) else str(model)
        if not isinstance(model, bytes) and not Path(model).is_file():
            raise ModelLoadError(f"ONNX model not found: {model}; train and export one, or check models/champion.json")
        try:
            self.session = ort.InferenceSession(source, sess_options=options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own untyped errors for corrupt files
            raise ModelLoadError(f"cannot load ONNX model {_describe(model)}: {exc}") from exc
        names = tuple(i.name for i in self.session.get_inputs())
        if names != INPUT_NAMES or [o.name for o in self.session.get_outputs()] != [OUTPUT_NAME]:
            raise ModelLoadError(f"{_describe(model)} is not a kabucast forecaster (inputs {names})")
        self.config: dict[str, Any] = json.loads(
            self.session.get_modelmeta().custom_metadata_map.get(CONFIG_METADATA_KEY, "{}")
        )
        self._shapes = {i.name: tuple(i.shape) for i in self.session.get_inputs()}

    @property
    def horizons(self) -> int:
        """Months forecast (12)."""
        return int(self.session.get_outputs()[0].shape[1])

    def predict(
        self, weekly: np.ndarray, static: np.ndarray, position: np.ndarray, sector_id: np.ndarray
    ) -> np.ndarray:
        """(B, 12) float32 log returns from raw weekly (B, 156, 23), static (B, 6), position (B, 2), sector_id (B,).

        Raises :class:`ForecastInputError` naming the first array whose shape or sector id is wrong.
        """
        feeds = {
            name: np.ascontiguousarray(array, dtype=dtype)
            for (name, dtype), array in zip(INPUT_DTYPES.items(), (weekly, static, position, sector_id), strict=True)
        }
        self._check(feeds)
        return self.session.run([OUTPUT_NAME], feeds)[0]

    def _check(self, feeds: dict[str, np.ndarray]) -> None:
        batch = len(feeds["weekly"])
        for name, array in feeds.items():
            expected = (batch, *self._shapes[name][1:])
            if array.shape != expected:
                raise ForecastInputError(f"{name} has shape {array.shape}, the model needs {expected}")
        n_sectors = self.config.get("n_sectors")
        ids = feeds["sector_id"]
        if n_sectors is not None and batch and (ids.min() < 0 or ids.max() >= n_sectors):
            raise ForecastInputError(f"sector_id must lie in [0, {n_sectors}); got {ids.min()}..{ids.max()}")


def _describe(model: str | Path | bytes) -> str:
    return f"<{len(model)} bytes>" if isinstance(model, bytes) else str(model)

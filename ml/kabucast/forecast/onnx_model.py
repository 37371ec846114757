"""Inference with an exported forecaster on ONNX Runtime: numpy in, 12 monthly log returns out.

:class:`OnnxForecaster` is one ONNX Runtime session over the four raw input arrays.
:class:`OnnxModel` is a stored model version behind the model interface
(:class:`kabucast.forecast.interface.ForecastModel`): it owns the rule of a model trained with
``static_mode: none`` (its static inputs are zeros), batches long scorings and reports their progress.
The daily job, the promotion gate, walk-forward evaluation and the predictions loader use it.

This module is what the daily Lambda imports, so it uses numpy and onnxruntime only: it must never
import torch, directly or through another kabucast module (a test enforces it).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import onnxruntime as ort

from kabucast.errors import KabucastError
from kabucast.progress import progress

if TYPE_CHECKING:
    from kabucast.forecast.dataset import ForecastSamples
    from kabucast.forecast.registry import ModelFiles

INPUT_DTYPES: dict[str, type[np.generic]] = {
    "weekly": np.float32,  # (B, 156, 23) raw weekly features
    "static": np.float32,  # (B, 6) raw static features
    "position": np.float32,  # (B, 2) day_of_week, week_progress
    "sector_id": np.int64,  # (B,) ids of config/sectors.yaml
}
INPUT_NAMES = tuple(INPUT_DTYPES)
OUTPUT_NAME = "log_returns"  # (B, 12): month m = 21 * m trading days ahead
QUANTILES_NAME = "quantiles"  # (B, 12, Q): a model with a quantile head only, at its config's ``quantiles``
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
        outputs = [o.name for o in self.session.get_outputs()]
        if names != INPUT_NAMES or outputs not in ([OUTPUT_NAME], [OUTPUT_NAME, QUANTILES_NAME]):
            raise ModelLoadError(f"{_describe(model)} is not a kabucast forecaster (inputs {names}, outputs {outputs})")
        self.config: dict[str, Any] = json.loads(
            self.session.get_modelmeta().custom_metadata_map.get(CONFIG_METADATA_KEY, "{}")
        )
        self.quantile_levels: tuple[float, ...] = tuple(self.config.get("quantiles", ())) if len(outputs) > 1 else ()
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
        feeds = self._feeds(weekly, static, position, sector_id)
        return self.session.run([OUTPUT_NAME], feeds)[0]

    def predict_with_quantiles(
        self, weekly: np.ndarray, static: np.ndarray, position: np.ndarray, sector_id: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """(B, 12) log returns and (B, 12, Q) their quantiles at :attr:`quantile_levels` (one run of the graph)."""
        if not self.quantile_levels:
            raise ModelLoadError("this model has no quantile head: it forecasts log returns only")
        feeds = self._feeds(weekly, static, position, sector_id)
        mean, quantiles = self.session.run([OUTPUT_NAME, QUANTILES_NAME], feeds)
        return mean, quantiles

    def _feeds(self, *arrays: np.ndarray) -> dict[str, np.ndarray]:
        """The four input arrays by name, in the graph's dtypes, checked (:class:`ForecastInputError`)."""
        feeds = {
            name: np.ascontiguousarray(array, dtype=dtype)
            for (name, dtype), array in zip(INPUT_DTYPES.items(), arrays, strict=True)
        }
        self._check(feeds)
        return feeds

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


class OnnxModel:
    """A model version served by ONNX Runtime: ``predict(samples, idx)`` and ``predict_arrays(...)``.

    ``static_mode`` is the model's (``model.json``): ``none`` means it was trained with zero static
    inputs, so it is served zeros too, whatever static features the caller holds.
    """

    BATCH = 1024

    def __init__(
        self, onnx: bytes, version: str, static_mode: str = "snapshot", intra_op_threads: int = DEFAULT_THREADS
    ) -> None:
        self.session = OnnxForecaster(onnx, intra_op_threads)
        self.version = version
        self.static_mode = static_mode

    @classmethod
    def from_files(cls, files: ModelFiles) -> OnnxModel:
        """The session of a stored version (kabucast.forecast.registry.load_model)."""
        return cls(files.onnx, files.version, files.meta.get("static_mode", "snapshot"))

    def predict_arrays(
        self, weekly: np.ndarray, static: np.ndarray, position: np.ndarray, sector_id: np.ndarray
    ) -> np.ndarray:
        """(B, 12) float32 log returns of raw input arrays (see :meth:`OnnxForecaster.predict`); B may be 0."""
        return self._arrays(weekly, static, position, sector_id, quantiles=False)[0]

    @property
    def quantile_levels(self) -> tuple[float, ...]:
        """The levels of the model's quantile head (empty without one)."""
        return self.session.quantile_levels

    def predict_arrays_with_quantiles(
        self, weekly: np.ndarray, static: np.ndarray, position: np.ndarray, sector_id: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """(B, 12) log returns and (B, 12, Q) quantiles of raw input arrays; B may be 0."""
        mean, quantiles = self._arrays(weekly, static, position, sector_id, quantiles=True)
        return mean, quantiles  # type: ignore[return-value]

    def predict(self, samples: ForecastSamples, idx: np.ndarray) -> np.ndarray:
        """(len(idx), 12) float32 log returns for samples ``idx``, in batches (a progress line past ~10 s)."""
        return self._batches(samples, idx, quantiles=False)[0]

    def predict_quantiles(self, samples: ForecastSamples, idx: np.ndarray) -> np.ndarray:
        """(len(idx), 12, Q) float32 quantiles of the log returns for samples ``idx``, in batches."""
        return self.predict_with_quantiles(samples, idx)[1]

    def predict_with_quantiles(self, samples: ForecastSamples, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`predict` and :meth:`predict_quantiles` of samples ``idx`` from one run of the graph."""
        mean, quantiles = self._batches(samples, idx, quantiles=True)
        return mean, quantiles  # type: ignore[return-value]

    def _arrays(
        self, weekly: np.ndarray, static: np.ndarray, position: np.ndarray, sector_id: np.ndarray, quantiles: bool
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """One batch: the log returns and, with ``quantiles``, the quantiles (None without); the static rule
        (``static_mode: none`` is served zeros) and an empty batch handled here for both."""
        if len(weekly) == 0:
            h = self.session.horizons
            empty = np.zeros((0, h, len(self.quantile_levels)), dtype=np.float32) if quantiles else None
            return np.zeros((0, h), dtype=np.float32), empty
        if self.static_mode == "none":
            static = np.zeros_like(static)
        if quantiles:
            return self.session.predict_with_quantiles(weekly, static, position, sector_id)
        return self.session.predict(weekly, static, position, sector_id), None

    def _batches(
        self, samples: ForecastSamples, idx: np.ndarray, quantiles: bool
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """:meth:`_arrays` over samples ``idx`` in batches of :attr:`BATCH`, concatenated. A cross-sectional
        model's graph sees its batch as one date's stocks (``cross_sectional`` in its metadata): it runs one
        date per call, the results put back in the order of ``idx``."""
        idx = np.asarray(idx)
        if self.session.config.get("cross_sectional"):
            return self._by_date(samples, idx, quantiles)
        h, n = self.session.horizons, len(self.quantile_levels)
        parts = [(np.zeros((0, h), dtype=np.float32), np.zeros((0, h, n), dtype=np.float32))]  # for no samples
        for start in progress(range(0, len(idx), self.BATCH), "scoring", "batches", first_line=False):
            batch = samples.take(idx[start : start + self.BATCH])
            inputs = (batch["weekly"], batch["static"], batch["position"], batch["sector_id"])
            parts.append(self._arrays(*inputs, quantiles))
        mean = np.concatenate([m for m, _ in parts])
        return mean, np.concatenate([q for _, q in parts]) if quantiles else None  # type: ignore[misc]

    def _by_date(
        self, samples: ForecastSamples, idx: np.ndarray, quantiles: bool
    ) -> tuple[np.ndarray, np.ndarray | None]:
        h, n = self.session.horizons, len(self.quantile_levels)
        mean = np.zeros((len(idx), h), dtype=np.float32)
        levels = np.zeros((len(idx), h, n), dtype=np.float32) if quantiles else None
        dates = samples.date_pos[idx]
        for day in progress(np.unique(dates), "scoring", "dates", first_line=False):
            rows = np.flatnonzero(dates == day)
            batch = samples.take(idx[rows])
            m, q = self._arrays(batch["weekly"], batch["static"], batch["position"], batch["sector_id"], quantiles)
            mean[rows] = m
            if levels is not None and q is not None:
                levels[rows] = q
        return mean, levels


def _describe(model: str | Path | bytes) -> str:
    return f"<{len(model)} bytes>" if isinstance(model, bytes) else str(model)

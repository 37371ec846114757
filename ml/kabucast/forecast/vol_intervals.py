"""Intervals for any point forecaster, scaled by each stock's own risk: ridge, LightGBM and momentum get bands.

A kind without a quantile head (``model.kind`` ridge, lightgbm, momentum) forecasts log returns only.
Naming ``quantiles: [0.1, 0.5, 0.9]`` in its ``model:`` section wraps it in :class:`VolScaledIntervals`
(kabucast.forecast.kinds): the quantile of month h at level tau is

    q[h, tau] = forecast[h] + c[h, tau] * sigma,   sigma = max(rvol_13w of the as-of week, FLOOR)

with ``rvol_13w`` the stock's annualised 13-week volatility (docs/FEATURES.md), so a quiet utility
and a volatile chip maker do not share one band. ``c`` is fitted after the point model, on the
calibration block (``split.val``: for ``kabucast train`` and quantile recipes in walk-forward the
purged, later block): the tau-quantile per horizon of the standardised residuals
``(y - forecast) / sigma`` (split-conformal on a scaled score; Lei et al. 2018, "locally weighted").
The quantiles are exported into the kind's own ONNX graph (a second output ``quantiles`` (B, 12, Q)
and the levels in its metadata), so :class:`~kabucast.forecast.onnx_model.OnnxModel`, the gate and
the daily document serve them unchanged. Numpy only at import; ``onnx`` is imported by ``export``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from kabucast.errors import ConfigError
from kabucast.evaluation.calibration import coverage
from kabucast.features.registry import WEEKLY_FEATURES
from kabucast.forecast.dataset import ForecastSamples
from kabucast.forecast.interface import FitResult, SampleSplit, TrainableModel

RISK_FEATURE = "rvol_13w"
RISK = [spec.name for spec in WEEKLY_FEATURES].index(RISK_FEATURE)
FLOOR = 0.05
"""Lowest annualised volatility a band is scaled by (a name that did not trade for a quarter shows 0)."""


def risk(weekly: np.ndarray) -> np.ndarray:
    """(B,) float64 ``max(rvol_13w of the last week, FLOOR)`` of raw ``weekly`` (B, T, 23)."""
    return week_risk(weekly[:, -1])


def week_risk(week: np.ndarray) -> np.ndarray:
    """(B,) float64 ``max(rvol_13w, FLOOR)`` of one week's raw features (B, 23)."""
    return np.maximum(np.asarray(week[:, RISK], dtype=np.float64), FLOOR)


def check_levels(levels: Sequence[float], where: str) -> tuple[float, ...]:
    """Ascending levels in (0, 1), symmetric around a 0.5 (central intervals), else a ConfigError."""
    out = tuple(float(x) for x in levels)
    symmetric = all(abs(a + b - 1.0) < 1e-9 for a, b in zip(out, reversed(out), strict=True))
    if not out or list(out) != sorted(set(out)) or not all(0 < x < 1 for x in out) or not symmetric:
        raise ConfigError(
            f"{where}: model.quantiles must be ascending levels in (0, 1), symmetric around 0.5, got {out}"
        )
    if 0.5 not in out:
        raise ConfigError(f"{where}: model.quantiles must include the median 0.5, got {out}")
    return out


class VolScaledIntervals:
    """A :class:`~kabucast.forecast.interface.TrainableModel` with calibrated, risk-scaled quantiles around
    another one's point forecast (which it fits, fine-tunes and exports)."""

    def __init__(self, inner: TrainableModel, levels: Sequence[float], calibration: dict[str, Any] | None = None):
        self.inner = inner
        self.levels = check_levels(levels, "model settings")
        self.calibration = calibration
        self.scale = np.zeros((12, len(self.levels))) if calibration is None else np.asarray(calibration["scale"])

    @property
    def seed(self) -> int:
        return self.inner.seed

    @property
    def min_train_samples(self) -> int:
        return self.inner.min_train_samples

    @property
    def quantile_levels(self) -> tuple[float, ...]:
        return self.levels

    def fit(self, split: SampleSplit, work_dir: Path, progress: bool = True, callbacks: Any = ()) -> FitResult:
        return self.inner.fit(split, work_dir, progress, callbacks)

    def finetune(self, split: SampleSplit, work_dir: Path, progress: bool = True, callbacks: Any = ()) -> FitResult:
        """The inner model's fine-tune; the bands keep their calibration (as a BiLSTM fine-tune keeps its)."""
        return self.inner.finetune(split, work_dir, progress, callbacks)

    def predict(self, samples: ForecastSamples, idx: np.ndarray) -> np.ndarray:
        return self.inner.predict(samples, idx)

    def _risk(self, samples: ForecastSamples, idx: np.ndarray) -> np.ndarray:
        """:func:`risk` of samples ``idx`` from their as-of week alone (a window's last row), no window built."""
        return week_risk(samples.history.partial[samples.date_pos[idx], samples.ticker_pos[idx]])

    def predict_with_quantiles(self, samples: ForecastSamples, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N, 12) log returns and (N, 12, Q) their quantiles (ascending: ``scale`` is, level by level)."""
        if self.calibration is None:
            raise RuntimeError("the intervals are not calibrated: call calibrate_quantiles first")
        mean = self.inner.predict(samples, idx)
        sigma = self._risk(samples, idx)
        quantiles = mean[:, :, None] + self.scale[None] * sigma[:, None, None]
        return mean, quantiles.astype(np.float32)

    def predict_quantiles(self, samples: ForecastSamples, idx: np.ndarray) -> np.ndarray:
        return self.predict_with_quantiles(samples, idx)[1]

    def calibrate_quantiles(self, split: SampleSplit) -> dict[str, Any]:
        """``scale`` (12, Q): per horizon the level-quantiles of ``(y - forecast) / sigma`` on ``split.val``."""
        samples, idx = split.samples, split.val
        target = split.val_target().astype(np.float64)
        mean = self.inner.predict(samples, idx).astype(np.float64)
        sigma = self._risk(samples, idx)
        z = (target - mean) / sigma[:, None]
        scale = np.zeros((12, len(self.levels)))
        for h in range(12):
            known = z[np.isfinite(z[:, h]), h]
            if len(known):
                scale[h] = np.quantile(known, self.levels, method="linear")
        self.scale = np.maximum.accumulate(scale, axis=1)  # ascending in the level
        low, high = (mean[:, :, None] + self.scale[None] * sigma[:, None, None])[..., [0, -1]].transpose(2, 0, 1)
        dates = samples.dates[idx]
        self.calibration = {
            "method": f"vol-scaled conformal: forecast + c[h, level] x max({RISK_FEATURE}, {FLOOR}) "
            "(kabucast.forecast.vol_intervals)",
            "levels": list(self.levels),
            "scale": np.round(self.scale, 6).tolist(),
            "n_samples": len(idx),
            "interval": [self.levels[0], self.levels[-1]],
            "coverage_calibrated": np.round(coverage(low, high, target), 4).tolist(),
            "block": [str(dates.min().date()), str(dates.max().date())],
        }
        return self.calibration

    def export(self, path: Path, samples: ForecastSamples, idx: np.ndarray) -> float:
        """The inner kind's graph plus the bands: a second output ``quantiles`` and the levels in its metadata.
        Returns the max |ONNX Runtime - numpy| over the log returns and the quantiles."""
        import onnx
        from onnx import TensorProto, helper

        from kabucast.forecast.onnx_graph import constant, served_parity
        from kabucast.forecast.onnx_model import CONFIG_METADATA_KEY, OUTPUT_NAME, QUANTILES_NAME

        parity = self.inner.export(path, samples, idx)
        model = onnx.load(path)
        graph = model.graph
        graph.initializer.extend(
            [
                constant("vi_last", np.array([-1], dtype=np.int64)),
                constant("vi_big", np.array([2**62], dtype=np.int64)),
                constant("vi_axis1", np.array([1], dtype=np.int64)),
                constant("vi_column", np.array(RISK, dtype=np.int64)),
                constant("vi_floor", np.array(FLOOR, dtype=np.float32)),
                constant("vi_shape_b11", np.array([-1, 1, 1], dtype=np.int64)),
                constant("vi_shape_b121", np.array([-1, 12, 1], dtype=np.int64)),
                constant("vi_scale", self.scale.astype(np.float32)[None]),
            ]
        )
        graph.node.extend(
            [
                helper.make_node("Slice", ["weekly", "vi_last", "vi_big", "vi_axis1"], ["vi_week"]),
                helper.make_node("Gather", ["vi_week", "vi_column"], ["vi_rvol"], axis=2),
                helper.make_node("Max", ["vi_rvol", "vi_floor"], ["vi_sigma"]),
                helper.make_node("Reshape", ["vi_sigma", "vi_shape_b11"], ["vi_sigma3"]),
                helper.make_node("Reshape", [OUTPUT_NAME, "vi_shape_b121"], ["vi_mean3"]),
                helper.make_node("Mul", ["vi_sigma3", "vi_scale"], ["vi_spread"]),
                helper.make_node("Add", ["vi_mean3", "vi_spread"], [QUANTILES_NAME]),
            ]
        )
        graph.output.append(
            helper.make_tensor_value_info(QUANTILES_NAME, TensorProto.FLOAT, ["B", 12, len(self.levels)])
        )
        config = {"kind": self.describe()["model_kind"], "quantiles": list(self.levels)}
        helper.set_model_props(model, {CONFIG_METADATA_KEY: json.dumps(config)})
        onnx.checker.check_model(model)
        onnx.save(model, path)
        return max(parity, served_parity(path, samples, idx, self.predict_quantiles(samples, idx), QUANTILES_NAME))

    def describe(self) -> dict[str, Any]:
        out = self.inner.describe()
        out["model_config"] = {**out.get("model_config", {}), "quantiles": list(self.levels)}
        if self.calibration is not None:
            out["quantile_calibration"] = self.calibration
        return out

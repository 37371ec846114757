"""The free baselines as a model kind: a trailing-return signal with a lookback, a skip and a sign.

:class:`MomentumForecaster` (``model.kind: momentum``) reads one input, the weekly log return
``ret_1w`` of the raw ``weekly`` window (the model sees raw features; the ridge z-scores its own).
Its signal (:func:`trailing_return`) is the log return from the close ``lookback_weeks`` weekly bars
before the as-of week to the close ``skip_weeks`` bars before it, ``ln(C[k-skip] / C[k-lookback])``
with week k the as-of (partial) week: 52 / 4 is 12-1 momentum, 4 / 0 the 1-month return, whose
``sign: -1`` is 1-month reversal.

Per horizon h the forecast is ``intercept_h + slope_h * sign * signal`` in log-return units, fitted on
the training samples: ``slope_h`` is the least-squares slope of the labels on ``sign * signal``, floored
at :data:`MIN_SLOPE` (the model may say the signal is nearly worthless, never that it works the other
way round, and never stops ranking by it: the served baseline is the recipe's ranking, a near-flat
forecast when the fit finds no edge; the sign is the recipe's claim, and a reversal recipe stays a
reversal), and ``intercept_h`` is the least-squares one, ``mean(y_h) - slope_h * mean(sign * signal)``:
about the training labels' mean when the slope is floored. Nothing is chosen on validation; ``finetune``
refits the same settings on the new split. It exports to ONNX like the ridge (same four inputs,
``log_returns`` (B, 12) out).
Numpy only at import; ``onnx`` is imported by ``export``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from kabucast.errors import ConfigError
from kabucast.features.registry import SEQ_WEEKS, WEEKLY_FEATURES
from kabucast.forecast.dataset import ForecastSamples
from kabucast.forecast.interface import FitResult, SampleSplit
from kabucast.forecast.metrics import horizon_metrics

RET_1W = [spec.name for spec in WEEKLY_FEATURES].index("ret_1w")
"""Column of ``weekly`` holding the week's log return ``ln(C_k / C_{k-1})`` (docs/FEATURES.md)."""
SETTINGS = {"lookback_weeks": 52, "skip_weeks": 4, "sign": 1}
"""The settings and their defaults: 12-1 momentum."""
BATCH = 2048
MIN_SLOPE = 1e-4
"""The smallest slope (log return per unit of signal): a 100 % trailing return moves the forecast by 0.01 %,
flat for a reader, yet the ranking stays the signal's (a slope of 0 made a constant forecast that ranks nothing)."""


def trailing_return(weekly: np.ndarray, lookback_weeks: int, skip_weeks: int) -> np.ndarray:
    """(B,) float64 log return ``ln(C[k-skip] / C[k-lookback])`` of raw ``weekly`` (B, T, 23), k its last row."""
    stop = weekly.shape[1] - skip_weeks
    return np.asarray(weekly[:, stop - (lookback_weeks - skip_weeks) : stop, RET_1W], dtype=np.float64).sum(axis=1)


class MomentumForecaster:
    """Momentum or reversal, fitted per horizon: a :class:`~kabucast.forecast.interface.TrainableModel`."""

    def __init__(self, lookback_weeks: int = 52, skip_weeks: int = 4, sign: int = 1, seed: int = 0) -> None:
        if not 0 <= skip_weeks < lookback_weeks <= SEQ_WEEKS:
            raise ConfigError(
                f"momentum needs 0 <= skip_weeks < lookback_weeks <= {SEQ_WEEKS}, "
                f"got skip_weeks {skip_weeks}, lookback_weeks {lookback_weeks}"
            )
        if sign not in (1, -1):
            raise ConfigError(f"momentum sign must be 1 (momentum) or -1 (reversal), got {sign}")
        self.lookback_weeks, self.skip_weeks, self.sign, self.seed = lookback_weeks, skip_weeks, sign, seed
        self.min_train_samples = 2
        self.slope: np.ndarray | None = None  # (12,) >= 0, per unit of sign * signal
        self.intercept = np.zeros(0)  # (12,) log returns

    @classmethod
    def from_settings(
        cls, model: Mapping[str, Any], training: Mapping[str, Any], n_sectors: int, where: str = "train settings"
    ) -> MomentumForecaster:
        """``model: {kind: momentum, lookback_weeks, skip_weeks, sign}``; of ``training`` only ``seed``."""
        unknown = sorted(set(model) - set(SETTINGS))
        if unknown:
            known = ", ".join(SETTINGS)
            raise ConfigError(f"{where}: model.{unknown[0]} is not a momentum setting (known: {known})")
        settings = {**SETTINGS, **model}
        bad = [k for k, v in settings.items() if isinstance(v, bool) or not isinstance(v, int)]
        if bad:
            raise ConfigError(f"{where}: model.{bad[0]} must be a whole number, got {settings[bad[0]]!r}")
        try:
            return cls(**settings, seed=int(training.get("seed", 0)))
        except ConfigError as error:
            raise ConfigError(f"{where}: {error}") from None

    @classmethod
    def from_checkpoint(cls, checkpoint: Path, training: Mapping[str, Any], where: str = "") -> MomentumForecaster:
        """The settings and coefficients saved by :meth:`fit` (an ``.npz``)."""
        saved = np.load(checkpoint)
        model = cls(*(int(saved[k]) for k in SETTINGS), seed=int(training.get("seed", 0)))
        model.slope, model.intercept = saved["slope"], saved["intercept"]
        return model

    def signal(self, samples: ForecastSamples, idx: np.ndarray) -> np.ndarray:
        """(len(idx),) float64 ``sign *`` :func:`trailing_return` of samples ``idx``."""
        out = [np.zeros(0)]
        for start in range(0, len(idx), BATCH):
            weekly = samples.take(idx[start : start + BATCH])["weekly"]
            out.append(self.sign * trailing_return(weekly, self.lookback_weeks, self.skip_weeks))
        return np.concatenate(out)

    def fit(self, split: SampleSplit, work_dir: Path, progress: bool = True, callbacks: Any = ()) -> FitResult:
        """Least squares per horizon, the slope floored at MIN_SLOPE; scored on ``split.val``; saved to momentum.npz."""
        key = f"momentum_{self.lookback_weeks}_{self.skip_weeks}_{self.sign}"
        x = split.prepared(key, lambda: self.signal(split.samples, split.train))  # (n,)
        y = split.train_target().astype(np.float64)  # (n, 12)
        x_centred = x - x.mean()
        variance = float(x_centred @ x_centred)
        slope = x_centred @ (y - y.mean(axis=0)) / variance if variance > 0 else np.zeros(y.shape[1])
        self.slope = np.maximum(slope, MIN_SLOPE)
        self.intercept = y.mean(axis=0) - self.slope * x.mean()
        x_val = split.prepared(f"{key}_val", lambda: self.signal(split.samples, split.val))
        val_pred, val_target = self._forecast(x_val), split.val_target()
        val_metrics = horizon_metrics(val_target, val_pred, split.samples.date_pos[split.val])
        work_dir.mkdir(parents=True, exist_ok=True)
        path = work_dir / "momentum.npz"
        np.savez(path, **self._settings(), slope=self.slope, intercept=self.intercept)
        return FitResult(path, float(np.mean((val_pred - val_target) ** 2)), 0, val_metrics)

    def finetune(self, split: SampleSplit, work_dir: Path, progress: bool = True, callbacks: Any = ()) -> FitResult:
        """Refit the slope and intercept on ``split`` (the lookback, skip and sign are the recipe's)."""
        return self.fit(split, work_dir, progress, callbacks)

    def _forecast(self, signal: np.ndarray) -> np.ndarray:
        if self.slope is None:
            raise RuntimeError("the momentum model is not fitted: call fit first")
        return (self.intercept + signal[:, None] * self.slope).astype(np.float32)  # (N, 12)

    def predict(self, samples: ForecastSamples, idx: np.ndarray) -> np.ndarray:
        return self._forecast(self.signal(samples, idx))

    def export(self, path: Path, samples: ForecastSamples, idx: np.ndarray) -> float:
        """One ONNX graph: slice ``ret_1w`` over the window, sum it, MatMul by ``sign * slope`` (1, 12), Add."""
        from onnx import helper

        from kabucast.forecast.onnx_graph import constant, save_graph, served_parity
        from kabucast.forecast.onnx_model import OUTPUT_NAME

        predicted = self.predict(samples, idx)  # raises when not fitted
        assert self.slope is not None
        stop = SEQ_WEEKS - self.skip_weeks
        inits = [
            constant("starts", np.array([stop - (self.lookback_weeks - self.skip_weeks), RET_1W], dtype=np.int64)),
            constant("ends", np.array([stop, RET_1W + 1], dtype=np.int64)),
            constant("axes", np.array([1, 2], dtype=np.int64)),
            constant("sum_axis", np.array([1], dtype=np.int64)),
            constant("coef", (self.sign * self.slope)[None, :].astype(np.float32)),  # (1, 12)
            constant("intercept", self.intercept.astype(np.float32)),  # (12,)
        ]
        nodes = [
            helper.make_node("Slice", ["weekly", "starts", "ends", "axes"], ["window"]),  # (B, L - S, 1)
            helper.make_node("ReduceSum", ["window", "sum_axis"], ["trailing"], keepdims=0),  # (B, 1)
            helper.make_node("MatMul", ["trailing", "coef"], ["linear"]),  # (B, 12)
            helper.make_node("Add", ["linear", "intercept"], [OUTPUT_NAME]),
        ]
        save_graph(nodes, inits, "kabucast-momentum", path, n_weekly=samples.history.width)
        return served_parity(path, samples, idx, predicted)

    def _settings(self) -> dict[str, int]:
        return {"lookback_weeks": self.lookback_weeks, "skip_weeks": self.skip_weeks, "sign": self.sign}

    def describe(self) -> dict[str, Any]:
        fitted = self.slope is not None
        return {
            "model_kind": "momentum",
            "model_config": {
                **self._settings(),
                "slope": self.slope.tolist() if fitted else None,  # per unit of sign * trailing log return
                "intercept": self.intercept.tolist() if fitted else None,
            },
            "parameters": 0 if self.slope is None else int(self.slope.size + self.intercept.size),
            "train_config": {"seed": self.seed},
        }

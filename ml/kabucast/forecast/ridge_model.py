"""A strong simple baseline behind the model interface: ridge regression on summary statistics of the inputs.

:class:`RidgeForecaster` (``model.kind: ridge``) sees the same samples as the BiLSTM, summarised into
75 numbers per sample (:func:`summary_features`): the last week's 23 weekly features, their means
over the last 13 and 52 weeks, and the 6 static features. They are z-scored with training
statistics and regressed on the 12 log-return labels at once (closed form, numpy). The ridge penalty
is picked from ``alphas`` by the mean validation RankIC over the horizons, the same data the BiLSTM
early-stops on. ``finetune`` refits on the new split with the chosen penalty.

It exports to ONNX like the BiLSTM (same four inputs, ``log_returns`` (B, 12) out), so the gate and
the daily job could serve it; walk-forward evaluation scores it beside the BiLSTM as the baseline a
model must beat (docs/EVALUATION.md). Numpy only at import; ``onnx`` is imported by ``export``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from kabucast.errors import ConfigError
from kabucast.forecast.dataset import ForecastSamples
from kabucast.forecast.interface import FitResult, SampleSplit, finite_mean
from kabucast.forecast.metrics import horizon_metrics
from kabucast.forecast.normalize import STD_EPS

if TYPE_CHECKING:
    import onnx

WINDOWS = (1, 13, 52)
"""Weeks averaged per weekly feature: the last week alone, the last quarter, the last year."""
DEFAULT_ALPHAS = (1.0, 10.0, 100.0, 1000.0, 10000.0)
"""Ridge penalties tried, in units of the training sample count (the penalty is alpha * n / 1000)."""
BATCH = 2048


def summary_features(weekly: np.ndarray, static: np.ndarray) -> np.ndarray:
    """(B, 75) float64: the means of the last 1 / 13 / 52 weeks of ``weekly`` (B, T, 23), then ``static`` (B, 6)."""
    parts = [np.asarray(weekly[:, -w:], dtype=np.float64).mean(axis=1) for w in WINDOWS]
    return np.concatenate([*parts, np.asarray(static, dtype=np.float64)], axis=1)


def summary_matrix(samples: ForecastSamples, idx: np.ndarray) -> np.ndarray:
    """(len(idx), 75) float64 :func:`summary_features` of samples ``idx``, built in batches."""
    out = [np.zeros((0, samples.history.width * len(WINDOWS) + 6))]
    for start in range(0, len(idx), BATCH):
        batch = samples.take(idx[start : start + BATCH])
        out.append(summary_features(batch["weekly"], batch["static"]))
    return np.concatenate(out)


def summary_graph(output: str, double: bool = False) -> tuple[list[onnx.NodeProto], list[onnx.TensorProto]]:
    """ONNX nodes and constants computing :func:`summary_features` of the graph inputs ``weekly`` and ``static``
    into ``output`` (B, 75) float32: Slice and ReduceMean per window, then Concat.

    The means are taken in float32, or with ``double`` in float64 and then rounded to float32: what
    ``summary_features(...).astype(np.float32)`` gives, but for the last bit once in many million values.
    """
    from onnx import TensorProto, helper

    from kabucast.forecast.onnx_graph import constant

    inits = [constant("axis1", np.array([1], dtype=np.int64)), constant("big", np.array([2**62], dtype=np.int64))]
    weekly, static, summary = ("weekly64", "static64", f"{output}64") if double else ("weekly", "static", output)
    nodes = []
    if double:
        nodes.append(helper.make_node("Cast", ["weekly"], [weekly], to=TensorProto.DOUBLE))
        nodes.append(helper.make_node("Cast", ["static"], [static], to=TensorProto.DOUBLE))
    for w in WINDOWS:
        inits.append(constant(f"start{w}", np.array([-w], dtype=np.int64)))
        nodes.append(helper.make_node("Slice", [weekly, f"start{w}", "big", "axis1"], [f"last{w}"]))
        nodes.append(helper.make_node("ReduceMean", [f"last{w}"], [f"mean{w}"], axes=[1], keepdims=0))
    nodes.append(helper.make_node("Concat", [*(f"mean{w}" for w in WINDOWS), static], [summary], axis=1))
    if double:
        nodes.append(helper.make_node("Cast", [summary], [output], to=TensorProto.FLOAT))
    return nodes, inits


class RidgeForecaster:
    """Ridge regression on :func:`summary_features`: a :class:`~kabucast.forecast.interface.TrainableModel`."""

    def __init__(self, alphas: Sequence[float] = DEFAULT_ALPHAS, seed: int = 0) -> None:
        if not alphas or min(alphas) <= 0:
            raise ConfigError(f"ridge alphas must be a non-empty list of positive numbers, got {list(alphas)}")
        self.alphas = tuple(float(a) for a in alphas)
        self.seed = seed
        self.min_train_samples = 2
        self.alpha: float | None = None
        self.mean = self.std = self.coef = self.intercept = np.zeros(0)

    @classmethod
    def from_settings(
        cls, model: Mapping[str, Any], training: Mapping[str, Any], n_sectors: int, where: str = "train settings"
    ) -> RidgeForecaster:
        """``model: {kind: ridge, alphas: [...]}``; of ``training`` only ``seed`` is read (the sample split's)."""
        unknown = sorted(set(model) - {"alphas"})
        if unknown:
            raise ConfigError(f"{where}: model.{unknown[0]} is not a ridge setting (known: alphas)")
        return cls(tuple(model.get("alphas", DEFAULT_ALPHAS)), int(training.get("seed", 0)))

    @classmethod
    def from_checkpoint(cls, checkpoint: Path, training: Mapping[str, Any], where: str = "") -> RidgeForecaster:
        """The coefficients saved by :meth:`fit` (an ``.npz``), to refit with their penalty."""
        saved = np.load(checkpoint)
        model = cls((float(saved["alpha"]),), int(training.get("seed", 0)))
        model.alpha = float(saved["alpha"])
        model.mean, model.std, model.coef, model.intercept = (saved[k] for k in ("mean", "std", "coef", "intercept"))
        return model

    def fit(self, split: SampleSplit, work_dir: Path, progress: bool = True, callbacks: Any = ()) -> FitResult:
        """Standardise, solve for every penalty, keep the best by mean validation RankIC; save to ``ridge.npz``."""
        x, y = split.prepared("ridge", lambda: summary_matrix(split.samples, split.train)), split.train_target()
        x_val = split.prepared("ridge_val", lambda: summary_matrix(split.samples, split.val))
        self.mean, std = x.mean(axis=0), x.std(axis=0)
        self.std = np.where(std < STD_EPS, 1.0, std)
        z = (x - self.mean) / self.std
        y_mean = y.mean(axis=0, dtype=np.float64)
        gram, moment = z.T @ z, z.T @ (y - y_mean)
        val_target, val_dates = split.val_target(), split.samples.date_pos[split.val]
        z_val = (x_val - self.mean) / self.std
        best: tuple[float, float, np.ndarray, np.ndarray, dict[str, list[float]]] | None = None
        for alpha in self.alphas:
            coef = np.linalg.solve(gram + alpha * len(z) / 1000.0 * np.eye(len(gram)), moment)
            pred = z_val @ coef + y_mean
            metrics = horizon_metrics(val_target, pred, val_dates)
            score = finite_mean(metrics["rankic"])
            if best is None or score > best[0]:
                best = (score, alpha, coef, pred, metrics)
        assert best is not None
        _, self.alpha, self.coef, val_pred, val_metrics = best
        self.intercept = y_mean
        work_dir.mkdir(parents=True, exist_ok=True)
        path = work_dir / "ridge.npz"
        np.savez(path, alpha=self.alpha, mean=self.mean, std=self.std, coef=self.coef, intercept=self.intercept)
        val_loss = float(np.mean((val_pred.astype(np.float32) - val_target) ** 2))  # what predict() gives
        return FitResult(path, val_loss, 0, val_metrics)

    def finetune(self, split: SampleSplit, work_dir: Path, progress: bool = True, callbacks: Any = ()) -> FitResult:
        """Refit on ``split`` with the penalty chosen before (or the grid, for a model never fitted)."""
        if self.alpha is not None:
            self.alphas = (self.alpha,)
        return self.fit(split, work_dir, progress, callbacks)

    def predict(self, samples: ForecastSamples, idx: np.ndarray) -> np.ndarray:
        if self.alpha is None:
            raise RuntimeError("the ridge model is not fitted: call fit first")
        x = summary_matrix(samples, idx)
        return (((x - self.mean) / self.std) @ self.coef + self.intercept).astype(np.float32)

    def export(self, path: Path, samples: ForecastSamples, idx: np.ndarray) -> float:
        """One ONNX graph: slices and means of ``weekly``, concat ``static`` (:func:`summary_graph`), z-score,
        MatMul, Add."""
        from onnx import helper

        from kabucast.forecast.onnx_graph import constant, save_graph, served_parity
        from kabucast.forecast.onnx_model import OUTPUT_NAME

        nodes, inits = summary_graph("x")
        inits += [
            constant("mean", self.mean.astype(np.float32)),
            constant("std", self.std.astype(np.float32)),
            constant("coef", self.coef.astype(np.float32)),
            constant("intercept", self.intercept.astype(np.float32)),
        ]
        nodes += [
            helper.make_node("Sub", ["x", "mean"], ["centred"]),
            helper.make_node("Div", ["centred", "std"], ["z"]),
            helper.make_node("MatMul", ["z", "coef"], ["linear"]),
            helper.make_node("Add", ["linear", "intercept"], [OUTPUT_NAME]),
        ]
        save_graph(nodes, inits, "kabucast-ridge", path, n_weekly=samples.history.width)
        return served_parity(path, samples, idx, self.predict(samples, idx))

    def describe(self) -> dict[str, Any]:
        return {
            "model_kind": "ridge",
            "model_config": {"alphas": list(self.alphas), "alpha": self.alpha, "windows_weeks": list(WINDOWS)},
            "parameters": int(self.coef.size + self.intercept.size),
            "normalizer": {"mean": self.mean.tolist(), "std": self.std.tolist()},
            "train_config": {"seed": self.seed},
        }

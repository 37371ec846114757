"""Gradient-boosted trees behind the model interface: one LightGBM regressor per month on the ridge's summary.

:class:`LightGBMForecaster` (``model.kind: lightgbm``) sees the ridge's 75 numbers per sample
(:func:`kabucast.forecast.ridge_model.summary_features`: the last week's 23 weekly features, their 13-
and 52-week means, the 6 static features), rounded to float32 as the served graph computes them, and
fits one LightGBM regressor (squared error) per horizon on the 12 log-return labels. Each boosts for at
most ``n_estimators`` rounds and stops early on ``split.val`` (``early_stopping_rounds`` rounds
without a better validation MSE), keeping its best round. Training is deterministic for a seed
(``deterministic``, ``force_col_wise``, the training section's ``seed``) and a number of threads.
``finetune`` refits from scratch on the new split with the same settings and each horizon's number of
rounds chosen by the fit (no tree of the old model is kept; see :meth:`LightGBMForecaster.finetune`).

It exports to one ONNX file like the ridge (same four inputs, the same summary nodes, ``log_returns``
(B, 12) out): the 12 ensembles are converted by onnxmltools (``ai.onnx.ml`` TreeEnsembleRegressor),
renamed per horizon and concatenated, so ONNX Runtime alone serves it (the daily Lambda needs neither
lightgbm nor onnxmltools). Numpy only at import; ``lightgbm`` is imported by ``fit``, ``from_checkpoint``
and ``export``, ``onnx`` and ``onnxmltools`` by ``export``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from kabucast.compute import default_threads
from kabucast.errors import ConfigError
from kabucast.features.registry import STATIC_FEATURES
from kabucast.forecast.dataset import HORIZONS, ForecastSamples
from kabucast.forecast.interface import FitResult, SampleSplit
from kabucast.forecast.metrics import horizon_metrics
from kabucast.forecast.ridge_model import WINDOWS, summary_graph, summary_matrix

SETTINGS: dict[str, Any] = {
    "num_leaves": 31,
    "learning_rate": 0.05,
    "n_estimators": 500,  # the most boosting rounds per horizon
    "min_child_samples": 200,  # LightGBM's min_data_in_leaf
    "subsample": 0.8,  # bagging_fraction, resampled every round
    "colsample_bytree": 0.8,  # feature_fraction
    "reg_lambda": 0.0,  # lambda_l2
    "early_stopping_rounds": 50,
    "n_jobs": None,  # LightGBM's threads; None: kabucast.compute.default_threads (half the cores)
}
"""The settings and their defaults (the names of the ranker's LightGBM baseline, kabucast.ranker.baseline)."""
WHOLE = {"num_leaves": 2, "n_estimators": 1, "min_child_samples": 1, "early_stopping_rounds": 1, "n_jobs": 1}
"""Settings that are whole numbers, and their smallest value."""
FRACTIONS = ("learning_rate", "subsample", "colsample_bytree")
"""Settings in (0, 1]."""
FLOAT32_MAX = float(np.finfo(np.float32).max)


class LightGBMForecaster:
    """One LightGBM regressor per horizon on the summary features: a
    :class:`~kabucast.forecast.interface.TrainableModel`."""

    def __init__(self, settings: Mapping[str, Any] | None = None, seed: int = 0) -> None:
        self.settings = {**SETTINGS, **(settings or {})}
        check_settings(self.settings)
        self.seed = seed
        self.min_train_samples = 2
        self.boosters: list[Any] = []  # lightgbm.Booster per horizon, cut at its best round

    @classmethod
    def from_settings(
        cls, model: Mapping[str, Any], training: Mapping[str, Any], n_sectors: int, where: str = "train settings"
    ) -> LightGBMForecaster:
        """``model: {kind: lightgbm, num_leaves, learning_rate, ...}`` (:data:`SETTINGS`); of ``training`` only
        ``seed``."""
        unknown = sorted(set(model) - set(SETTINGS))
        if unknown:
            raise ConfigError(f"{where}: model.{unknown[0]} is not a lightgbm setting (known: {', '.join(SETTINGS)})")
        try:
            return cls(model, int(training.get("seed", 0)))
        except ConfigError as error:
            raise ConfigError(f"{where}: {error}") from None

    @classmethod
    def from_checkpoint(cls, checkpoint: Path, training: Mapping[str, Any], where: str = "") -> LightGBMForecaster:
        """The settings and the 12 boosters saved by :meth:`fit` (one JSON file of LightGBM model texts)."""
        import lightgbm

        saved = json.loads(Path(checkpoint).read_text())
        model = cls(saved["settings"], int(training.get("seed", 0)))
        model.boosters = [lightgbm.Booster(model_str=text) for text in saved["models"]]
        return model

    def _threads(self) -> int:
        return int(self.settings["n_jobs"] or default_threads())

    def _params(self) -> dict[str, Any]:
        s = self.settings
        return {
            "objective": "regression",
            "metric": "l2",
            "num_leaves": s["num_leaves"],
            "learning_rate": s["learning_rate"],
            "min_data_in_leaf": s["min_child_samples"],
            "bagging_fraction": s["subsample"],
            "bagging_freq": 1 if s["subsample"] < 1 else 0,
            "feature_fraction": s["colsample_bytree"],
            "lambda_l2": s["reg_lambda"],
            "num_threads": self._threads(),
            "seed": self.seed,
            "deterministic": True,
            "force_col_wise": True,
            "verbose": -1,
        }

    def fit(self, split: SampleSplit, work_dir: Path, progress: bool = True, callbacks: Any = ()) -> FitResult:
        """Boost each horizon with early stopping on ``split.val``; save the best rounds to ``lightgbm.json``."""
        return self._boost(split, work_dir, None)

    def finetune(self, split: SampleSplit, work_dir: Path, progress: bool = True, callbacks: Any = ()) -> FitResult:
        """Refit from scratch on ``split`` with the same settings and each horizon's rounds chosen before (early
        stopping for a model never fitted); ``split.val`` is scored, not stopped on.

        The monthly fine-tune validates on a random share of its samples, near copies of training ones (their
        label windows overlap): stopping on it ran every horizon to ``n_estimators`` on the sample market.
        The rounds come from the fit's validation block instead, later than its training and purged (as the
        ridge keeps its penalty)."""
        return self._boost(split, work_dir, self.rounds() or None)

    def _boost(self, split: SampleSplit, work_dir: Path, rounds: list[int] | None) -> FitResult:
        """One booster per horizon: ``rounds[h]`` rounds, or early-stopped on ``split.val`` when ``rounds`` is None."""
        import lightgbm

        x = split.prepared("lightgbm", lambda: features(split.samples, split.train))
        x_val = split.prepared("lightgbm_val", lambda: features(split.samples, split.val))
        val_target = split.val_target()
        y, y_val = np.ascontiguousarray(split.train_target().T), np.ascontiguousarray(val_target.T)  # (12, n)
        params, most = self._params(), int(self.settings["n_estimators"])
        self.boosters = []
        for h in range(HORIZONS):
            train = lightgbm.Dataset(x, y[h], free_raw_data=False)
            if rounds is None:
                valid = lightgbm.Dataset(x_val, y_val[h], reference=train)
                stop = lightgbm.early_stopping(int(self.settings["early_stopping_rounds"]), verbose=False)
                booster = lightgbm.train(params, train, most, valid_sets=[valid], callbacks=[stop])
            else:  # the rounds chosen before
                booster = lightgbm.train(params, train, rounds[h])
            best = booster.best_iteration if booster.best_iteration > 0 else booster.current_iteration()
            self.boosters.append(lightgbm.Booster(model_str=booster.model_to_string(num_iteration=best)))
        work_dir.mkdir(parents=True, exist_ok=True)
        path = work_dir / "lightgbm.json"
        path.write_text(json.dumps({"settings": self.settings, "models": [b.model_to_string() for b in self.boosters]}))
        val_pred = self._forecast(x_val)
        val_metrics = horizon_metrics(val_target, val_pred, split.samples.date_pos[split.val])
        val_loss = float(np.mean((val_pred - val_target) ** 2))
        return FitResult(path, val_loss, max(self.rounds()), val_metrics)

    def rounds(self) -> list[int]:
        """Boosting rounds kept per horizon (the best validation round)."""
        return [b.current_iteration() for b in self.boosters]

    def _forecast(self, x: np.ndarray) -> np.ndarray:
        if not self.boosters:
            raise RuntimeError("the lightgbm model is not fitted: call fit first")
        if not len(x):
            return np.zeros((0, HORIZONS), dtype=np.float32)
        return np.stack([b.predict(x, num_threads=self._threads()) for b in self.boosters], axis=1).astype(np.float32)

    def predict(self, samples: ForecastSamples, idx: np.ndarray) -> np.ndarray:
        return self._forecast(features(samples, idx))

    def export(self, path: Path, samples: ForecastSamples, idx: np.ndarray) -> float:
        """One ONNX graph: the ridge's summary nodes (means in float64, rounded to float32 as :func:`features`),
        12 TreeEnsembleRegressors (onnxmltools, on :func:`float32_splits` of each booster), Concat."""
        import lightgbm
        import onnx.compose
        from onnx import helper
        from onnxmltools import convert_lightgbm
        from onnxmltools.convert.common.data_types import FloatTensorType

        from kabucast.forecast.onnx_graph import save_graph, served_parity
        from kabucast.forecast.onnx_model import OUTPUT_NAME

        predicted = self.predict(samples, idx)  # raises when not fitted
        nodes, inits = summary_graph("x", double=True)
        n_features = samples.history.width * len(WINDOWS) + len(STATIC_FEATURES)  # the summary's columns
        outputs, ml_opset = [], 1
        for h, booster in enumerate(self.boosters):
            exact = lightgbm.Booster(model_str=float32_splits(booster.model_to_string()))
            converted = convert_lightgbm(exact, initial_types=[("x", FloatTensorType([None, n_features]))])
            graph = onnx.compose.add_prefix_graph(converted.graph, f"h{h + 1}_", rename_inputs=False)
            nodes += graph.node
            inits += graph.initializer
            outputs.append(graph.output[0].name)  # (B, 1)
            ml_opset = max([ml_opset] + [o.version for o in converted.opset_import if o.domain == "ai.onnx.ml"])
        nodes.append(helper.make_node("Concat", outputs, [OUTPUT_NAME], axis=1))
        save_graph(nodes, inits, "kabucast-lightgbm", path, {"ai.onnx.ml": ml_opset}, samples.history.width)
        return served_parity(path, samples, idx, predicted)

    def describe(self) -> dict[str, Any]:
        return {
            "model_kind": "lightgbm",
            "model_config": {**self.settings, "rounds": self.rounds(), "windows_weeks": list(WINDOWS)},
            "parameters": int(sum(t["num_leaves"] for b in self.boosters for t in b.dump_model()["tree_info"])),
            "train_config": {"seed": self.seed},
        }


def features(samples: ForecastSamples, idx: np.ndarray) -> np.ndarray:
    """(len(idx), 75) float32 summary features: the ridge's, rounded as the served graph computes them."""
    return summary_matrix(samples, idx).astype(np.float32)


def float32_splits(model: str) -> str:
    """A LightGBM model text with each split threshold t replaced by the largest float32 <= t.

    For a float32 input x, ``x <= t`` and ``x <= float32_down(t)`` agree, so the model forecasts the same; and a
    float32 tree ensemble holds the new thresholds exactly. Converted as they are, a threshold halfway between
    two float32 values would round up to the upper one, and an input equal to it would take the other branch.
    """

    def down(text: str) -> str:
        value = float(text)
        if abs(value) > FLOAT32_MAX:  # LightGBM's +-1e300 for "no bound": the converter's +-inf decides the same
            return text
        rounded = np.float32(value)
        if float(rounded) > value:  # compared as float64 (numpy would compare a python float as float32)
            rounded = np.nextafter(rounded, np.float32(-np.inf))
        return repr(float(rounded))

    lines = [line for line in model.split("\n") if not line.startswith("tree_sizes=")]  # byte counts: now wrong
    return "\n".join(
        "threshold=" + " ".join(down(v) for v in line.removeprefix("threshold=").split())
        if line.startswith("threshold=")
        else line
        for line in lines
    )


def check_settings(settings: Mapping[str, Any]) -> None:
    """A :class:`ConfigError` naming the first setting of the wrong type or out of range."""
    for key, least in WHOLE.items():
        value = settings[key]
        if key == "n_jobs" and value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise ConfigError(f"model.{key} must be a whole number >= {least}, got {value!r}")
    for key in (*FRACTIONS, "reg_lambda"):
        value = settings[key]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"model.{key} must be a number, got {value!r}")
    bad = [k for k in FRACTIONS if not 0 < settings[k] <= 1]
    if bad:
        raise ConfigError(f"model.{bad[0]} must be in (0, 1], got {settings[bad[0]]!r}")
    if settings["reg_lambda"] < 0:
        raise ConfigError(f"model.reg_lambda must be >= 0, got {settings['reg_lambda']!r}")

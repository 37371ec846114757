"""Intervals for any point forecaster, scaled by each stock's own risk and the market's: ridge, LightGBM
and momentum get bands.

A kind without a quantile head (``model.kind`` ridge, lightgbm, momentum) forecasts log returns only.
Naming ``quantiles: [0.1, 0.5, 0.9]`` in its ``model:`` section wraps it in :class:`VolScaledIntervals`
(kabucast.forecast.kinds). A stock's outcome differs from its forecast by a move of its own and by the
market's move, which every stock of the date shares; the band of month h at level tau adds the two as
independent parts (their distances from the median, in quadrature):

    q[h, tau] = forecast[h] + k[h, 0.5] sigma + m[h, 0.5]
                + sign(tau - 0.5) sqrt((d[h, tau] sigma)^2 + e[h, tau]^2),   sigma = max(rvol_13w, FLOOR)

- ``sigma``: the stock's annualised 13-week volatility of the as-of week (docs/FEATURES.md), so a quiet
  utility and a volatile chip maker do not share one band.
- ``k``, the stock's own part: the tau-quantiles per horizon of ``(residual - its date's mean residual) /
  sigma`` on the calibration block (``split.val``: the purged, later block; split-conformal on a scaled
  score, Lei et al. 2018), ``d = k - k[0.5]``.
- ``m``, the market's part, in log returns (the same for every stock of the date): the tau-quantiles per
  horizon of each date's mean residual over every date the fit saw and the block (``split.train`` and
  ``split.val``), ``e = m - m[0.5]`` shrunk by the share of those means' spread that their stocks' own
  moves make (:func:`date_means`). A block of a few months holds one or two market moves at long
  horizons (fitting the bands on it alone gave 49 % coverage of the 80 % band at month 12 over the real
  Tokyo folds, docs/FORECASTER.md); the whole training history holds its crashes and rallies.

The constants are exported into the kind's own ONNX graph (a second output ``quantiles`` (B, 12, Q) and
the levels in its metadata), so :class:`~kabucast.forecast.onnx_model.OnnxModel`, the gate and the daily
document serve them unchanged. A model.json written before the market part (``scale`` alone) loads as
``k = scale`` with no market part. Numpy only at import; ``onnx`` is imported by ``export``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kabucast.errors import ConfigError
from kabucast.evaluation.calibration import coverage
from kabucast.features.registry import WEEKLY_FEATURES
from kabucast.forecast.dataset import ForecastSamples
from kabucast.forecast.interface import FitResult, SampleSplit, TrainableModel, trains_on_whole_dates

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


@dataclass(frozen=True)
class Bands:
    """The fitted constants of the bands (module docstring), per horizon (12,) and level (12, Q)."""

    center_scale: np.ndarray  # k[h, 0.5]
    center_shift: np.ndarray  # m[h, 0.5]
    own: np.ndarray  # d[h, tau] = k[h, tau] - k[h, 0.5]
    market: np.ndarray  # e[h, tau] = m[h, tau] - m[h, 0.5]

    @classmethod
    def none(cls, n_levels: int) -> Bands:
        return cls(np.zeros(12), np.zeros(12), np.zeros((12, n_levels)), np.zeros((12, n_levels)))

    @classmethod
    def from_record(cls, record: dict[str, Any], levels: Sequence[float]) -> Bands:
        """The bands of a model.json ``quantile_calibration``; one with ``scale`` alone (no market part) too."""
        c = list(levels).index(0.5)
        if "market" not in record:
            scale = np.asarray(record["scale"], dtype=np.float64)
            return cls(scale[:, c], np.zeros(12), scale - scale[:, [c]], np.zeros_like(scale))
        return cls(
            np.asarray(record["center_scale"], dtype=np.float64),
            np.asarray(record["center_shift"], dtype=np.float64),
            np.asarray(record["own"], dtype=np.float64),
            np.asarray(record["market"], dtype=np.float64),
        )

    def quantiles(self, mean: np.ndarray, sigma: np.ndarray) -> np.ndarray:
        """(N, 12, Q) float64 quantiles of (N, 12) log returns ``mean`` for stocks of risk ``sigma`` (N,)."""
        center = mean + self.center_scale[None] * sigma[:, None] + self.center_shift[None]
        root = np.sqrt(self.own[None] ** 2 * sigma[:, None, None] ** 2 + self.market[None] ** 2)
        return center[:, :, None] + self.sign[None, None] * root

    @property
    def sign(self) -> np.ndarray:
        """(Q,) -1 below the median level, 0 at it, +1 above (the levels are symmetric around 0.5)."""
        q = self.own.shape[1]
        return np.sign(np.arange(q) - q // 2).astype(np.float64)

    def graph_constants(self) -> list[tuple[str, np.ndarray]]:
        """The ONNX initialisers :meth:`quantiles` reads, shaped to broadcast over (B, 12, Q)."""
        return [
            ("vi_center_scale", self.center_scale[:, None]),
            ("vi_center_shift", self.center_shift[:, None]),
            ("vi_own2", self.own**2),
            ("vi_market2", self.market**2),
            ("vi_sign", self.sign[None]),
        ]

    def record(self) -> dict[str, Any]:
        return {
            "center_scale": np.round(self.center_scale, 6).tolist(),
            "center_shift": np.round(self.center_shift, 6).tolist(),
            "own": np.round(self.own, 6).tolist(),
            "market": np.round(self.market, 6).tolist(),
        }


def fit_bands(
    residual: np.ndarray,
    sigma: np.ndarray,
    dates: np.ndarray,
    history_residual: np.ndarray,
    history_dates: np.ndarray,
    levels: Sequence[float],
) -> Bands:
    """:class:`Bands` from the calibration block's ``residual`` (N, 12) = outcome - forecast, its stocks' risk
    ``sigma`` (N,) and ``dates`` (N,), and the residuals of every date the fit saw (``history_*``, the block's
    included): each part's quantiles per horizon, made ascending in the level."""
    c = list(levels).index(0.5)
    # a stock's own move, in units of its risk: its residual less its date's mean, which holds 1/n of every
    # stock's own move: var = s^2 (sigma_i^2 (1 - 2/n) + sum_j sigma_j^2 / n^2) when own moves are s sigma_i eps_i
    _, codes, counts = np.unique(np.asarray(dates), return_inverse=True, return_counts=True)
    n, pooled = counts[codes].astype(np.float64), np.bincount(codes, sigma**2)[codes]
    scale = np.sqrt(np.maximum(sigma**2 * (1 - 2 / n) + pooled / n**2, 0.0))
    own_z = (residual - date_means(residual, dates)[1]) / np.where(n > 1, scale, np.nan)[:, None]
    market, _, noise = date_means(history_residual, history_dates)  # (D, 12), (12,)
    k, m = _quantiles(own_z, levels), _quantiles(market, levels)
    # a date's mean residual also holds its stocks' own moves, averaged: take their share out of its spread
    spread = np.nanvar(market, axis=0) if len(market) > 1 else np.zeros(12)
    shrink = np.sqrt(np.clip(1.0 - noise / np.maximum(spread, 1e-12), 0.0, 1.0))
    return Bands(k[:, c], m[:, c], k - k[:, [c]], (m - m[:, [c]]) * shrink[:, None])


def _quantiles(values: np.ndarray, levels: Sequence[float]) -> np.ndarray:
    """(12, Q) the level-quantiles per column of ``values`` (rows, 12) over its finite entries, ascending."""
    out = np.zeros((values.shape[1], len(levels)))
    for h in range(values.shape[1]):
        known = values[np.isfinite(values[:, h]), h]
        if len(known):
            out[h] = np.quantile(known, levels, method="linear")
    return np.maximum.accumulate(out, axis=1)


def date_means(values: np.ndarray, dates: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(D, H) each date's mean of ``values`` (N, H) over its known entries (NaN where none), (N, H) the mean of
    each row's date, and (H,) the variance those means owe to the rows' scatter around them (the mean over
    dates of the within-date variance / the date's count): what a date's mean holds of noise."""
    _, codes = np.unique(np.asarray(dates), return_inverse=True)
    known = np.isfinite(values)
    n_dates = codes.max() + 1 if len(codes) else 0
    means = np.full((n_dates, values.shape[1]), np.nan)
    noise = np.zeros(values.shape[1])
    for h in range(values.shape[1]):
        count = np.bincount(codes, known[:, h], n_dates)
        v = np.where(known[:, h], values[:, h], 0.0)
        total, squares = np.bincount(codes, v, n_dates), np.bincount(codes, v * v, n_dates)
        has = count > 0
        means[:, h] = np.where(has, total / np.maximum(count, 1), np.nan)
        within = np.where(count > 1, (squares - count * np.nan_to_num(means[:, h]) ** 2) / np.maximum(count - 1, 1), 0)
        noise[h] = float(np.mean(within[has] / count[has])) if has.any() else 0.0
    return means, means[codes], noise


class VolScaledIntervals:
    """A :class:`~kabucast.forecast.interface.TrainableModel` with calibrated quantiles, scaled by each stock's
    risk and the market's, around another one's point forecast (which it fits, fine-tunes and exports)."""

    def __init__(self, inner: TrainableModel, levels: Sequence[float], calibration: dict[str, Any] | None = None):
        self.inner = inner
        self.levels = check_levels(levels, "model settings")
        self.calibration = calibration
        self.bands = Bands.none(len(self.levels)) if calibration is None else Bands.from_record(calibration, levels)

    @property
    def seed(self) -> int:
        return self.inner.seed

    @property
    def min_train_samples(self) -> int:
        return self.inner.min_train_samples

    @property
    def whole_dates(self) -> bool:
        """The inner model's (forecast.interface.trains_on_whole_dates): the bands do not change what it learns from."""
        return trains_on_whole_dates(self.inner)

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
        """(N, 12) log returns and (N, 12, Q) their quantiles (ascending in the level)."""
        if self.calibration is None:
            raise RuntimeError("the intervals are not calibrated: call calibrate_quantiles first")
        mean = self.inner.predict(samples, idx)
        quantiles = self.bands.quantiles(mean.astype(np.float64), self._risk(samples, idx))
        return mean, quantiles.astype(np.float32)

    def predict_quantiles(self, samples: ForecastSamples, idx: np.ndarray) -> np.ndarray:
        return self.predict_with_quantiles(samples, idx)[1]

    def calibrate_quantiles(self, split: SampleSplit) -> dict[str, Any]:
        """Fit the bands (:func:`fit_bands`): the stock's own part on ``split.val``, the market's on every date
        of ``split.train`` and ``split.val``; return what model.json records."""
        samples, idx = split.samples, split.val
        target = split.val_target().astype(np.float64)
        mean = self.inner.predict(samples, idx).astype(np.float64)
        sigma = self._risk(samples, idx)
        seen = np.concatenate([split.train, idx])
        seen_residual = np.concatenate([split.train_target().astype(np.float64), target]) - np.concatenate(
            [self.inner.predict(samples, split.train).astype(np.float64), mean]
        )
        seen_dates = samples.date_pos[seen]
        self.bands = fit_bands(target - mean, sigma, samples.date_pos[idx], seen_residual, seen_dates, self.levels)
        low, high = self.bands.quantiles(mean, sigma)[..., [0, -1]].transpose(2, 0, 1)
        dates = samples.dates[idx]
        self.calibration = {
            "method": f"risk-scaled conformal: forecast + the stock's own part x max({RISK_FEATURE}, {FLOOR}) "
            "and the market's, in quadrature (kabucast.forecast.vol_intervals)",
            "levels": list(self.levels),
            **self.bands.record(),
            "n_samples": len(idx),
            "n_market_dates": len(np.unique(seen_dates)),
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
        inner = json.loads({p.key: p.value for p in model.metadata_props}.get(CONFIG_METADATA_KEY, "{}"))
        if inner.get("cross_sectional"):  # its graph sees one date's stocks: check the served bands on one date
            idx = np.asarray(idx)
            idx = idx[samples.date_pos[idx] == samples.date_pos[idx].min()] if len(idx) else idx
        graph.initializer.extend(
            [
                constant("vi_last", np.array([-1], dtype=np.int64)),
                constant("vi_big", np.array([2**62], dtype=np.int64)),
                constant("vi_axis1", np.array([1], dtype=np.int64)),
                constant("vi_column", np.array(RISK, dtype=np.int64)),
                constant("vi_floor", np.array(FLOOR, dtype=np.float32)),
                constant("vi_shape_b11", np.array([-1, 1, 1], dtype=np.int64)),
                constant("vi_shape_b121", np.array([-1, 12, 1], dtype=np.int64)),
                *(constant(name, value.astype(np.float32)[None]) for name, value in self.bands.graph_constants()),
            ]
        )
        graph.node.extend(
            [
                helper.make_node("Slice", ["weekly", "vi_last", "vi_big", "vi_axis1"], ["vi_week"]),
                helper.make_node("Gather", ["vi_week", "vi_column"], ["vi_rvol"], axis=2),
                helper.make_node("Max", ["vi_rvol", "vi_floor"], ["vi_sigma"]),
                helper.make_node("Reshape", ["vi_sigma", "vi_shape_b11"], ["vi_sigma3"]),
                helper.make_node("Reshape", [OUTPUT_NAME, "vi_shape_b121"], ["vi_mean3"]),
                # center = mean + k[0.5] sigma + m[0.5]
                helper.make_node("Mul", ["vi_sigma3", "vi_center_scale"], ["vi_own_center"]),
                helper.make_node("Add", ["vi_mean3", "vi_own_center"], ["vi_center0"]),
                helper.make_node("Add", ["vi_center0", "vi_center_shift"], ["vi_center"]),
                # spread = sign(tau - 0.5) sqrt(d^2 sigma^2 + e^2)
                helper.make_node("Mul", ["vi_sigma3", "vi_sigma3"], ["vi_var"]),
                helper.make_node("Mul", ["vi_var", "vi_own2"], ["vi_own_var"]),
                helper.make_node("Add", ["vi_own_var", "vi_market2"], ["vi_total_var"]),
                helper.make_node("Sqrt", ["vi_total_var"], ["vi_root"]),
                helper.make_node("Mul", ["vi_root", "vi_sign"], ["vi_spread"]),
                helper.make_node("Add", ["vi_center", "vi_spread"], [QUANTILES_NAME]),
            ]
        )
        graph.output.append(
            helper.make_tensor_value_info(QUANTILES_NAME, TensorProto.FLOAT, ["B", 12, len(self.levels)])
        )
        config = {**inner, "kind": self.describe()["model_kind"], "quantiles": list(self.levels)}
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

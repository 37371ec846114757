"""``kabucast sweep evaluate DIR``: the gate against collapsed or useless configs, and a composite score.

Reads every ``DIR/configs/*/metrics.json`` (grid) and ``DIR/trials/*/metrics.json`` (Optuna) in the
store. A config survives only if all hold (thresholds in the settings file's ``evaluate.gate``):
validation ``pred_std`` > 0.010 (mean over horizons of the cross-sectional forecast std, log-return
units), validation Sharpe > -0.01 (the monthly top-minus-bottom quintile spread, kabucast.sweeps.scoring)
and validation RankIC > 0.02 (mean over the 12 horizons). Survivors are scored
0.3 pred_std_norm + 0.4 sharpe_norm + 0.3 rankic_norm, each min-max normalised over the survivors
(1 when all survivors tie).

Error bars: trials record their validation RankIC's 95 % interval (``val_rankic_ci_low`` /
``val_rankic_ci_high``, kabucast.sweeps.scoring). The summary gives the best config's, says whether
it is distinguishable from 0 (the zero-return baseline), and counts the other survivors whose RankIC
lies inside it: those are not distinguishable from the best, and the ranking among them is noise.
Old results without the interval say so. ``all_results.csv`` has ``val_rankic_excludes_zero``.
Writes ``DIR/all_results.csv`` (every config, gate verdict and reasons),
``DIR/top_configs.csv`` (the best ``top_k`` survivors) and ``DIR/top_config_ids.txt``.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from kabucast.errors import KabucastError
from kabucast.storage.base import Store

GATED = ("val_pred_std", "val_sharpe", "val_rankic")


@dataclass(frozen=True)
class GateThresholds:
    """A config must beat every one of these on validation (strictly)."""

    min_pred_std: float = 0.010
    min_sharpe: float = -0.01
    min_rankic: float = 0.02


@dataclass(frozen=True)
class ScoreWeights:
    """Weights of the min-max normalised scores in the composite."""

    pred_std: float = 0.3
    sharpe: float = 0.4
    rankic: float = 0.3


@dataclass(frozen=True)
class EvaluateSettings:
    gate: GateThresholds = field(default_factory=GateThresholds)
    weights: ScoreWeights = field(default_factory=ScoreWeights)
    top_k: int = 5


@dataclass(frozen=True)
class Evaluation:
    frame: pd.DataFrame  # every config, with passed / reasons / score
    top: pd.DataFrame
    keys: list[str]

    def summary(self) -> str:
        n, passed = len(self.frame), int(self.frame["passed"].sum())
        if not passed:
            worst = self.frame["reasons"].value_counts().index[0] if n else "no config found"
            return f"NO config passed the gate ({n} evaluated; most common reason: {worst}); nothing to promote"
        best = self.top.iloc[0]
        return (
            f"{passed}/{n} configs passed the gate; best {best['config_id']} "
            f"(score {best['score']:.3f}, val RankIC {best['val_rankic']:+.4f}{self._interval(best)}, "
            f"val Sharpe {best['val_sharpe']:+.2f})"
        )

    def _interval(self, best: pd.Series) -> str:
        """`` [low, high]`` with what it says about zero and about the other survivors ('' without one)."""
        low, high = best.get("val_rankic_ci_low", math.nan), best.get("val_rankic_ci_high", math.nan)
        if not (math.isfinite(low) and math.isfinite(high)):
            return " (no interval recorded)"
        noise = "" if low > 0 or high < 0 else "; not distinguishable from 0"
        others = self.frame[self.frame["passed"] & (self.frame["config_id"] != best["config_id"])]
        inside = int(others["val_rankic"].between(low, high).sum())
        return (
            f" [{low:+.4f}, {high:+.4f}] (95 %{noise}; {inside} of the other {len(others)} survivors "
            "inside it, not distinguishable from the best)"
        )


def load_results(store: Store, prefix: str) -> pd.DataFrame:
    """One row per config or trial under ``prefix``: its parameters (``param_*``) and scalar metrics."""
    rows = []
    for key in sorted(store.list(prefix.rstrip("/") + "/")):
        if not key.endswith("/metrics.json") or not ("/configs/" in key or "/trials/" in key):
            continue
        doc = store.get_json(key)
        cid = doc.get("config_id") or f"trial{doc.get('number', key.split('/')[-2])}"
        metrics = {k: (math.nan if v is None else v) for k, v in doc["metrics"].items()}
        params = {f"param_{k}": v for k, v in doc["params"].items()}
        rows.append({"config_id": cid, **params, **metrics, "collapsed": doc.get("collapsed"), "key": key})
    return pd.DataFrame(rows)


def gate_reasons(row: pd.Series, gate: GateThresholds) -> str:
    """Why ``row`` fails the gate ('' when it passes); NaN fails."""
    checks = (("val_pred_std", gate.min_pred_std), ("val_sharpe", gate.min_sharpe), ("val_rankic", gate.min_rankic))
    reasons = [f"{name} {row[name]:.4g} <= {floor:g}" for name, floor in checks if not row[name] > floor]
    if isinstance(row.get("collapsed"), str):
        reasons.insert(0, "collapsed during training")
    return "; ".join(reasons)


def composite_score(survivors: pd.DataFrame, weights: ScoreWeights) -> pd.Series:
    """0.3 / 0.4 / 0.3 of min-max normalised pred_std, Sharpe and RankIC over ``survivors``."""
    total = pd.Series(0.0, index=survivors.index)
    for column, weight in zip(GATED, (weights.pred_std, weights.sharpe, weights.rankic), strict=True):
        values = survivors[column]
        span = values.max() - values.min()
        total += weight * ((values - values.min()) / span if span > 0 else 1.0)
    return total


def evaluate_sweep(store: Store, prefix: str, settings: EvaluateSettings) -> Evaluation:
    """Gate and score every config under ``prefix``; write the three result files beside them."""
    frame = load_results(store, prefix)
    if frame.empty:
        raise KabucastError(f"no configs/*/metrics.json or trials/*/metrics.json under {store.url}/{prefix}")
    frame["reasons"] = frame.apply(gate_reasons, axis=1, gate=settings.gate)
    frame["passed"] = frame["reasons"] == ""
    if "val_rankic_ci_low" in frame:
        frame["val_rankic_excludes_zero"] = (frame["val_rankic_ci_low"] > 0) | (frame["val_rankic_ci_high"] < 0)
    frame["score"] = composite_score(frame[frame["passed"]], settings.weights)
    frame = frame.sort_values(["passed", "score"], ascending=False, na_position="last")
    top = frame[frame["passed"]].head(settings.top_k)
    base = prefix.rstrip("/")
    keys = [f"{base}/all_results.csv", f"{base}/top_configs.csv", f"{base}/top_config_ids.txt"]
    store.put_bytes(keys[0], _csv(frame), content_type="text/csv")
    store.put_bytes(keys[1], _csv(top), content_type="text/csv")
    store.put_bytes(keys[2], "".join(f"{c}\n" for c in top["config_id"]).encode(), content_type="text/plain")
    return Evaluation(frame, top, keys)


def best_params(store: Store, prefix: str) -> dict[str, Any]:
    """The parameters of the top config of an evaluated sweep (its ``top_config_ids.txt`` first line)."""
    ids = store.get_bytes(f"{prefix.rstrip('/')}/top_config_ids.txt").decode().split()
    if not ids:
        raise KabucastError(f"{prefix}: no config passed the gate; nothing to train")
    frame = load_results(store, prefix)
    row = frame[frame["config_id"] == ids[0]].iloc[0]
    return store.get_json(row["key"])["params"]


def _csv(frame: pd.DataFrame) -> bytes:
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    return buffer.getvalue().encode("utf-8")

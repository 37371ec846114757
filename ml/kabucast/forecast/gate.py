"""The promotion gate: a challenger replaces the champion only when it earns it.

Both models are scored with ONNX Runtime on the **scoring window**: the most recent days whose
1-month outcome is known and that come after the last day either model trained or early-stopped on
(so no day in the window was a training or validation sample of either), at most
``window_sessions`` of them. Horizon m counts
when at least ``min_dates`` window days have their m-month outcome (with the default window, months
1 to 10 do). The challenger is promoted only if all of these hold:

1. **not collapsed**: at every one of the 12 horizons, the mean cross-sectional std of its
   predictions over the window is at least ``min_pred_xs_std``;
2. **beats the trivial baseline**: its mean RankIC over the counted horizons exceeds the zero-return
   forecast's (which has no ranking: RankIC 0) by more than ``min_rankic``;
3. **not worse than the champion**: that mean RankIC is at least the champion's minus ``tolerance``;
4. **not significantly worse than the champion**, day by day: the paired difference (challenger
   minus champion, per date and counted horizon, averaged over the days then over the horizons, the
   weighting of rule 3's means; :func:`paired_rankic`) is not below 0
   at the one-sided 5 % level, with a Newey-West error of lag 42 (the 1-month label's, see
   kabucast.evaluation.uncertainty; longer horizons overlap more, so this test leans towards keeping
   the champion). Rule 3 bounds the point estimate; rule 4 weighs the evidence: a challenger behind by
   less than ``tolerance`` is still rejected when it is behind on most days.
5. **beats the free baseline**: its paired difference with the 12-month momentum forecast (a
   ranking anyone gets for free from prices; same horizons, same days, same weighting as rule 4)
   exceeds ``momentum_margin`` (0 by default; ``None`` leaves the rule out). The point
   estimate decides; its interval is recorded so a reader sees whether the edge is distinguishable
   from noise (a window of ~230 days rarely makes it so, and demanding that would stop every update).
6. **calibrated intervals** (a challenger with a quantile head): the share of the window's outcomes
   inside its widest central interval (0.1-0.9: nominal 80 %), averaged over the counted horizons,
   is within ``coverage_tolerance`` of the nominal share (0.10 by default; ``None`` leaves the rule
   out). The mean over horizons, because one horizon's coverage on ~230 overlapping days moves with a
   single market episode; each horizon's is recorded.

Caveat, stated rather than hidden: a training sample dated before the window can have a label
reaching into it (labels run up to 12 months), so the newer model has seen some of the window's
returns as targets of older days. A window free of that would have no known outcomes at all; the
gate therefore keeps the window's days out of every training set and compares on equal days.

The 1-month reversal baseline's RankIC is recorded beside momentum's (``figures.reversal_1m``) but is
not a rule. The decision, its reasons and every figure go to ``models/<challenger>/gate.json``; a promotion
rewrites ``models/champion.json`` (which remembers the previous champion for rollback).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from kabucast.config import GateSettings
from kabucast.data.calendar import SESSIONS_PER_MONTH
from kabucast.errors import KabucastError
from kabucast.evaluation.calibration import coverage
from kabucast.evaluation.uncertainty import Estimate, label_lag, mean_estimate
from kabucast.features.registry import contract_groups
from kabucast.forecast.dataset import ForecastData, ForecastSamples
from kabucast.forecast.interface import ForecastModel, quantile_levels
from kabucast.forecast.metrics import horizon_metrics, momentum_baseline, per_date_rankic
from kabucast.forecast.onnx_model import OnnxModel
from kabucast.forecast.registry import (
    ModelFiles,
    champion_version,
    last_seen_day,
    load_model,
    model_key,
    set_champion,
)
from kabucast.storage.base import json_safe


class GateError(KabucastError):
    """The gate cannot judge: no scoring window, or a model trained on the window's days."""


@dataclass(frozen=True)
class Decision:
    challenger: str
    champion: str | None
    promoted: bool
    reasons: list[str]
    window: dict[str, Any]
    figures: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return json_safe(asdict(self))

    def summary(self) -> str:
        verdict = "PROMOTED" if self.promoted else "rejected"
        return f"gate: challenger {self.challenger} {verdict} ({'; '.join(self.reasons)})"


def train_end(meta: dict[str, Any]) -> pd.Timestamp:
    """The last as-of day a model trained or early-stopped on (kabucast.forecast.registry.last_seen_day)."""
    day = last_seen_day(meta)
    if day is None:
        raise GateError(f"model {meta.get('version')} has no run.train_range in model.json: cannot place it")
    return day


def scoring_window(samples: ForecastSamples, after: pd.Timestamp, window_sessions: int) -> np.ndarray:
    """Indices of the samples dated after ``after``: the last ``window_sessions`` such days."""
    dates = samples.dates
    days = np.unique(dates[dates > after])
    if len(days) == 0:
        raise GateError(f"no day with a known outcome after {after.date()}: nothing to score the challenger on")
    first = days[-min(window_sessions, len(days))]
    return np.flatnonzero(dates >= first)


def window_rankic(target: np.ndarray, pred: np.ndarray, dates: np.ndarray, min_dates: int) -> list[float | None]:
    """Per-horizon RankIC over the rows whose outcome is known; None where fewer than ``min_dates`` days have it."""
    out: list[float | None] = []
    for h in range(target.shape[1]):
        known = np.isfinite(target[:, h])
        if len(np.unique(dates[known])) < min_dates:
            out.append(None)
            continue
        m = horizon_metrics(target[known][:, [h]], pred[known][:, [h]], dates[known])
        out.append(m["rankic"][0])
    return out


def xs_std(pred: np.ndarray, dates: np.ndarray) -> list[float]:
    """Per-horizon mean over days of the cross-sectional std of the predictions (the collapse detector)."""
    frame = pd.DataFrame(pred, index=pd.Index(dates, name="date"))
    return frame.groupby(level=0).std(ddof=0).mean().tolist()


def window_coverage(
    quantiles: np.ndarray, levels: tuple[float, ...], target: np.ndarray, rankic: list[float | None]
) -> dict[str, Any]:
    """Rule 6's figures: the share of outcomes inside the widest central interval, per horizon counted
    (None elsewhere, as ``rankic``), and their mean."""
    inside = coverage(quantiles[..., 0], quantiles[..., -1], target)
    per_horizon = [None if r is None else float(c) for r, c in zip(rankic, inside, strict=True)]
    return {
        "interval": f"{levels[0]:g}-{levels[-1]:g}",
        "interval_nominal": round(levels[-1] - levels[0], 6),
        "coverage": per_horizon,
        "coverage_mean": _mean(per_horizon),
    }


def _mean(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None and np.isfinite(v)]
    return float(np.mean(known)) if known else None


def decide(
    challenger: dict[str, Any],
    champion: dict[str, Any] | None,
    settings: GateSettings,
    paired: Estimate | None = None,
    versus_momentum: Estimate | None = None,
) -> tuple[bool, list[str]]:
    """The six rules over the figures of :func:`evaluate` (pure; see the module docstring).

    ``paired``: challenger minus champion, per date; ``versus_momentum``: challenger minus momentum,
    per date (None: no champion / rule 5 not asked).
    """
    reasons: list[str] = []
    low = [h + 1 for h, s in enumerate(challenger["pred_xs_std"]) if not s >= settings.min_pred_xs_std]
    if low:
        reasons.append(f"collapsed: prediction spread below {settings.min_pred_xs_std} at months {low}")
    score = challenger["mean_rankic"]
    if score is None:
        reasons.append("no horizon has enough scored days")
    elif not score > settings.min_rankic:
        reasons.append(f"mean RankIC {score:+.4f} does not beat the zero-return baseline (0) by {settings.min_rankic}")
    if champion is not None and score is not None and champion["mean_rankic"] is not None:
        floor = champion["mean_rankic"] - settings.tolerance
        if score < floor:
            reasons.append(
                f"mean RankIC {score:+.4f} is worse than the champion's {champion['mean_rankic']:+.4f} "
                f"beyond the tolerance {settings.tolerance}"
            )
    if paired is not None and paired.significantly_negative:
        reasons.append(
            f"significantly worse than the champion day by day: paired per-date RankIC difference {paired.describe()}"
        )
    margin = settings.momentum_margin
    if margin is not None and versus_momentum is not None and not versus_momentum.value > margin:
        reasons.append(
            f"does not beat 12-month momentum by {margin} day by day: per-date RankIC minus momentum's "
            f"{versus_momentum.describe()}"
        )
    calibrated = challenger.get("coverage_mean")
    tolerance = settings.coverage_tolerance
    if tolerance is not None and calibrated is not None:
        nominal = challenger["interval_nominal"]
        if abs(calibrated - nominal) > tolerance:
            reasons.append(
                f"miscalibrated: its {challenger['interval']} interval holds {calibrated:.1%} of the window's "
                f"outcomes (mean over the counted horizons), nominal {nominal:.0%} +/- {tolerance:.0%}"
            )
    if reasons:
        return False, reasons
    versus = "" if champion is None else f" vs champion {champion['mean_rankic']:+.4f}"
    evidence = "" if paired is None else f"; paired difference {paired.describe()}"
    edge = "" if versus_momentum is None else f"; minus momentum {versus_momentum.describe()}"
    return True, [f"mean RankIC {score:+.4f}{versus}, not collapsed{evidence}{edge}"]


def paired_rankic(
    challenger: np.ndarray, other: np.ndarray, target: np.ndarray, dates: np.ndarray, horizons: list[int]
) -> Estimate:
    """The challenger's mean RankIC minus ``other``'s, horizons weighted equally as in ``mean_rankic``, with
    a Newey-West error over the days (lag 42).

    ``challenger`` / ``other`` / ``target`` (N, 12) on the window's samples, ``dates`` (N,); ``horizons``
    (0-based) are the counted ones. Horizon h's figure is the mean over the days both have it of the
    per-date difference d_h(t); later days know fewer horizons, so the estimate (1/H) sum_h mean_t d_h(t)
    is written as the mean of one daily series, x(t) = (D / H) sum_h d_h(t) / n_h over the horizons day t
    has (D days, n_h days with horizon h), and :func:`kabucast.evaluation.uncertainty.mean_estimate`
    gives its error. Averaging each day's horizons instead would weigh the short horizons (known every
    day) far above the long ones and could disagree in sign with the means the other rules compare.
    """
    ours, _ = per_date_rankic(target, challenger, dates)
    theirs, _ = per_date_rankic(target, other, dates)
    diff = ours[:, horizons] - theirs[:, horizons]  # (D, H)
    known = np.isfinite(diff)
    n_h = known.sum(axis=0)
    used = n_h > 0
    if not used.any():
        return mean_estimate([], label_lag(SESSIONS_PER_MONTH))
    share = np.where(known[:, used], diff[:, used], 0.0) / n_h[used]  # (D, H') each day's part of each mean
    daily = share.sum(axis=1) * len(diff) / used.sum()
    return mean_estimate(daily, label_lag(SESSIONS_PER_MONTH))


def _paired_record(estimate: Estimate, counted: list[int], whose: str) -> dict[str, Any]:
    """What gate.json keeps of a paired per-date comparison."""
    return {
        **estimate.to_dict(),
        "significantly_negative": estimate.significantly_negative,
        "horizons": [h + 1 for h in counted],
        "what": f"RankIC of the challenger minus {whose}, per date and horizon, averaged over the days then "
        "over the counted horizons (Newey-West over the days)",
    }


def evaluate(
    challenger: ModelFiles,
    champion: ModelFiles | None,
    samples: ForecastSamples,
    settings: GateSettings,
) -> Decision:
    """Score both models (served by ONNX Runtime) on the scoring window and decide (nothing is written)."""
    ends = [train_end(challenger.meta)] + ([train_end(champion.meta)] if champion else [])
    idx = samples.members_only(scoring_window(samples, max(ends), settings.window_sessions))
    target, dates = samples.target[idx], samples.dates[idx].to_numpy()
    figures: dict[str, Any] = {}
    served: dict[str, ForecastModel] = {"challenger": OnnxModel.from_files(challenger)}
    if champion is not None:
        served["champion"] = OnnxModel.from_files(champion)
    predictions = {}
    for name, model in served.items():
        levels = quantile_levels(model)
        if levels:
            pred, quantiles = model.predict_with_quantiles(samples, idx)
        else:
            pred, quantiles = model.predict(samples, idx), None
        predictions[name] = pred
        rankic = window_rankic(target, pred, dates, settings.min_dates)
        figures[name] = {"rankic": rankic, "mean_rankic": _mean(rankic), "pred_xs_std": xs_std(pred, dates)}
        if quantiles is not None:
            figures[name].update(window_coverage(quantiles, levels, target, rankic))
    predictions["momentum_12m"] = momentum_baseline(samples.momentum_12m[idx])
    momentum = window_rankic(target, predictions["momentum_12m"], dates, settings.min_dates)
    figures["momentum_12m"] = {"rankic": momentum, "mean_rankic": _mean(momentum)}
    reversal_1m = momentum_baseline(samples.reversal_1m[idx], lookback_months=1)
    reversal = window_rankic(target, reversal_1m, dates, settings.min_dates)
    figures["reversal_1m"] = {"rankic": reversal, "mean_rankic": _mean(reversal)}  # recorded, not a rule
    figures["zero_return"] = {"mean_rankic": 0.0}
    counted = [h for h, v in enumerate(figures["challenger"]["rankic"]) if v is not None]
    paired = versus_momentum = None
    if champion is not None and counted:
        paired = paired_rankic(predictions["challenger"], predictions["champion"], target, dates, counted)
        figures["paired_difference"] = _paired_record(paired, counted, "the champion's")
    if counted:
        versus_momentum = paired_rankic(predictions["challenger"], predictions["momentum_12m"], target, dates, counted)
        figures["versus_momentum"] = _paired_record(versus_momentum, counted, "12-month momentum's")
    promoted, reasons = decide(figures["challenger"], figures.get("champion"), settings, paired, versus_momentum)
    window = {
        "first": str(pd.Timestamp(dates.min()).date()),
        "last": str(pd.Timestamp(dates.max()).date()),
        "days": len(np.unique(dates)),
        "samples": len(idx),
        "after_training_end": str(max(ends).date()),
        "horizons_scored": [h + 1 for h, v in enumerate(figures["challenger"]["rankic"]) if v is not None],
    }
    version = champion.version if champion else None
    return Decision(challenger.version, version, promoted, reasons, window, figures)


def gate_and_promote(challenger: str, settings: GateSettings, data: ForecastData, as_of: pd.Timestamp) -> Decision:
    """Judge ``challenger`` against the current champion, record the decision, promote if it passed."""
    store = data.store
    model = load_model(store, challenger)
    current = champion_version(store)
    champion = load_model(store, current) if current and current != challenger else None
    groups = contract_groups(model.meta.get("features"))  # the challenger's inputs (a fine-tune: its parent's)
    samples = replace(data, feature_groups=groups).samples(as_of, "snapshot", min_labels=1)
    decision = evaluate(model, champion, samples, settings)
    record = {**decision.to_dict(), "as_of": str(as_of.date()), "settings": asdict(settings)}
    store.put_json(model_key(challenger, "gate.json"), record)
    if decision.promoted:
        set_champion(store, challenger, f"gate: {decision.reasons[0]}")
    return decision

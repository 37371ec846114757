"""A champion chosen by evidence: walk-forward of every candidate recipe and every free baseline, one rule.

``kabucast select`` (docs/EVALUATION.md, "Choosing the champion") runs the same walk-forward
(kabucast.experiments.walkforward: the ``evaluate`` settings' folds, purge and holdout, on the same
samples) for each baseline recipe (12-1 momentum and 1-month reversal as ``model.kind: momentum``,
servable as they are) and each candidate recipe (the BiLSTM, ridge, LightGBM, any kind). Each run's
per-date RankIC of months ``months`` (default 1-3, those the daily document leads with) is averaged
into one score per test date; a constant forecast ranks nothing and scores 0 that day.

The rule, on the folds' test dates only (the holdout is reported, never used to choose):

1. The best baseline is the one with the highest mean score.
2. Each candidate's paired difference with it, date by date, is a mean with a Newey-West error
   (lag 2 x the longest month's label, as every interval of the evaluation) and a one-sided p-value
   (normal approximation).
3. Holm's step-down procedure at ``alpha`` over the candidates: the more candidates, the stronger
   the evidence a winner needs (family-wise error at most ``alpha``).
4. The winner is the candidate with the largest mean difference among those that pass; if none
   passes, the best baseline is served. No candidate is ever served whose evidence against the best
   baseline does not clear the corrected test, so none that is significantly worse.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from kabucast.config import (
    EvaluateSettings,
    SelectSettings,
    TrainSettings,
    forecast_settings,
    load_settings,
    resolve_config_path,
)
from kabucast.data.calendar import TradingCalendar
from kabucast.errors import ConfigError
from kabucast.evaluation.uncertainty import Estimate, mean_estimate, paired_difference
from kabucast.experiments.folds import HOLDOUT, PERIODS
from kabucast.experiments.walkforward import Log, WalkForward, month_lag, stderr_line, walk_forward_recipe
from kabucast.experiments.walkforward_calibration import quantile_calibration
from kabucast.experiments.walkforward_report import daily_rankic, rankic_intervals, write_evaluation
from kabucast.forecast.dataset import forecast_data
from kabucast.forecast.kinds import DEFAULT_KIND
from kabucast.storage.base import Store, dumps_json, json_safe


@dataclass(frozen=True)
class Entry:
    """One recipe's walk-forward: its per-date score per period (mean RankIC of the chosen months)."""

    recipe: str  # the settings file as given
    kind: str
    role: str  # "baseline" | "candidate"
    scores: dict[str, np.ndarray]  # period -> (dates,) score; NaN where no month had a RankIC
    run_id: str
    report: str | None = None  # the key of its walk-forward's report (reports/<run-id>/report.html)
    bands: dict[str, Any] | None = None  # period -> its band's coverage and pinball ratio per month (None: none)
    rankic: dict[str, list[dict[str, Any]]] | None = None  # period -> per month 1..12 its RankIC with its interval


@dataclass(frozen=True)
class Selection:
    """What ``kabucast select`` decided and why."""

    settings: SelectSettings
    as_of: pd.Timestamp
    entries: list[Entry]
    means: dict[str, dict[str, Estimate]]  # recipe -> period -> its mean score with its interval
    best_baseline: str
    tests: dict[str, dict[str, Any]]  # candidate -> paired difference, t, p, Holm threshold, passed
    holdout: dict[str, dict[str, Any]]  # recipe -> paired difference with the best baseline on the holdout
    winner: str
    reason: str

    @property
    def run_id(self) -> str:
        digest = hashlib.sha256(dumps_json(dataclasses.asdict(self.settings))).hexdigest()[:8]
        return f"select-{self.as_of.date()}-{digest}"

    def to_dict(self) -> dict[str, Any]:
        entries = [
            {"recipe": e.recipe, "kind": e.kind, "role": e.role, "evaluation": e.run_id, "report": e.report,
             "mean_score": {p: est.to_dict() for p, est in self.means[e.recipe].items()}, "bands": e.bands}
            for e in self.entries
        ]  # fmt: skip
        return {
            "run_id": self.run_id,
            "as_of": str(self.as_of.date()),
            "settings": dataclasses.asdict(self.settings),
            "rule": RULE.format(months=_months(self.settings.months), alpha=self.settings.alpha),
            "entries": entries,
            "best_baseline": self.best_baseline,
            "tests": self.tests,
            "holdout": self.holdout,
            "winner": self.winner,
            "winner_role": next(e.role for e in self.entries if e.recipe == self.winner),
            "reason": self.reason,
        }

    def evidence(self, recipe: str) -> dict[str, Any]:
        """What model.json records of the walk-forward that chose ``recipe`` (``walk_forward``): the run, the rule,
        its score and its RankIC per month with intervals, per period, and its bands' figures. The live scorecard
        shows them beside the live figures."""
        entry = next(e for e in self.entries if e.recipe == recipe)
        return json_safe(
            {
                "selection": self.run_id,
                "evaluation": entry.run_id,
                "recipe": recipe,
                "role": entry.role,
                "chosen": recipe == self.winner,
                "reason": self.reason if recipe == self.winner else None,
                "score_months": list(self.settings.months),
                "score": {p: est.to_dict() for p, est in self.means[recipe].items()},
                "rankic": entry.rankic,
                "bands": entry.bands,
            }
        )


RULE = (
    "score = mean RankIC of months {months} per test date (a constant forecast scores 0); the best baseline has the "
    "highest mean score over the folds; a candidate wins only if its paired difference with that baseline passes "
    "Holm's one-sided test at family-wise alpha {alpha} (Newey-West errors), the largest such difference first; "
    "otherwise the best baseline is served. The holdout is reported, never used to choose."
)


def _months(months: tuple[int, ...]) -> str:
    return ", ".join(str(m) for m in months)


def date_scores(result: WalkForward, months: tuple[int, ...]) -> dict[str, np.ndarray]:
    """Period -> per test date the model's mean RankIC over ``months`` (a NaN month, e.g. a constant forecast,
    counts 0; a date on which no forecast had a RankIC at those months, too few outcomes, stays NaN)."""
    columns = [m - 1 for m in months]
    out = {}
    for period, named in daily_rankic(result).items():
        known = np.isfinite(np.stack([daily[:, columns] for daily in named.values()])).any(axis=(0, 2))
        score = np.nan_to_num(named["model"][:, columns], nan=0.0).mean(axis=1)
        out[period] = np.where(known, score, np.nan)
    return out


def band_figures(result: WalkForward) -> dict[str, Any] | None:
    """Period -> the outermost band's coverage per month, static and adaptive, and the pinball ratios."""
    calibration = quantile_calibration(result)
    if not calibration:
        return None
    out = {}
    for period, figures in calibration.items():
        name, interval = next(iter(figures["intervals"].items()))
        out[period] = {
            "interval": name,
            "nominal": interval["nominal"],
            "coverage": interval["coverage"],
            "adaptive_coverage": interval["adaptive_coverage"],
            "pinball_ratio": figures["pinball_ratio"],
            "adaptive_pinball_ratio": figures["adaptive_pinball_ratio"],
        }
    return out


def one_sided_p(estimate: Estimate) -> float:
    """P(a mean this large | no true difference), from ``value / se`` (normal approximation); 1 without an error."""
    if not (estimate.se > 0 and math.isfinite(estimate.value)):
        return 1.0
    return 0.5 * math.erfc(estimate.value / estimate.se / math.sqrt(2.0))


def holm(p_values: dict[str, float], alpha: float) -> dict[str, tuple[float, bool]]:
    """Holm's step-down: name -> (its threshold ``alpha / (k - rank)``, rejected?), family-wise error <= alpha."""
    order = sorted(p_values, key=lambda n: p_values[n])
    out, still = {}, True
    for rank, name in enumerate(order):
        threshold = alpha / (len(order) - rank)
        still = still and p_values[name] <= threshold
        out[name] = (threshold, still)
    return out


def decide(settings: SelectSettings, as_of: pd.Timestamp, entries: list[Entry]) -> Selection:
    """Apply the module's rule to walk-forward runs that scored the same test dates."""
    lag = month_lag(max(settings.months) - 1)
    means = {e.recipe: {p: mean_estimate(s, lag) for p, s in e.scores.items()} for e in entries}
    baselines = [e for e in entries if e.role == "baseline"]
    best = max(baselines, key=lambda e: _value(means[e.recipe]["folds"]))
    tests: dict[str, dict[str, Any]] = {}
    candidates = [e for e in entries if e.role == "candidate"]
    for e in candidates:
        diff = paired_difference(e.scores["folds"], best.scores["folds"], lag)
        tests[e.recipe] = {"difference": diff.to_dict(), "t": diff.t, "p_one_sided": one_sided_p(diff)}
    for name, (threshold, passed) in holm({n: t["p_one_sided"] for n, t in tests.items()}, settings.alpha).items():
        tests[name].update({"holm_threshold": threshold, "passed": passed})
    holdout = {
        e.recipe: paired_difference(e.scores[HOLDOUT], best.scores[HOLDOUT], lag).to_dict()
        for e in entries
        if e is not best
    }
    passed = [n for n, t in tests.items() if t["passed"]]
    if passed:
        winner = max(passed, key=lambda n: tests[n]["difference"]["value"])
        t = tests[winner]
        reason = (
            f"{winner} beats the best baseline {best.recipe} by {t['difference']['value']:+.4f} mean RankIC "
            f"(months {_months(settings.months)}, t {t['t']:.2f}, p {t['p_one_sided']:.4f} <= Holm threshold "
            f"{t['holm_threshold']:.4f} with {len(candidates)} candidate(s))"
        )
    else:
        winner = best.recipe
        reason = (
            f"no candidate beats the best baseline {best.recipe} with evidence at family-wise alpha {settings.alpha} "
            f"over {len(candidates)} candidate(s): the baseline itself is served"
        )
    return Selection(settings, as_of, entries, means, best.recipe, tests, holdout, winner, reason)


def _value(e: Estimate) -> float:
    return e.value if math.isfinite(e.value) else -math.inf


def run_selection(
    settings: SelectSettings,
    store: Store,
    calendar: TradingCalendar,
    as_of: pd.Timestamp,
    work_dir: Path,
    log: Log = stderr_line,
) -> Selection:
    """Walk-forward of every baseline and candidate recipe (on the same folds and test dates), then :func:`decide`."""
    evaluate = load_settings(EvaluateSettings, resolve_config_path(settings.evaluate))
    evaluate = dataclasses.replace(evaluate, compare_champion=False)
    served = None
    entries = []
    roles = [("baseline", r) for r in settings.baselines] + [("candidate", r) for r in settings.candidates]
    for k, (role, name) in enumerate(roles, 1):
        recipe, universe, sectors = forecast_settings(name, TrainSettings)
        if served is not None and universe.name != served:
            raise ConfigError(f"select: {name} serves {universe.name}, the others {served}: one served universe")
        served = universe.name
        data = forecast_data(store, calendar, recipe, universe, sectors, evaluate.evaluation_universe)
        log(f"[select {k}/{len(roles)}] {role} {name}")
        runs = dataclasses.replace(evaluate, train_config=name)
        result = walk_forward_recipe(runs, recipe, data, as_of, work_dir / f"{k:02d}", log)
        kind = recipe.model.get("kind", DEFAULT_KIND)
        keys = write_evaluation(store, result)  # each recipe's own tables and report, as `kabucast evaluate` writes
        scores = date_scores(result, settings.months)
        rankic = {p: [e.to_dict() for e in f["model"]] for p, f in rankic_intervals(result).items()}
        entry = Entry(name, kind, role, scores, result.run_id, keys["report"], band_figures(result), rankic)
        if entries and any(len(entry.scores[p]) != len(entries[0].scores[p]) for p in PERIODS):
            raise ConfigError(f"select: {name} was scored on other dates than {entries[0].recipe}: same data settings")
        entries.append(entry)
    return decide(settings, calendar.previous_session(as_of), entries)


def selection_table(selection: Selection) -> str:
    """The printed table: each recipe's mean score per period with its interval, the tests, the winner and why."""
    months = _months(selection.settings.months)
    lines = [f"mean RankIC of months {months} per test date, 95 % interval (Newey-West):"]
    width = max(len(e.recipe) for e in selection.entries)
    for e in selection.entries:
        cells = "  ".join(f"{p} {_interval(selection.means[e.recipe][p])}" for p in PERIODS)
        lines.append(f"  {e.role:<9} {e.recipe:<{width}} {e.kind:<9} {cells}")
    lines.append(f"best baseline: {selection.best_baseline}; paired difference with it on the folds (Holm):")
    for name, t in selection.tests.items():
        verdict = "passes" if t["passed"] else "fails"
        d = t["difference"]
        lines.append(
            f"  {name:<{width}} {d['value']:+.4f} [{d['ci_low']:+.4f}, {d['ci_high']:+.4f}] t {t['t']:+.2f} "
            f"p {t['p_one_sided']:.4f} vs {t['holm_threshold']:.4f}: {verdict}"
        )
    lines.append(f"chosen: {selection.winner} ({selection.reason})")
    banded = [e for e in selection.entries if e.bands]
    if banded:
        lines.append("bands: coverage per month 1..12, static | adaptive; max pinball ratio static | adaptive:")
    for e in banded:
        for period, b in (e.bands or {}).items():
            static = " ".join(f"{c:.0%}" for c in b["coverage"])
            adaptive = " ".join(f"{c:.0%}" for c in b["adaptive_coverage"])
            ratios = f"{max(b['pinball_ratio']):.2f} | {max(b['adaptive_pinball_ratio']):.2f}"
            lines.append(f"  {e.recipe:<{width}} {period:<8} {static} | {adaptive}; {ratios}")
    return "\n".join(lines)


def _interval(e: Estimate) -> str:
    if not math.isfinite(e.value):
        return "   -   "
    return f"{e.value:+.4f} [{e.ci_low:+.4f}, {e.ci_high:+.4f}]"


def write_selection(store: Store, selection: Selection) -> dict[str, str]:
    """``reports/<select-run-id>/selection.json`` (the decision, every figure) and ``selection.md`` (the table,
    the rule, why the winner won); returns their keys."""
    prefix = f"reports/{selection.run_id}/"
    keys = {"selection": f"{prefix}selection.json", "report": f"{prefix}selection.md"}
    store.put_json(keys["selection"], json_safe(selection.to_dict()))
    text = "\n".join(
        [
            f"# Selection {selection.run_id}",
            "",
            f"Rule: {selection.to_dict()['rule']}",
            "",
            "```",
            selection_table(selection),
            "```",
            "",
            "Holdout (reported, not used to choose): paired difference with the best baseline",
            "",
            *(f"- {name}: {_interval_dict(d)}" for name, d in selection.holdout.items()),
            "",
            "Each recipe's own walk-forward tables: `kabucast evaluate` with the same settings.",
        ]
    )
    store.put_bytes(keys["report"], (text + "\n").encode("utf-8"), "text/markdown")
    return keys


def _interval_dict(d: dict[str, Any]) -> str:
    if d["value"] is None or not math.isfinite(d["value"]):
        return "-"
    return f"{d['value']:+.4f} [{d['ci_low']:+.4f}, {d['ci_high']:+.4f}]"

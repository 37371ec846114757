"""Dataset validation for the ranker (``kabucast ranker validate``): the checks the APEX-Ranker seeds lacked.

On the RAW features (before normalisation) and targets, after the features' warm-up (the first
sessions, in which windows are still filling, are left out of every rate):

- NULL rate per feature, per feature group (a group above ``max_group_null_rate`` FAILS) and per date;
- infinite values (a feature or target with any FAILS);
- constant columns (all finite values equal) and the share of dates with a constant cross-section (warnings);
- the distribution of each target: quantiles, mean, std, NULL rate;
- the lookahead probe. For each feature and each target horizon h, the mean over dates of the
  feature's cross-sectional RankIC with the target that starts at t (the legitimate forward return
  close(t) -> close(t + h), ``rankic_t``) and with the same target one session later (close(t + 1) ->
  close(t + 1 + h), ``rankic_t_plus_1``). A feature FAILS as a suspected leak when, for some h,
  |rankic_t| > ``leak_rankic`` (no honest daily feature ranks forward returns that well; real-market
  features reach 0.02-0.05), or |rankic_t| > ``leak_min_rankic`` and |rankic_t| > ``leak_ratio`` x
  |rankic_t_plus_1| (predictive power that vanishes one session later is what a feature that
  contains the future looks like; a real signal decays slowly). A feature built from a forward return
  plus noise is caught by the first rule at its own horizon.

The report goes to ``reports/<run-id>/validation.json`` and ``validation.md``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kabucast.data.calendar import TradingCalendar
from kabucast.data.plausibility import FLAG, REJECT
from kabucast.data.screening import REBASED
from kabucast.evaluation.backtest import report_prefix
from kabucast.evaluation.metrics import row_corr, row_ranks
from kabucast.ranker.arrays import PanelArray
from kabucast.ranker.dataset import build_dataset, load_panel
from kabucast.ranker.errors import DatasetValidationError
from kabucast.ranker.features import warmup_sessions
from kabucast.ranker.settings import RankerDataSettings, ValidationSettings
from kabucast.storage import Store
from kabucast.storage.base import json_safe

QUANTILES: tuple[float, ...] = (0.0, 0.001, 0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99, 0.999, 1.0)


@dataclass(frozen=True)
class ValidationReport:
    """The checks' results (``content``, JSON-ready), what fails the dataset and what only deserves a look."""

    content: dict[str, Any]
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        shape = self.content["shape"]
        verdict = "passed" if self.ok else f"FAILED ({len(self.problems)} problems)"
        return (
            f"ranker dataset {verdict}: {shape['dates']} dates x {shape['tickers']} tickers x "
            f"{shape['features']} features, {len(self.warnings)} warnings"
        )


def validate_dataset(
    features: PanelArray,
    targets: PanelArray,
    settings: ValidationSettings,
    warmup: int,
    suspects: Sequence[dict[str, str]] = (),
) -> ValidationReport:
    """Every check of the module docstring on raw ``features`` and ``targets`` (same dates and tickers).

    ``suspects``: the panel's implausible bars (RankerPanel.suspects), listed in the report and warned about.
    """
    if not features.dates.equals(targets.dates) or features.tickers != targets.tickers:
        raise ValueError("features and targets must share their dates and tickers")
    columns = _feature_checks(features, warmup)
    probe = lookahead_probe(features, targets, settings, warmup)
    for name, result in probe.items():
        columns[name].update(result)
    groups = _group_null_rates(features, warmup)
    content = {
        "shape": {"dates": len(features.dates), "tickers": len(features.tickers), "features": len(features.names)},
        "first_date": str(features.dates[0].date()),
        "last_date": str(features.dates[-1].date()),
        "warmup_sessions": warmup,
        "normalization": features.normalization,
        "thresholds": dataclasses.asdict(settings),
        "features": columns,
        "groups": groups,
        "null_rate_by_date": _date_null_rates(features),
        "targets": {name: target_distribution(targets.column(name)) for name in targets.names},
        "bars": _bar_suspects(suspects),
    }
    problems, warnings = _verdicts(content, settings)
    return ValidationReport(json_safe(content), problems, warnings)


def _bar_suspects(suspects: Sequence[dict[str, str]]) -> dict[str, Any]:
    """The panel's implausible bars by action and kind, and each of them."""
    by_kind: dict[str, int] = {}
    for s in suspects:
        by_kind[s["kind"]] = by_kind.get(s["kind"], 0) + 1
    return {
        "rejected": sum(s["action"] == REJECT for s in suspects),
        "flagged": sum(s["action"] == FLAG for s in suspects),
        "rebased": sorted({s["ticker"] for s in suspects if s["action"] == REBASED}),
        "by_kind": by_kind,
        "suspects": list(suspects),
    }


def lookahead_probe(
    features: PanelArray, targets: PanelArray, settings: ValidationSettings, warmup: int
) -> dict[str, dict[str, Any]]:
    """Per feature: mean RankIC with each target starting at t and at t + 1, and the horizons that look leaked."""
    rows = np.arange(warmup, len(features.dates) - 1, settings.probe_stride)
    ranked = {}  # target -> ranks of the target at t and one session later, (R, N) each
    for name in targets.names:
        y = targets.column(name).astype(np.float64)
        ranked[name] = (_ranked(y[rows]), _ranked(y[rows + 1]))
    out = {}
    for name in features.names:
        x = _ranked(features.column(name)[rows].astype(np.float64))
        now = {t: _mean_rank_ic(x, r_now) for t, (r_now, _) in ranked.items()}
        later = {t: _mean_rank_ic(x, r_later) for t, (_, r_later) in ranked.items()}
        leaked = [t for t in targets.names if _looks_leaked(now[t], later[t], settings)]
        out[name] = {"rankic_t": now, "rankic_t_plus_1": later, "lookahead": leaked}
    return out


def target_distribution(values: np.ndarray) -> dict[str, Any]:
    """Quantiles, mean, std, NULL rate (rows before the horizon's end) and infinite count of one target."""
    rows_with_target = np.isfinite(values).any(axis=1)  # the last h rows have none by construction
    body = values[rows_with_target] if rows_with_target.any() else values
    finite = body[np.isfinite(body)].astype(np.float64)
    quantiles = np.quantile(finite, QUANTILES) if finite.size else [math.nan] * len(QUANTILES)
    return {
        "quantiles": {f"{q:g}": float(v) for q, v in zip(QUANTILES, quantiles, strict=True)},
        "mean": float(finite.mean()) if finite.size else math.nan,
        "std": float(finite.std()) if finite.size else math.nan,
        "null_rate": float(np.isnan(body).mean()),
        "inf_count": int(np.isinf(values).sum()),
    }


def write_validation(store: Store, run_id: str, report: ValidationReport) -> list[str]:
    """``reports/<run-id>/validation.json`` (everything) and ``validation.md`` (for people); return the keys."""
    prefix = report_prefix(run_id)
    doc = {"status": "ok" if report.ok else "failed", "problems": report.problems, "warnings": report.warnings}
    store.put_json(f"{prefix}validation.json", {**doc, **report.content})
    store.put_bytes(f"{prefix}validation.md", markdown(report).encode("utf-8"), content_type="text/markdown")
    return [f"{prefix}validation.json", f"{prefix}validation.md"]


def markdown(report: ValidationReport) -> str:
    """A readable summary: verdict, problems, warnings, the group and feature tables, target quantiles."""
    c = report.content
    lines = [
        "# Ranker dataset validation",
        "",
        f"{report.summary()}; {c['first_date']} .. {c['last_date']}, the first {c['warmup_sessions']} sessions "
        "(warm-up) left out of the rates.",
        "",
    ]
    for title, items in (("Problems", report.problems), ("Warnings", report.warnings)):
        lines += [f"## {title}", "", *([f"- {p}" for p in items] or ["none"]), ""]
    lines += ["## Groups", "", "| group | NULL |", "|---|---|"]
    lines += [f"| {g} | {_pct(v['null_rate'])} |" for g, v in c["groups"].items()]
    lines += [
        "",
        "## Features",
        "",
        "Strongest forward RankIC over the horizons, and the same target one session later.",
        "",
    ]
    lines += [
        "| feature | group | NULL | inf | target | RankIC t | RankIC t+1 | lookahead |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, v in c["features"].items():
        target = max(v["rankic_t"], key=lambda t: abs(v["rankic_t"][t] or 0.0))
        now, later = (_signed(v[key][target]) for key in ("rankic_t", "rankic_t_plus_1"))
        cells = [name, v["group"], _pct(v["null_rate"]), str(v["inf_count"]), target, now, later]
        lines.append(f"| {' | '.join(cells)} | {', '.join(v['lookahead'])} |")
    lines += ["", "## Targets", "", "| target | p1 | p50 | p99 | std | NULL |", "|---|---|---|---|---|---|"]
    for name, v in c["targets"].items():
        q = v["quantiles"]
        cells = [_signed(q["0.01"], 4), _signed(q["0.5"], 4), _signed(q["0.99"], 4), _signed(v["std"], 4)]
        lines.append(f"| {name} | {' | '.join(cells)} | {_pct(v['null_rate'])} |")
    suspects = c["bars"]["suspects"]
    lines += [
        "",
        "## Implausible bars",
        "",
        "kabucast.data.plausibility; rejected bars are not in the panel, and a `rebased` corporate action "
        "rescaled its ticker's earlier bars by the split's ratio.",
        "",
    ]
    lines += ["| ticker | date | kind | action | detail |", "|---|---|---|---|---|"] if suspects else ["none"]
    lines += [f"| {x['ticker']} | {x['date']} | {x['kind']} | {x['action']} | {x['detail']} |" for x in suspects[:200]]
    if len(suspects) > 200:
        lines.append(f"\n... and {len(suspects) - 200} more in validation.json")
    return "\n".join(lines) + "\n"


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.1%}"


def _signed(x: float | None, digits: int = 3) -> str:
    return "-" if x is None else f"{x:+.{digits}f}"


def _feature_checks(features: PanelArray, warmup: int) -> dict[str, dict[str, Any]]:
    """Per feature after the warm-up: group, NULL rate, infinite count, constant, share of constant dates.

    ``constant_dates``: among the dates with two or more values, the share on which they are all equal.
    """
    out = {}
    for name, group in zip(features.names, features.groups, strict=True):
        x = features.column(name)[warmup:]
        finite = np.isfinite(x)
        lo = np.where(finite, x, np.inf).min(axis=1)
        hi = np.where(finite, x, -np.inf).max(axis=1)
        ranked = finite.sum(axis=1) >= 2  # dates with a cross-section to rank
        out[name] = {
            "group": group,
            "null_rate": float(np.isnan(x).mean()) if x.size else math.nan,
            "inf_count": int(np.isinf(x).sum()),
            "constant": bool(finite.any() and lo.min() == hi.max()),
            "constant_dates": float((lo == hi)[ranked].mean()) if ranked.any() else math.nan,
        }
    return out


def _group_null_rates(features: PanelArray, warmup: int) -> dict[str, dict[str, Any]]:
    """Per group: the NULL rate over all its features' values after the warm-up, and its features."""
    out = {}
    for group in dict.fromkeys(features.groups):
        names = features.group_columns(group)
        idx = [features.names.index(n) for n in names]
        block = features.values[warmup:, :, idx]
        out[group] = {"null_rate": float(np.isnan(block).mean()) if block.size else math.nan, "features": names}
    return out


def _date_null_rates(features: PanelArray) -> dict[str, float]:
    """Per date (every date, warm-up included): the share of NULL values over all tickers and features."""
    rates = np.isnan(features.values).mean(axis=(1, 2))
    return {str(d.date()): float(r) for d, r in zip(features.dates, rates, strict=True)}


@dataclass(frozen=True)
class _Ranks:
    """Per-row average ranks of an (R, N) array and where it is finite."""

    values: np.ndarray
    finite: np.ndarray


def _ranked(x: np.ndarray) -> _Ranks:
    return _Ranks(row_ranks(x), np.isfinite(x))


def _mean_rank_ic(x: _Ranks, y: _Ranks) -> float:
    """Mean over rows of the Spearman correlation, over the pairs where both sides are finite.

    Rows where both sides are finite on the same cells (the usual case) reuse the ranks computed once
    per array; the other rows are re-ranked on their common cells (ranks keep the order of the values).
    """
    same = (x.finite == y.finite).all(axis=1)  # (R,)
    ic = np.full(len(same), np.nan)
    ic[same] = row_corr(x.values[same], y.values[same])
    if not same.all():
        both = x.finite[~same] & y.finite[~same]
        xs, ys = (np.where(both, r.values[~same], np.nan) for r in (x, y))
        ic[~same] = row_corr(row_ranks(xs), row_ranks(ys))
    return float(np.nanmean(ic)) if np.isfinite(ic).any() else math.nan


def _looks_leaked(ic_t: float, ic_next: float, s: ValidationSettings) -> bool:
    """The probe's rule (module docstring); a feature without a RankIC is not flagged here (NULL checks catch it)."""
    if not math.isfinite(ic_t):
        return False
    if abs(ic_t) > s.leak_rankic:
        return True
    ratio_ok = math.isfinite(ic_next) and abs(ic_t) <= s.leak_ratio * abs(ic_next)
    return abs(ic_t) > s.leak_min_rankic and not ratio_ok


def _verdicts(content: dict[str, Any], s: ValidationSettings) -> tuple[list[str], list[str]]:
    """Problems (the dataset fails) and warnings, as sentences naming the feature and the figures."""
    problems, warnings = [], []
    warm = content["warmup_sessions"]
    for group, g in content["groups"].items():
        if g["null_rate"] > s.max_group_null_rate:
            worst = max(g["features"], key=lambda n: content["features"][n]["null_rate"])
            problems.append(
                f"feature group '{group}' is {g['null_rate']:.1%} NULL after the {warm}-session warm-up "
                f"(at most {s.max_group_null_rate:.0%} allowed; worst: {worst} "
                f"{content['features'][worst]['null_rate']:.1%}): fix its inputs or drop the group from features.groups"
            )
    for name, f in content["features"].items():
        if f["inf_count"]:
            problems.append(f"feature '{name}' has {f['inf_count']} infinite values")
        for target in f["lookahead"]:
            problems.append(
                f"feature '{name}' looks like lookahead: mean RankIC {f['rankic_t'][target]:+.3f} with {target} "
                f"(starting at t+1), {f['rankic_t_plus_1'][target]:+.3f} with the same target one session later"
            )
        if f["constant"]:
            warnings.append(f"feature '{name}' is constant")
        elif f["constant_dates"] > 0.05:  # NaN (no date with two values) compares False
            warnings.append(f"feature '{name}' has a constant cross-section on {f['constant_dates']:.1%} of dates")
    for name, t in content["targets"].items():
        if t["inf_count"]:
            problems.append(f"target '{name}' has {t['inf_count']} infinite values")
        if t["null_rate"] > s.max_group_null_rate:
            problems.append(f"target '{name}' is {t['null_rate']:.1%} NULL")
    bars = content["bars"]
    if bars["rejected"]:
        warnings.append(
            f"{bars['rejected']} implausible bars left out of the panel (bad ticks; see 'Implausible bars')"
        )
    if bars["flagged"]:
        warnings.append(f"{bars['flagged']} suspicious bars kept (reverting moves, zero-volume runs; listed below)")
    rebased = bars["rebased"]
    if rebased:
        shown = ", ".join(rebased[:10]) + (f" and {len(rebased) - 10} more" if len(rebased) > 10 else "")
        warnings.append(
            f"{len(rebased)} ticker{'s' if len(rebased) != 1 else ''} rebased by a split ratio their source left "
            f"unadjusted ({shown}; 'corporate_action' in 'Implausible bars')"
        )
    return problems, warnings


def run_validation(
    store: Store,
    settings: RankerDataSettings,
    run_id: str,
    calendar: TradingCalendar,
    rebuild: bool = False,
    progress: Callable[[str], None] = lambda _: None,
) -> tuple[ValidationReport, list[str]]:
    """Load (or build) the configured panel, build raw features and targets, validate, write the report.

    Raises :class:`DatasetValidationError` (after writing the report) when a check fails.
    """
    progress(f"panel {settings.panel.name} ({settings.panel.source})")
    panel = load_panel(store, settings.panel, calendar, rebuild)
    progress(f"features and targets for {len(panel.dates)} sessions x {len(panel.tickers)} tickers")
    data = build_dataset(panel, settings)
    progress(f"validating {len(data.features.names)} features")
    warmup = warmup_sessions(settings.features)
    report = validate_dataset(data.features, data.targets, settings.validation, warmup, panel.suspects)
    keys = write_validation(store, run_id, report)
    if not report.ok:
        raise DatasetValidationError(report.problems, f"{store.url}/{keys[0]}")
    return report, keys

"""What a walk-forward run writes: ``metrics.csv``, ``summary.json`` and the HTML report, and the stderr table.

Everything here reads a finished :class:`~kabucast.experiments.walkforward.WalkForward`; the folds,
training and scoring are kabucast.experiments.walkforward's. ``kabucast evaluate`` runs
:func:`evaluate_to_store`.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from kabucast.config import EvaluateSettings
from kabucast.data.calendar import SESSIONS_PER_MONTH, TradingCalendar
from kabucast.evaluation.backtest import report_prefix
from kabucast.evaluation.metrics import ic_series, rank_ic_series
from kabucast.evaluation.uncertainty import Estimate, mean_estimate, paired_difference
from kabucast.experiments.folds import HOLDOUT, PERIODS
from kabucast.experiments.walkforward import WalkForward, month_lag, walk_forward
from kabucast.experiments.walkforward_calibration import quantile_calibration
from kabucast.forecast.interface import finite_mean
from kabucast.forecast.metrics import METRIC_NAMES, per_date_std
from kabucast.storage.base import Store, json_safe

TABLE_MONTHS = (1, 3, 6, 12)
"""Horizons whose RankIC the report's table lists (the chart shows all 12)."""


def metrics_frame(result: WalkForward) -> pd.DataFrame:
    """Long frame fold x horizon x model x metric -> value (``metrics.csv``); the holdout's fold is ``holdout``."""
    rows = [
        (fold.name, h + 1, name, metric, values[h])
        for fold in result.folds
        for name, per_metric in fold.metrics.items()
        for metric, values in per_metric.items()
        for h in range(len(values))
    ]
    return pd.DataFrame(rows, columns=["fold", "horizon", "model", "metric", "value"])


def mean_over_folds(result: WalkForward) -> dict[str, dict[str, list[float]]]:
    """Forecast -> metric -> per-horizon mean over the folds (the holdout left out), NaN-skipping."""
    folds = [f for f in result.folds if f.name != HOLDOUT]
    out: dict[str, dict[str, list[float]]] = {}
    for name in folds[0].metrics:
        stacked = {m: np.array([f.metrics[name][m] for f in folds], dtype=np.float64) for m in METRIC_NAMES}
        out[name] = {m: [finite_mean(list(col)) for col in values.T] for m, values in stacked.items()}
    return out


def daily_rankic(result: WalkForward) -> dict[str, dict[str, np.ndarray]]:
    """Period (``folds``: every fold's test days in order; ``holdout``) -> forecast -> (days, 12) per-date RankIC,
    as each fold's scoring computed it (kabucast.experiments.walkforward.score_fold)."""
    out = {}
    for period in PERIODS:
        folds = [f for f in result.folds if (f.name == HOLDOUT) == (period == HOLDOUT)]
        out[period] = {name: np.concatenate([f.daily_rankic[name] for f in folds]) for name in folds[0].daily_rankic}
    return out


def rankic_intervals(result: WalkForward) -> dict[str, dict[str, list[Estimate]]]:
    """Period -> forecast -> per month, the mean RankIC over the period's days with its Newey-West error."""
    return {
        period: {name: [mean_estimate(rows[:, h], month_lag(h)) for h in range(12)] for name, rows in named.items()}
        for period, named in daily_rankic(result).items()
    }


def paired_intervals(result: WalkForward) -> dict[str, dict[str, list[Estimate]]]:
    """Period -> ``model - <baseline>`` -> per month, the mean per-date RankIC difference with its Newey-West
    error: does the model beat that baseline on the same days by more than noise? (``model - champion``
    too when the store has a champion; it may be in-sample, see the summary's ``champion``.)"""
    out: dict[str, dict[str, list[Estimate]]] = {}
    for period, forecasts in daily_rankic(result).items():
        model = forecasts["model"]
        out[period] = {
            f"model - {name}": [paired_difference(model[:, h], daily[:, h], month_lag(h)) for h in range(12)]
            for name, daily in forecasts.items()
            if name != "model"
        }
    return out


def coverage_frame(calibration: dict[str, dict[str, Any]]) -> pd.DataFrame:
    """Horizon x {each interval's coverage per period, its nominal share}: the report's coverage chart."""
    columns: dict[str, list[float]] = {}
    for period, figures in calibration.items():
        for name, interval in figures["intervals"].items():
            columns[f"{name} interval ({period})"] = interval["coverage"]
    for name, interval in next(iter(calibration.values()))["intervals"].items():
        columns[f"nominal {interval['nominal']:.0%} ({name})"] = [interval["nominal"]] * 12
    frame = pd.DataFrame(columns, index=pd.RangeIndex(1, 13, name="horizon (months ahead, 21 sessions each)"))
    frame.columns.name = "share of test outcomes inside the interval"
    return frame


def summary(result: WalkForward, report_key: str | None = None) -> dict[str, Any]:
    """``summary.json``: the run, its layout, per-horizon means over folds, the holdout, the champion,
    the RankIC intervals (``rankic_intervals``: period -> forecast -> one estimate per month) and the
    model's paired differences with every other forecast (``paired_differences``: period ->
    ``model - <name>`` -> one estimate per month) and, for a model with a quantile head, its
    ``quantile_calibration`` (:func:`quantile_calibration`; null without one)."""
    holdout = next(f for f in result.folds if f.name == HOLDOUT)
    return json_safe(
        {
            "run_id": result.run_id,
            "as_of": str(result.as_of.date()),
            "settings": dataclasses.asdict(result.settings),
            "recipe": dataclasses.asdict(result.recipe),
            "folds": [{"name": f.name, **f.layout} for f in result.folds if f.name != HOLDOUT],
            "holdout": {**holdout.layout, "metrics": holdout.metrics},
            "mean_over_folds": mean_over_folds(result),
            "rankic_intervals": _to_dicts(rankic_intervals(result)),
            "paired_differences": _to_dicts(paired_intervals(result)),
            "quantile_calibration": quantile_calibration(result),
            "champion": result.champion,
            "report": report_key,
        }
    )


def _to_dicts(estimates: dict[str, dict[str, list[Estimate]]]) -> dict[str, dict[str, list[dict[str, Any]]]]:
    return {p: {n: [e.to_dict() for e in months] for n, months in rows.items()} for p, rows in estimates.items()}


def write_evaluation(store: Store, result: WalkForward) -> dict[str, str]:
    """Write ``metrics.csv``, ``summary.json`` and the HTML report under ``reports/<run-id>/``; return their keys."""
    from kabucast.evaluation.report import write_report

    prefix = report_prefix(result.run_id)
    report_key = write_report(store, result.run_id, report_inputs(result), "kabucast walk-forward evaluation")
    keys = {"metrics": f"{prefix}metrics.csv", "summary": f"{prefix}summary.json", "report": report_key}
    store.put_bytes(keys["metrics"], metrics_frame(result).to_csv(index=False).encode("utf-8"), "text/csv")
    store.put_json(keys["summary"], summary(result, report_key))
    return keys


def report_inputs(result: WalkForward) -> Any:
    """The HTML report's sections: RankIC by horizon with baselines, IC over time, calibration, dispersion, a table."""
    from kabucast.evaluation.report import ReportInputs

    month = result.settings.report_month
    sessions = SESSIONS_PER_MONTH * month
    label = f"the {month}-month log return from the close of the as-of session to the close {sessions} sessions later"
    quantiles = quantile_calibration(result)
    return ReportInputs(
        ic_by_horizon=rankic_by_horizon(result),
        ic_over_time=ic_over_time(result, month),
        calibration=calibration_pairs(result, month),
        dispersion=dispersion(result),
        coverage=None if quantiles is None else coverage_frame(quantiles),
        metrics=report_table(result),
        captions={
            "ic_by_horizon": "Mean RankIC per horizon m over the folds' test days (and on the holdout): the "
            "Spearman correlation across tickers, each as-of day, of the forecast and the realised m-month log "
            f"return (close t to close t + {SESSIONS_PER_MONTH} m sessions); error bars in summary.json",
            "ic_over_time": f"RankIC and IC per as-of day of {label}; dotted lines: where each fold's test and the "
            "holdout begin (gaps: purges)",
            "calibration": f"Calibration of the model on the folds' test samples: {label}, predicted vs realised, "
            "by deciles of the prediction",
            "dispersion": "Cross-sectional std per horizon of the forecasts and of the realised m-month log returns "
            "(mean over the folds' test days): a forecast spread near 0 is a collapsed model",
            "coverage": "Interval calibration: the share of the realised m-month log returns inside the model's "
            "central quantile interval at each horizon, on the folds' test samples and the holdout; dashed: the "
            "share a calibrated interval holds",
        },
        boundaries=tuple(
            (pd.Timestamp(f.layout["test_range"][0]), "holdout" if f.name == HOLDOUT else f.name) for f in result.folds
        ),
    )


def _label(result: WalkForward, name: str) -> str:
    """A forecast's legend name; the champion's says on how many folds it may have trained on the test days."""
    in_sample = result.champion["in_sample"] if name == "champion" and result.champion else []
    return f"{name} (in-sample on {len(in_sample)} folds)" if in_sample else name


def rankic_by_horizon(result: WalkForward) -> pd.DataFrame:
    """Horizon x forecast: mean RankIC over the folds, plus the model's and the free baselines' on the holdout."""
    means = mean_over_folds(result)
    holdout = next(f for f in result.folds if f.name == HOLDOUT).metrics
    columns = {f"{_label(result, n)} (folds)": means[n]["rankic"] for n in means if n != "zero_return"}
    columns.update({f"{n} (holdout)": holdout[n]["rankic"] for n in ("model", "momentum_12m", "reversal_1m")})
    frame = pd.DataFrame(columns, index=pd.RangeIndex(1, 13, name="horizon (months ahead, 21 sessions each)"))
    frame.columns.name = "mean RankIC (Spearman across tickers, per date)"
    return frame


def _scored_series(result: WalkForward, name: str, month: int) -> tuple[pd.Series, pd.Series]:
    """(date, ticker) Series of a forecast and of the outcome at ``month``, over every fold and the holdout."""
    samples, parts, outcome = result.samples, [], []
    for fold in result.folds:
        index = pd.MultiIndex.from_arrays([samples.dates[fold.test_idx], samples.tickers[fold.test_idx]])
        parts.append(pd.Series(fold.predictions[name][:, month - 1], index=index))
        outcome.append(pd.Series(samples.target[fold.test_idx, month - 1], index=index))
    return pd.concat(parts), pd.concat(outcome)


def ic_over_time(result: WalkForward, month: int) -> pd.DataFrame:
    """Date x {model RankIC, model IC, momentum RankIC, reversal RankIC} at ``month`` over the test periods and the
    holdout."""
    model, realised = _scored_series(result, "model", month)
    momentum, _ = _scored_series(result, "momentum_12m", month)
    reversal, _ = _scored_series(result, "reversal_1m", month)
    frame = pd.DataFrame(
        {
            f"model RankIC (month {month})": rank_ic_series(model, realised),
            f"model IC (month {month})": ic_series(model, realised),
            f"momentum RankIC (month {month})": rank_ic_series(momentum, realised),
            f"reversal RankIC (month {month})": rank_ic_series(reversal, realised),
        }
    )
    sessions = result.samples.history.as_of
    return frame.reindex(sessions[(sessions >= frame.index.min()) & (sessions <= frame.index.max())])  # NaN: gaps


def calibration_pairs(result: WalkForward, month: int) -> tuple[np.ndarray, np.ndarray]:
    """(predicted, realised) log returns at ``month``, pooled over the folds' test samples (holdout left out)."""
    folds = [f for f in result.folds if f.name != HOLDOUT]
    predicted = np.concatenate([f.predictions["model"][:, month - 1] for f in folds])
    realised = np.concatenate([result.samples.target[f.test_idx, month - 1] for f in folds])
    return predicted, realised


def dispersion(result: WalkForward) -> pd.DataFrame:
    """Horizon x {model, champion, realised}: mean over folds of the per-date cross-sectional std."""
    means = mean_over_folds(result)
    columns = {f"{n} pred xs-std": means[n]["pred_xs_std"] for n in ("model", "champion") if n in means}
    folds = [f for f in result.folds if f.name != HOLDOUT]
    realised = []
    for fold in folds:
        codes = pd.factorize(result.samples.date_pos[fold.test_idx])[0]
        target = result.samples.target[fold.test_idx]
        realised.append([finite_mean(list(per_date_std(target[:, h], codes))) for h in range(target.shape[1])])
    columns["realised xs-std"] = list(np.mean(realised, axis=0))
    frame = pd.DataFrame(columns, index=pd.RangeIndex(1, 13, name="horizon (months ahead)"))
    frame.columns.name = "cross-sectional std (log return), mean over dates"
    return frame


def report_table(result: WalkForward) -> dict[str, Any]:
    """The report's table: layout, mean RankIC at :data:`TABLE_MONTHS` per forecast (metrics.csv has them all),
    the model's paired differences with each baseline and their intervals, then the MAE."""
    st = result.settings
    table: dict[str, Any] = {
        "as_of": str(result.as_of.date()),
        "recipe": st.train_config + (" (SHUFFLED labels: the control)" if result.recipe.data.shuffle_labels else ""),
        "static features": result.recipe.data.static_mode,
        "settings": (
            f"{st.folds} {st.window} folds, purge {st.purge_sessions} sessions, the last {st.holdout_fraction:.0%} "
            f"of dates held out (scored by {'a refit' if st.holdout_model == 'refit' else 'the last fold model'}), "
            f"charts at month {st.report_month}; intervals: 95 %, Newey-West, lag 2 x the label"
        ),
    }
    for fold in result.folds:
        lay = fold.layout
        table[f"{fold.name} train / test"] = (
            f"{lay['train_range'][0]}..{lay['train_range'][1]} / {lay['test_range'][0]}..{lay['test_range'][1]} "
            f"(gap {lay['gap_sessions']} sessions, {lay['n_test']} test samples)"
        )
    if result.champion:
        table["champion"] = f"{result.champion['version']} trained to {result.champion['train_end']}"
        table["champion in-sample on"] = ", ".join(result.champion["in_sample"]) or "none"
    means = mean_over_folds(result)
    holdout = next(f for f in result.folds if f.name == HOLDOUT).metrics
    for month in TABLE_MONTHS:
        for name in means:
            if name != "zero_return":
                table[f"RankIC m{month} {name} (folds)"] = means[name]["rankic"][month - 1]
        table[f"RankIC m{month} model (holdout)"] = holdout["model"]["rankic"][month - 1]
    for period, pairs in paired_intervals(result).items():
        for month in TABLE_MONTHS:
            cells = [f"{name} {_interval(months[month - 1], versus=True)}" for name, months in pairs.items()]
            table[f"paired RankIC difference m{month} ({period}, 95 %)"] = "; ".join(cells)
    for name in ("model", "zero_return", "momentum_12m", "reversal_1m"):
        table[f"MAE m1 / m12 {name} (folds)"] = f"{means[name]['mae'][0]:.4f} / {means[name]['mae'][11]:.4f}"
    table.update(calibration_rows(quantile_calibration(result)))
    return table


def calibration_rows(calibration: dict[str, dict[str, Any]] | None) -> dict[str, str]:
    """Coverage (95 % interval) and pinball ratio at :data:`TABLE_MONTHS`, per period (nothing without a quantile
    head)."""
    rows: dict[str, str] = {}
    for period, figures in (calibration or {}).items():
        for name, interval in figures["intervals"].items():
            cells = [
                f"m{m} {interval['coverage'][m - 1]:.1%} [{_percent(interval['coverage_ci'][m - 1])}]"
                for m in TABLE_MONTHS
            ]
            rows[f"coverage of {name} (nominal {interval['nominal']:.0%}, {period})"] = ", ".join(cells)
            adaptive = interval["adaptive_coverage"]
            rows[f"adaptive coverage of {name} ({period})"] = ", ".join(
                f"m{m} {adaptive[m - 1]:.1%}" for m in TABLE_MONTHS
            )
        for key, label in (("pinball_ratio", "pinball"), ("adaptive_pinball_ratio", "adaptive pinball")):
            ratio = figures[key]
            rows[f"{label} / unconditional ({period}, < 1 is better)"] = ", ".join(
                f"m{m} {ratio[m - 1]:.3f}" for m in TABLE_MONTHS
            )
    return rows


def _percent(bounds: list[float]) -> str:
    return ", ".join("nan" if not np.isfinite(b) else f"{b:.1%}" for b in bounds)


def rankic_table(result: WalkForward) -> str:
    """Mean RankIC over the folds per horizon for every forecast, and the model's on the holdout (for stderr)."""
    means = mean_over_folds(result)
    holdout = next(f for f in result.folds if f.name == HOLDOUT).metrics["model"]["rankic"]
    names = [n for n in means if n != "zero_return"]
    lines = ["month  " + "  ".join(f"{n:>12}" for n in names) + "  model (holdout)"]
    for h in range(12):
        cells = "  ".join(f"{means[n]['rankic'][h]:>+12.3f}" for n in names)
        lines.append(f"{h + 1:>5}  {cells}  {holdout[h]:>+15.3f}")
    if result.champion and result.champion["in_sample"]:
        lines.append(f"champion trained on the test days of: {', '.join(result.champion['in_sample'])}")
    lines.append("mean RankIC with 95 % intervals (Newey-West, lag = 2 x the label; '~0': not distinguishable from 0):")
    for period, forecasts in rankic_intervals(result).items():
        for month in TABLE_MONTHS:
            cells = [f"{name} {_interval(months[month - 1])}" for name, months in forecasts.items()]
            lines.append(f"  {period} month {month:>2}: " + "; ".join(cells))
    lines.append("the model against each baseline, paired per date (model minus baseline RankIC, same days):")
    for period, pairs in paired_intervals(result).items():
        for month in TABLE_MONTHS:
            cells = [f"{name} {_interval(months[month - 1], versus=True)}" for name, months in pairs.items()]
            lines.append(f"  {period} month {month:>2}: " + "; ".join(cells))
    rows = calibration_rows(quantile_calibration(result))
    if rows:
        lines.append("the model's quantile intervals:")
        lines += [f"  {name}: {value}" for name, value in rows.items()]
    return "\n".join(lines)


def _interval(e: Estimate, versus: bool = False) -> str:
    """``+0.031 [+0.010, +0.052]``, then ``~0`` when 0 is inside; a paired difference says who is ahead."""
    if versus:
        ahead = " better" if e.value > 0 else " WORSE"
        noise = ahead if e.excludes_zero else " ~0 (no distinguishable difference)"
    else:
        noise = "" if e.excludes_zero else " ~0"
    return f"{e.value:+.3f} [{e.ci_low:+.3f}, {e.ci_high:+.3f}]{noise}"


def evaluate_to_store(
    settings: EvaluateSettings, store: Store, calendar: TradingCalendar, as_of: pd.Timestamp, work_dir: Path
) -> tuple[WalkForward, dict[str, str]]:
    """:func:`walk_forward` then :func:`write_evaluation`: the ``kabucast evaluate`` command's work."""
    result = walk_forward(settings, store, calendar, as_of, work_dir)
    return result, write_evaluation(store, result)

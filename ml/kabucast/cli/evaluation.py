"""Evaluation commands: ``evaluate`` (walk-forward), ``select`` (the champion across kinds), ``backtest`` and
``backtest-compare``."""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import sys
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from kabucast.cli.base import Command, Context, Result
from kabucast.config import (
    BacktestSettings,
    EvaluateSettings,
    PredictSettings,
    SelectSettings,
    TrainSettings,
    load_settings,
    resolve_config_path,
)
from kabucast.data.calendar import SESSIONS_PER_MONTH, TradingCalendar
from kabucast.data.stored_universe import stored_forecast_settings
from kabucast.errors import KabucastError, ObjectNotFound
from kabucast.storage.base import Store, dumps_json, json_safe


class BacktestNotFound(KabucastError):
    """``backtest-compare`` was given a run id with no stored backtest."""


def cmd_evaluate(ctx: Context) -> Result:
    """Walk-forward evaluation of the training recipe -> ``reports/<run-id>/`` (metrics.csv, summary.json, report)."""
    from kabucast.experiments.walkforward_report import evaluate_to_store, rankic_table, summary

    settings = load_settings(EvaluateSettings, resolve_config_path(ctx.args.config))
    with tempfile.TemporaryDirectory(prefix="kabucast-evaluate-") as tmp:
        result, keys = evaluate_to_store(settings, ctx.store, ctx.calendar, ctx.today, Path(tmp))
    print(rankic_table(result), file=sys.stderr)
    folds = len(result.folds) - 1
    line = f"walk-forward {result.run_id}: {folds} folds + holdout -> {ctx.store.url}/{keys['report']}"
    return line, {**summary(result, keys["report"]), "keys": keys}


def cmd_select(ctx: Context) -> Result:
    """Walk-forward of every candidate recipe and free baseline, one corrected rule -> ``reports/<select-id>/``;
    ``--train`` then trains the chosen recipe on every stored date and makes it the champion."""
    from kabucast.experiments.select import run_selection, selection_table, write_selection

    settings = load_settings(SelectSettings, resolve_config_path(ctx.args.config))
    with tempfile.TemporaryDirectory(prefix="kabucast-select-") as tmp:
        selection = run_selection(settings, ctx.store, ctx.calendar, ctx.today, Path(tmp))
    keys = write_selection(ctx.store, selection)
    print(selection_table(selection), file=sys.stderr)
    out = {**json_safe(selection.to_dict()), "keys": keys, "trained": None}
    line = f"{selection.run_id}: chosen {selection.winner} -> {ctx.store.url}/{keys['report']}"
    if ctx.args.train:
        from kabucast.forecast.dataset import forecast_data
        from kabucast.forecast.registry import set_champion
        from kabucast.forecast.train import train, train_in_tempdir

        cfg, universe, sectors = stored_forecast_settings(ctx.store, selection.winner, TrainSettings)
        data = forecast_data(ctx.store, ctx.calendar, cfg, universe, sectors)
        run = train_in_tempdir(train, cfg, data, ctx.today, walk_forward=selection.evidence(selection.winner))
        set_champion(ctx.store, run.version, f"chosen by {selection.run_id}: {selection.reason}")
        out["trained"] = {"version": run.version, "recipe": selection.winner}
        line += f"\ntrained {selection.winner} as {run.version}: the champion (the daily job serves it)"
    return line, out


def _select_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--train", action="store_true", help="train the chosen recipe on every stored date and make it the champion"
    )


def cmd_backtest(ctx: Context) -> Result:
    """Backtest stored or model predictions against the stored prices -> ``reports/<run-id>/``."""
    from kabucast.evaluation.backtest import backtest_from_store, sample_warning, write_backtest
    from kabucast.evaluation.report import backtest_report

    settings = backtest_settings(ctx.args)
    calendar = ctx.calendar
    as_of = calendar.previous_session(ctx.today)
    frame, provenance = prediction_frame(ctx, settings, calendar, as_of)
    run_id = ctx.args.run_id or backtest_run_id(as_of, ctx.args.predictions, ctx.args.horizon_month, settings)
    _, universe, _ = stored_forecast_settings(ctx.store, ctx.args.predict_config, PredictSettings)  # currency, sectors
    result = backtest_from_store(ctx.store, frame, settings, currency=universe.currency, sectors=universe.sectors_of)
    provenance.update(in_sample_days({**provenance, "fast_mode": settings.fast_mode}, result.daily.index, calendar))
    warnings = []
    if provenance.get("in_sample_days"):
        warnings.append(
            f"{provenance['in_sample_days']} of {len(result.daily)} days are within the model's training "
            f"period or its labels (up to {provenance['labels_until']}): in-sample, not evidence"
        )
    short = sample_warning(len(result.daily))
    warnings += [short] if short else []
    for line in warnings:
        print(f"warning: {line}", file=sys.stderr)
    warning = "; ".join(warnings)
    described = settings_line(settings, universe.currency)
    keys = write_backtest(result, ctx.store, run_id)
    title = report_title(run_id, settings, provenance, warning)
    shown = {"settings": described, "currency": universe.currency}
    report = backtest_report(ctx.store, run_id, result, title, shown, settings.rebalance_days)
    s = result.summary
    line = (
        f"backtest {run_id}: {int(s['n_days'])} days, net Sharpe {s['net_sharpe']:+.2f} "
        f"[{s['net_sharpe_ci_low']:+.2f}, {s['net_sharpe_ci_high']:+.2f}] "
        f"(gross {s['gross_sharpe']:+.2f}), mean RankIC {s['mean_rankic']:+.3f} "
        f"[{s['rankic_ci_low']:+.3f}, {s['rankic_ci_high']:+.3f}] (95 % intervals), "
        f"cost drag {s['cost_drag_bps_per_year']:.0f} bps/yr, equal-weight universe Sharpe "
        f"{s['benchmark_sharpe']:+.2f}; {described} -> {ctx.store.url}/{report}"
    )
    details = {
        "run_id": run_id,
        "settings": dataclasses.asdict(settings),
        "summary": result.summary,
        "failures": result.failures,
        "keys": [*keys, report],
        "warnings": warnings,
        **provenance,
    }
    return line, json_safe(details)


def report_title(run_id: str, settings: BacktestSettings, provenance: dict[str, Any], warning: str) -> str:
    """The report's heading: the run, what was traded, and the in-sample warning if there is one."""
    if settings.fast_mode:
        what = "oracle (--fast-mode: realised returns)"
    else:
        source = provenance.get("model_version")
        what = f"model {source} scored on every session" if source else "the stored daily forecasts"
        what += f", month {provenance['horizon_month']}"
    return f"kabucast backtest {run_id}: {what}" + (f". WARNING: {warning}" if warning else "")


def backtest_settings(args: argparse.Namespace) -> BacktestSettings:
    """The settings file with the command-line flags given on top of it; ``rebalance_days`` left unset
    becomes the forecast's horizon, 21 x ``--horizon-month`` sessions (1 with ``--fast-mode``)."""
    settings = load_settings(BacktestSettings, resolve_config_path(args.config))
    flags = {
        "long_only": True if args.long_only else None,
        "fast_mode": True if args.fast_mode else None,
        "days": args.days,
        "rebalance_days": args.rebalance_days,
        "max_weight": args.max_weight,
        "max_sector": args.max_sector,
    }
    settings = dataclasses.replace(settings, **{k: v for k, v in flags.items() if v is not None})
    if settings.rebalance_days is None:
        horizon = 1 if settings.fast_mode else SESSIONS_PER_MONTH * args.horizon_month
        settings = dataclasses.replace(settings, rebalance_days=horizon)
    return settings


def settings_line(settings: BacktestSettings, currency: str) -> str:
    """Every setting a backtest's figures depend on, in one line (the summary line and the report)."""
    book = "long-only top" if settings.long_only else "long top / short bottom"
    notional = settings.notional.get(currency)
    size = f"{notional:,.0f} {currency} a leg" if notional is not None else f"no notional for {currency}"
    caps = "".join(
        f", {what} <= {value:.0%} of a leg"
        for what, value in (("a name", settings.max_weight), ("a sector", settings.max_sector))
        if value is not None
    )
    return (
        f"{book} {settings.quantile:.0%}{caps}, rebalanced every {settings.rebalance_days} sessions, costs "
        f"{settings.base_bps + settings.slippage_bps:g} bps + impact {settings.impact_k_bps:g} bps "
        "x sqrt(participation) "
        f"(ADV over {settings.adv_days} sessions), {size}" + (", oracle (fast mode)" if settings.fast_mode else "")
    )


def prediction_frame(
    ctx: Context, settings: BacktestSettings, calendar: TradingCalendar, as_of: pd.Timestamp
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Date x ticker predicted returns from the stored forecasts or from the champion, and where they came from."""
    from kabucast.experiments.predictions import load_prediction_history, model_prediction_frame

    month = ctx.args.horizon_month
    if ctx.args.predictions == "stored":
        frame = load_prediction_history(ctx.store, month, end=as_of)
        return frame, {"predictions": "stored", "horizon_month": month}
    from kabucast.forecast.registry import last_seen_day, load_model

    _, universe, sectors = stored_forecast_settings(ctx.store, ctx.args.predict_config, PredictSettings)
    model = load_model(ctx.store)
    start = first_scored_session(calendar, as_of, settings.days)
    print(f"scoring model {model.version} on every session {start.date()}..{as_of.date()}", file=sys.stderr)
    frame = model_prediction_frame(ctx.store, universe, sectors, calendar, start, as_of, month, model)
    seen = last_seen_day(model.meta)  # its last training or early-stopping day
    return frame, {
        "predictions": "model",
        "horizon_month": month,
        "model_version": model.version,
        "train_end": str(seen.date()) if seen is not None else None,
    }


def first_scored_session(calendar: TradingCalendar, as_of: pd.Timestamp, days: int | None) -> pd.Timestamp:
    """The first session to score so the backtest gets ``days`` days (the last session has no next-day return)."""
    if days is None:
        return calendar.first
    sessions = calendar.sessions(calendar.first, as_of)
    return sessions[-min(days + 1, len(sessions))]


def in_sample_days(provenance: dict[str, Any], dates: pd.DatetimeIndex, calendar: TradingCalendar) -> dict[str, Any]:
    """How many backtest days the scoring model may have seen in training or early stopping: up to 252 sessions
    (the longest label) after the last day it trained or early-stopped on."""
    from kabucast.forecast.dataset import LONGEST_LABEL

    end = provenance.get("train_end")
    if provenance.get("predictions") != "model" or provenance.get("fast_mode"):
        return {}  # stored forecasts were made on their day; the oracle uses no model
    if end is None:
        return {"in_sample_days": len(dates), "labels_until": "unknown"}
    after = calendar.sessions(pd.Timestamp(end), calendar.last)
    until = after[min(LONGEST_LABEL, len(after) - 1)]
    return {"in_sample_days": int((dates <= until).sum()), "labels_until": str(until.date())}


def backtest_run_id(as_of: pd.Timestamp, predictions: str, month: int, settings: BacktestSettings) -> str:
    """``backtest-<as-of>-<stored|model>-m<month>-<8 hex digits of the settings>`` (deterministic)."""
    digest = hashlib.sha256(dumps_json(dataclasses.asdict(settings))).hexdigest()[:8]
    return f"backtest-{as_of.date()}-{predictions}-m{month}-{digest}"


def cmd_backtest_compare(ctx: Context) -> Result:
    """Metric x (A, B, B - A) of two stored backtests."""
    from kabucast.evaluation.backtest import compare_backtests

    a, b = ctx.args.run_a, ctx.args.run_b
    table = compare_backtests(stored_summary(ctx.store, a), stored_summary(ctx.store, b), names=(a, b))
    text = table.to_string(float_format=lambda v: f"{v:.4f}")
    return text, json_safe({"a": a, "b": b, "metrics": table.to_dict(orient="index")})


def stored_summary(store: Store, run_id: str) -> dict[str, float]:
    """A stored backtest's summary, or :class:`BacktestNotFound` saying how to make it."""
    from kabucast.evaluation.backtest import load_summary

    try:
        return load_summary(store, run_id)
    except ObjectNotFound:
        raise BacktestNotFound(
            f"no backtest {run_id!r} in {store.url}/reports/: run `kabucast backtest --run-id {run_id}` first"
        ) from None


def _backtest_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--predictions",
        choices=["stored", "model"],
        default="stored",
        help="stored: the daily forecasts under predictions/; model: score the champion on every session",
    )
    p.add_argument("--horizon-month", type=int, default=1, help="which forecast month ranks the stocks (1..12)")
    p.add_argument("--long-only", action="store_true", help="hold the long leg only")
    p.add_argument("--days", type=int, default=None, help="only the most recent N sessions")
    p.add_argument("--fast-mode", action="store_true", help="trade on the realised returns (an oracle: plumbing check)")
    p.add_argument("--rebalance-days", type=int, default=None, help="choose a new book every N sessions")
    p.add_argument("--max-weight", type=float, default=None, help="cap each name at this share of its leg (0-1)")
    p.add_argument("--max-sector", type=float, default=None, help="cap each sector at this share of its leg (0-1)")
    p.add_argument("--run-id", default=None, help="folder under reports/ (default: derived from the settings)")
    p.add_argument("--predict-config", default="predict.yaml", help="universe and sectors for --predictions model")


def _compare_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_a", help="run id of the first backtest (A)")
    p.add_argument("run_b", help="run id of the second backtest (B); diff = B - A")


COMMANDS: dict[str, Command] = {
    "evaluate": Command(
        cmd_evaluate,
        "walk-forward evaluation of the training recipe (purged folds + holdout) -> reports/<run-id>/",
        "evaluate.yaml",
        EvaluateSettings,
        threads=True,
    ),
    "select": Command(
        cmd_select,
        "choose the champion across kinds: walk-forward of every candidate and free baseline, Holm-corrected "
        "-> reports/<run-id>/",
        "select.yaml",
        SelectSettings,
        threads=True,
        arguments=_select_arguments,
    ),
    "backtest": Command(
        cmd_backtest,
        "cost-aware long-short backtest of stored or model predictions -> reports/<run-id>/",
        "backtest.yaml",
        BacktestSettings,
        arguments=_backtest_arguments,
    ),
    "backtest-compare": Command(
        cmd_backtest_compare,
        "compare two stored backtests metric by metric (B - A)",
        "backtest.yaml",
        BacktestSettings,
        arguments=_compare_arguments,
    ),
}

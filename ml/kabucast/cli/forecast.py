"""Forecaster commands: train, finetune, predict, the daily and monthly jobs, and the demo."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from kabucast.cli.base import Command, Context, Result, chosen_tickers, option_defaults, tickers_arg
from kabucast.cli.data import COMMANDS as DATA_COMMANDS
from kabucast.cli.data import cmd_backfill, cmd_enrich
from kabucast.config import (
    EnrichSettings,
    FetchSettings,
    FinetuneSettings,
    PredictSettings,
    TrainSettings,
)
from kabucast.data.stored_universe import stored_forecast_settings
from kabucast.forecast.registry import MODELS
from kabucast.jobs.daily import PredictRequest
from kabucast.jobs.wiring import (
    FinetuneStep,
    build_daily_job,
    build_monthly_job,
    check_tickers,
    onnx_predictor,
)


def cmd_train(ctx: Context) -> Result:
    from kabucast.forecast.dataset import forecast_data
    from kabucast.forecast.train import train, train_in_tempdir

    if ctx.args.from_sweep:
        return _train_from_sweep(ctx)
    cfg, universe, sectors = stored_forecast_settings(ctx.store, ctx.args.config, TrainSettings)
    run = train_in_tempdir(train, cfg, forecast_data(ctx.store, ctx.calendar, cfg, universe, sectors), ctx.today)
    print(run.table(), file=sys.stderr)
    summary = f"{run.summary()}\n{stored_as(ctx, run.version, run.champion)}"
    return summary, {"version": run.version, "champion": run.champion, "run": run.meta["run"]}


def stored_as(ctx: Context, version: str, champion: bool) -> str:
    """Where a new model version went, and whether the daily job serves it."""
    where = f"{ctx.store.url}/{MODELS}/{version}/"
    if champion:
        return f"stored in {where}: the champion (the daily job serves it)"
    return f"stored in {where}: a challenger (`kabucast models promote {version}` makes it the champion)"


def _train_from_sweep(ctx: Context) -> Result:
    """Two-stage training of an evaluated sweep's winner (kabucast.experiments.two_stage), then the gate."""
    import tempfile
    from pathlib import Path

    from kabucast.experiments.two_stage import load_two_stage, two_stage_train
    from kabucast.forecast.dataset import forecast_data

    settings, cfg, universe, sectors = load_two_stage(ctx.args.two_stage_config, ctx.args.config)
    data = forecast_data(ctx.store, ctx.calendar, cfg, universe, sectors)
    with tempfile.TemporaryDirectory(prefix="kabucast-two-stage-") as tmp:
        out = two_stage_train(settings, cfg, data, ctx.today, ctx.args.from_sweep, Path(tmp))
    print(out.run.table(), file=sys.stderr)
    gate = None if out.decision is None else out.decision.to_dict()
    return out.summary(), {"version": out.version, "members": out.members, "gate": gate, "run": out.run.meta["run"]}


def _train_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--from-sweep",
        metavar="DIR",
        help="two-stage training of the winner of an evaluated sweep (store prefix, e.g. sweeps/stability_grid)",
    )
    p.add_argument(
        "--two-stage-config",
        default="sweep/two_stage.yaml",
        help="stages, SWA, snapshots and gate of --from-sweep (default: %(default)s)",
    )


def cmd_finetune(ctx: Context) -> Result:
    summary = FinetuneStep(ctx.args.config, ctx.args.threads)(ctx.store, ctx.today)
    where = stored_as(ctx, summary["version"], summary["promoted"])
    return f"fine-tuned {summary['parent']} -> {summary['version']}: {_verdict(summary)}\n{where}", summary


def _verdict(finetune: dict) -> str:
    gate = finetune["gate"]
    return ("promoted to champion" if gate["promoted"] else "kept as a challenger") + f" ({'; '.join(gate['reasons'])})"


def cmd_predict(ctx: Context) -> Result:
    _, universe, _ = stored_forecast_settings(ctx.store, ctx.args.config, PredictSettings)
    predictor = onnx_predictor(ctx.args.config, universe)
    tickers = check_tickers(chosen_tickers(ctx, universe), universe)
    out = predictor(ctx.store, ctx.today, tickers, PredictRequest(force=ctx.args.force))
    where = f"{out['key']} (latest.json: {out['latest']})"
    line = f"{out['predicted']} forecasts by model {out['model_version']} -> {where}"
    return line + _missing_line(out) + _portfolio_line(out) + _scorecard_line(out) + _site_line(out), out


def _missing_line(predicted: dict) -> str:
    """The members without a forecast and whether the run was forced, on a line of its own ('' if neither)."""
    parts = [f"{m['ticker']} ({m['sessions_missing']} sessions: {m['reason']})" for m in predicted.get("missing", [])]
    missing = f"missing: {'; '.join(parts)}" if parts else ""
    forced = "FORCED publication" if predicted.get("forced") else ""
    return "".join(f"\n{text}" for text in (forced, missing) if text)


def _portfolio_line(predicted: dict) -> str:
    """The portfolio step's outcome on a line of its own ('' when the job publishes no portfolio)."""
    p = predicted.get("portfolio")
    if p is None:
        return ""
    if "key" not in p:
        return f"\nportfolio: {p['latest']}"
    g, r = p["gross"], p["rebalance"]
    when = f"rebalanced today, next {r['next']}" if r["today"] else f"held since {r['last']}, next {r['next']}"
    book = f"long {g['long']:.2f} / short {g['short']:.2f}, {when}, turnover {p['turnover']:.2f}"
    return f"\nportfolio: {book}, est. cost {p['estimated_cost']} -> {p['key']} (latest.json: {p['latest']})"


def cmd_daily(ctx: Context) -> Result:
    job = build_daily_job(ctx.args.config, source=ctx.args.source)
    tickers = tickers_arg(ctx)
    out = job.run(ctx.store, ctx.today, tickers, skip_fetch=ctx.args.skip_fetch, force=ctx.args.force)
    if out["status"] == "skipped":
        return f"daily job skipped: {out['reason']}", out
    p = out["predict"]
    line = f"daily job {out['date']}: {p['predicted']} forecasts -> {p['key']} (latest.json: {p['latest']})"
    return line + _missing_line(p) + _portfolio_line(p) + _scorecard_line(p) + _site_line(p), out


def cmd_scorecard(ctx: Context) -> Result:
    """The live scorecard of every session from ``--since`` (default: the as-of day) to the as-of day."""
    from kabucast.jobs.scorecard_step import publish_scorecards

    _, universe, _ = stored_forecast_settings(ctx.store, ctx.args.config, PredictSettings)
    since = ctx.calendar.requested_day(ctx.args.since, "--since", ctx.today) if ctx.args.since else ctx.today
    days = list(ctx.calendar.sessions(since, ctx.today))
    out = publish_scorecards(ctx.store, ctx.calendar, days, universe.members_on)
    written, same, empty = (len(out[k]) for k in ("published", "unchanged", "nothing_matured"))
    line = f"scorecard {since.date()}..{ctx.today.date()}: {written} written, {same} unchanged"
    line += f", {empty} sessions with no matured forecast" if empty else ""
    if "latest" in out:
        line += f"; {out['num_scored']} forecasts scored (scorecard/latest.json: {out['latest']})"
    return line, out


def _scorecard_line(predicted: dict) -> str:
    """The daily scorecard's outcome on a line of its own ('' for a subset run, which writes none)."""
    s = predicted.get("scorecard")
    if s is None:
        return ""
    if s["status"] == "failed":
        return f"\nscorecard FAILED (the forecast stays published): {s['error']}"
    if not s["published"] and not s["unchanged"]:
        return "\nscorecard: no published forecast has matured yet"
    return f"\nscorecard: {s['num_scored']} forecasts scored (scorecard/latest.json: {s['latest']})"


def _site_line(predicted: dict) -> str:
    """The live page's outcome on a line of its own ('' for a subset run, which writes none)."""
    s = predicted.get("site")
    if s is None:
        return ""
    if s["status"] == "failed":
        return f"\nsite FAILED (the forecast stays published): {s['error']}"
    if not s["written"]:
        return f"\nsite: {s['reason']}"
    return f"\nsite: {s['key']} written ({s['bytes'] / 1e3:.0f} kB)"


def _since(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--since",
        default=None,
        help="write the scorecard of every session from this date YYYY-MM-DD to --as-of (a backfill)",
    )


def cmd_monthly(ctx: Context) -> Result:
    job = build_monthly_job(ctx.args.config, source=ctx.args.source, threads=ctx.args.threads)
    tickers = tickers_arg(ctx)
    out = job.run(ctx.store, ctx.today, tickers, skip_enrich=ctx.args.skip_enrich)
    return f"monthly job {out['date']}: model {out['finetune']['version']} {_verdict(out['finetune'])}", out


def cmd_demo(ctx: Context) -> Result:
    """The embedded default end to end: sample market -> store -> train -> daily forecast (offline)."""
    from kabucast.forecast.document import describe_top
    from kabucast.forecast.registry import champion_version

    steps: list[tuple[str, Callable[[Context], Result], dict]] = [
        ("backfill", cmd_backfill, {"config": "fetch_daily_backfill.yaml", "period": "10y"}),
        ("enrich", cmd_enrich, {"config": "enrich_universe.yaml"}),
        ("train", cmd_train, {"config": "train_demo.yaml"}),
        ("daily", cmd_daily, {"config": "fetch_daily_universe.yaml", "skip_fetch": False}),
    ]
    day = ctx.calendar.previous_session(ctx.today)  # a holiday demo forecasts from the last session
    commands, results = {**DATA_COMMANDS, **COMMANDS}, {}
    for name, fn, overrides in steps:
        if name == "train" and champion_version(ctx.store) is not None:
            print("[train] reusing the champion already in the store (`kabucast train` retrains)", file=sys.stderr)
            continue
        step = option_defaults(commands[name])  # the step's own options at their defaults (--force, ...)
        args = argparse.Namespace(**{**step, **vars(ctx.args), "source": ctx.args.source or "sample", **overrides})
        summary, results[name] = fn(Context(ctx.store, day, args))
        print(f"[{name}] {summary}", file=sys.stderr)
    doc = ctx.store.get_json(results["daily"]["predict"]["key"])  # latest.json, or a --tickers run's own key
    top = describe_top(doc)
    where = f"{ctx.store.url}/{results['daily']['predict']['key']}"
    head = f"top 5 predicted 12-month returns as of {doc['data_as_of']} (SYNTHETIC sample market):"
    return f"{head}\n{top}\nforecasts for {doc['num_predictions']} tickers: {where}", results


def _force(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--force",
        action="store_true",
        help="publish even below min_coverage, or over that date's published document with more forecasts "
        "(never an empty one, never moving latest.json back in time); the document says forced",
    )


def _skip_fetch(p: argparse.ArgumentParser) -> None:
    p.add_argument("--skip-fetch", action="store_true", help="predict from the prices already stored")
    _force(p)


def _skip_enrich(p: argparse.ArgumentParser) -> None:
    p.add_argument("--skip-enrich", action="store_true", help="keep the latest static snapshot")


COMMANDS: dict[str, Command] = {
    "train": Command(
        cmd_train,
        "train the forecaster on stored prices, export ONNX, write models/<version>/",
        "train.yaml",
        TrainSettings,
        arguments=_train_options,
        threads=True,
    ),
    "finetune": Command(
        cmd_finetune,
        "fine-tune the champion into a new version; the promotion gate decides whether it serves",
        "finetune.yaml",
        FinetuneSettings,
        threads=True,
    ),
    "predict": Command(
        cmd_predict,
        "forecast the universe with the champion -> predictions/<date>.json, latest.json",
        "predict.yaml",
        PredictSettings,
        tickers=True,
        arguments=_force,
    ),
    "daily": Command(
        cmd_daily,
        "the daily job: trading-day check, fetch, predict",
        "fetch_daily_universe.yaml",
        FetchSettings,
        source=True,
        tickers=True,
        arguments=_skip_fetch,
    ),
    "scorecard": Command(
        cmd_scorecard,
        "score the published forecasts whose horizon has matured -> scorecard/<date>.json, latest.json",
        "predict.yaml",
        PredictSettings,
        arguments=_since,
    ),
    "monthly": Command(
        cmd_monthly,
        "the monthly job: enrich, fine-tune, promotion gate",
        "enrich_universe.yaml",
        EnrichSettings,
        source=True,
        tickers=True,
        arguments=_skip_enrich,
        threads=True,
    ),
    "demo": Command(
        cmd_demo,
        "the embedded default end to end, offline: sample market, local store",
        source=True,
        tickers=True,
        threads=True,
    ),
}

"""Forecaster commands: train, finetune, predict, the daily and monthly jobs, and the demo."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from kabucast.cli.base import Command, Context, Result, chosen_tickers, tickers_arg
from kabucast.cli.data import cmd_backfill, cmd_enrich
from kabucast.config import EnrichSettings, FetchSettings, FinetuneSettings, PredictSettings, TrainSettings
from kabucast.data.calendar import default_calendar
from kabucast.jobs import build_daily_job, build_monthly_job, finetune_step, forecast_settings, onnx_predictor


def cmd_train(ctx: Context) -> Result:
    from kabucast.forecast.train import train, train_in_tempdir

    if getattr(ctx.args, "from_sweep", None):  # the demo calls this without the option
        return _train_from_sweep(ctx)
    cfg, universe, sectors = forecast_settings(ctx.args.config, TrainSettings)
    run = train_in_tempdir(train, cfg, ctx.store, universe, sectors, default_calendar(), ctx.today)
    print(run.table(), file=sys.stderr)
    return run.summary(), {"version": run.version, "champion": run.champion, "run": run.meta["run"]}


def _train_from_sweep(ctx: Context) -> Result:
    """Two-stage training of an evaluated sweep's winner (kabucast.forecast.two_stage), then the gate."""
    import tempfile
    from pathlib import Path

    from kabucast.forecast.two_stage import load_two_stage, two_stage_train

    settings, cfg, universe, sectors = load_two_stage(ctx.args.two_stage_config, ctx.args.config)
    with tempfile.TemporaryDirectory(prefix="kabucast-two-stage-") as tmp:
        out = two_stage_train(
            settings, cfg, ctx.store, universe, sectors, default_calendar(), ctx.today, ctx.args.from_sweep, Path(tmp)
        )
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
    summary = finetune_step(ctx.args.config)(ctx.store, ctx.today)
    return f"fine-tuned {summary['parent']} -> {summary['version']}: {_verdict(summary)}", summary


def _verdict(finetune: dict) -> str:
    gate = finetune["gate"]
    return ("promoted to champion" if gate["promoted"] else "kept as a challenger") + f" ({'; '.join(gate['reasons'])})"


def cmd_predict(ctx: Context) -> Result:
    _, universe, _ = forecast_settings(ctx.args.config, PredictSettings)
    predictor = onnx_predictor(ctx.args.config)
    out = predictor(ctx.store, ctx.today, chosen_tickers(ctx, universe))
    return f"{out['predicted']} forecasts by model {out['model_version']} -> {out['key']}", out


def cmd_daily(ctx: Context) -> Result:
    job = build_daily_job(ctx.args.config, source=ctx.args.source)
    tickers = tickers_arg(ctx)
    out = job.run(ctx.store, ctx.today, tickers, skip_fetch=ctx.args.skip_fetch)
    if out["status"] == "skipped":
        return f"daily job skipped: {out['reason']}", out
    return f"daily job {out['date']}: {out['predict']['predicted']} forecasts -> {out['predict']['key']}", out


def cmd_monthly(ctx: Context) -> Result:
    job = build_monthly_job(ctx.args.config, source=ctx.args.source)
    tickers = tickers_arg(ctx)
    out = job.run(ctx.store, ctx.today, tickers, skip_enrich=ctx.args.skip_enrich)
    return f"monthly job {out['date']}: model {out['finetune']['version']} {_verdict(out['finetune'])}", out


def cmd_demo(ctx: Context) -> Result:
    """The embedded default end to end: sample market -> store -> train -> daily forecast (offline)."""
    from kabucast.forecast.predict import top_by_12m_return
    from kabucast.forecast.registry import champion_version

    steps: list[tuple[str, Callable[[Context], Result], dict]] = [
        ("backfill", cmd_backfill, {"config": "fetch_daily_backfill.yaml", "period": "10y"}),
        ("enrich", cmd_enrich, {"config": "enrich_universe.yaml"}),
        ("train", cmd_train, {"config": "train_demo.yaml"}),
        ("daily", cmd_daily, {"config": "fetch_daily_universe.yaml", "skip_fetch": False}),
    ]
    day = default_calendar().previous_session(ctx.today)  # a holiday demo forecasts from the last session
    results = {}
    for name, fn, overrides in steps:
        if name == "train" and champion_version(ctx.store) is not None:
            print("[train] reusing the champion already in the store (`kabucast train` retrains)", file=sys.stderr)
            continue
        args = argparse.Namespace(**{**vars(ctx.args), "source": ctx.args.source or "sample", **overrides})
        summary, results[name] = fn(Context(ctx.store, day, args))
        print(f"[{name}] {summary}", file=sys.stderr)
    doc = ctx.store.get_json("predictions/latest.json")
    top = "\n".join(f"  {i}. {t}  {r:+.1%}" for i, (t, r) in enumerate(top_by_12m_return(doc), 1))
    where = f"{ctx.store.url}/predictions/latest.json"
    head = f"top 5 predicted 12-month returns as of {doc['data_as_of']} (SYNTHETIC sample market):"
    return f"{head}\n{top}\nforecasts for {doc['num_predictions']} tickers: {where}", results


def _skip_fetch(p: argparse.ArgumentParser) -> None:
    p.add_argument("--skip-fetch", action="store_true", help="predict from the prices already stored")


def _skip_enrich(p: argparse.ArgumentParser) -> None:
    p.add_argument("--skip-enrich", action="store_true", help="keep the latest static snapshot")


COMMANDS: dict[str, Command] = {
    "train": Command(
        cmd_train,
        "train the forecaster on stored prices, export ONNX, write models/<version>/",
        "train.yaml",
        TrainSettings,
        arguments=_train_options,
    ),
    "finetune": Command(
        cmd_finetune,
        "fine-tune the champion into a new version; the promotion gate decides whether it serves",
        "finetune.yaml",
        FinetuneSettings,
    ),
    "predict": Command(
        cmd_predict,
        "forecast the universe with the champion -> predictions/<date>.json, latest.json",
        "predict.yaml",
        PredictSettings,
        tickers=True,
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
    "monthly": Command(
        cmd_monthly,
        "the monthly job: enrich, fine-tune, promotion gate",
        "enrich_universe.yaml",
        EnrichSettings,
        source=True,
        tickers=True,
        arguments=_skip_enrich,
    ),
    "demo": Command(
        cmd_demo, "the embedded default end to end, offline: sample market, local store", source=True, tickers=True
    ),
}

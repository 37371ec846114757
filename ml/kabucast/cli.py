"""The ``kabucast`` command line: every job, pointed at any store and any source.

Each command parses its arguments, builds adapters (store, source, calendar) and calls one
function; the work itself lives in kabucast.data / kabucast.features.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pandas as pd

from kabucast import __version__
from kabucast.config import (
    EnrichSettings,
    FetchSettings,
    FinetuneSettings,
    PredictSettings,
    SectorSettings,
    TrainSettings,
    UniverseSettings,
    load_settings,
    resolve_config_path,
)
from kabucast.data.calendar import closed_date_jst, default_calendar
from kabucast.data.sources.factory import SOURCE_HELP, make_source
from kabucast.errors import ConfigError, KabucastError
from kabucast.jobs import (
    build_daily_job,
    build_monthly_job,
    finetune_step,
    forecast_settings,
    load_universe,
    onnx_predictor,
)
from kabucast.storage import Store, open_store
from kabucast.storage.url import store_url_from_settings


@dataclass(frozen=True)
class Context:
    """What every command gets: its store, the as-of date (JST) and the parsed arguments."""

    store: Store
    today: pd.Timestamp
    args: argparse.Namespace


def _tickers(ctx: Context, universe: UniverseSettings) -> list[str]:
    return ctx.args.tickers.split(",") if ctx.args.tickers else list(universe.tickers)


def cmd_backfill(ctx: Context) -> tuple[str, dict]:
    from kabucast.data.ingest import backfill

    cfg = load_settings(FetchSettings, resolve_config_path(ctx.args.config))
    universe = load_universe(cfg.universe)
    source = make_source(ctx.args.source or cfg.source, universe, cfg.retry, cfg.batch_size)
    report = backfill(
        ctx.store, source, _tickers(ctx, universe), default_calendar(), ctx.today, ctx.args.period or cfg.period
    )
    return report.summary(), report.to_dict()


def cmd_fetch(ctx: Context) -> tuple[str, dict]:
    from kabucast.data.ingest import fetch_incremental

    cfg = load_settings(FetchSettings, resolve_config_path(ctx.args.config))
    universe = load_universe(cfg.universe)
    source = make_source(ctx.args.source or cfg.source, universe, cfg.retry, cfg.batch_size)
    report = fetch_incremental(
        ctx.store, source, _tickers(ctx, universe), default_calendar(), ctx.today, cfg.overlap_sessions, cfg.period
    )
    return report.summary(), report.to_dict()


def cmd_enrich(ctx: Context) -> tuple[str, dict]:
    from kabucast.data.enrich import enrich

    cfg = load_settings(EnrichSettings, resolve_config_path(ctx.args.config))
    universe = load_universe(cfg.universe)
    source = make_source(ctx.args.source or cfg.source, universe, cfg.retry, cfg.batch_size)
    tickers = _tickers(ctx, universe)
    sectors = {m.ticker: m.sector for m in universe.members}
    report = enrich(ctx.store, source, tickers, sectors, ctx.today)
    return report.summary(), report.to_dict()


def cmd_calendar(ctx: Context) -> tuple[str, dict]:
    cal = default_calendar()
    is_session = cal.is_session(ctx.today)
    prev = cal.previous_session(ctx.today, inclusive=False)
    verdict = "a trading day" if is_session else "not a trading day"
    out = {"date": str(ctx.today.date()), "is_trading_day": is_session, "previous_session": str(prev.date())}
    return f"{ctx.today.date()} is {verdict} on the JPX (previous session {prev.date()})", out


def cmd_features(ctx: Context) -> tuple[str, dict]:
    from kabucast.pipelines.inputs import load_model_inputs

    universe = load_universe(ctx.args.universe)
    sectors = load_settings(SectorSettings, resolve_config_path("sectors.yaml"))
    fs = load_model_inputs(
        ctx.store, universe, sectors, default_calendar(), ctx.today, _tickers(ctx, universe)
    ).features
    shapes = {"weekly": list(fs.weekly.shape), "static": list(fs.static.shape), "position": list(fs.position.shape)}
    out = {
        "as_of": str(fs.as_of.date()),
        "tickers": list(fs.tickers),
        "shapes": shapes,
        "failures": [{"ticker": t, "reason": r} for t, r in sorted(fs.failures.items())],
    }
    summary = (
        f"features as of {fs.as_of.date()}: {len(fs.tickers)} tickers, weekly {tuple(fs.weekly.shape)}, "
        f"static {tuple(fs.static.shape)}, position {tuple(fs.position.shape)}, {len(fs.failures)} failed"
    )
    return summary, out


def cmd_train(ctx: Context) -> tuple[str, dict]:
    from kabucast.forecast.train import train, train_in_tempdir

    cfg, universe, sectors = forecast_settings(ctx.args.config, TrainSettings)
    run = train_in_tempdir(train, cfg, ctx.store, universe, sectors, default_calendar(), ctx.today)
    print(run.table(), file=sys.stderr)
    return run.summary(), {"version": run.version, "champion": run.champion, "run": run.meta["run"]}


def cmd_finetune(ctx: Context) -> tuple[str, dict]:
    summary = finetune_step(ctx.args.config)(ctx.store, ctx.today)
    return f"fine-tuned {summary['parent']} -> challenger {summary['version']}", summary


def cmd_predict(ctx: Context) -> tuple[str, dict]:
    _, universe, _ = forecast_settings(ctx.args.config, PredictSettings)
    predictor = onnx_predictor(ctx.args.config)
    out = predictor(ctx.store, ctx.today, _tickers(ctx, universe))
    return f"{out['predicted']} forecasts by model {out['model_version']} -> {out['key']}", out


def cmd_daily(ctx: Context) -> tuple[str, dict]:
    job = build_daily_job(ctx.args.config, source=ctx.args.source)
    tickers = ctx.args.tickers.split(",") if ctx.args.tickers else None
    out = job.run(ctx.store, ctx.today, tickers, skip_fetch=ctx.args.skip_fetch)
    if out["status"] == "skipped":
        return f"daily job skipped: {out['reason']}", out
    return f"daily job {out['date']}: {out['predict']['predicted']} forecasts -> {out['predict']['key']}", out


def cmd_monthly(ctx: Context) -> tuple[str, dict]:
    job = build_monthly_job(ctx.args.config, source=ctx.args.source)
    tickers = ctx.args.tickers.split(",") if ctx.args.tickers else None
    out = job.run(ctx.store, ctx.today, tickers, skip_enrich=ctx.args.skip_enrich)
    return f"monthly job {out['date']}: challenger {out['finetune']['version']} (not promoted: no gate yet)", out


def cmd_demo(ctx: Context) -> tuple[str, dict]:
    """The embedded default end to end: sample market -> store -> train -> daily forecast (offline)."""
    from kabucast.forecast.predict import top_by_12m_return
    from kabucast.forecast.registry import champion_version

    steps: list[tuple[str, Callable[[Context], tuple[str, dict]], dict]] = [
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


def cmd_invoke(ctx: Context) -> tuple[str, dict]:
    """Run a Lambda handler in-process on an event file, as ``sam local invoke`` would."""
    from kabucast.serverless.handlers import ENV_SOURCE, ENV_STORE, ENV_UNIVERSE
    from kabucast.serverless.runner import invoke
    from kabucast.storage.url import ENV_ENDPOINT

    event = _read_event(ctx.args.event)
    env = {ENV_STORE: ctx.store.url}
    env.update({k: v for k, v in ((ENV_SOURCE, ctx.args.source), (ENV_ENDPOINT, ctx.args.endpoint_url)) if v})
    if ctx.args.universe:
        env[ENV_UNIVERSE] = ctx.args.universe
    out = invoke(ctx.args.job, event, env)
    if out.get("status") == "error":
        return f"{ctx.args.job} handler rejected the event: {out['message']}", out
    if out.get("status") == "skipped":
        return f"{ctx.args.job} handler: skipped ({out['reason']})", out
    return f"{ctx.args.job} handler: {out.get('status')} in {out.get('seconds')} s (request {out['request_id']})", out


def _read_event(path: str) -> object:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except OSError as exc:
        raise ConfigError(f"cannot read the event file {path}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path} is not valid JSON: {exc}") from None


COMMANDS: dict[str, tuple[Callable[[Context], tuple[str, dict]], str]] = {
    "backfill": (cmd_backfill, "download history for the universe and merge it into the store"),
    "fetch": (cmd_fetch, "incremental daily fetch: new bars (and a few re-fetched ones) merged into the store"),
    "enrich": (cmd_enrich, "refresh static fundamentals into data/static/<date>.parquet"),
    "calendar": (cmd_calendar, "is the as-of date a JPX trading day?"),
    "features": (cmd_features, "build the model's input arrays from stored prices and report their shapes"),
    "train": (cmd_train, "train the forecaster on stored prices, export ONNX, write models/<version>/"),
    "finetune": (cmd_finetune, "fine-tune the champion into a challenger version"),
    "predict": (cmd_predict, "forecast the universe with the champion -> predictions/<date>.json, latest.json"),
    "daily": (cmd_daily, "the daily job: trading-day check, fetch, predict"),
    "monthly": (cmd_monthly, "the monthly job: enrich, fine-tune"),
    "invoke": (cmd_invoke, "run a Lambda handler in-process on an event file (like `sam local invoke`)"),
    "demo": (cmd_demo, "the embedded default end to end, offline: sample market, local store"),
}
DEFAULT_CONFIGS = {
    "backfill": "fetch_daily_backfill.yaml",
    "fetch": "fetch_daily_universe.yaml",
    "enrich": "enrich_universe.yaml",
    "train": "train.yaml",
    "finetune": "finetune.yaml",
    "predict": "predict.yaml",
    "daily": "fetch_daily_universe.yaml",
    "monthly": "enrich_universe.yaml",
}
SOURCED = {"backfill", "fetch", "enrich", "daily", "monthly", "demo", "invoke"}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kabucast", description="Forecasts for the TOPIX Core30.")
    parser.add_argument("--version", action="version", version=f"kabucast {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (_, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument(
            "--store", default=None, help="a folder (default: the config's storage, .kabucast) or s3://bucket/prefix"
        )
        p.add_argument("--endpoint-url", default=None, help="S3-compatible endpoint (e.g. http://127.0.0.1:5000)")
        p.add_argument("--as-of", default=None, help="JST date to run as (default: the last closed Tokyo session)")
        p.add_argument("--json", action="store_true", help="print the full report as JSON on stdout")
        if name in SOURCED:
            p.add_argument("--source", default=None, help=SOURCE_HELP)
        if (name in SOURCED and name != "invoke") or name in ("predict", "features"):
            p.add_argument("--tickers", default=None, help="comma-separated subset of the universe")
        if name in DEFAULT_CONFIGS:
            p.add_argument("--config", default=DEFAULT_CONFIGS[name], help="settings file (under config/)")
        if name in ("backfill",):
            p.add_argument("--period", default=None, help="how far back: 5y, 18mo, 30d (default: the config's)")
        if name == "features":
            p.add_argument("--universe", default="universes/topix_core30.yaml")
        if name == "invoke":
            p.add_argument("job", choices=["daily", "monthly"], help="which function's handler")
            p.add_argument("--event", required=True, help="a Lambda event JSON file (see events/)")
            p.add_argument("--universe", default=None, help="universe file under config/ (the function's default)")
        if name == "daily":
            p.add_argument("--skip-fetch", action="store_true", help="predict from the prices already stored")
        if name == "monthly":
            p.add_argument("--skip-enrich", action="store_true", help="keep the latest static snapshot")
    return parser


def _store_for(args: argparse.Namespace) -> Store:
    url = args.store
    if url is None and getattr(args, "config", None):
        cfg_path = resolve_config_path(args.config)
        cls = {
            "enrich": EnrichSettings,
            "monthly": EnrichSettings,
            "train": TrainSettings,
            "finetune": FinetuneSettings,
            "predict": PredictSettings,
        }.get(args.command, FetchSettings)
        cfg = load_settings(cls, cfg_path)
        url = store_url_from_settings(cfg.env, cfg.storage)
    return open_store(url or ".kabucast", endpoint_url=args.endpoint_url)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        today = pd.Timestamp(args.as_of).normalize() if args.as_of else closed_date_jst()
        ctx = Context(_store_for(args), today, args)
        with contextlib.redirect_stdout(sys.stderr):  # stdout carries only the summary or the JSON report
            summary, details = COMMANDS[args.command][0](ctx)
    except KabucastError as exc:
        print(f"kabucast {args.command}: error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(details, indent=2, default=str))
    print(summary, file=sys.stderr if args.json else sys.stdout)
    return 1 if _nothing_succeeded(details) else 0


def _nothing_succeeded(details: dict) -> bool:
    """Exit non-zero when every ticker failed; a partial failure is reported but is not fatal."""
    if details.get("status") == "error":
        return True
    done = [details.get(k) for k in ("updated", "unchanged", "fetched", "carried", "tickers") if k in details]
    return bool(details.get("failures")) and bool(done) and not any(done)


if __name__ == "__main__":
    sys.exit(main())

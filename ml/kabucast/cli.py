"""The ``kabucast`` command line: every job, pointed at any store and any source.

Each command parses its arguments, builds adapters (store, source, calendar) and calls one
function; the work itself lives in kabucast.data / kabucast.features.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pandas as pd

from kabucast import __version__
from kabucast.config import (
    EnrichSettings,
    FetchSettings,
    SectorSettings,
    UniverseSettings,
    load_settings,
    resolve_config_path,
)
from kabucast.data.calendar import default_calendar
from kabucast.data.sources.factory import SOURCE_HELP, make_source
from kabucast.errors import KabucastError
from kabucast.storage import Store, open_store
from kabucast.storage.url import store_url_from_settings

JST = "Asia/Tokyo"


@dataclass(frozen=True)
class Context:
    """What every command gets: its store, the as-of date (JST) and the parsed arguments."""

    store: Store
    today: pd.Timestamp
    args: argparse.Namespace


MARKET_CLOSE = pd.Timedelta(hours=15, minutes=30)
"""TSE's closing time (JST, since November 2024): a session's bars are final only after it."""


def today_jst(now: pd.Timestamp | None = None) -> pd.Timestamp:
    """The JST date whose session has closed most recently: before 15:30 JST, that is yesterday."""
    now = now if now is not None else pd.Timestamp.now(tz=JST)
    return (now.tz_convert(JST) - MARKET_CLOSE).normalize().tz_localize(None)


def _universe(path: str) -> UniverseSettings:
    return load_settings(UniverseSettings, resolve_config_path(path))


def _tickers(ctx: Context, universe: UniverseSettings) -> list[str]:
    return ctx.args.tickers.split(",") if ctx.args.tickers else list(universe.tickers)


def cmd_backfill(ctx: Context) -> tuple[str, dict]:
    from kabucast.data.ingest import backfill

    cfg = load_settings(FetchSettings, resolve_config_path(ctx.args.config))
    universe = _universe(cfg.universe)
    source = make_source(ctx.args.source or cfg.source, universe, cfg.retry, cfg.batch_size)
    report = backfill(
        ctx.store, source, _tickers(ctx, universe), default_calendar(), ctx.today, ctx.args.period or cfg.period
    )
    return report.summary(), report.to_dict()


def cmd_fetch(ctx: Context) -> tuple[str, dict]:
    from kabucast.data.ingest import fetch_incremental

    cfg = load_settings(FetchSettings, resolve_config_path(ctx.args.config))
    universe = _universe(cfg.universe)
    source = make_source(ctx.args.source or cfg.source, universe, cfg.retry, cfg.batch_size)
    report = fetch_incremental(
        ctx.store, source, _tickers(ctx, universe), default_calendar(), ctx.today, cfg.overlap_sessions, cfg.period
    )
    return report.summary(), report.to_dict()


def cmd_enrich(ctx: Context) -> tuple[str, dict]:
    from kabucast.data.enrich import enrich

    cfg = load_settings(EnrichSettings, resolve_config_path(ctx.args.config))
    universe = _universe(cfg.universe)
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
    from kabucast.pipelines.inputs import load_feature_set

    universe = _universe(ctx.args.universe)
    sectors = load_settings(SectorSettings, resolve_config_path("sectors.yaml"))
    fs = load_feature_set(ctx.store, universe, sectors, default_calendar(), ctx.today, _tickers(ctx, universe))
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


def cmd_demo(ctx: Context) -> tuple[str, dict]:
    """The embedded default, end to end: sample market -> store -> features (no network, no cloud)."""
    steps: list[tuple[str, Callable[[Context], tuple[str, dict]], dict]] = [
        ("backfill", cmd_backfill, {"config": "fetch_daily_backfill.yaml", "period": "5y"}),
        ("fetch", cmd_fetch, {"config": "fetch_daily_universe.yaml"}),
        ("enrich", cmd_enrich, {"config": "enrich_universe.yaml"}),
        ("features", cmd_features, {"universe": "universes/topix_core30.yaml"}),
    ]
    results = {}
    for name, fn, overrides in steps:
        args = argparse.Namespace(
            **{**vars(ctx.args), "source": ctx.args.source or "sample", "period": None, **overrides}
        )
        summary, results[name] = fn(Context(ctx.store, ctx.today, args))
        print(f"[{name}] {summary}", file=sys.stderr)
    feats = results["features"]
    return f"demo done: store {ctx.store.url}, features {feats['shapes']}", results


COMMANDS: dict[str, tuple[Callable[[Context], tuple[str, dict]], str]] = {
    "backfill": (cmd_backfill, "download history for the universe and merge it into the store"),
    "fetch": (cmd_fetch, "incremental daily fetch: new bars (and a few re-fetched ones) merged into the store"),
    "enrich": (cmd_enrich, "refresh static fundamentals into data/static/<date>.parquet"),
    "calendar": (cmd_calendar, "is the as-of date a JPX trading day?"),
    "features": (cmd_features, "build the model's input arrays from stored prices and report their shapes"),
    "demo": (cmd_demo, "the embedded default end to end, offline: sample market, local store"),
}
DEFAULT_CONFIGS = {
    "backfill": "fetch_daily_backfill.yaml",
    "fetch": "fetch_daily_universe.yaml",
    "enrich": "enrich_universe.yaml",
}


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
        if name in DEFAULT_CONFIGS or name == "demo":
            p.add_argument("--source", default=None, help=SOURCE_HELP)
            p.add_argument("--tickers", default=None, help="comma-separated subset of the universe")
        if name in DEFAULT_CONFIGS:
            p.add_argument("--config", default=DEFAULT_CONFIGS[name], help="settings file (under config/)")
        if name in ("backfill",):
            p.add_argument("--period", default=None, help="how far back: 5y, 18mo, 30d (default: the config's)")
        if name == "features":
            p.add_argument("--universe", default="universes/topix_core30.yaml")
            p.add_argument("--tickers", default=None, help="comma-separated subset of the universe")
    return parser


def _store_for(args: argparse.Namespace) -> Store:
    url = args.store
    if url is None and getattr(args, "config", None):
        cfg_path = resolve_config_path(args.config)
        cls = EnrichSettings if args.command == "enrich" else FetchSettings
        cfg = load_settings(cls, cfg_path)
        url = store_url_from_settings(cfg.env, cfg.storage)
    return open_store(url or ".kabucast", endpoint_url=args.endpoint_url)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        today = pd.Timestamp(args.as_of).normalize() if args.as_of else today_jst()
        ctx = Context(_store_for(args), today, args)
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
    done = [details.get(k) for k in ("updated", "unchanged", "fetched", "carried", "tickers") if k in details]
    return bool(details.get("failures")) and bool(done) and not any(done)


if __name__ == "__main__":
    sys.exit(main())

"""The ``kabucast`` command line: every job, pointed at any store and any source.

Each command (declared in cli/data.py, cli/forecast.py, cli/serverless.py, ...) parses its
arguments, builds adapters (store, source, calendar) and calls one function; the work itself lives
in the library. stdout carries only the command's summary, or its JSON report with ``--json``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Sequence

import pandas as pd

from kabucast import __version__
from kabucast.cli import data, evaluation, forecast, models, ranker, serverless, sweep
from kabucast.cli.base import Command, Context
from kabucast.config import load_settings, resolve_config_path
from kabucast.data.calendar import closed_date_jst
from kabucast.data.sources.factory import SOURCE_HELP
from kabucast.errors import KabucastError
from kabucast.storage import Store, open_store
from kabucast.storage.url import DEFAULT_STORE, store_url_from_settings

COMMANDS: dict[str, Command] = {
    **data.COMMANDS,
    **forecast.COMMANDS,
    **evaluation.COMMANDS,
    **models.COMMANDS,
    **ranker.COMMANDS,
    **serverless.COMMANDS,
    **sweep.COMMANDS,
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kabucast", description="Forecasts for the TOPIX Core30.")
    parser.add_argument("--version", action="version", version=f"kabucast {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, command in COMMANDS.items():
        p = sub.add_parser(name, help=command.help, description=command.help)
        p.add_argument(
            "--store", default=None, help="a folder (default: the config's storage, .kabucast) or s3://bucket/prefix"
        )
        p.add_argument("--endpoint-url", default=None, help="S3-compatible endpoint (e.g. http://127.0.0.1:5000)")
        p.add_argument("--as-of", default=None, help="JST date to run as (default: the last closed Tokyo session)")
        p.add_argument("--json", action="store_true", help="print the full report as JSON on stdout")
        if command.source:
            p.add_argument("--source", default=None, help=SOURCE_HELP)
        if command.tickers:
            p.add_argument("--tickers", default=None, help="comma-separated subset of the universe")
        if command.config:
            p.add_argument("--config", default=command.config, help="settings file (under config/)")
        if command.arguments:
            command.arguments(p)
    return parser


def _store_for(args: argparse.Namespace) -> Store:
    """``--store``, else the storage the command's settings file selects, else .kabucast."""
    url = args.store
    command = COMMANDS[args.command]
    if url is None and command.settings is not None and getattr(args, "config", None):
        cfg = load_settings(command.settings, resolve_config_path(args.config))
        url = store_url_from_settings(cfg.env, cfg.storage)
    return open_store(url or DEFAULT_STORE, endpoint_url=args.endpoint_url)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        today = pd.Timestamp(args.as_of).normalize() if args.as_of else closed_date_jst()
        ctx = Context(_store_for(args), today, args)
        with contextlib.redirect_stdout(sys.stderr):  # stdout carries only the summary or the JSON report
            summary, details = COMMANDS[args.command].run(ctx)
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

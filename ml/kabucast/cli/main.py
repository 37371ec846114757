"""The ``kabucast`` command line: every job, pointed at any store and any source.

Each command (declared in cli/data.py, cli/forecast.py, cli/serverless.py, ...) parses its
arguments, builds adapters (store, source, calendar) and calls one function; the work itself lives
in the library. stdout carries only the command's summary, or its JSON report with ``--json``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import traceback
from collections.abc import Sequence

import pandas as pd

from kabucast import __version__
from kabucast.cli import batch, data, evaluation, forecast, models, ranker, serverless, site, slowdata, sweep
from kabucast.cli.base import Command, Context, add_options
from kabucast.config import UniverseSettings, load_settings, load_yaml, resolve_config_path
from kabucast.data.calendar import DEFAULT_EXCHANGE, TradingCalendar, calendar_for
from kabucast.errors import JobFailure, KabucastError, UsageError
from kabucast.storage import Store, open_store
from kabucast.storage.url import DEFAULT_STORE, ENV_STORE, store_url_from_settings

COMMANDS: dict[str, Command] = {
    **data.COMMANDS,
    **slowdata.COMMANDS,
    **forecast.COMMANDS,
    **evaluation.COMMANDS,
    **models.COMMANDS,
    **ranker.COMMANDS,
    **serverless.COMMANDS,
    **site.COMMANDS,
    **sweep.COMMANDS,
    **batch.COMMANDS,
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kabucast", description="Forecasts for the TOPIX Core30.")
    parser.add_argument("--version", action="version", version=f"kabucast {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, command in COMMANDS.items():
        add_options(sub.add_parser(name, help=command.help, description=command.help), command)
    return parser


def _store_for(args: argparse.Namespace) -> Store:
    """``--store``, else ``KABUCAST_STORE`` (set in the functions and Batch jobs), else the storage the
    command's settings file selects, else .kabucast."""
    url = args.store or os.environ.get(ENV_STORE) or None
    command = COMMANDS[args.command]
    if url is None and command.settings is not None and getattr(args, "config", None):
        cfg = load_settings(command.settings, resolve_config_path(args.config))
        url = store_url_from_settings(cfg.env, cfg.storage)
    return open_store(url or DEFAULT_STORE, endpoint_url=args.endpoint_url)


def universe_of(args: argparse.Namespace) -> UniverseSettings | None:
    """The universe a command works on: ``--universe``, else the one its settings file names (directly,
    under ``data`` or ``panel``, or through its ``train_config`` or ``evaluate`` file),
    else ``--predict-config``'s; None if none.

    It sets the command's trading calendar (the universe's ``exchange``) before the command runs.
    """
    from kabucast.config import load_universe

    explicit = getattr(args, "universe", None)
    if explicit:
        return load_universe(explicit)
    files = [getattr(args, "config", None) if COMMANDS[args.command].settings else None]
    files.append(getattr(args, "predict_config", None))
    for name in filter(None, files):
        path = _universe_path(load_yaml(resolve_config_path(name)))
        if path:
            return load_universe(path)
    return None


def _universe_path(data: dict) -> str | None:
    nested = [data.get(k) for k in ("data", "panel")] + [(data.get("data") or {}).get("panel")]
    for candidate in (data.get("universe"), *(n.get("universe") for n in nested if isinstance(n, dict))):
        if isinstance(candidate, str) and candidate:
            return candidate
    for key in ("train_config", "evaluate"):  # an evaluate file's recipe; a select file's evaluate file
        if isinstance(data.get(key), str):
            return _universe_path(load_yaml(resolve_config_path(data[key])))
    return None


def as_of_date(
    raw: str | None, calendar: TradingCalendar, future_ok: bool = False, now: pd.Timestamp | None = None
) -> pd.Timestamp:
    """``--as-of`` checked (strict ``YYYY-MM-DD``, inside the calendar, not after the last closed day);
    without it, the last session of the calendar's exchange that has closed."""
    closed = calendar.last_closed_day(now)
    if raw is None:
        return calendar.previous_session(closed)
    return calendar.requested_day(raw, "--as-of", None if future_ok else closed)


def _use_threads(threads: int | None) -> None:
    from kabucast.compute import set_torch_threads

    try:
        n = set_torch_threads(threads)
    except ValueError as exc:
        raise UsageError(f"--{exc}") from None
    print(f"torch: {n} CPU thread(s)", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Exit codes: 0 done; 1 the run did not do its job (a :class:`JobFailure`: nothing published, the
    store or the source failed; or every ticker failed); 2 what the user must fix first (usage,
    configuration, a missing prerequisite); 3 a bug (the traceback is kept)."""
    args = build_parser().parse_args(argv)
    command = COMMANDS[args.command]
    try:
        universe = universe_of(args)
        calendar = calendar_for(universe.exchange if universe else DEFAULT_EXCHANGE)
        today = as_of_date(args.as_of, calendar, command.future_as_of)
        if command.threads:
            _use_threads(args.threads)
        ctx = Context(_store_for(args), today, args, calendar)
        with contextlib.redirect_stdout(sys.stderr):  # stdout carries only the summary or the JSON report
            summary, details = command.run(ctx)
    except JobFailure as exc:
        print(f"kabucast {args.command}: failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    except KabucastError as exc:
        print(f"kabucast {args.command}: error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    except Exception:
        traceback.print_exc()
        print(
            f"kabucast {args.command}: unexpected error: this is a bug in kabucast; please report it with the "
            "traceback above and the command you ran",
            file=sys.stderr,
        )
        return 3
    if args.json:
        print(json.dumps(details, indent=2, default=str))
    print(summary, file=sys.stderr if args.json else sys.stdout)
    for line in failure_lines(details):
        print(line, file=sys.stderr)
    return 1 if _nothing_succeeded(details) else 0


def failure_lines(details: dict, most: int = 40) -> list[str]:
    """One line per failed ticker (``failures`` of the report or of its steps), for people on stderr."""
    failures = [f for part in (details, *(v for v in details.values() if isinstance(v, dict))) for f in _listed(part)]
    lines = [f"  failed {f['ticker']}: {f['reason']}" for f in failures[:most]]
    if len(failures) > most:
        lines.append(f"  ... and {len(failures) - most} more (--json lists them all)")
    return lines


def _listed(part: dict) -> list[dict]:
    failures = part.get("failures")
    return [f for f in failures if isinstance(f, dict) and "ticker" in f] if isinstance(failures, list) else []


def _nothing_succeeded(details: dict) -> bool:
    """Exit non-zero when every ticker failed; a partial failure is reported but is not fatal."""
    if details.get("status") == "error":
        return True
    done = [details.get(k) for k in ("updated", "unchanged", "fetched", "carried", "tickers") if k in details]
    return bool(details.get("failures")) and bool(done) and not any(done)

"""What every command shares: the context it runs in, how it is declared, small argument helpers."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd

from kabucast.config import UniverseSettings
from kabucast.data.calendar import TradingCalendar, calendar_for
from kabucast.data.sources.factory import SOURCE_HELP
from kabucast.errors import ConfigError
from kabucast.storage import Store


@dataclass(frozen=True)
class Context:
    """What every command gets: its store, the as-of date, the parsed arguments and the trading calendar.

    ``calendar`` is the exchange of the command's universe (cli.main.universe_of; XTKS without one);
    ``today`` is a local date of that exchange.
    """

    store: Store
    today: pd.Timestamp
    args: argparse.Namespace
    calendar: TradingCalendar = field(default_factory=calendar_for)


Result = tuple[str, dict]
"""A command's one-line (or few-line) summary for people, and its full report (``--json``)."""


@dataclass(frozen=True)
class Command:
    """One ``kabucast`` sub-command: what runs, its help, and the options it takes beyond the common ones."""

    run: Callable[[Context], Result]
    help: str
    config: str | None = None  # default settings file under config/ (--config)
    settings: type | None = None  # its settings class: selects the store when --store is not given
    source: bool = False  # takes --source
    tickers: bool = False  # takes --tickers
    arguments: Callable[[argparse.ArgumentParser], None] | None = None
    future_as_of: bool = False  # --as-of may be a day that has not closed yet (calendar look-ups)
    threads: bool = False  # trains with torch: takes --threads (kabucast.compute's policy)


def add_options(p: argparse.ArgumentParser, command: Command) -> None:
    """The options of one sub-command: the common ones (store, as-of, JSON), then what ``command`` takes."""
    p.add_argument(
        "--store", default=None, help="a folder (default: the config's storage, .kabucast) or s3://bucket/prefix"
    )
    p.add_argument("--endpoint-url", default=None, help="S3-compatible endpoint (e.g. http://127.0.0.1:5000)")
    p.add_argument(
        "--as-of",
        default=None,
        help="date YYYY-MM-DD to run as, local to the universe's exchange (default: its last closed session)",
    )
    p.add_argument("--json", action="store_true", help="print the full report as JSON on stdout")
    if command.source:
        p.add_argument("--source", default=None, help=SOURCE_HELP)
    if command.tickers:
        p.add_argument("--tickers", default=None, help="comma-separated subset of the universe")
    if command.config:
        p.add_argument("--config", default=command.config, help="settings file (under config/)")
    if command.threads:
        p.add_argument(
            "--threads",
            type=int,
            default=None,
            help="torch CPU threads (default: half the available cores, at least 1; more oversubscribes a "
            "busy machine)",
        )
    if command.arguments:
        command.arguments(p)


def option_defaults(command: Command) -> dict[str, object]:
    """Every option of ``command`` at its default, as its parser would give them with no arguments."""
    parser = argparse.ArgumentParser(add_help=False)
    add_options(parser, command)
    return vars(parser.parse_args([]))


def tickers_arg(ctx: Context) -> list[str] | None:
    """The ``--tickers`` subset, or None for the whole universe."""
    return ctx.args.tickers.split(",") if getattr(ctx.args, "tickers", None) else None


def chosen_tickers(ctx: Context, universe: UniverseSettings, every: bool = False) -> list[str]:
    """``--tickers`` as given, else the members on the as-of date, or with ``every``
    every name ever listed (history for training and point-in-time evaluation)."""
    chosen = tickers_arg(ctx)
    if chosen:
        return chosen  # a name the source cannot serve fails alone, with its reason
    return list(universe.every_ticker if every else universe.members_on(ctx.today))


def read_json_file(path: str, what: str) -> object:
    """A JSON file's content, or a ConfigError naming the file and what is wrong."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except OSError as exc:
        raise ConfigError(f"cannot read the {what} {path}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path} is not valid JSON: {exc}") from None

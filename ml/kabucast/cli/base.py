"""What every command shares: the context it runs in, how it is declared, small argument helpers."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd

from kabucast.config import UniverseSettings
from kabucast.data.calendar import TradingCalendar, calendar_for
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

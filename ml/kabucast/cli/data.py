"""Data commands: backfill, fetch, enrich, universe (and its sync), calendar (and its check), features."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import pandas as pd

from kabucast.cli.base import Command, Context, Result, chosen_tickers
from kabucast.config import (
    SECTORS_CONFIG,
    AcceptedLevelShift,
    EnrichSettings,
    FetchSettings,
    UniverseSettings,
    load_sectors,
    load_settings,
    load_universe,
    resolve_config_path,
)
from kabucast.data.calendar import parse_date
from kabucast.data.sources.factory import make_source
from kabucast.errors import UsageError, echo


def cmd_backfill(ctx: Context) -> Result:
    from kabucast.data.ingest import backfill

    cfg = load_settings(FetchSettings, resolve_config_path(ctx.args.config))
    universe = _universe_of(ctx, cfg.universe)
    source = make_source(ctx.args.source or cfg.source, universe, cfg.retry, cfg.batch_size)
    tickers = chosen_tickers(ctx, universe, every=True)  # former members too: evaluation uses their history
    period = ctx.args.period or cfg.period
    report = backfill(ctx.store, source, tickers, ctx.calendar, ctx.today, period, _accepted_shifts(ctx, cfg))
    return report.summary(), report.to_dict()


def cmd_fetch(ctx: Context) -> Result:
    from kabucast.data.ingest import fetch_incremental

    cfg = load_settings(FetchSettings, resolve_config_path(ctx.args.config))
    universe = _universe_of(ctx, cfg.universe)
    source = make_source(ctx.args.source or cfg.source, universe, cfg.retry, cfg.batch_size)
    report = fetch_incremental(
        ctx.store,
        source,
        chosen_tickers(ctx, universe),
        ctx.calendar,
        ctx.today,
        cfg.overlap_sessions,
        cfg.period,
        _accepted_shifts(ctx, cfg),
    )
    return report.summary(), report.to_dict()


def _accepted_shifts(ctx: Context, cfg: FetchSettings) -> tuple[AcceptedLevelShift, ...]:
    """The config's ``accepted_level_shifts`` and those of ``--accept-level-shift TICKER:YYYY-MM-DD`` (this run)."""
    given = []
    for text in ctx.args.accept_level_shift or ():
        ticker, _, day = text.rpartition(":")
        if not ticker:
            raise UsageError(
                f"--accept-level-shift must be TICKER:YYYY-MM-DD (e.g. 7203.T:2024-03-29), got {echo(text)}"
            )
        given.append(AcceptedLevelShift(ticker, parse_date(day, "--accept-level-shift").date()))
    return (*cfg.accepted_level_shifts, *given)


def cmd_enrich(ctx: Context) -> Result:
    """Today's snapshot, or with ``--source jquants`` the point-in-time history (kabucast.data.enrich)."""
    from kabucast.data.enrich import StatementSource, enrich, enrich_point_in_time

    cfg = load_settings(EnrichSettings, resolve_config_path(ctx.args.config))
    universe = _universe_of(ctx, cfg.universe)
    source = make_source(ctx.args.source or cfg.source, universe, cfg.retry, cfg.batch_size)
    tickers = chosen_tickers(ctx, universe, every=True)
    sectors = universe.sectors_of
    if isinstance(source, StatementSource):
        history = enrich_point_in_time(ctx.store, source, tickers, sectors, ctx.calendar, ctx.today)
        return history.summary(), history.to_dict()
    report = enrich(ctx.store, source, tickers, sectors, ctx.today)
    return report.summary(), report.to_dict()


def cmd_universe(ctx: Context) -> Result:
    """Members on the as-of date, every dated change, and whether the file is behind the index's review; or ``sync``:
    the membership from J-Quants' master (kabucast.data.universe_sync)."""
    if ctx.args.action == "sync":
        return _sync(ctx)
    universe = _universe_of(ctx, ctx.args.universe)
    spells = universe.spells_on(ctx.today)
    changes = universe.changes()
    width = max(len(m.name) for m in universe.members)
    before = f"before {universe.history_from}" if universe.history_from else "the start"
    lines = [
        f"{universe.name} ({universe.exchange}, {universe.currency}) on {ctx.today.date()}: {len(spells)} members",
        *(f"  {m.ticker:<8} {m.name:<{width}}  {m.sector:<22}  since {m.since or before}" for m in spells),
        f"changes (membership established from {universe.history_from or 'the first spell'}):",
        *(f"  {day}  {what:<6}  {m.ticker:<8} {m.name}" for day, what, m in changes),
    ]
    notes = []
    if universe.history_from and str(ctx.today.date()) < universe.history_from:
        notes.append(
            f"{ctx.today.date()} is before {universe.history_from}, the earliest established membership: those "
            "members stand in (survivorship before it is not removed)"
        )
    warning = ctx.calendar.review_warning(universe)
    if warning:
        notes.append(warning)
    lines += [f"warning: {n}" for n in notes]
    out = {
        "universe": universe.name,
        "exchange": universe.exchange,
        "currency": universe.currency,
        "as_of": str(ctx.today.date()),
        "reviewed": universe.reviewed,
        "history_from": universe.history_from,
        "members": [dataclasses.asdict(m) for m in spells],
        "changes": [{"date": d, "change": w, "ticker": m.ticker, "name": m.name} for d, w, m in changes],
        "warnings": notes,
    }
    return "\n".join(lines), out


def _universe_of(ctx: Context, path: str) -> UniverseSettings:
    """The universe file ``path``, or the store's synced copy of it when there is one (data/stored_universe.py)."""
    from kabucast.data.stored_universe import stored_universe

    return stored_universe(ctx.store, load_universe(path))


def _sync(ctx: Context) -> Result:
    from kabucast.data.universe_sync import run_sync

    if (ctx.args.source or "jquants") != "jquants":
        raise UsageError(
            f"universe sync reads J-Quants' listed-issue master: --source jquants, not {echo(ctx.args.source)}"
        )
    since = parse_date(ctx.args.since, "--since") if ctx.args.since else None
    out = Path(ctx.args.out) if ctx.args.out else None
    shipped, tse33 = load_universe(ctx.args.universe), load_sectors(ctx.args.sectors).tse33
    report, _ = run_sync(ctx.store, shipped, ctx.calendar, ctx.today, tse33, ctx.args.index, since, ctx.args.write, out)
    return report.summary(), report.to_dict()


def cmd_calendar(ctx: Context) -> Result:
    if ctx.args.check:
        return _check_calendar(ctx)
    cal = ctx.calendar
    is_session = cal.is_session(ctx.today)
    prev = cal.previous_session(ctx.today, inclusive=False)
    verdict = "a trading day" if is_session else "not a trading day"
    out = {"date": str(ctx.today.date()), "is_trading_day": is_session, "previous_session": str(prev.date())}
    return f"{ctx.today.date()} is {verdict} on {cal.exchange} (previous session {prev.date()})", out


def _check_calendar(ctx: Context) -> Result:
    from kabucast.data.calendar_check import check_calendar
    from kabucast.data.sources.jquants_source import JQuantsSource

    if ctx.args.check != "jquants":
        raise UsageError(f"--check compares with J-Quants' calendar: --check jquants, not {echo(ctx.args.check)}")
    since = parse_date(ctx.args.since, "--since") if ctx.args.since else ctx.today - pd.DateOffset(years=1)
    until = parse_date(ctx.args.until, "--until") if ctx.args.until else ctx.today
    if until < since:
        raise UsageError(f"--until {until.date()} is before --since {since.date()}")
    report = check_calendar(JQuantsSource().request, ctx.calendar, since, until)
    return report.summary(), report.to_dict()


def cmd_features(ctx: Context) -> Result:
    from kabucast.jobs.inputs import load_model_inputs

    universe = _universe_of(ctx, ctx.args.universe)
    sectors = load_sectors()
    fs = load_model_inputs(
        ctx.store, universe, sectors, ctx.calendar, ctx.today, chosen_tickers(ctx, universe)
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


def _backfill_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--period", default=None, help="how far back: 5y, 18mo, 30d (default: the config's)")
    _fetch_options(p)


def _fetch_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--accept-level-shift",
        action="append",
        metavar="TICKER:DATE",
        help="a level shift that is a real move, not an unadjusted split: stored and flagged, not quarantined "
        "(repeatable; this run only, on top of the config's accepted_level_shifts: docs/OPERATIONS.md)",
    )


def _universe(p: argparse.ArgumentParser) -> None:
    p.add_argument("--universe", default="universes/topix_core30.yaml")


def _universe_options(p: argparse.ArgumentParser) -> None:
    _universe(p)
    p.add_argument(
        "action", nargs="?", choices=["show", "sync"], default="show", help="show (default) or sync from J-Quants"
    )
    p.add_argument("--index", default="TOPIX Core30", help="sync: the master's index (TOPIX Core30 | Large70 | 100)")
    p.add_argument("--since", default=None, help="sync: first date YYYY-MM-DD (default: the file's history_from)")
    p.add_argument("--write", action="store_true", help="sync: write the result as the store's copy, which jobs read")
    p.add_argument("--out", default=None, help="sync: also write the result to this file")
    p.add_argument(
        "--sectors", default=SECTORS_CONFIG, help="sync: the sector file whose tse33 names new members' sectors"
    )


def _calendar_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--universe", default=None, help="a universe file under config/: its exchange (default: XTKS)")
    p.add_argument(
        "--check", default=None, metavar="SOURCE", help="list the days J-Quants' calendar disagrees (jquants)"
    )
    p.add_argument("--since", default=None, help="--check: first date (default: a year before the as-of date)")
    p.add_argument("--until", default=None, help="--check: last date (default: the as-of date)")


COMMANDS: dict[str, Command] = {
    "backfill": Command(
        cmd_backfill,
        "download history for the universe and merge it into the store",
        "fetch_daily_backfill.yaml",
        FetchSettings,
        source=True,
        tickers=True,
        arguments=_backfill_options,
    ),
    "fetch": Command(
        cmd_fetch,
        "incremental daily fetch: new bars (and a few re-fetched ones) merged into the store",
        "fetch_daily_universe.yaml",
        FetchSettings,
        source=True,
        tickers=True,
        arguments=_fetch_options,
    ),
    "enrich": Command(
        cmd_enrich,
        "refresh static fundamentals into data/static/<date>.parquet (--source jquants: their point-in-time history)",
        "enrich_universe.yaml",
        EnrichSettings,
        source=True,
        tickers=True,
    ),
    "universe": Command(
        cmd_universe,
        "the universe's members on the as-of date, every dated change, and whether the file is behind a review; "
        "sync: its membership from J-Quants' master",
        source=True,
        arguments=_universe_options,
        future_as_of=True,
    ),
    "calendar": Command(
        cmd_calendar,
        "is the as-of date a trading day (on the universe's exchange; default the JPX)? --check jquants: every "
        "day J-Quants' calendar disagrees",
        future_as_of=True,
        arguments=_calendar_options,
    ),
    "features": Command(
        cmd_features,
        "build the model's input arrays from stored prices and report their shapes",
        tickers=True,
        arguments=_universe,
    ),
}

"""``kabucast slowdata``: fetch the seeds' slow data from J-Quants into the store (kabucast.data.slow_store), or with
``--screen`` rank the stored groups' columns against the next month's returns (kabucast.experiments.slow_screen)."""

from __future__ import annotations

import argparse

import pandas as pd

from kabucast.cli.base import Command, Context, Result, chosen_tickers
from kabucast.config import FetchSettings, load_sectors, load_settings, load_universe, resolve_config_path
from kabucast.data.calendar import parse_date
from kabucast.data.sources.jquants_slow import GROUPS, check_groups
from kabucast.data.stored_universe import stored_universe
from kabucast.errors import UsageError, echo


def cmd_slowdata(ctx: Context) -> Result:
    """Margin interest (per ticker of the universe, former members too), short selling by sector and investor-type
    flows from ``--since`` (default: a few weeks before what is stored; ten years when nothing is) to the as-of
    date; the retry policy is the fetch config's."""
    from kabucast.data.slow_store import update_slow
    from kabucast.data.sources.jquants_source import JQuantsSource

    if ctx.args.screen:
        return _screen(ctx)
    if (ctx.args.source or "jquants") != "jquants":
        raise UsageError(f"the slow data comes from J-Quants only: --source jquants, not {echo(ctx.args.source)}")
    cfg = load_settings(FetchSettings, resolve_config_path(ctx.args.config))
    groups, since = _groups(ctx), _since(ctx)
    universe = stored_universe(ctx.store, load_universe(ctx.args.universe or cfg.universe))
    tickers = chosen_tickers(ctx, universe, every=True)
    source = JQuantsSource(retry=cfg.retry)
    report = update_slow(ctx.store, source.request, groups, tickers, ctx.calendar, ctx.today, since)
    out = report.to_dict() | {"requests": source.requests}
    return f"{report.summary()}; {source.requests} requests", out


def _screen(ctx: Context) -> Result:
    """Each stored group's columns ranked against the next ``--horizon`` sessions' returns, from ``--since`` (default:
    ten years before the as-of date) on, for the members of the universe on each date."""
    from kabucast.data.ingest import load_prices
    from kabucast.data.slow_store import load_slow_groups
    from kabucast.experiments.slow_screen import screen_lines, slow_screen
    from kabucast.features.panel import PricePanel
    from kabucast.features.slow import slow_inputs

    groups, since = _groups(ctx), _since(ctx)
    cfg = load_settings(FetchSettings, resolve_config_path(ctx.args.config))
    universe = stored_universe(ctx.store, load_universe(ctx.args.universe or cfg.universe))
    frames = load_prices(ctx.store, chosen_tickers(ctx, universe, every=True))
    if not frames:
        raise UsageError("no stored prices to screen against: run `kabucast backfill` first")
    panel = PricePanel.from_frames(frames).until(ctx.today)
    sectors_of = {m.ticker: m.sector for m in universe.members}
    inputs = slow_inputs(load_slow_groups(ctx.store, groups), ctx.calendar, sectors_of, load_sectors())
    start = since if since is not None else ctx.today - pd.DateOffset(years=10)
    summary = slow_screen(panel, inputs, universe, start, ctx.today, ctx.args.horizon)
    head = f"slow-data screen, {start.date()}..{ctx.today.date()}, {ctx.args.horizon}-session log returns, members:"
    return "\n".join([head, *screen_lines(summary)]), {"start": str(start.date()), "features": summary}


def _groups(ctx: Context) -> tuple[str, ...]:
    groups = check_groups([g.strip() for g in ctx.args.groups.split(",") if g.strip()])
    if not groups:
        raise UsageError(f"--groups names no group: choose among {', '.join(GROUPS)}")
    return groups


def _since(ctx: Context) -> pd.Timestamp | None:
    since = parse_date(ctx.args.since, "--since") if ctx.args.since else None
    if since is not None and since > ctx.today:
        raise UsageError(f"--since {since.date()} is after the as-of date {ctx.today.date()}")
    return since


def _options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--groups", default=",".join(GROUPS), help=f"comma-separated groups (default: {','.join(GROUPS)})")
    p.add_argument("--since", default=None, help="first date YYYY-MM-DD (default: from what is stored)")
    p.add_argument("--universe", default=None, help="a universe file under config/ (default: the fetch config's)")
    p.add_argument(
        "--screen",
        action="store_true",
        help="fetch nothing: rank the stored groups' columns against the next --horizon sessions' returns",
    )
    p.add_argument("--horizon", type=int, default=21, help="--screen: sessions of the return (default: 21)")


COMMANDS: dict[str, Command] = {
    "slowdata": Command(
        cmd_slowdata,
        "fetch J-Quants' margin interest, short selling by sector and investor-type flows into data/jquants/ "
        "(the optional feature groups: docs/FEATURES.md)",
        "fetch_daily_backfill.yaml",
        FetchSettings,
        source=True,
        tickers=True,
        arguments=_options,
    ),
}

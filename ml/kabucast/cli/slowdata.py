"""``kabucast slowdata``: fetch the seeds' slow data from J-Quants into the store (kabucast.data.slow_store)."""

from __future__ import annotations

import argparse

from kabucast.cli.base import Command, Context, Result, chosen_tickers
from kabucast.config import FetchSettings, load_settings, load_universe, resolve_config_path
from kabucast.data.calendar import parse_date
from kabucast.data.sources.jquants_slow import GROUPS, check_groups
from kabucast.errors import UsageError, echo


def cmd_slowdata(ctx: Context) -> Result:
    """Margin interest (per ticker of the universe, former members too), short selling by sector and investor-type
    flows from ``--since`` (default: a few weeks before what is stored; ten years when nothing is) to the as-of
    date; the retry policy is the fetch config's."""
    from kabucast.data.slow_store import update_slow
    from kabucast.data.sources.jquants_source import JQuantsSource

    if (ctx.args.source or "jquants") != "jquants":
        raise UsageError(f"the slow data comes from J-Quants only: --source jquants, not {echo(ctx.args.source)}")
    cfg = load_settings(FetchSettings, resolve_config_path(ctx.args.config))
    groups = check_groups([g.strip() for g in ctx.args.groups.split(",") if g.strip()])
    if not groups:
        raise UsageError(f"--groups names no group: choose among {', '.join(GROUPS)}")
    universe = load_universe(ctx.args.universe or cfg.universe)
    tickers = chosen_tickers(ctx, universe, every=True)
    since = parse_date(ctx.args.since, "--since") if ctx.args.since else None
    if since is not None and since > ctx.today:
        raise UsageError(f"--since {since.date()} is after the as-of date {ctx.today.date()}")
    source = JQuantsSource(retry=cfg.retry)
    report = update_slow(ctx.store, source.request, groups, tickers, ctx.calendar, ctx.today, since)
    out = report.to_dict() | {"requests": source.requests}
    return f"{report.summary()}; {source.requests} requests", out


def _options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--groups", default=",".join(GROUPS), help=f"comma-separated groups (default: {','.join(GROUPS)})")
    p.add_argument("--since", default=None, help="first date YYYY-MM-DD (default: from what is stored)")
    p.add_argument("--universe", default=None, help="a universe file under config/ (default: the fetch config's)")


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

"""Ranker commands: ``kabucast ranker <action>``; ``validate`` checks the dataset (train, baseline, submit to come)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from kabucast.cli.base import Command, Context, Result
from kabucast.config import load_settings, resolve_config_path
from kabucast.data.calendar import default_calendar
from kabucast.ranker.settings import RankerDataSettings


def cmd_validate(ctx: Context) -> Result:
    """Build (or load) the panel, features and targets, check them and write ``reports/<run-id>/validation.*``."""
    from kabucast.ranker.validate import run_validation

    cfg = load_settings(RankerDataSettings, resolve_config_path(ctx.args.config))
    run_id = ctx.args.run_id or f"ranker-validate-{ctx.today:%Y%m%d}-{cfg.panel.name}"
    report, keys = run_validation(
        ctx.store, cfg, run_id, default_calendar(), rebuild=ctx.args.rebuild, progress=_progress
    )
    return f"{report.summary()} -> {ctx.store.url}/{keys[0]}", {"status": "ok", "report": keys[0], **report.content}


ACTIONS: dict[str, Callable[[Context], Result]] = {"validate": cmd_validate}


def cmd_ranker(ctx: Context) -> Result:
    return ACTIONS[ctx.args.action](ctx)


def _progress(message: str) -> None:
    print(f"[ranker] {message}", file=sys.stderr)


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=sorted(ACTIONS), help="validate: check the dataset and write its report")
    p.add_argument("--run-id", default=None, help="folder under reports/ (default: ranker-validate-<date>-<panel>)")
    p.add_argument("--rebuild", action="store_true", help="rebuild the stored panel from its source")


COMMANDS: dict[str, Command] = {
    "ranker": Command(
        cmd_ranker,
        "the cross-sectional ranker: `ranker validate` checks its panel, features and targets",
        "ranker/features.yaml",
        RankerDataSettings,
        arguments=_arguments,
    ),
}

"""The live page's commands: ``kabucast site open`` (render it to a file) and ``kabucast site url`` (share it)."""

from __future__ import annotations

import argparse
import re
import webbrowser
from pathlib import Path

from kabucast.cli.base import Command, Context, Result
from kabucast.config import PredictSettings
from kabucast.data.stored_universe import stored_forecast_settings
from kabucast.errors import ConfigError, UsageError
from kabucast.evaluation.live_page import render_page
from kabucast.jobs.site_step import SITE_KEY, page_inputs, write_page
from kabucast.storage import LocalStore

DEFAULT_OUT = "kabucast-site.html"
"""Where ``site open`` writes the page of a store that is not a local folder (in the working directory)."""
MAX_EXPIRY_S = 7 * 24 * 3600
"""The longest a SigV4 presigned URL can be valid."""
_DURATION = re.compile(r"^(\d+)([smhd]?)$")
_UNIT_S = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def cmd_site(ctx: Context) -> Result:
    if ctx.args.action == "url":
        return _url(ctx)
    return _open(ctx)


def _open(ctx: Context) -> Result:
    """Render the page of the store's latest forecast. A local store keeps it as its site/index.html (by the daily
    job's rules); with ``--out``, or from any other store, it goes to a file of its own."""
    _, universe, _ = stored_forecast_settings(ctx.store, ctx.args.config, PredictSettings)
    warning = ctx.calendar.review_warning(universe)
    if ctx.args.out is None and isinstance(ctx.store, LocalStore):
        out = write_page(ctx.store, universe, warning=warning)[1]
        path = ctx.store.root / SITE_KEY
    else:
        html = render_page(page_inputs(ctx.store, universe, warning=warning))
        path = Path(ctx.args.out or DEFAULT_OUT).expanduser().resolve()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(html, encoding="utf-8")
        out = {"key": None, "bytes": len(html.encode("utf-8")), "written": True}
    if ctx.args.browser:
        webbrowser.open(path.as_uri())
    return str(path), {**out, "path": str(path)}


def _url(ctx: Context) -> Result:
    """A presigned URL of the store's page (an S3 store only: the bucket stays private)."""
    seconds = expiry_seconds(ctx.args.expires)
    presign = getattr(ctx.store, "presigned_url", None)
    if presign is None:
        raise UsageError(
            f"{ctx.store.url} is a local store: it has no URL. `kabucast site open` writes the page and prints its path"
        )
    if ctx.args.publish:
        _, universe, _ = stored_forecast_settings(ctx.store, ctx.args.config, PredictSettings)
        write_page(ctx.store, universe, warning=ctx.calendar.review_warning(universe))
    if not ctx.store.exists(SITE_KEY):
        raise UsageError(
            f"{ctx.store.url}/{SITE_KEY} does not exist yet: the daily job writes it, or add --publish to render it now"
        )
    url = presign(SITE_KEY, seconds)
    note = f"valid for {seconds} s, or until the credentials that signed it expire, whichever is sooner"
    return url, {"url": url, "key": SITE_KEY, "expires_in_s": seconds, "note": note}


def expiry_seconds(raw: str) -> int:
    """``3600``, ``90m``, ``12h`` or ``7d`` as seconds, 1 .. :data:`MAX_EXPIRY_S`; a ConfigError otherwise."""
    found = _DURATION.match(raw.strip())
    seconds = int(found.group(1)) * _UNIT_S[found.group(2)] if found else 0
    if not 1 <= seconds <= MAX_EXPIRY_S:
        raise ConfigError(f"--expires must be 1 s .. 7d (e.g. 3600, 90m, 12h, 7d), got {raw!r}")
    return seconds


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=["open", "url"], help="open: write the page and print its path; url: share it")
    p.add_argument("--out", default=None, help="open: write the page to this file (default: the store's page)")
    p.add_argument("--browser", action="store_true", help="open: also open it in the default web browser")
    p.add_argument("--expires", default="1h", help="url: how long the link works (seconds, or 90m, 12h, 7d; max 7d)")
    p.add_argument("--publish", action="store_true", help="url: render and publish the page first")


COMMANDS: dict[str, Command] = {
    "site": Command(
        cmd_site,
        "the live page: `site open` writes site/index.html and prints its path; `site url` prints a presigned URL",
        "predict.yaml",
        PredictSettings,
        arguments=_arguments,
    ),
}

"""Serverless commands: run a Lambda handler in-process (``kabucast invoke``)."""

from __future__ import annotations

import argparse

from kabucast.cli.base import Command, Context, Result, read_json_file


def cmd_invoke(ctx: Context) -> Result:
    """Run a Lambda handler in-process on an event file, as ``sam local invoke`` would."""
    from kabucast.serverless.handlers import ENV_SOURCE, ENV_STORE, ENV_UNIVERSE
    from kabucast.serverless.runner import invoke
    from kabucast.storage.url import ENV_ENDPOINT

    event = read_json_file(ctx.args.event, "event file")
    env = {ENV_STORE: ctx.store.url}
    env.update({k: v for k, v in ((ENV_SOURCE, ctx.args.source), (ENV_ENDPOINT, ctx.args.endpoint_url)) if v})
    if ctx.args.universe:
        env[ENV_UNIVERSE] = ctx.args.universe
    out = invoke(ctx.args.job, event, env)
    if out.get("status") == "error":
        return f"{ctx.args.job} handler rejected the event: {out['error']}: {out['message']}", out
    if out.get("status") == "skipped":
        return f"{ctx.args.job} handler: skipped ({out['reason']})", out
    return f"{ctx.args.job} handler: {out.get('status')} in {out.get('seconds')} s (request {out['request_id']})", out


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("job", choices=["daily", "monthly"], help="which function's handler")
    p.add_argument("--event", required=True, help="a Lambda event JSON file (see events/)")
    p.add_argument("--universe", default=None, help="universe file under config/ (the function's default)")


COMMANDS: dict[str, Command] = {
    "invoke": Command(
        cmd_invoke,
        "run a Lambda handler in-process on an event file (like `sam local invoke`)",
        source=True,
        arguments=_arguments,
    ),
}

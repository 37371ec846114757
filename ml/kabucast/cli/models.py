"""Model registry commands: ``kabucast models list | promote VERSION | rollback``."""

from __future__ import annotations

import argparse

from kabucast.cli.base import Command, Context, Result
from kabucast.config import PredictSettings
from kabucast.errors import KabucastError
from kabucast.forecast.registry import (
    champion_record,
    list_versions,
    load_model,
    model_key,
    rollback,
    set_champion,
)


class GateRejected(KabucastError):
    """A manual promotion of a version the gate rejected, without --force."""


def cmd_models(ctx: Context) -> Result:
    action = ctx.args.action
    if action == "list":
        return _list(ctx)
    if action == "promote":
        return _promote(ctx)
    previous = rollback(ctx.store)
    return f"rolled back: champion is now {previous} (the daily job serves it from its next run)", {
        "champion": champion_record(ctx.store)
    }


def _list(ctx: Context) -> Result:
    rows = list_versions(ctx.store)
    if not rows:
        return f"no model versions in {ctx.store.url}/models/ (run `kabucast train`)", {"versions": []}
    lines = ["  version           kind      as-of       parent            val RankIC 1m  gate"]
    for r in rows:
        mark = "*" if r["champion"] else " "
        rankic = "      -" if r["val_rankic_1m"] is None else f"{r['val_rankic_1m']:+.4f}"
        lines.append(
            f"{mark} {r['version']}  {r['kind']:<8}  {r['as_of'] or '-':<10}  {r['parent'] or '-':<16}  "
            f"{rankic:>13}  {r['gate'] or '-'}"
        )
    lines.append("(* = champion, served by the daily job)")
    return "\n".join(lines), {"versions": rows, "champion": champion_record(ctx.store)}


def _promote(ctx: Context) -> Result:
    version = ctx.args.version
    if not version:
        raise KabucastError("models promote needs a VERSION (see `kabucast models list`)")
    load_model(ctx.store, version)  # ModelNotFound with the path if it is missing or incomplete
    gate_key = model_key(version, "gate.json")
    gate = ctx.store.get_json(gate_key) if ctx.store.exists(gate_key) else None
    if gate is not None and not gate["promoted"] and not ctx.args.force:
        raise GateRejected(
            f"the gate rejected {version} ({'; '.join(gate['reasons'])}); use --force to promote it anyway"
        )
    reason = "manual promotion" + (" over a gate rejection (--force)" if gate and not gate["promoted"] else "")
    set_champion(ctx.store, version, reason)
    return f"{version} is the champion (the daily job serves it from its next run)", {
        "champion": champion_record(ctx.store)
    }


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=["list", "promote", "rollback"], help="what to do with the model registry")
    p.add_argument("version", nargs="?", default=None, help="the version to promote")
    p.add_argument("--force", action="store_true", help="promote even if the gate rejected the version")


COMMANDS: dict[str, Command] = {
    "models": Command(
        cmd_models,
        "list model versions, promote one to champion, or roll back to the previous champion",
        "predict.yaml",
        PredictSettings,
        arguments=_arguments,
    ),
}

"""``kabucast sweep optuna|grid|evaluate|submit``: hyper-parameter search (docs/SWEEPS.md)."""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
from pathlib import Path

from kabucast.cli.base import Command, Context, Result
from kabucast.config import load_settings, resolve_config_path

OPTUNA_CONFIG = "sweep/forecaster_optuna.yaml"
GRID_CONFIG = "sweep/stability_grid.yaml"


def cmd_sweep(ctx: Context) -> Result:
    return {"optuna": _optuna, "grid": _grid, "evaluate": _evaluate, "submit": _submit}[ctx.args.action](ctx)


def _settings(cls: type, path: str) -> object:
    """A sweep settings file (under config/) checked against ``cls``."""
    return load_settings(cls, resolve_config_path(path))


def _optuna(ctx: Context) -> Result:
    import torch

    from kabucast.sweeps.objective import make_objective
    from kabucast.sweeps.optuna_search import (
        OptunaSettings,
        SearchRequest,
        launch_workers,
        open_study,
        run_worker,
        study_summary,
    )

    a = ctx.args
    settings = _settings(OptunaSettings, a.config)
    if a.model:
        settings = dataclasses.replace(settings, trial=dataclasses.replace(settings.trial, model=a.model))
    request = SearchRequest(a.study_name, a.storage, a.n_trials, a.max_epochs)
    if a.workers > 1:
        codes = launch_workers(_worker_argv(ctx), a.workers)
        summary = {**study_summary(open_study(settings, request)), "worker_exit_codes": codes}
    else:
        torch.set_num_threads(a.threads)
        objective = make_objective(settings.trial, ctx.store, ctx.calendar, ctx.today)
        with tempfile.TemporaryDirectory(prefix="kabucast-sweep-") as tmp:
            summary = study_summary(run_worker(settings, request, objective, ctx.store, Path(tmp)))
    best = summary["best"]
    line = f"study {a.study_name}: {summary['states']}" + (
        f"; best trial {best['number']} val RankIC {best['value']:+.4f}" if best else ""
    )
    return line, summary


def _worker_argv(ctx: Context) -> list[str]:
    """The command line of one local worker: this command with ``--workers 1`` and the same store and date."""
    a = ctx.args
    argv = ["sweep", "optuna", "--store", ctx.store.url, "--as-of", str(ctx.today.date()), "--config", a.config]
    argv += ["--n-trials", str(a.n_trials), "--max-epochs", str(a.max_epochs), "--study-name", a.study_name]
    argv += ["--storage", a.storage, "--threads", str(a.threads), "--workers", "1"]
    argv += ["--model", a.model] if a.model else []
    return argv + (["--endpoint-url", a.endpoint_url] if a.endpoint_url else [])


def _grid(ctx: Context) -> Result:
    from kabucast.sweeps.evaluate import evaluate_sweep
    from kabucast.sweeps.grid import GridSettings, run_grid

    settings = _settings(GridSettings, ctx.args.config)
    parallel = ctx.args.parallel or settings.parallel
    with tempfile.TemporaryDirectory(prefix="kabucast-grid-") as tmp:
        rows = run_grid(settings, ctx.store, ctx.calendar, ctx.today, Path(tmp), parallel)
    prefix = f"sweeps/{settings.name}"
    evaluation = evaluate_sweep(ctx.store, prefix, settings.evaluate)
    collapsed = sum(bool(r["collapsed"]) for r in rows)
    summary = f"grid {settings.name}: {len(rows)} configs ({collapsed} collapsed) -> {prefix}/\n{evaluation.summary()}"
    return summary, {"prefix": prefix, "configs": rows, "files": evaluation.keys}


def _evaluate(ctx: Context) -> Result:
    from kabucast.sweeps.evaluate import evaluate_sweep
    from kabucast.sweeps.grid import GridSettings

    settings = _settings(GridSettings, ctx.args.config)
    evaluation = evaluate_sweep(ctx.store, ctx.args.dir, settings.evaluate)
    top = evaluation.top[["config_id", "score", *evaluation.top.columns[evaluation.top.columns.str.startswith("val_")]]]
    print(top.to_string(index=False), file=sys.stderr)
    return evaluation.summary(), {"files": evaluation.keys, "passed": int(evaluation.frame["passed"].sum())}


def _submit(ctx: Context) -> Result:
    import boto3

    from kabucast.sweeps.submit import submit, submit_request

    a = ctx.args
    request = submit_request(a.job_queue, a.job_definition, a.workers, a.worker_args, a.job_name)
    out = submit(boto3.client("batch"), request)
    return f"submitted {out['job_name']} ({out['job_id']}): {out['workers']} Optuna worker(s)", {
        **out,
        "request": request,
    }


def _common(p: argparse.ArgumentParser) -> None:
    """The options every command takes, accepted after the action too (``sweep grid --store X``)."""
    for flag in ("--store", "--endpoint-url", "--as-of"):
        p.add_argument(flag, default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    p.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)


def _arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", required=True)
    opt = sub.add_parser("optuna", help="an Optuna study shared by --workers processes (or Batch array children)")
    opt.add_argument("--config", default=OPTUNA_CONFIG, help="search space and trial settings (under config/)")
    opt.add_argument("--model", default=None, help="forecaster or ranker (default: the config's trial.model)")
    opt.add_argument("--n-trials", type=int, required=True, help="trials to finish in total (COMPLETE + PRUNED)")
    opt.add_argument("--max-epochs", type=int, required=True, help="epochs per trial at most")
    opt.add_argument("--study-name", required=True)
    opt.add_argument("--storage", required=True, help="journal:///path/study.log or an RDB URL (sqlite:///x.db)")
    opt.add_argument("--workers", type=int, default=1, help="worker processes on this machine")
    opt.add_argument("--threads", type=int, default=1, help="torch threads per worker")
    grid = sub.add_parser("grid", help="train every config of a grid, then evaluate it")
    grid.add_argument("--config", default=GRID_CONFIG, help="the grid (under config/)")
    grid.add_argument("--parallel", type=int, default=None, help="configs at a time (default: the config's)")
    ev = sub.add_parser("evaluate", help="gate and score a sweep's configs -> all_results.csv, top_configs.csv")
    ev.add_argument("dir", help="the sweep's prefix in the store, e.g. sweeps/stability_grid")
    ev.add_argument("--config", default=GRID_CONFIG, help="its evaluate: thresholds and weights (under config/)")
    sm = sub.add_parser("submit", help="K Optuna workers as one AWS Batch array job")
    sm.add_argument("--job-queue", required=True)
    sm.add_argument("--job-definition", required=True)
    sm.add_argument("--workers", type=int, required=True)
    sm.add_argument("--job-name", default="kabucast-sweep")
    sm.add_argument("worker_args", nargs=argparse.REMAINDER, help="-- optuna --n-trials N ... (the workers' args)")
    for action in (opt, grid, ev, sm):
        _common(action)


COMMANDS: dict[str, Command] = {
    "sweep": Command(cmd_sweep, "hyper-parameter sweeps: optuna, grid, evaluate, submit", arguments=_arguments),
}

"""Ranker commands: ``kabucast ranker <action>``.

``validate`` checks the dataset; ``train`` trains the neural ranker (and LightGBM beside it) on purged CV
folds and reports the held-out period; ``baseline`` runs LightGBM alone; ``submit`` sends any of them to
AWS Batch (``kabucast ranker submit --job-queue Q --job-definition D --run train --store s3://...``).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from kabucast.cli.base import Command, Context, Result
from kabucast.cli.batch import add_target_arguments
from kabucast.config import load_settings, resolve_config_path
from kabucast.errors import ConfigError
from kabucast.ranker.settings import RankerDataSettings

if TYPE_CHECKING:
    from kabucast.ranker.runs import RankerTrainSettings


def cmd_validate(ctx: Context) -> Result:
    """Build (or load) the panel, features and targets, check them and write ``reports/<run-id>/validation.*``."""
    from kabucast.ranker.validate import run_validation

    cfg = load_settings(RankerDataSettings, resolve_config_path(ctx.args.config))
    run_id = ctx.args.run_id or f"ranker-validate-{ctx.today:%Y%m%d}-{cfg.panel.name}"
    report, keys = run_validation(ctx.store, cfg, run_id, ctx.calendar, rebuild=ctx.args.rebuild, progress=_progress)
    return f"{report.summary()} -> {ctx.store.url}/{keys[0]}", {"status": "ok", "report": keys[0], **report.content}


def cmd_train(ctx: Context) -> Result:
    """The neural ranker on every CV fold, LightGBM beside it (``baseline.enabled``), the held-out report."""
    return _run_models(ctx, "train")


def cmd_baseline(ctx: Context) -> Result:
    """LightGBM alone on the same features and folds as ``train``, with permutation importance."""
    return _run_models(ctx, "baseline")


def cmd_submit(ctx: Context) -> Result:
    """Submit ``kabucast ranker <job args>`` to AWS Batch (the job image's entrypoint is ``kabucast``)."""
    import boto3

    from kabucast.ranker.submit import default_job_name, job_request, submit

    a = ctx.args
    if not a.job_queue or not a.job_definition:
        raise ConfigError("ranker submit needs --job-queue and --job-definition (template.yaml's Batch outputs)")
    name = a.job_name or default_job_name(a.job_args)
    request = job_request(a.job_queue, a.job_definition, a.job_args, name, a.array_size)
    job = submit(boto3.client("batch"), request)
    return f"submitted {job['jobName']} ({job['jobId']}) to {a.job_queue}", {"status": "ok", **job, "request": request}


def _run_models(ctx: Context, action: str) -> Result:
    from kabucast.ranker.runs import RankerTrainSettings
    from kabucast.ranker.train import run_ranker

    a = ctx.args
    if a.job_args:
        raise ConfigError(f"unexpected arguments for ranker {action}: {' '.join(a.job_args)}")
    data = load_settings(RankerDataSettings, resolve_config_path(a.config))
    settings = _with_overrides(load_settings(RankerTrainSettings, resolve_config_path(a.model_config)), a)
    models = ["lightgbm"] if action == "baseline" else ["neural"] + (["lightgbm"] if settings.baseline.enabled else [])
    run_id = a.run_id or f"ranker-{action}-{ctx.today:%Y%m%d}-{data.panel.name}"
    with tempfile.TemporaryDirectory(prefix="kabucast-ranker-") as scratch:
        work_dir = Path(a.work_dir or scratch)
        result = run_ranker(
            ctx.store, data, settings, run_id, work_dir, ctx.calendar, models, a.shuffle_targets, _progress
        )
    report = {
        "status": "ok",
        "run_id": run_id,
        "keys": result.keys,
        "holdout": {name: table.reset_index().to_dict(orient="records") for name, table in result.summary.items()},
    }
    return f"{result.line()} -> {ctx.store.url}/{result.keys[0]}", report


def _with_overrides(settings: RankerTrainSettings, a: argparse.Namespace) -> RankerTrainSettings:
    """The model settings with the command line's CV and epoch options applied."""
    cv = dataclasses.replace(
        settings.cv,
        **{
            k: v
            for k, v in {"kind": a.cv_type, "n_splits": a.cv_n_splits, "embargo_days": a.embargo_days}.items()
            if v is not None
        },
    )
    training = settings.training
    if a.max_epochs is not None:
        training = dataclasses.replace(training, max_epochs=a.max_epochs)
    return dataclasses.replace(settings, cv=cv, training=training)


ACTIONS: dict[str, Callable[[Context], Result]] = {
    "validate": cmd_validate,
    "train": cmd_train,
    "baseline": cmd_baseline,
    "submit": cmd_submit,
}


def cmd_ranker(ctx: Context) -> Result:
    return ACTIONS[ctx.args.action](ctx)


def _progress(message: str) -> None:
    print(f"[ranker] {message}", file=sys.stderr)


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "action",
        choices=sorted(ACTIONS),
        help="validate: check the dataset; train: neural ranker (+ LightGBM); baseline: LightGBM; submit: AWS Batch",
    )
    p.add_argument("--run-id", default=None, help="folder under reports/ (default: ranker-<action>-<date>-<panel>)")
    p.add_argument("--rebuild", action="store_true", help="rebuild the stored panel from its source")
    train = p.add_argument_group("train and baseline")
    train.add_argument("--model-config", default="ranker/model.yaml", help="model, loss, CV settings (config/)")
    train.add_argument("--cv-type", choices=["purged_kfold", "walk_forward"], default=None)
    train.add_argument("--cv-n-splits", type=int, default=None)
    train.add_argument("--embargo-days", type=int, default=None, help="sessions dropped after each test fold")
    train.add_argument("--max-epochs", type=int, default=None)
    train.add_argument("--work-dir", default=None, help="local folder for the arrays and checkpoints (default: temp)")
    train.add_argument(
        "--shuffle-targets", type=int, default=None, metavar="SEED", help="control run: permute the targets first"
    )
    batch = p.add_argument_group("submit (AWS Batch; region and credentials from the environment)")
    add_target_arguments(batch, "kabucast-ranker-<action>")
    batch.add_argument(
        "--run",
        dest="job_args",
        nargs=argparse.REMAINDER,
        default=[],
        help="LAST option: the ranker command the job runs, e.g. --run train --store s3://bucket/prefix",
    )


COMMANDS: dict[str, Command] = {
    "ranker": Command(
        cmd_ranker,
        "the cross-sectional ranker: validate its dataset, train (neural + LightGBM), baseline, submit to AWS Batch",
        "ranker/features.yaml",
        RankerDataSettings,
        arguments=_arguments,
    ),
}

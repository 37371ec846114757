"""``kabucast submit``: run any kabucast command (full training, evaluation, ...) as an AWS Batch job."""

from __future__ import annotations

import argparse

from kabucast.cli.base import Command, Context, Result
from kabucast.errors import ConfigError


def cmd_submit(ctx: Context) -> Result:
    import boto3

    from kabucast.batch import default_job_name, job_request, stack_targets, submit

    a = ctx.args
    command = a.job_command[1:] if a.job_command[:1] == ["--"] else a.job_command
    if a.stack:
        queue, definition = stack_targets(boto3.client("cloudformation"), a.stack)
    elif a.job_queue and a.job_definition:
        queue, definition = a.job_queue, a.job_definition
    else:
        raise ConfigError(
            "submit needs --stack NAME (a stack deployed with EnableBatch=true) or both --job-queue "
            "and --job-definition"
        )
    request = job_request(queue, definition, command, a.job_name or default_job_name(command), a.array_size)
    job = submit(boto3.client("batch"), request)
    return f"submitted {job['jobName']} ({job['jobId']}) to {queue}", {"status": "ok", **job, "request": request}


def add_target_arguments(p: argparse.ArgumentParser | argparse._ArgumentGroup, job_name: str) -> None:
    """The options that say where a Batch job goes (shared by ``submit`` and ``ranker submit``)."""
    p.add_argument("--job-queue", default=None, help="template.yaml output BatchJobQueueArn")
    p.add_argument("--job-definition", default=None, help="template.yaml output BatchJobDefinitionArn")
    p.add_argument("--array-size", type=int, default=1, help="children of an array job (>= 2)")
    p.add_argument("--job-name", default=None, help=f"default: {job_name}")


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--stack", default=None, help="read the job queue and definition from this stack's outputs")
    add_target_arguments(p, "kabucast-<command>")
    p.add_argument(
        "job_command",
        nargs=argparse.REMAINDER,
        help="after --: the kabucast command the job runs, e.g. -- train --config train.yaml",
    )


COMMANDS: dict[str, Command] = {
    "submit": Command(
        cmd_submit,
        "run a kabucast command (e.g. full training) as an AWS Batch job in the stack's job image",
        arguments=_arguments,
    ),
}

"""Container jobs on AWS Batch: any ``kabucast`` command run in the job image (ml/Dockerfile).

The image's entrypoint runs ``kabucast``, so a job's command is what follows it
(``["train", "--config", "train.yaml"]``); ``containerOverrides.command`` replaces the job
definition's default. The queue and definition are template.yaml's ``BatchJobQueueArn`` and
``BatchJobDefinitionArn`` outputs (a stack deployed with ``EnableBatch=true``; the definition once the
pushed image's digest is deployed as ``BatchImageUri``); the container's store is its
``KABUCAST_STORE`` (the stack's bucket). With ``array_size`` >= 2 Batch starts that many children,
each with ``AWS_BATCH_JOB_ARRAY_INDEX`` set.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from kabucast.errors import ConfigError

MAX_ARRAY_SIZE = 10_000
"""AWS Batch's limit on the children of one array job."""
QUEUE_OUTPUT, DEFINITION_OUTPUT = "BatchJobQueueArn", "BatchJobDefinitionArn"


def job_request(
    job_queue: str, job_definition: str, command: Sequence[str], job_name: str, array_size: int = 1
) -> dict[str, Any]:
    """The ``batch.submit_job`` request running ``kabucast <command>`` in the job image."""
    command = list(command[1:] if command[:1] == ["kabucast"] else command)
    if not command:
        raise ConfigError("give the kabucast command the job runs, e.g. -- train --config train.yaml")
    if not 1 <= array_size <= MAX_ARRAY_SIZE:
        raise ConfigError(f"--array-size must lie in [1, {MAX_ARRAY_SIZE}], got {array_size}")
    request: dict[str, Any] = {
        "jobName": job_name,
        "jobQueue": job_queue,
        "jobDefinition": job_definition,
        "containerOverrides": {"command": command},
    }
    if array_size > 1:
        request["arrayProperties"] = {"size": array_size}
    return request


def default_job_name(command: Sequence[str]) -> str:
    """``kabucast-<command>`` (its words before the first option, e.g. ``kabucast-sweep-optuna``), limited to
    Batch's job-name alphabet (letters, digits, - and _; 128 characters)."""
    words = []
    for w in command:
        if w.startswith("-") or len(words) == 2:
            break
        if w != "kabucast":
            words.append(w)
    return re.sub(r"[^A-Za-z0-9_-]", "-", "-".join(["kabucast", *words]))[:128]


def stack_targets(cloudformation: Any, stack: str) -> tuple[str, str]:
    """The job queue and definition ARNs from a deployed stack's outputs."""
    try:
        stacks = cloudformation.describe_stacks(StackName=stack)["Stacks"]
    except Exception as exc:
        raise ConfigError(f"cannot read the outputs of stack {stack!r}: {exc}") from exc
    outputs = {o["OutputKey"]: o["OutputValue"] for o in (stacks[0].get("Outputs", []) if stacks else [])}
    if QUEUE_OUTPUT not in outputs:
        raise ConfigError(
            f"stack {stack!r} has no Batch outputs: deploy it with EnableBatch=true (and subnets), "
            "or pass --job-queue and --job-definition"
        )
    if DEFINITION_OUTPUT not in outputs:
        raise ConfigError(
            f"stack {stack!r} has no job definition yet: push the job image with `make job-image` and deploy "
            "with the BatchImageUri it prints, or pass --job-definition"
        )
    return outputs[QUEUE_OUTPUT], outputs[DEFINITION_OUTPUT]


def submit(client: Any, request: dict[str, Any]) -> dict[str, str]:
    """Submit ``request`` with a boto3 Batch ``client``; the job's name, id and ARN."""
    response = client.submit_job(**request)
    return {"jobName": response["jobName"], "jobId": response["jobId"], "jobArn": response.get("jobArn", "")}

"""``kabucast ranker submit``: run a ranker command as an AWS Batch job (the queue and definition of template.yaml).

The job image's entrypoint is ``kabucast`` (ml/Dockerfile), so the container command is the part after
it: ``["ranker", "train", "--config", ..., "--store", "s3://..."]``; ``containerOverrides.command``
replaces the job definition's default command. With ``array_size`` >= 2 Batch starts that many children
of one array job, each with ``AWS_BATCH_JOB_ARRAY_INDEX`` set (0 .. size - 1).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from kabucast import batch
from kabucast.errors import ConfigError

ENTRYPOINT = "kabucast"


def job_request(
    job_queue: str,
    job_definition: str,
    ranker_args: Sequence[str],
    job_name: str,
    array_size: int = 1,
) -> dict[str, Any]:
    """The ``submit_job`` request running ``kabucast ranker <ranker_args>`` in the job image."""
    args = list(ranker_args)
    if args[:1] == [ENTRYPOINT]:
        args = args[1:]
    if args[:1] == ["ranker"]:
        args = args[1:]
    if not args or args[0] == "submit":
        raise ConfigError("give the ranker command to run as the last option, e.g. --run train --store s3://bucket")
    return batch.job_request(job_queue, job_definition, ["ranker", *args], job_name, array_size)


def default_job_name(ranker_args: Sequence[str]) -> str:
    """``kabucast-ranker-<action>``, limited to Batch's job-name alphabet (letters, digits, - and _; 128 chars)."""
    action = next((a for a in ranker_args if a not in (ENTRYPOINT, "ranker")), "job")
    return re.sub(r"[^A-Za-z0-9_-]", "-", f"kabucast-ranker-{action}")[:128]


submit = batch.submit

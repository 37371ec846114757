"""``kabucast sweep submit``: K Optuna workers in the cloud as ONE AWS Batch array job.

Every child of the array job (``arrayProperties.size`` = K) runs the same command,
``kabucast sweep optuna ... --workers 1``, against the shared study storage named in the arguments
(an RDB URL such as ``postgresql://...``, or ``journal:///mnt/efs/study.log`` on a shared file
system): the study, not the array index, hands out trials. The job queue and definition are the
stack's BatchJobQueue and BatchJobDefinition (template.yaml outputs); the container's store is its
``KABUCAST_STORE`` (the stack's bucket). AWS Batch needs an array size of 2 or more, so K = 1 is
submitted as a plain job.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kabucast import batch
from kabucast.errors import ConfigError


def submit_request(
    job_queue: str, job_definition: str, workers: int, worker_args: Sequence[str], job_name: str
) -> dict[str, Any]:
    """The ``batch.submit_job`` request running ``kabucast sweep <worker_args> --workers 1`` in K workers."""
    args = [a for a in worker_args if a != "--"] if worker_args[:1] == ["--"] else list(worker_args)
    if args[:1] != ["optuna"]:
        raise ConfigError("sweep submit runs Optuna workers: give the worker arguments after --, e.g. -- optuna ...")
    if "--workers" in args:
        raise ConfigError("leave --workers out of the worker arguments: each array child is one worker")
    if not 1 <= workers <= batch.MAX_ARRAY_SIZE:
        raise ConfigError(f"--workers must be 1..{batch.MAX_ARRAY_SIZE}, got {workers}")
    # the image's entrypoint is kabucast: the command is what follows it
    return batch.job_request(job_queue, job_definition, ["sweep", *args, "--workers", "1"], job_name, workers)


def submit(batch_client: Any, request: dict[str, Any]) -> dict[str, Any]:
    """Submit ``request`` with a boto3 Batch client; the job's name, id and array size."""
    response = batch_client.submit_job(**request)
    size = request.get("arrayProperties", {}).get("size", 1)
    return {"job_name": response["jobName"], "job_id": response["jobId"], "workers": size}

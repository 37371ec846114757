"""``kabucast submit``: any kabucast command as an AWS Batch job, against moto's Batch (jobs recorded, not run).

AWS itself cannot be reached here: the queue and job definition are moto's, shaped like
template.yaml's; a stack's outputs come from a stand-in with CloudFormation's documented response.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from kabucast.batch import job_request, stack_targets
from kabucast.cli.main import main
from kabucast.errors import ConfigError


def test_full_training_is_submitted_with_the_command_after_the_entrypoint(
    batch: tuple[Any, str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    client, queue, definition = batch
    target = ["--job-queue", queue, "--job-definition", definition]
    code = main(["submit", *target, "--json", "--", "train", "--config", "train.yaml"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["jobName"] == "kabucast-train"
    job = client.describe_jobs(jobs=[out["jobId"]])["jobs"][0]
    assert job["container"]["command"] == ["train", "--config", "train.yaml"]


class Stacks:
    """CloudFormation's describe_stacks for a stack deployed with or without EnableBatch."""

    def __init__(self, outputs: dict[str, str]) -> None:
        self.outputs = outputs

    def describe_stacks(self, StackName: str) -> dict:
        return {
            "Stacks": [
                {
                    "StackName": StackName,
                    "Outputs": [{"OutputKey": k, "OutputValue": v} for k, v in self.outputs.items()],
                }
            ]
        }


def test_the_queue_and_definition_come_from_the_stack_outputs() -> None:
    outputs = {"BatchJobQueueArn": "arn:q", "BatchJobDefinitionArn": "arn:d", "DataBucketName": "b"}
    assert stack_targets(Stacks(outputs), "kabucast") == ("arn:q", "arn:d")
    with pytest.raises(ConfigError, match="deploy it with EnableBatch=true"):
        stack_targets(Stacks({"DataBucketName": "b"}), "kabucast")
    with pytest.raises(ConfigError, match="make job-image"):  # EnableBatch=true, no image deployed yet
        stack_targets(Stacks({"BatchJobQueueArn": "arn:q", "DataBucketName": "b"}), "kabucast")


def test_bad_requests_are_named() -> None:
    with pytest.raises(ConfigError, match="give the kabucast command"):
        job_request("q", "d", [], "n")
    with pytest.raises(ConfigError, match="array-size"):
        job_request("q", "d", ["train"], "n", array_size=0)
    assert main(["submit", "--", "train"]) == 2  # neither --stack nor a queue and definition

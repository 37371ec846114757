"""``kabucast ranker submit`` against moto's AWS Batch: a queue and definition shaped like template.yaml's."""

from __future__ import annotations

import json
from typing import Any

import pytest

from kabucast.cli.main import main
from kabucast.errors import ConfigError
from kabucast.ranker.submit import job_request

REGION = "ap-northeast-1"


def test_submit_sends_the_ranker_command_to_the_queue(
    batch: tuple[Any, str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    client, queue, definition = batch
    ranker_args = ["train", "--config", "ranker/features.yaml", "--store", "s3://bucket/prefix"]
    # WHEN the CLI submits a training run
    code = main(
        ["ranker", "submit", "--job-queue", queue, "--job-definition", definition, "--json", "--run", *ranker_args]
    )
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    # THEN Batch holds the job on that queue, running `kabucast ranker train ...` in the image
    job = client.describe_jobs(jobs=[report["jobId"]])["jobs"][0]
    assert job["jobName"] == "kabucast-ranker-train" and job["jobQueue"] == queue
    assert report["request"]["containerOverrides"]["command"] == ["ranker", *ranker_args]
    assert job["container"]["command"] == ["ranker", *ranker_args]


def test_an_array_job_and_the_request_checks(batch: tuple[Any, str, str]) -> None:
    client, queue, definition = batch
    request = job_request(queue, definition, ["kabucast", "ranker", "baseline"], "sweep", array_size=4)
    assert request["arrayProperties"] == {"size": 4}
    assert request["containerOverrides"]["command"] == ["ranker", "baseline"]
    job_id = client.submit_job(**request)["jobId"]
    assert client.describe_jobs(jobs=[job_id])["jobs"][0]["jobName"] == "sweep"
    with pytest.raises(ConfigError, match="--run"):
        job_request(queue, definition, [], "empty")
    with pytest.raises(ConfigError, match="array-size"):
        job_request(queue, definition, ["train"], "x", array_size=0)

"""`make job-image` / `make monthly-image`: the recipes that build, push and name the stack's images.

Docker and AWS cannot run here, so `docker` and `aws` are stub scripts on PATH that log their
arguments and answer as the real CLIs do (a stack output, a repository digest, a failed push). Make
and the shell are real: the tests check what the recipes run, what they print and how they fail.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
REPO = "123456789012.dkr.ecr.ap-northeast-1.amazonaws.com/kabucast-monthly-dev"

AWS = """#!/bin/sh
echo "aws $*" >> "$STUB_LOG"
case "$*" in
  *Parameters*) printf 'Stage\\tprod\\nScheduleState\\tENABLED\\nEnableMonthly\\tfalse\\n'
                printf 'MonthlyImageUri\\t\\nBatchSubnets\\t\\n';;
  *describe-stacks*) echo "$STUB_URI";;
  *get-login-password*) echo secret;;
esac
"""
DOCKER = """#!/bin/sh
echo "docker $*" >> "$STUB_LOG"
case "$1" in
  login) cat > /dev/null;;
  push) [ -z "$STUB_PUSH_FAILS" ] || { echo "denied: not authorized" >&2; exit 1; };;
  inspect) echo "elsewhere/other@sha256:0000"; echo "$STUB_URI@sha256:abcd";;
esac
"""


def make(
    target: str, tmp_path: Path, uri: str, push_fails: bool = False, tag: str | None = "t1"
) -> tuple[subprocess.CompletedProcess, list]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for name, text in (("aws", AWS), ("docker", DOCKER)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    log = tmp_path / "calls.log"
    log.write_text("")
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "STUB_LOG": str(log),
        "STUB_URI": uri,
        "STUB_PUSH_FAILS": "1" if push_fails else "",
    }
    args = ["make", "-s", "-C", str(ROOT), target, "STACK=kb-test", *([f"TAG={tag}"] if tag else [])]
    proc = subprocess.run(args, env=env, capture_output=True, text=True)
    return proc, log.read_text().splitlines()


def test_monthly_image_is_built_pushed_and_deployed_by_digest_keeping_the_stacks_parameters(tmp_path: Path) -> None:
    proc, calls = make("monthly-image", tmp_path, REPO)
    assert proc.returncode == 0, proc.stderr
    assert calls[0].startswith("aws cloudformation describe-stacks --stack-name kb-test")
    assert "MonthlyImageRepositoryUri" in calls[0]
    assert f"docker build -f functions/monthly_pipeline/Dockerfile -t {REPO}:t1 ." in calls
    assert f"docker push {REPO}:t1" in calls
    deploy = proc.stdout.splitlines()[-1]
    assert deploy.strip().startswith("sam build && sam deploy --parameter-overrides")
    assert f"MonthlyImageUri={REPO}@sha256:abcd" in deploy
    assert 'Stage="prod"' in deploy and 'ScheduleState="ENABLED"' in deploy  # what the stack has, not defaults
    assert "EnableMonthly=true" in deploy and 'EnableMonthly="false"' not in deploy


def test_a_failed_push_fails_and_prints_no_deploy_command(tmp_path: Path) -> None:
    proc, calls = make("monthly-image", tmp_path, REPO, push_fails=True)
    assert proc.returncode != 0
    assert "denied" in proc.stderr and "sam deploy" not in proc.stdout
    assert not any(c.startswith("docker inspect") for c in calls)


@pytest.mark.parametrize(
    ("target", "output", "hint"),
    [
        ("monthly-image", "MonthlyImageRepositoryUri", "deploy the stack once first"),
        ("job-image", "JobImageRepositoryUri", "EnableBatch=true"),
    ],
)
def test_a_stack_without_the_repository_is_a_named_error(tmp_path: Path, target: str, output: str, hint: str) -> None:
    proc, calls = make(target, tmp_path, "None")
    assert proc.returncode != 0
    assert f"stack kb-test has no output {output}" in proc.stderr and hint in proc.stderr
    assert not any(c.startswith("docker") for c in calls)


def test_job_image_builds_ml_dockerfile_and_the_job_definition_is_deployed_by_digest(tmp_path: Path) -> None:
    repo = REPO.replace("monthly", "jobs")
    proc, calls = make("job-image", tmp_path, repo)
    assert proc.returncode == 0, proc.stderr
    assert any(c.startswith(f"docker build -f ml/Dockerfile --build-arg TORCH_CUDA= -t {repo}:t1") for c in calls)
    assert f"pushed {repo}@sha256:abcd" in proc.stdout
    deploy = proc.stdout.splitlines()[-1]
    assert deploy.strip().startswith("sam build && sam deploy --parameter-overrides")
    assert f"EnableBatch=true BatchImageUri={repo}@sha256:abcd" in deploy
    assert 'Stage="prod"' in deploy and 'EnableMonthly="false"' in deploy  # the stack's other parameters kept


@pytest.mark.parametrize("target", ["monthly-image", "job-image"])
def test_each_push_gets_a_new_tag_never_latest(tmp_path: Path, target: str) -> None:
    # GIVEN IMMUTABLE repositories (a pushed tag can never be pushed again) and no TAG on the command line
    proc, calls = make(target, tmp_path, REPO, tag=None)
    assert proc.returncode == 0, proc.stderr
    # THEN the image is built and pushed under one tag: the commit and the time (UTC), never `latest`
    (pushed,) = [c.removeprefix(f"docker push {REPO}:") for c in calls if c.startswith("docker push")]
    assert re.fullmatch(r"([0-9a-f]{12}|build)-\d{8}T\d{6}Z", pushed), pushed
    assert any(c.startswith("docker build") and c.endswith(f"-t {REPO}:{pushed} .") for c in calls)

"""Run a Lambda handler in-process: the real ``functions/<job>_pipeline/app.py`` with a fake context.

This stands in for ``sam local invoke`` where no Docker engine runs. What is faked is only what the
Lambda service provides (the context object and the environment); the handler, the adapters and
the store are the real ones. ``kabucast invoke`` is the command-line entry; Lambda's read-only file
system is kabucast.serverless.readonly's.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from kabucast.errors import ConfigError
from kabucast.serverless.events import Job

FUNCTIONS_DIR = Path(__file__).resolve().parents[3] / "functions"
TIMEOUT_SECONDS = {"daily": 600, "monthly": 900}  # as in template.yaml
MEMORY_MB = {"daily": 512, "monthly": 3008}


@dataclass
class FakeLambdaContext:
    """The attributes and method of a Lambda context object that handlers use."""

    function_name: str
    memory_limit_in_mb: int
    timeout_seconds: int
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    _deadline: float = 0.0

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout_seconds
        self.invoked_function_arn = f"arn:aws:lambda:local:000000000000:function:{self.function_name}"
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        self.log_stream_name = f"local/{self.aws_request_id}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def load_handler_module(job: Job, functions_dir: Path = FUNCTIONS_DIR) -> ModuleType:
    """Import ``functions/<job>_pipeline/app.py`` as a fresh module (a cold start)."""
    path = functions_dir / f"{job}_pipeline" / "app.py"
    if not path.is_file():
        raise ConfigError(f"handler not found: {path} (run from a checkout of the kabucast repository)")
    spec = importlib.util.spec_from_file_location(f"kabucast_function_{job}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@contextlib.contextmanager
def function_environment(env: Mapping[str, str]) -> Iterator[None]:
    """``os.environ`` updated with ``env`` for the duration, then restored whole (a handler sets cache folders)."""
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def invoke(job: Job, event: Any, env: Mapping[str, str], module: ModuleType | None = None) -> dict[str, Any]:
    """Invoke the ``job`` handler once with ``event`` under the function environment ``env``.

    Pass the ``module`` of an earlier call to invoke a warm container again.
    """
    with function_environment(env):
        module = module or load_handler_module(job)
        context = FakeLambdaContext(f"kabucast-{job}-local", MEMORY_MB[job], TIMEOUT_SECONDS[job])
        return module.lambda_handler(event, context)

"""Shared fixtures: the JPX calendar, the shipped universe, and a real S3 endpoint on loopback."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

if os.environ.get("PYTEST_XDIST_WORKER"):  # `make test` runs one worker per core: one math thread each
    for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[_var] = "1"

import pytest

from kabucast.config import SectorSettings, UniverseSettings, load_settings, resolve_config_path
from kabucast.data.calendar import TradingCalendar, calendar_for


@pytest.fixture(scope="session")
def calendar() -> TradingCalendar:
    return calendar_for()


@pytest.fixture(scope="session")
def universe() -> UniverseSettings:
    return load_settings(UniverseSettings, resolve_config_path("universes/topix_core30.yaml"))


@pytest.fixture(scope="session")
def sectors() -> SectorSettings:
    return load_settings(SectorSettings, resolve_config_path("sectors.yaml"))


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """moto in server mode: a real HTTP S3 endpoint on 127.0.0.1 (AWS itself cannot be reached here)."""
    from moto.server import ThreadedMotoServer

    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    os.environ.setdefault("AWS_DEFAULT_REGION", "ap-northeast-1")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{server._server.server_port}"
    server.stop()


@pytest.fixture
def s3_bucket(s3_endpoint: str) -> str:
    """A fresh, empty bucket on the loopback endpoint."""
    import boto3

    name = f"kabucast-test-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(
        Bucket=name, CreateBucketConfiguration={"LocationConstraint": "ap-northeast-1"}
    )
    return name


def pytest_sessionfinish(session) -> None:
    """On a pytest-xdist worker: hand the fault-injection counts to the controller, which prints them."""
    from tests.faults import COUNTS

    if hasattr(session.config, "workeroutput"):
        session.config.workeroutput["fault_counts"] = dict(COUNTS)


def pytest_testnodedown(node, error) -> None:
    """On the pytest-xdist controller: add up the counts of a worker that finished."""
    from tests.faults import COUNTS

    COUNTS.update(getattr(node, "workeroutput", {}).get("fault_counts", {}))


def pytest_terminal_summary(terminalreporter) -> None:
    """The fault-injection suite's counts (tests/functional/test_fault_injection.py), when it ran."""
    from tests.faults import COUNTS

    if COUNTS:
        terminalreporter.section("fault injection")
        for what, n in COUNTS.items():
            terminalreporter.write_line(f"{n:5d}  {what}")

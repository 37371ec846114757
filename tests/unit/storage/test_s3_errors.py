"""S3 failures become named storage errors with the real cause (no AWS needed: nothing answers here)."""

from __future__ import annotations

import socket
import time

import pytest
from tests.faults import LoopbackProxy

from kabucast.errors import StoreUnavailable
from kabucast.storage import S3Store, open_store


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again on exit: nothing listens there


def test_a_closed_endpoint_fails_fast_and_says_so(closed_port: int, monkeypatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    store = open_store("s3://bucket/prefix", endpoint_url=f"http://127.0.0.1:{closed_port}")
    started = time.monotonic()
    with pytest.raises(StoreUnavailable, match=r"cannot connect to http://127\.0\.0\.1:\d+ .*check --endpoint-url"):
        store.get_bytes("predictions/latest.json")
    assert time.monotonic() - started < 20


class Raises:
    """A boto3 client stand-in that raises what botocore raises for a response without an error body."""

    def __init__(self, exc: Exception) -> None:
        self.exc = exc
        self.meta = type("Meta", (), {"endpoint_url": "https://s3.example"})()

    def get_object(self, **_):
        raise self.exc


def test_an_error_without_a_response_is_named_not_an_attribute_error() -> None:
    from botocore.exceptions import ReadTimeoutError

    store = S3Store("b", client=Raises(ReadTimeoutError(endpoint_url="https://s3.example")))
    with pytest.raises(StoreUnavailable, match="did not answer"):
        store.get_bytes("k")


def test_a_hanging_endpoint_gets_exactly_max_attempts_requests(monkeypatch) -> None:
    # GIVEN an endpoint that accepts every connection and never answers, and a short read timeout
    from kabucast.storage import s3

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setattr(s3, "READ_TIMEOUT_S", 0.3)
    proxy = LoopbackProxy(0, mode="hang")  # forwards nothing
    # WHEN a read times out
    with pytest.raises(StoreUnavailable, match=f"timed out after {s3.MAX_ATTEMPTS} attempts"):
        open_store("s3://bucket", endpoint_url=proxy.url).get_bytes("predictions/latest.json")
    # THEN the client tried MAX_ATTEMPTS times in all, as the message says (botocore's "max_attempts" counts retries)
    assert len(proxy._open) == s3.MAX_ATTEMPTS == 3  # one connection per attempt, each held unanswered
    proxy.kill()

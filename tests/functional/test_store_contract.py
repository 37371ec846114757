"""One contract, two backends: LocalStore in a temp folder and S3Store on a loopback S3 endpoint (moto server).

AWS itself cannot be reached here; moto's server mode is a real HTTP S3 endpoint, driven through boto3.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kabucast.errors import ConcurrentUpdate, ObjectNotFound, StoreError
from kabucast.storage import LocalStore, S3Store, Store, open_store


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path) -> Store:
    if request.param == "local":
        return LocalStore(tmp_path / "store")
    endpoint = request.getfixturevalue("s3_endpoint")
    bucket = request.getfixturevalue("s3_bucket")
    return open_store(f"s3://{bucket}/team/kabucast", endpoint_url=endpoint)


def test_bytes_json_parquet_round_trip(store: Store) -> None:
    frame = pd.DataFrame(
        {"close": [1.5, 2.5], "volume": np.array([10, 20], dtype="int64")},
        index=pd.DatetimeIndex(["2025-11-20", "2025-11-21"], name="date"),
    )
    store.put_bytes("raw/x.bin", b"\x00\x01")
    store.put_json("a/b.json", {"b": 1, "a": [1, 2]})
    store.put_parquet("data/prices/daily/7203.T.parquet", frame)
    assert store.get_bytes("raw/x.bin") == b"\x00\x01"
    assert store.get_json("a/b.json") == {"a": [1, 2], "b": 1}
    pd.testing.assert_frame_equal(store.get_parquet("data/prices/daily/7203.T.parquet"), frame)


def test_list_exists_and_missing(store: Store) -> None:
    for key in ("data/static/2025-11-01.parquet", "data/prices/daily/7203.T.parquet", "models/champion.json"):
        store.put_bytes(key, b"x")
    assert store.list("data/") == ["data/prices/daily/7203.T.parquet", "data/static/2025-11-01.parquet"]
    assert store.exists("models/champion.json") and not store.exists("models/none.json")
    # a prefix is a string prefix of the key, not a folder: both backends list the same keys for each
    store.put_bytes("data/static.parquet", b"x")
    assert store.list("data/st") == ["data/static.parquet", "data/static/2025-11-01.parquet"]
    assert store.list("data/static/") == ["data/static/2025-11-01.parquet"]
    assert store.list("dat") == store.list("data") == store.list("data/") == sorted(store.list("d"))
    assert store.list("models") == ["models/champion.json"] and store.list("mod") == ["models/champion.json"]
    assert store.list("data/prices/daily/7203") == ["data/prices/daily/7203.T.parquet"]
    assert store.list("nothing/") == [] and store.list("data/none/x") == []
    with pytest.raises(ObjectNotFound):
        store.get_bytes("models/none.json")


def test_conditional_writes_land_only_over_what_was_read(store: Store) -> None:
    # GIVEN nothing stored: a write that expects nothing lands, a second one is refused
    store.put_if("predictions/latest.json", b"1", None)
    with pytest.raises(ConcurrentUpdate):
        store.put_if("predictions/latest.json", b"2", None)
    # WHEN one run read version 1 and another run replaced it meanwhile
    seen = store.get_versioned("predictions/latest.json")
    assert seen is not None and seen.data == b"1"
    store.put_if("predictions/latest.json", b"2", seen.etag)
    # THEN the first run's write (If-Match version 1) is refused and version 2 stays
    with pytest.raises(ConcurrentUpdate, match="changed since this run read it"):
        store.put_if("predictions/latest.json", b"stale", seen.etag)
    assert store.get_bytes("predictions/latest.json") == b"2"
    assert store.get_versioned("predictions/none.json") is None
    assert store.list("predictions/") == ["predictions/latest.json"]


def test_s3_prefix_isolates_keys(s3_endpoint: str, s3_bucket: str) -> None:
    a = S3Store(s3_bucket, "a", endpoint_url=s3_endpoint)
    b = S3Store(s3_bucket, "b", endpoint_url=s3_endpoint)
    a.put_bytes("k.bin", b"a")
    assert b.list() == [] and a.list() == ["k.bin"]


def test_s3_missing_bucket_is_an_actionable_error(s3_endpoint: str) -> None:
    store = S3Store("no-such-bucket-kabucast", endpoint_url=s3_endpoint)
    with pytest.raises(StoreError, match="does not exist"):
        store.put_bytes("k.bin", b"x")

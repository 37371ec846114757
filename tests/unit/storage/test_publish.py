"""The atomic publish and the local store's failure behaviour."""

from __future__ import annotations

from pathlib import Path

import pytest

from kabucast.errors import ObjectNotFound, StoreError
from kabucast.storage import LocalStore


class FailingLocalStore(LocalStore):
    """A real LocalStore whose writes to one key fail, as a full disk or a lost connection would."""

    def __init__(self, root: Path, failing_key: str) -> None:
        super().__init__(root)
        self.failing_key = failing_key

    def put_bytes(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        if key == self.failing_key:
            raise StoreError(f"simulated failure writing {key}")
        super().put_bytes(key, data, content_type)


def test_failed_dated_write_leaves_pointer_as_it_was(tmp_path: Path) -> None:
    # GIVEN a published pointer
    LocalStore(tmp_path).publish_json("predictions/2025-11-20.json", "predictions/latest.json", {"day": 20})
    store = FailingLocalStore(tmp_path, failing_key="predictions/2025-11-21.json")
    # WHEN the next publish fails while writing the dated object
    with pytest.raises(StoreError, match="simulated"):
        store.publish_json("predictions/2025-11-21.json", "predictions/latest.json", {"day": 21})
    # THEN the pointer still holds the previous complete object and no partial file is listed
    assert store.get_json("predictions/latest.json") == {"day": 20}
    assert store.list("predictions/") == ["predictions/2025-11-20.json", "predictions/latest.json"]


def test_interrupted_write_keeps_old_file_and_leaves_no_temp(tmp_path: Path, monkeypatch) -> None:
    # GIVEN an object, and a disk that fails in the middle of the next write
    store = LocalStore(tmp_path)
    store.put_bytes("a/b.bin", b"old")

    def boom(*_args, **_kwargs):
        raise OSError("No space left on device")

    monkeypatch.setattr("os.fsync", boom)
    # WHEN the write fails THEN the error is a StoreError and the old bytes are intact
    with pytest.raises(StoreError, match="No space left"):
        store.put_bytes("a/b.bin", b"new-and-longer")
    assert store.get_bytes("a/b.bin") == b"old"
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["b.bin"]


def test_bad_keys_and_missing_objects(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    with pytest.raises(StoreError, match="invalid key"):
        store.put_bytes("../escape", b"x")
    with pytest.raises(ObjectNotFound, match=r"nope\.json not found"):
        store.get_json("nope.json")

"""The local store's failure behaviour and its conditional writes (the basis of every publication)."""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path

import pytest

from kabucast.errors import ConcurrentUpdate, ObjectNotFound, StoreError
from kabucast.storage import LocalStore


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
    assert store.get_versioned("nope.json") is None


def test_put_if_writes_only_over_what_was_read(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    # GIVEN nothing stored: a write that expects nothing succeeds, a second one fails
    store.put_if("p/latest.json", b"1", None)
    with pytest.raises(ConcurrentUpdate, match="changed since this run read it"):
        store.put_if("p/latest.json", b"2", None)
    # WHEN a run read version 1 and another run wrote version 2 meanwhile
    seen = store.get_versioned("p/latest.json")
    store.put_if("p/latest.json", b"2", seen.etag)
    # THEN the first run's write, conditional on version 1, fails and version 2 stays
    with pytest.raises(ConcurrentUpdate):
        store.put_if("p/latest.json", b"1-again", seen.etag)
    assert store.get_bytes("p/latest.json") == b"2"
    # the lock file is hidden from listings
    assert store.list("p/") == ["p/latest.json"]


def _race(root: str, barrier, results) -> None:
    store = LocalStore(root)
    seen = store.get_versioned("k.json")
    barrier.wait()
    try:
        store.put_if("k.json", f"{mp.current_process().name}".encode(), None if seen is None else seen.etag)
        results.put("won")
    except ConcurrentUpdate:
        results.put("lost")


def test_racing_processes_have_exactly_one_winner(tmp_path: Path) -> None:
    # GIVEN 4 processes that all read the same state, then write at once
    ctx = mp.get_context("spawn")
    barrier, results = ctx.Barrier(4), ctx.Queue()
    procs = [ctx.Process(target=_race, args=(str(tmp_path), barrier, results)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    outcomes = sorted(results.get(timeout=5) for _ in procs)
    # THEN exactly one write landed
    assert outcomes == ["lost", "lost", "lost", "won"]

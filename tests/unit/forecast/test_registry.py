"""The model registry's integrity: artifacts checked against recorded hashes, champion.json validated."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from kabucast.forecast.registry import (
    CHAMPION_KEY,
    InvalidChampion,
    ModelIntegrityError,
    champion_version,
    content_version,
    load_model,
    model_key,
    save_model,
    set_champion,
)
from kabucast.storage import LocalStore

META = {"features": ["a"], "run": {"kind": "train"}}


@pytest.fixture
def store(tmp_path: Path) -> tuple[LocalStore, str]:
    s = LocalStore(tmp_path)
    version = save_model(s, b"onnx-bytes", b"ckpt-bytes", META)
    set_champion(s, version, "test")
    return s, version


def test_saved_versions_record_and_pass_their_hashes(store) -> None:
    s, version = store
    meta = s.get_json(model_key(version, "model.json"))
    assert set(meta["artifacts"]) == {"model.onnx", "model.ckpt"}
    assert load_model(s).onnx == b"onnx-bytes"


def test_a_swapped_onnx_file_is_an_integrity_error(store) -> None:
    s, version = store
    s.put_bytes(model_key(version, "model.onnx"), b"another valid model")
    with pytest.raises(ModelIntegrityError, match=f"{version}.*was changed after it was saved"):
        load_model(s)


def test_versions_saved_before_artifacts_existed_are_checked_by_their_version(tmp_path: Path) -> None:
    # GIVEN a version written the old way: model.json without `artifacts`, version = hash(onnx, meta)
    s = LocalStore(tmp_path)
    version = content_version(b"old-onnx", META)
    s.put_bytes(model_key(version, "model.onnx"), b"old-onnx")
    s.put_json(model_key(version, "model.json"), {**META, "version": version})
    assert load_model(s, version).onnx == b"old-onnx"
    s.put_bytes(model_key(version, "model.onnx"), b"swapped")
    with pytest.raises(ModelIntegrityError):
        load_model(s, version)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"[1, 2]", "expected a JSON object"),
        (b'{"version": 7}', "'version' must be 16 hex digits"),
        (b'{"version": "0123456789abcdef", "history": "x"}', "'history' must be a list"),
        (b'{"versi', "not valid JSON"),
    ],
)
def test_a_malformed_champion_is_a_named_error_and_promote_repairs_it(store, content: bytes, message: str) -> None:
    s, version = store
    s.put_bytes(CHAMPION_KEY, content)
    with pytest.raises(InvalidChampion, match=message):
        load_model(s)
    set_champion(s, version, "repair")
    assert champion_version(s) == version


def test_the_last_day_a_model_saw_counts_its_early_stopping_days() -> None:
    from kabucast.forecast.registry import last_seen_day

    run = {"train_range": ["2015-01-05", "2019-06-28"], "val_range": ["2020-07-01", "2021-11-30"]}
    assert last_seen_day({"run": run}) == pd.Timestamp("2021-11-30")  # validation chose the weights too
    assert last_seen_day({"run": {"train_range": ["2015-01-05", "2019-06-28"]}}) == pd.Timestamp("2019-06-28")
    assert last_seen_day({"run": {}}) is None and last_seen_day({}) is None

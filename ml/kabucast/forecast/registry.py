"""Model versions in the store: ``models/<version>/`` (immutable) and ``models/champion.json`` (the pointer).

A version is the first 16 hex digits of the SHA-256 of the ONNX bytes and model.json, so the same
model always gets the same version and a version's files never change. ``model.json`` is written
last: a version folder without it is incomplete and is never served. It records the SHA-256 of
every artifact (``artifacts``); loading checks them, so a file swapped under a version name (even a
valid ONNX model) is a :class:`ModelIntegrityError`, never served under that name.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

import pandas as pd

from kabucast.errors import CorruptObject, JobFailure, KabucastError, ObjectNotFound
from kabucast.features.registry import contract_groups, feature_contract
from kabucast.storage.base import Store, dumps_json, json_safe

MODELS = "models"
CHAMPION_KEY = f"{MODELS}/champion.json"
HISTORY = 20
"""How many earlier champions ``champion.json`` remembers for rollback."""


class ModelNotFound(KabucastError):
    """No champion, or a version's files are missing."""


class ModelIntegrityError(JobFailure):
    """A model file does not match the hash its version recorded: it was changed after it was saved."""


class InvalidChampion(KabucastError):
    """``models/champion.json`` is not the pointer kabucast writes."""


_VERSION = re.compile(r"[0-9a-f]{16}")


@dataclass(frozen=True)
class ModelFiles:
    version: str
    onnx: bytes
    meta: dict[str, Any]


def last_seen_day(meta: dict[str, Any]) -> pd.Timestamp | None:
    """The last as-of day whose samples a model trained **or early-stopped** on (model.json's
    ``run.train_range`` and ``run.val_range``); None when model.json records neither.

    Validation days choose the weights as much as training days do, so everything that must be
    out of sample (the gate's window, in-sample flags of evaluations and backtests) starts after this day.
    """
    run = meta.get("run") or {}
    ends = [r[1] for r in (run.get("train_range"), run.get("val_range")) if isinstance(r, list | tuple) and len(r) == 2]
    ends = [e for e in ends if e]
    return max(pd.Timestamp(e) for e in ends) if ends else None


def model_key(version: str, name: str) -> str:
    return f"{MODELS}/{version}/{name}"


def content_version(onnx: bytes, meta: dict[str, Any]) -> str:
    digest = hashlib.sha256(onnx)
    digest.update(dumps_json(meta))
    return digest.hexdigest()[:16]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def save_model(store: Store, onnx: bytes, checkpoint: bytes, meta: dict[str, Any]) -> str:
    """Write a new version (ONNX, checkpoint, then model.json) and return it; existing versions are kept as is."""
    meta = json_safe({**meta, "artifacts": {"model.onnx": sha256(onnx), "model.ckpt": sha256(checkpoint)}})
    version = content_version(onnx, meta)
    if store.exists(model_key(version, "model.json")):
        return version
    store.put_bytes(model_key(version, "model.onnx"), onnx)
    store.put_bytes(model_key(version, "model.ckpt"), checkpoint)
    store.put_json(model_key(version, "model.json"), {**meta, "version": version})
    return version


def champion_version(store: Store) -> str | None:
    record = champion_record(store)
    return None if record is None else str(record["version"])


def champion_record(store: Store) -> dict[str, Any] | None:
    """``models/champion.json``: version, reason, and ``history`` (earlier champions, newest first)."""
    try:
        record = store.get_json(CHAMPION_KEY)
    except ObjectNotFound:
        return None
    except CorruptObject as exc:
        raise InvalidChampion(f"{exc}; {_CHAMPION_FIX}") from exc
    problem = _champion_problem(record)
    if problem:
        raise InvalidChampion(f"{store.url}/{CHAMPION_KEY} is malformed: {problem}; {_CHAMPION_FIX}")
    return record


_CHAMPION_FIX = "point it at a version with `kabucast models promote VERSION` (`kabucast models list` shows them)"


def _champion_problem(record: Any) -> str | None:
    """What is wrong with a champion record, or None (the shape :func:`_write_champion` writes)."""
    if not isinstance(record, dict):
        return f"expected a JSON object, got {type(record).__name__}"
    version, history = record.get("version"), record.get("history", [])
    if not isinstance(version, str) or not _VERSION.fullmatch(version):
        return f"'version' must be 16 hex digits, got {str(version)[:40]!r}"
    if not isinstance(history, list) or not all(isinstance(v, str) and _VERSION.fullmatch(v) for v in history):
        return "'history' must be a list of versions"
    if not isinstance(record.get("previous"), str | type(None)) or not isinstance(record.get("reason", ""), str):
        return "'previous' must be a version or null and 'reason' a string"
    return None


def set_champion(store: Store, version: str, reason: str) -> None:
    """Point the daily job at ``version``; the current champion goes on top of the rollback history."""
    if not store.exists(model_key(version, "model.json")):
        raise ModelNotFound(f"model version {version} is incomplete or missing under {store.url}/{MODELS}/")
    try:
        current = champion_record(store)
    except InvalidChampion:  # promoting is how a malformed pointer is repaired
        current = None
    history = [] if current is None else [current["version"], *current.get("history", [])]
    history = [v for v in history if v != version][:HISTORY]
    _write_champion(store, version, reason, history)


def rollback(store: Store) -> str:
    """Make the previous champion the champion again (its predecessor becomes the next rollback)."""
    current = champion_record(store)
    if current is None or not current.get("history"):
        raise ModelNotFound(f"no earlier champion to roll back to in {store.url}/{CHAMPION_KEY}")
    previous, *rest = current["history"]
    load_model(store, previous)  # fails with ModelNotFound before the pointer moves
    _write_champion(store, previous, f"rollback from {current['version']}", rest)
    return previous


def _write_champion(store: Store, version: str, reason: str, history: list[str]) -> None:
    previous = history[0] if history else None
    store.put_json(CHAMPION_KEY, {"version": version, "previous": previous, "reason": reason, "history": history})


def list_versions(store: Store) -> list[dict[str, Any]]:
    """One row per complete version (oldest first): what it is, what it scored, what the gate said."""
    champion = champion_version(store)
    rows = []
    for key in store.list(f"{MODELS}/"):
        if not key.endswith("/model.json"):
            continue
        meta = store.get_json(key)
        version = meta.get("version", key.split("/")[1])
        gate_key = model_key(version, "gate.json")
        gate = store.get_json(gate_key) if store.exists(gate_key) else None
        run = meta.get("run", {})
        rankic = meta.get("validation", {}).get("model", {}).get("rankic", [None])
        rows.append(
            {
                "version": version,
                "champion": version == champion,
                "kind": run.get("kind", "train"),
                "as_of": run.get("as_of"),
                "parent": run.get("parent"),
                "train_range": run.get("train_range"),
                "val_rankic_1m": rankic[0] if rankic else None,
                "gate": None if gate is None else ("promoted" if gate["promoted"] else "rejected"),
                "gate_reasons": None if gate is None else gate["reasons"],
            }
        )
    return sorted(rows, key=lambda r: (str(r["as_of"]), r["version"]))


def load_model(store: Store, version: str | None = None) -> ModelFiles:
    """The champion's files (or ``version``'s)."""
    version = version or champion_version(store)
    if version is None:
        raise ModelNotFound(f"no {CHAMPION_KEY} in {store.url}: train a model first (`kabucast train`)")
    try:
        meta = store.get_json(model_key(version, "model.json"))
        onnx = store.get_bytes(model_key(version, "model.onnx"))
    except ObjectNotFound as exc:
        raise ModelNotFound(f"ONNX model not found: {exc}; re-run `kabucast train` or fix {CHAMPION_KEY}") from exc
    verify_artifact(store, version, meta, "model.onnx", onnx)
    return ModelFiles(version=version, onnx=onnx, meta=meta)


def verify_artifact(store: Store, version: str, meta: dict[str, Any], name: str, data: bytes) -> None:
    """Raise :class:`ModelIntegrityError` unless ``data`` is the ``name`` that ``version`` recorded.

    Versions saved before ``artifacts`` existed are checked against the version itself (it is the
    hash of the ONNX bytes and model.json), which covers model.onnx only.
    """
    recorded = meta.get("artifacts", {}).get(name) if isinstance(meta.get("artifacts"), dict) else None
    if recorded is not None:
        ok = sha256(data) == recorded
    elif name == "model.onnx":
        ok = content_version(data, {k: v for k, v in meta.items() if k != "version"}) == version
    else:
        return
    if not ok:
        raise ModelIntegrityError(
            f"{store.url}/{model_key(version, name)} does not match the SHA-256 that model version {version} "
            "recorded: the file was changed after it was saved. Restore it (S3 keeps earlier object versions), "
            "or serve another version (`kabucast models rollback` / `promote VERSION`)"
        )


class FeatureMismatch(KabucastError):
    """The champion was trained on other features than this code builds."""


def check_features(model: ModelFiles) -> None:
    """:class:`FeatureMismatch` unless ``model`` was trained on the features this code builds."""
    trained = model.meta.get("features")
    built = feature_contract(contract_groups(trained))
    if trained != built:
        raise FeatureMismatch(
            f"model {model.version} was trained on features {trained}, this code builds {built}; "
            "retrain (`kabucast train`) or install the kabucast version that trained it"
        )

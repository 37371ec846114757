"""Model versions in the store: ``models/<version>/`` (immutable) and ``models/champion.json`` (the pointer).

A version is the first 16 hex digits of the SHA-256 of the ONNX bytes and model.json, so the same
model always gets the same version and a version's files never change. ``model.json`` is written
last: a version folder without it is incomplete and is never served.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from kabucast.errors import KabucastError, ObjectNotFound
from kabucast.storage.base import Store, dumps_json, json_safe

MODELS = "models"
CHAMPION_KEY = f"{MODELS}/champion.json"


class ModelNotFound(KabucastError):
    """No champion, or a version's files are missing."""


@dataclass(frozen=True)
class ModelFiles:
    version: str
    onnx: bytes
    meta: dict[str, Any]


def model_key(version: str, name: str) -> str:
    return f"{MODELS}/{version}/{name}"


def content_version(onnx: bytes, meta: dict[str, Any]) -> str:
    digest = hashlib.sha256(onnx)
    digest.update(dumps_json(meta))
    return digest.hexdigest()[:16]


def save_model(store: Store, onnx: bytes, checkpoint: bytes, meta: dict[str, Any]) -> str:
    """Write a new version (ONNX, checkpoint, then model.json) and return it; existing versions are kept as is."""
    meta = json_safe(meta)
    version = content_version(onnx, meta)
    if store.exists(model_key(version, "model.json")):
        return version
    store.put_bytes(model_key(version, "model.onnx"), onnx)
    store.put_bytes(model_key(version, "model.ckpt"), checkpoint)
    store.put_json(model_key(version, "model.json"), {**meta, "version": version})
    return version


def champion_version(store: Store) -> str | None:
    try:
        return str(store.get_json(CHAMPION_KEY)["version"])
    except ObjectNotFound:
        return None


def set_champion(store: Store, version: str, reason: str) -> None:
    """Point the daily job at ``version``, remembering the previous champion for rollback."""
    if not store.exists(model_key(version, "model.json")):
        raise ModelNotFound(f"model version {version} is incomplete or missing under {store.url}/{MODELS}/")
    store.put_json(CHAMPION_KEY, {"version": version, "previous": champion_version(store), "reason": reason})


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
    return ModelFiles(version=version, onnx=onnx, meta=meta)

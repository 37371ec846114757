"""The Store interface: bytes in and out by key, plus JSON, parquet and an atomic publish on top.

Keys are POSIX-style relative paths (``data/prices/daily/7203.T.parquet``), the same in a local
folder and in S3 (DESIGN.md lists them). Backends implement six byte-level methods; everything
else is shared here so both behave identically.

Conditional writes (:meth:`Store.get_versioned` then :meth:`Store.put_if`) are how a published
object is replaced: the write happens only if the object is still what this run read, so two
overlapping runs cannot interleave (S3's ``If-Match`` / ``If-None-Match``, a file lock locally).
"""

from __future__ import annotations

import io
import json
import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

import fastparquet
import pandas as pd

from kabucast.errors import CorruptObject


@dataclass(frozen=True)
class Versioned:
    """An object's bytes and the tag of that exact content (S3's ETag; a content hash locally)."""

    data: bytes
    etag: str


class Store(ABC):
    """A key-value store of immutable-by-convention objects."""

    url: str

    @abstractmethod
    def get_bytes(self, key: str) -> bytes:
        """The object's bytes; :class:`ObjectNotFound` when there is none."""

    @abstractmethod
    def put_bytes(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        """Write the whole object at once: readers see the old object or the new one, never a part."""

    @abstractmethod
    def exists(self, key: str) -> bool: ...

    @abstractmethod
    def get_versioned(self, key: str) -> Versioned | None:
        """The object's bytes with their tag, or None when there is no such object."""

    @abstractmethod
    def put_if(self, key: str, data: bytes, etag: str | None, content_type: str = "application/json") -> None:
        """Write only if the object still has tag ``etag`` (``None``: only if it does not exist).

        Raises :class:`ConcurrentUpdate` otherwise, and writes nothing.
        """

    @abstractmethod
    def list(self, prefix: str = "") -> list[str]:
        """Every key that starts with ``prefix``, sorted."""

    def get_json(self, key: str) -> Any:
        return loads_json(self.get_bytes(key), f"{self.url}/{key}")

    def put_json(self, key: str, obj: Any) -> None:
        self.put_bytes(key, dumps_json(obj), content_type="application/json")

    def get_parquet(self, key: str) -> pd.DataFrame:
        try:
            return read_parquet_bytes(self.get_bytes(key))
        except CorruptObject as exc:
            raise CorruptObject(f"{self.url}/{key} is {exc}") from exc

    def put_parquet(self, key: str, frame: pd.DataFrame) -> None:
        self.put_bytes(key, parquet_bytes(frame), content_type="application/vnd.apache.parquet")


def json_safe(obj: Any) -> Any:
    """``obj`` with every NaN or infinite float replaced by None (JSON has no NaN)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [json_safe(v) for v in obj]
    return obj


def loads_json(data: bytes, where: str) -> Any:
    try:
        return json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CorruptObject(f"{where} is not valid JSON ({len(data)} bytes): {exc}") from exc


def dumps_json(obj: Any, compact: bool = False) -> bytes:
    """Deterministic JSON (sorted keys): the same object always gives the same bytes. Indented for a person to
    read; ``compact`` for state a job reads and rewrites every run (one line: json's C encoder, ~50x faster)."""
    layout: dict[str, Any] = {"separators": (",", ":")} if compact else {"indent": 2}
    return (json.dumps(obj, sort_keys=True, ensure_ascii=False, allow_nan=False, **layout) + "\n").encode("utf-8")


# Parquet goes through fastparquet's own API: fastparquet fits the Lambda layer budget where pyarrow
# (~170 MB unzipped) does not, and pandas 3.1 deprecates its engine="fastparquet" bridge.
# Round trips keep the index, float64/int64/datetime columns; string columns come back as object.


class _KeptBuffer(io.BytesIO):
    """fastparquet closes the file it writes; this buffer keeps its bytes readable afterwards."""

    def close(self) -> None:
        pass


def parquet_bytes(frame: pd.DataFrame) -> bytes:
    """The frame as parquet; the same frame always gives the same bytes (no timestamps are embedded)."""
    buf = _KeptBuffer()
    fastparquet.write("frame.parquet", frame, compression="ZSTD", open_with=lambda _path, _mode: buf)
    return buf.getvalue()


def read_parquet_bytes(data: bytes) -> pd.DataFrame:
    try:
        return fastparquet.ParquetFile(io.BytesIO(data)).to_pandas()
    except Exception as exc:
        raise CorruptObject(f"not a readable parquet object ({len(data)} bytes): {exc}") from exc

"""The Store interface: bytes in and out by key, plus JSON, parquet and an atomic publish on top.

Keys are POSIX-style relative paths (``data/prices/daily/7203.T.parquet``), the same in a local
folder and in S3 (DESIGN.md lists them). Backends implement four byte-level methods; everything
else is shared here so both behave identically.
"""

from __future__ import annotations

import io
import json
import math
from abc import ABC, abstractmethod
from typing import Any

import fastparquet
import pandas as pd

from kabucast.errors import StoreError


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
    def list(self, prefix: str = "") -> list[str]:
        """Every key that starts with ``prefix``, sorted."""

    def get_json(self, key: str) -> Any:
        try:
            return json.loads(self.get_bytes(key))
        except json.JSONDecodeError as exc:
            raise StoreError(f"{self.url}/{key} is not valid JSON: {exc}") from exc

    def put_json(self, key: str, obj: Any) -> None:
        self.put_bytes(key, dumps_json(obj), content_type="application/json")

    def get_parquet(self, key: str) -> pd.DataFrame:
        return read_parquet_bytes(self.get_bytes(key))

    def put_parquet(self, key: str, frame: pd.DataFrame) -> None:
        self.put_bytes(key, parquet_bytes(frame), content_type="application/vnd.apache.parquet")

    def publish_json(self, dated_key: str, pointer_key: str, obj: Any) -> None:
        """Write ``dated_key``, then replace ``pointer_key`` with the same content.

        If anything fails before the pointer is replaced, the pointer still holds the previous
        complete object: a reader of the pointer never sees a half-written or missing file.
        """
        data = dumps_json(obj)
        self.put_bytes(dated_key, data, content_type="application/json")
        if self.get_bytes(dated_key) != data:
            raise StoreError(f"{self.url}/{dated_key} read back differently; {pointer_key} left unchanged")
        self.put_bytes(pointer_key, data, content_type="application/json")


def json_safe(obj: Any) -> Any:
    """``obj`` with every NaN or infinite float replaced by None (JSON has no NaN)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [json_safe(v) for v in obj]
    return obj


def dumps_json(obj: Any) -> bytes:
    """Deterministic JSON (sorted keys): the same object always gives the same bytes."""
    return (json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n").encode("utf-8")


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
        raise StoreError(f"not a readable parquet object ({len(data)} bytes): {exc}") from exc

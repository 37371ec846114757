"""A Store backed by a local folder: the default, for laptops and tests."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from kabucast.errors import ConcurrentUpdate, ObjectNotFound, StoreError
from kabucast.storage.base import Store, Versioned


class LocalStore(Store):
    """Objects are files under ``root``; a write goes to a temporary file first, then is renamed.

    A conditional write (:meth:`put_if`) holds an exclusive lock on a hidden ``.<name>.lock`` file
    beside the object while it compares and replaces, so overlapping processes serialise there.
    The tag of an object is the SHA-256 of its bytes.
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser().resolve()
        self.url = str(self.root)

    def _path(self, key: str) -> Path:
        if not key or key.startswith("/") or ".." in Path(key).parts:
            raise StoreError(f"invalid key {key!r}: keys are relative paths without '..'")
        return self.root / key

    def get_bytes(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise ObjectNotFound(key, self.url) from None
        except OSError as exc:
            raise StoreError(f"cannot read {self._path(key)}: {exc}") from exc

    def put_bytes(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
                    fh.flush()
                    os.fsync(fh.fileno())
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError as exc:
            raise StoreError(f"cannot write {path}: {exc}; check that the folder is writable") from exc

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def get_versioned(self, key: str) -> Versioned | None:
        try:
            data = self.get_bytes(key)
        except ObjectNotFound:
            return None
        return Versioned(data, _tag(data))

    def put_if(self, key: str, data: bytes, etag: str | None, content_type: str = "application/json") -> None:
        with self._locked(key):
            current = self.get_versioned(key)
            now = None if current is None else current.etag
            if now != etag:
                raise ConcurrentUpdate(
                    f"{self.url}/{key} changed since this run read it (another run wrote it); nothing written"
                )
            self.put_bytes(key, data, content_type)

    @contextlib.contextmanager
    def _locked(self, key: str) -> Iterator[None]:
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path.parent / f".{path.name}.lock", os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StoreError(f"cannot lock {path}: {exc}; check that the folder is writable") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # released by the kernel if this process dies
            yield
        finally:
            os.close(fd)

    def list(self, prefix: str = "") -> list[str]:
        folder = prefix.rpartition("/")[0]  # every key with the prefix lies under it: only that folder is walked
        top = self._path(folder) if folder else self.root
        if not top.is_dir():
            return []
        keys = []
        for path, _folders, files in os.walk(top):
            under = Path(path).relative_to(self.root).as_posix()
            base = "" if under == "." else f"{under}/"
            keys.extend(base + name for name in files if not name.startswith("."))
        return sorted(k for k in keys if k.startswith(prefix))


def _tag(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()

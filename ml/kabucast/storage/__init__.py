"""One storage interface, two backends: a local folder and an S3 bucket, with the same keys."""

from __future__ import annotations

from kabucast.storage.base import Store
from kabucast.storage.local import LocalStore
from kabucast.storage.s3 import S3Store
from kabucast.storage.url import open_store

__all__ = ["LocalStore", "S3Store", "Store", "open_store"]

"""Open a store from a URL: ``s3://bucket/prefix`` for S3, anything else is a local folder."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from kabucast.storage.local import LocalStore
from kabucast.storage.s3 import S3Store

if TYPE_CHECKING:
    from kabucast.config import StorageSettings
    from kabucast.storage.base import Store

DEFAULT_STORE = ".kabucast"
ENV_STORE = "KABUCAST_STORE"
"""The store URL when no --store is given: set by template.yaml for the functions and the Batch jobs."""
ENV_BUCKET = "KABUCAST_BUCKET"
ENV_ENDPOINT = "KABUCAST_S3_ENDPOINT_URL"


def open_store(url: str = DEFAULT_STORE, endpoint_url: str | None = None) -> Store:
    """A LocalStore for a path, an S3Store for ``s3://bucket[/prefix]`` (``endpoint_url`` for S3-compatible)."""
    if url.startswith("s3://"):
        bucket, _, prefix = url[len("s3://") :].partition("/")
        return S3Store(bucket, prefix, endpoint_url=endpoint_url or os.environ.get(ENV_ENDPOINT))
    return LocalStore(url)


def store_url_from_settings(env: str, storage: StorageSettings) -> str:
    """The store URL a config file selects with ``env: local | s3``."""
    if env == "s3":
        bucket = storage.s3_bucket or os.environ.get(ENV_BUCKET, "")
        return f"s3://{bucket}/{storage.s3_prefix}".rstrip("/")
    return storage.local_root

"""A Store backed by an S3 bucket (or any S3-compatible endpoint), under an optional key prefix."""

from __future__ import annotations

from typing import Any

from kabucast.errors import ObjectNotFound, StoreError
from kabucast.storage.base import Store

_NOT_FOUND = {"NoSuchKey", "404", "NotFound"}


class S3Store(Store):
    """Objects are ``s3://bucket/prefix/key``. A single PUT is atomic: readers never see a partial object."""

    def __init__(self, bucket: str, prefix: str = "", client: Any = None, endpoint_url: str | None = None) -> None:
        if not bucket:
            raise StoreError("S3 store needs a bucket name (s3://BUCKET/prefix or KABUCAST_BUCKET)")
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.url = f"s3://{bucket}/{self.prefix}".rstrip("/")
        if client is None:
            import boto3

            client = boto3.client("s3", endpoint_url=endpoint_url)
        self.client = client

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def get_bytes(self, key: str) -> bytes:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"].read()
        except Exception as exc:
            raise self._error(exc, key, "read") from exc

    def put_bytes(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        try:
            self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data, ContentType=content_type)
        except Exception as exc:
            raise self._error(exc, key, "write") from exc

    def exists(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(key))
            return True
        except Exception as exc:
            err = self._error(exc, key, "check")
            if isinstance(err, ObjectNotFound):
                return False
            raise err from exc

    def list(self, prefix: str = "") -> list[str]:
        strip = len(self.prefix) + 1 if self.prefix else 0
        keys: list[str] = []
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self._key(prefix)
            ):
                keys.extend(obj["Key"][strip:] for obj in page.get("Contents", []))
        except Exception as exc:
            raise self._error(exc, prefix, "list") from exc
        return sorted(keys)

    def _error(self, exc: Exception, key: str, action: str) -> StoreError:
        code = str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))
        if code in _NOT_FOUND:
            return ObjectNotFound(key, self.url)
        if code in {"AccessDenied", "403"}:
            return StoreError(
                f"S3 AccessDenied: cannot {action} {self.url}/{key}; grant the role s3:GetObject/PutObject/"
                "ListBucket on this prefix"
            )
        if code == "NoSuchBucket":
            return StoreError(f"bucket {self.bucket!r} does not exist (create it or fix --store)")
        return StoreError(f"cannot {action} {self.url}/{key}: {exc}")

"""A Store backed by an S3 bucket (or any S3-compatible endpoint), under an optional key prefix.

The client fails fast: 5 s to connect, 10 s without a byte while reading, 3 attempts in all
(botocore's standard retry mode), so a dead or hanging endpoint fails a run on its first request, in
about half a minute (3 x 10 s against an endpoint that accepts and never answers) rather than
minutes. Every botocore or network failure becomes a :class:`StoreError` naming the real cause.
"""

from __future__ import annotations

from typing import Any

from kabucast.errors import ConcurrentUpdate, ObjectNotFound, StoreError, StoreUnavailable
from kabucast.storage.base import Store, Versioned

CONNECT_TIMEOUT_S = 5
READ_TIMEOUT_S = 10
MAX_ATTEMPTS = 3

_NOT_FOUND = {"NoSuchKey", "404", "NotFound"}
_CONFLICT = {"PreconditionFailed", "412", "ConditionalRequestConflict", "409"}
_DENIED = {"AccessDenied", "403", "AllAccessDisabled"}
_CREDENTIALS = {"InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken", "TokenRefreshRequired"}
_THROTTLED = {"SlowDown", "Throttling", "ThrottlingException", "RequestLimitExceeded", "503", "ServiceUnavailable"}


def client_config() -> Any:
    from botocore.config import Config

    return Config(
        connect_timeout=CONNECT_TIMEOUT_S,
        read_timeout=READ_TIMEOUT_S,
        retries={"mode": "standard", "total_max_attempts": MAX_ATTEMPTS},  # "max_attempts" counts retries only
        signature_version="s3v4",  # also for presigned URLs (botocore's default there is SigV2, which AWS retires)
    )


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

            client = boto3.client("s3", endpoint_url=endpoint_url, config=client_config())
        self.client = client

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def presigned_url(self, key: str, seconds: int) -> str:
        """A URL that lets its holder GET ``key`` for ``seconds`` (SigV4: at most 7 days, and no longer than the
        signing credentials live); the bucket itself stays private. The object need not exist yet."""
        params = {"Bucket": self.bucket, "Key": self._key(key)}
        return str(self.client.generate_presigned_url("get_object", Params=params, ExpiresIn=int(seconds)))

    def get_bytes(self, key: str) -> bytes:
        return self._get(key).data

    def get_versioned(self, key: str) -> Versioned | None:
        try:
            return self._get(key)
        except ObjectNotFound:
            return None

    def _get(self, key: str) -> Versioned:
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
            return Versioned(response["Body"].read(), response["ETag"])
        except Exception as exc:
            raise self._error(exc, key, "read") from exc

    def put_bytes(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        try:
            self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data, ContentType=content_type)
        except Exception as exc:
            raise self._error(exc, key, "write") from exc

    def put_if(self, key: str, data: bytes, etag: str | None, content_type: str = "application/json") -> None:
        condition = {"IfNoneMatch": "*"} if etag is None else {"IfMatch": etag}
        try:
            self.client.put_object(
                Bucket=self.bucket, Key=self._key(key), Body=data, ContentType=content_type, **condition
            )
        except Exception as exc:
            err = self._error(exc, key, "write")
            if isinstance(err, ObjectNotFound):  # If-Match on an object deleted meanwhile
                err = ConcurrentUpdate(f"{self.url}/{key} was deleted since this run read it; nothing written")
            raise err from exc

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
        """The named error for any failure of one request, with what to do about it."""
        from botocore import exceptions as bx

        where = f"{self.url}/{key}"
        endpoint = getattr(getattr(self.client, "meta", None), "endpoint_url", None) or "the S3 endpoint"
        if isinstance(exc, bx.ReadTimeoutError | bx.ConnectTimeoutError):
            return StoreUnavailable(
                f"{endpoint} did not answer (timed out after {MAX_ATTEMPTS} attempts: {CONNECT_TIMEOUT_S} s to "
                f"connect, {READ_TIMEOUT_S} s to read) while trying to {action} {where}; check the endpoint and "
                "the network (VPC endpoint, proxy)"
            )
        if isinstance(exc, bx.EndpointConnectionError):
            return StoreUnavailable(
                f"cannot connect to {endpoint} to {action} {where}: nothing listens there or the network is down; "
                "check --endpoint-url / KABUCAST_S3_ENDPOINT_URL and the region"
            )
        if isinstance(exc, bx.ConnectionClosedError | bx.ConnectionError | bx.HTTPClientError):
            return StoreUnavailable(f"{endpoint} dropped the connection while trying to {action} {where}: {exc}")
        if isinstance(exc, bx.NoCredentialsError | bx.PartialCredentialsError):
            return StoreUnavailable(
                f"no AWS credentials to {action} {where}: set AWS_PROFILE, or AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY (in Lambda, the function's role provides them)"
            )
        response = getattr(exc, "response", None) or {}
        code = str(response.get("Error", {}).get("Code", ""))
        if code in _NOT_FOUND:
            return ObjectNotFound(key, self.url)
        if code in _CONFLICT:
            return ConcurrentUpdate(f"{where} changed since this run read it (another run wrote it); nothing written")
        if code in _DENIED:
            return StoreUnavailable(
                f"S3 AccessDenied: cannot {action} {where}; grant the role s3:GetObject/PutObject/ListBucket on "
                "this prefix"
            )
        if code == "NoSuchBucket":
            return StoreUnavailable(f"bucket {self.bucket!r} does not exist (create it or fix --store)")
        if code in _CREDENTIALS:
            return StoreUnavailable(f"S3 rejected the credentials ({code}) to {action} {where}: refresh them")
        if code in _THROTTLED:
            return StoreUnavailable(f"S3 is throttling requests ({code}) to {action} {where}: retry the run later")
        if isinstance(exc, bx.BotoCoreError | bx.ClientError):
            return StoreUnavailable(f"cannot {action} {where}: {exc}")
        return StoreError(f"cannot {action} {where}: {type(exc).__name__}: {exc}")

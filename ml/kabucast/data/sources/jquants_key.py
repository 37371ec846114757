"""The J-Quants API key: where it comes from, and a value that never prints itself.

- Locally: the environment variable ``JQUANTS_API_KEY``.
- On AWS Lambda: ``JQUANTS_API_KEY_PARAMETER`` names an SSM Parameter Store SecureString (template.yaml's
  ``JQuantsApiKeyParameter``; only the functions that fetch may read it). It is read once, decrypted, and
  cached for the container's life.

The key is held in an :class:`ApiKey`, whose ``repr`` and ``str`` name it without showing it, so a log line,
an exception or a report that formats it shows ``<J-Quants API key, 44 characters>``. Only the HTTP header
sees :meth:`ApiKey.reveal`. A missing or unreadable key is :class:`MissingApiKey` (exit 2: nothing was
fetched or written), saying what to set.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

from kabucast.errors import UsageError

ENV_KEY = "JQUANTS_API_KEY"
ENV_KEY_PARAMETER = "JQUANTS_API_KEY_PARAMETER"
_CACHE: dict[str, ApiKey] = {}


class MissingApiKey(UsageError):
    """No J-Quants API key is configured, or its parameter cannot be read."""


class ApiKey:
    """A secret string that does not show itself (module docstring)."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if not value or not value.strip():
            raise MissingApiKey(f"the J-Quants API key is empty: set {ENV_KEY} (the key from your J-Quants dashboard)")
        self._value = value.strip()

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"<J-Quants API key, {len(self._value)} characters>"

    __str__ = __repr__

    def __reduce__(self) -> Any:  # never pickled into a file or a queue message
        raise TypeError("an ApiKey is not picklable")


def api_key(env: Mapping[str, str] | None = None, ssm: Callable[[], Any] | None = None) -> ApiKey:
    """The key from ``JQUANTS_API_KEY``, else from the SSM SecureString ``JQUANTS_API_KEY_PARAMETER`` names (read
    once per process). ``ssm`` builds the SSM client (default: boto3's)."""
    env = os.environ if env is None else env
    if env.get(ENV_KEY):
        return ApiKey(env[ENV_KEY])
    name = env.get(ENV_KEY_PARAMETER, "").strip()
    if not name:
        raise MissingApiKey(
            f"no J-Quants API key: set {ENV_KEY} (locally) or {ENV_KEY_PARAMETER} to the name of an SSM SecureString "
            "holding it (on AWS: template.yaml's JQuantsApiKeyParameter); docs/DATA_SOURCES.md, 'J-Quants'"
        )
    if name not in _CACHE:
        _CACHE[name] = ApiKey(_parameter(name, ssm))
    return _CACHE[name]


def forget_cached_keys() -> None:
    """Drop the keys read from SSM (a rotated key is read again; tests)."""
    _CACHE.clear()


def _parameter(name: str, ssm: Callable[[], Any] | None) -> str:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        if ssm is None:
            import boto3

            client = boto3.client("ssm")
        else:
            client = ssm()
        return str(client.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"])
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "error")
        raise MissingApiKey(
            f"cannot read the J-Quants API key from SSM parameter {name} ({code}): check that it exists as a "
            "SecureString and that this function's role may ssm:GetParameter it"
        ) from None
    except BotoCoreError as exc:
        raise MissingApiKey(f"cannot read SSM parameter {name}: {type(exc).__name__}") from None

"""Errors a user can meet. Each names what went wrong and what to do about it."""

from __future__ import annotations


class KabucastError(Exception):
    """Base class of every error kabucast raises on purpose."""


class UsageError(KabucastError):
    """What the user asked for is malformed (an option, an event, a date): nothing was read or written.

    The CLI exits 2 on it; a Lambda handler answers it (``status: error``) instead of raising it for a
    retry that would fail the same way, and counts it as a failed run."""


class JobFailure(KabucastError):
    """The run could not do its job (the store or the source failed, nothing could be published).

    The CLI exits 1 on it (2 is for what the user must fix first: usage, configuration, missing
    prerequisites); a Lambda handler lets it raise, so retries, the failed-runs queue and alarms see it.
    """


class ConfigError(UsageError):
    """A configuration file is missing, malformed, or has a missing or unknown key."""


class InvalidDate(UsageError):
    """A date is not ``YYYY-MM-DD``, not a calendar date, or outside the range the job can run on."""


def echo(value: object, limit: int = 100) -> str:
    """``repr(value)`` cut to ``limit`` characters: rejected input is quoted in errors and logs, never dumped."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


class StoreError(JobFailure):
    """The store cannot be opened, or an object cannot be read or written."""


class StoreUnavailable(StoreError):
    """The store could not be reached or refused the request (network, timeout, credentials, permissions)."""


class CorruptObject(StoreError):
    """An object exists but cannot be decoded (a truncated parquet file, invalid JSON)."""


class ConcurrentUpdate(StoreError):
    """Another run changed an object between this run's read and its conditional write; nothing was written."""


class ObjectNotFound(StoreError):
    """A key that should exist in the store does not."""

    def __init__(self, key: str, where: str) -> None:
        super().__init__(f"{key} not found in {where}")
        self.key = key


class SourceError(JobFailure):
    """A market data source failed as a whole (not one ticker)."""


class EmptyDownload(SourceError):
    """A source returned no rows at all (yfinance does this offline instead of raising)."""


class PriceValidationError(KabucastError):
    """A price frame breaks an invariant (dates, positivity, OHLC relations, calendar)."""


class InsufficientHistory(KabucastError):
    """A ticker has fewer weeks of prices than the features need."""

    def __init__(self, ticker: str, weeks: int, needed: int) -> None:
        super().__init__(f"{ticker} has {weeks} weeks, {needed} needed; run `kabucast backfill --period 5y`")
        self.ticker = ticker
        self.weeks = weeks
        self.needed = needed

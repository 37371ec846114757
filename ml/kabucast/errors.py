"""Errors a user can meet. Each names what went wrong and what to do about it."""

from __future__ import annotations


class KabucastError(Exception):
    """Base class of every error kabucast raises on purpose."""


class ConfigError(KabucastError):
    """A configuration file is missing, malformed, or has a missing or unknown key."""


class StoreError(KabucastError):
    """The store cannot be opened, or an object cannot be read or written."""


class ObjectNotFound(StoreError):
    """A key that should exist in the store does not."""

    def __init__(self, key: str, where: str) -> None:
        super().__init__(f"{key} not found in {where}")
        self.key = key


class SourceError(KabucastError):
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

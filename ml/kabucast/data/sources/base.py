"""The interface every market data source implements."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import pandas as pd

STATIC_INFO_KEYS: tuple[str, ...] = (
    "trailingPE",
    "priceToBook",
    "dividendYield",
    "returnOnEquity",
    "debtToEquity",
    "marketCap",
)
"""The ``Ticker.info`` fields the static features are built from (see kabucast.features.static)."""


@dataclass
class PriceFetch:
    """What a price request returned: canonical frames per ticker, and the tickers that failed, with why."""

    frames: dict[str, pd.DataFrame] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)


@dataclass
class InfoFetch:
    """Fundamentals per ticker (a subset of ``Ticker.info``: keys in STATIC_INFO_KEYS, plus ``sector``)."""

    info: dict[str, dict[str, Any]] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)


class PriceSource(Protocol):
    """A source of daily OHLCV bars and fundamentals for Tokyo-listed tickers.

    ``fetch_prices`` returns, for each ticker it could serve, a frame in the canonical layout of
    kabucast.data.prices (``normalize_prices`` applied), with bars from ``start`` to ``end``
    inclusive (JST dates). A ticker it cannot serve goes to ``failures`` with a reason; only a
    failure of the whole source (no network at all, say) raises :class:`SourceError`.
    """

    name: str

    def fetch_prices(self, tickers: Sequence[str], start: pd.Timestamp, end: pd.Timestamp) -> PriceFetch: ...

    def fetch_info(self, tickers: Sequence[str]) -> InfoFetch: ...

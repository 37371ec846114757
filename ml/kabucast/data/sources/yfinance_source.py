"""Daily bars and fundamentals of Tokyo-listed tickers from Yahoo Finance, through yfinance (1.x; read against 1.7.0).

Prices come from ``yf.download(auto_adjust=False)``: ``close`` is Yahoo's Close (split-adjusted, not
dividend-adjusted) and ``adj_close`` its Adj Close (dividend-adjusted too), in JPY; ``volume`` in shares.

``yf.download`` never raises. A ticker it could not fetch (offline, rate limited, unknown symbol)
comes back as an empty or all-NaN column block, and the reason only goes to the ``yfinance``
logger. So this module judges the frame itself and listens to that logger for the reasons:

- a whole batch empty is retried with backoff (``retry.base_seconds * 2**attempt`` s); if every
  batch stays empty the source as a whole failed (:class:`EmptyDownload`, typically no network);
- a ticker missing from an otherwise good batch is a per-ticker failure, retried only when yfinance
  logged a rate limit or network error for it.

yfinance keeps caches (ticker time zones, cookies) in sqlite files; the folder must be writable,
which on AWS Lambda means under /tmp. See docs/DATA_SOURCES.md.
"""

from __future__ import annotations

import logging
import math
import os
import re
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd
import yfinance as yf
from curl_cffi import requests as curl_requests
from curl_cffi.requests import exceptions as curl_errors
from yfinance.exceptions import YFRateLimitError

from kabucast.config import RetrySettings
from kabucast.data.prices import normalize_prices
from kabucast.data.sources.base import STATIC_INFO_KEYS, InfoFetch, PriceFetch
from kabucast.errors import EmptyDownload, PriceValidationError, SourceError

ENV_CACHE_DIR = "KABUCAST_CACHE_DIR"
"""Environment variable: the folder for yfinance's caches (overrides the defaults below)."""
ENV_LAMBDA = "AWS_LAMBDA_FUNCTION_NAME"
"""Set by AWS Lambda; there only /tmp is writable."""
LAMBDA_CACHE_DIR = Path("/tmp/kabucast-yfinance")
USER_CACHE_DIR = Path("~/.cache/kabucast/yfinance")

INFO_KEYS: tuple[str, ...] = (*STATIC_INFO_KEYS, "sector")
NO_DATA = "no data returned by Yahoo (delisted or invalid ticker?)"

_COLUMNS = {
    "Open": "open",
    "High": "high",
    "Low": "low",
    "Close": "close",
    "Adj Close": "adj_close",
    "Volume": "volume",
}
_OHLC = ["open", "high", "low", "close"]
_TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    YFRateLimitError,
    curl_errors.ConnectionError,
    curl_errors.Timeout,
    curl_errors.ChunkedEncodingError,
    ConnectionError,
    TimeoutError,
)
_TRANSIENT_REASONS = ("RateLimit", "Too Many Requests", "DNSError", "ConnectionError", "Timeout", "timed out")
_FAILED_LINE = re.compile(r"^\[(?P<symbols>'[^\]]*')\]: (?P<reason>.+)$", re.DOTALL)
"""The summary line ``yf.download`` logs per failure reason: ``['7203.T', '6758.T']: <reason>``."""

log = logging.getLogger(__name__)
T = TypeVar("T")


def default_cache_dir() -> Path:
    """``$KABUCAST_CACHE_DIR``, else /tmp/kabucast-yfinance on Lambda, else ~/.cache/kabucast/yfinance."""
    if os.environ.get(ENV_CACHE_DIR):
        return Path(os.environ[ENV_CACHE_DIR])
    if os.environ.get(ENV_LAMBDA):
        return LAMBDA_CACHE_DIR
    return USER_CACHE_DIR.expanduser()


class YFinanceSource:
    """Yahoo Finance behind the PriceSource interface.

    ``session`` (a curl_cffi Session) is handed to yfinance for every request; ``sleep`` is what
    waits between retries. Both exist so tests can replay Yahoo and not wait.
    """

    name = "yfinance"

    def __init__(
        self,
        batch_size: int = 10,
        retry: RetrySettings | None = None,
        cache_dir: str | Path | None = None,
        session: curl_requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.batch_size = batch_size
        self.retry = retry or RetrySettings()
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self._session = session
        self._sleep = sleep
        self._cache_ready = False

    def fetch_prices(self, tickers: Sequence[str], start: pd.Timestamp, end: pd.Timestamp) -> PriceFetch:
        """Bars from ``start`` to ``end`` (JST dates, both inclusive), ``batch_size`` tickers per download."""
        self._prepare_cache()
        start, end = pd.Timestamp(start).normalize(), pd.Timestamp(end).normalize()
        out = PriceFetch()
        batches = [list(tickers[i : i + self.batch_size]) for i in range(0, len(tickers), self.batch_size)]
        empty = sum(not self._fetch_batch(batch, start, end, out) for batch in batches)
        if batches and empty == len(batches):
            raise EmptyDownload(
                f"yfinance returned no rows for any of {len(tickers)} tickers ({start.date()}..{end.date()}) after "
                f"{self.retry.max_attempts} attempts; is query2.finance.yahoo.com reachable? {_some(out.failures)}"
            )
        return out

    def fetch_info(self, tickers: Sequence[str]) -> InfoFetch:
        """``Ticker.info`` reduced to INFO_KEYS, units as documented in :func:`static_info`.

        Raises :class:`EmptyDownload` when no ticker at all got fundamentals (typically no network).
        """
        self._prepare_cache()
        out = InfoFetch()
        for ticker in tickers:
            try:
                raw = self._with_retries(partial(self._raw_info, ticker), f"info of {ticker}")
            except Exception as exc:  # yfinance raises assorted types for one bad symbol; it must not sink the rest
                out.failures[ticker] = f"Yahoo fundamentals failed: {type(exc).__name__}: {exc}"
                continue
            info = static_info(raw)
            if all(v is None for v in info.values()):
                out.failures[ticker] = f"Yahoo returned none of {', '.join(INFO_KEYS)} (delisted or invalid ticker?)"
            else:
                out.info[ticker] = info
        if tickers and not out.info:
            raise EmptyDownload(
                f"Yahoo returned fundamentals for none of {len(tickers)} tickers; {_some(out.failures)}"
            )
        return out

    def _raw_info(self, ticker: str) -> dict[str, Any]:
        return yf.Ticker(ticker, session=self._session).info or {}

    def _prepare_cache(self) -> None:
        """Point yfinance's sqlite caches (tz, cookie, ISIN: one call in yfinance 1.x) at a writable folder."""
        if self._cache_ready:
            return
        folder = self.cache_dir or default_cache_dir()
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SourceError(f"yfinance cache folder {folder} cannot be created ({exc}); set {ENV_CACHE_DIR}") from exc
        yf.set_tz_cache_location(str(folder))  # in yfinance 1.7 this moves the cookie and ISIN caches too
        self.cache_dir = folder
        self._cache_ready = True

    def _fetch_batch(self, batch: list[str], start: pd.Timestamp, end: pd.Timestamp, out: PriceFetch) -> bool:
        """Download one batch into ``out``; False when Yahoo sent no rows for any of its tickers."""
        pending, failed, got_rows = batch, dict.fromkeys(batch, NO_DATA), False
        for attempt in range(self.retry.max_attempts):
            if attempt:
                self._backoff(attempt - 1, f"{len(pending)} of {len(batch)} tickers ({_names(pending)})")
            data, reasons = self._download(pending, start, end)
            for ticker in pending:
                outcome = _outcome(data, reasons, ticker, start, end)
                if isinstance(outcome, pd.DataFrame):
                    out.frames[ticker] = outcome
                    failed.pop(ticker)
                else:
                    failed[ticker] = outcome
            whole_batch_empty = not any(t in out.frames for t in pending)
            got_rows = got_rows or not whole_batch_empty
            pending = [t for t in pending if t in failed and (whole_batch_empty or _is_transient(failed[t]))]
            if not pending:
                break
        out.failures.update(failed)
        return got_rows

    def _download(
        self, tickers: list[str], start: pd.Timestamp, end: pd.Timestamp
    ) -> tuple[pd.DataFrame, dict[str, str]]:
        """One ``yf.download`` call, and the per-ticker reasons it logged (ticker upper-cased)."""
        with _logged_failures() as reasons, warnings.catch_warnings():
            # yfinance's own pandas deprecation warnings are not actionable here
            warnings.filterwarnings("ignore", category=DeprecationWarning, module="yfinance")
            try:
                data = yf.download(
                    tickers,
                    start=start.date(),
                    end=(end + pd.Timedelta(days=1)).date(),  # yfinance's end is exclusive
                    group_by="ticker",
                    auto_adjust=False,
                    actions=False,
                    threads=False,
                    progress=False,
                    multi_level_index=True,
                    session=self._session,
                )
            except _TRANSIENT_ERRORS as exc:  # yfinance 1.7 swallows these; older/newer versions may not
                return pd.DataFrame(), {t.upper(): f"{type(exc).__name__}: {exc}" for t in tickers}
        return (data if data is not None else pd.DataFrame()), reasons

    def _with_retries(self, call: Callable[[], T], what: str) -> T:
        """``call()``, retried with backoff while it raises a rate limit or network error."""
        for attempt in range(self.retry.max_attempts - 1):
            try:
                return call()
            except _TRANSIENT_ERRORS as exc:
                self._backoff(attempt, f"{what} ({type(exc).__name__})")
        return call()

    def _backoff(self, attempt: int, what: str) -> None:
        """Wait ``base_seconds * 2**attempt`` before retry ``attempt + 1``, and forget yfinance's memo.

        yfinance memoises the responses of GETs whose date range is in the past (``YfData.cache_get``),
        so without the reset a retry would be answered with the very response that failed.
        """
        delay = self.retry.base_seconds * 2**attempt
        log.warning(
            "yfinance: retrying %s in %g s (attempt %d of %d)", what, delay, attempt + 2, self.retry.max_attempts
        )
        self._sleep(delay)
        _forget_yfinance_memo()


def _forget_yfinance_memo() -> None:
    """Empty yfinance's in-process memo of GET responses (``YfData.cache_get``, an lru_cache in 1.x)."""
    memo = getattr(getattr(getattr(yf, "data", None), "YfData", None), "cache_get", None)
    if hasattr(memo, "cache_clear"):
        memo.cache_clear()


def _outcome(
    data: pd.DataFrame, reasons: dict[str, str], ticker: str, start: pd.Timestamp, end: pd.Timestamp
) -> pd.DataFrame | str:
    """A ticker's canonical bars from a download, or why there are none."""
    try:
        frame = ticker_frame(data, ticker, start, end)
    except PriceValidationError as exc:
        return f"unusable bars from Yahoo: {exc}"
    if frame is not None:
        return frame
    reason = reasons.get(ticker.upper())
    return f"no data returned by Yahoo: {reason}" if reason else NO_DATA


def ticker_frame(data: pd.DataFrame, ticker: str, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame | None:
    """One ticker's canonical bars from a ``group_by="ticker"`` download, or None when it has none.

    Rows with all of OHLC missing are dropped: ``yf.download`` aligns every ticker on the union of
    dates, so a ticker gets NaN rows on sessions only the others traded (and Yahoo sends null bars).
    """
    key = ticker.upper()
    if not isinstance(data.columns, pd.MultiIndex) or key not in data.columns.get_level_values(0):
        return None
    block = data[key].rename(columns=_COLUMNS).dropna(subset=_OHLC, how="all")
    if block.empty:
        return None
    frame = normalize_prices(block)
    frame = frame.loc[(frame.index >= start) & (frame.index <= end)]
    return frame if not frame.empty else None


def static_info(raw: dict[str, Any]) -> dict[str, Any]:
    """INFO_KEYS of a ``Ticker.info`` dict, every key present (None when Yahoo has no usable value).

    Units: ``trailingPE`` and ``priceToBook`` are ratios; ``returnOnEquity`` is a fraction
    (0.14 = 14%); ``debtToEquity`` is Yahoo's PERCENT (105.3 means debt = 1.053 x equity);
    ``marketCap`` in JPY; ``dividendYield`` a FRACTION (0.033 = 3.3%, see
    :func:`dividend_yield_fraction`); ``sector`` Yahoo's English sector name. Yahoo sends
    "Infinity" for some ratios (a loss-making company's P/E): any non-finite number becomes None.
    """
    out: dict[str, Any] = {k: _finite(raw.get(k)) for k in STATIC_INFO_KEYS}
    out["dividendYield"] = dividend_yield_fraction(raw)
    sector = raw.get("sector")
    out["sector"] = sector if isinstance(sector, str) and sector else None
    return out


def dividend_yield_fraction(raw: dict[str, Any]) -> float | None:
    """``info["dividendYield"]`` as a fraction, whichever Yahoo endpoint it came from.

    yfinance 1.7 builds ``info`` from quoteSummary (``summaryDetail.dividendYield``: a fraction,
    0.0331) and then overlays /v7/finance/quote (``dividendYield``: PERCENT, 3.31). Which one
    wins depends on whether the v7 request succeeded, so the unit is read off the data: the
    reading closest to ``dividendRate / price`` (both JPY) is taken; without those, percent (the
    usual case) is assumed.
    """
    value = _finite(raw.get("dividendYield"))
    if value is None:
        return None
    rate = _finite(raw.get("dividendRate"))
    prices = [_finite(raw.get(k)) for k in ("regularMarketPrice", "currentPrice", "previousClose")]
    price = next((p for p in prices if p), None)
    if rate is None or not price:
        return value / 100.0
    implied = rate / price
    return min((value, value / 100.0), key=lambda v: abs(v - implied))


def _finite(value: Any) -> float | None:
    """A finite float, or None (for None, "Infinity", NaN and non-numbers)."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _is_transient(reason: str) -> bool:
    return any(marker in reason for marker in _TRANSIENT_REASONS)


def _names(tickers: list[str], most: int = 3) -> str:
    return ", ".join(tickers[:most]) + (", ..." if len(tickers) > most else "")


def _some(failures: dict[str, str], most: int = 3) -> str:
    shown = "; ".join(f"{t}: {r}" for t, r in list(failures.items())[:most])
    return f"first failures: {shown}" if shown else ""


@contextmanager
def _logged_failures() -> Iterator[dict[str, str]]:
    """Collect the per-ticker reasons ``yf.download`` reports only through the ``yfinance`` logger."""
    reasons: dict[str, str] = {}
    handler = _FailureHandler(reasons)
    logger = logging.getLogger("yfinance")
    logger.addHandler(handler)
    try:
        yield reasons
    finally:
        logger.removeHandler(handler)


class _FailureHandler(logging.Handler):
    def __init__(self, reasons: dict[str, str]) -> None:
        super().__init__(level=logging.ERROR)
        self.reasons = reasons

    def emit(self, record: logging.LogRecord) -> None:
        m = _FAILED_LINE.match(record.getMessage().strip())
        if m:
            for symbol in re.findall(r"'([^']+)'", m["symbols"]):
                self.reasons[symbol] = m["reason"].strip()

"""Daily bars of Tokyo-listed stocks from J-Quants, JPX's own API (v2, ``x-api-key``), through the official client
``jquants-api-client`` 2.x (read against 2.8.0).

Prices come from ``/equities/bars/daily``, one request per ticker (the client follows ``pagination_key``). The
stored bar is the exchange's adjusted one: ``open/high/low/close`` = ``AdjO/AdjH/AdjL/AdjC`` and ``volume`` =
``AdjVo`` (splits and reverse splits applied back through history by the exchange's ``AdjFactor``). J-Quants does
not adjust for dividends, so ``adj_close`` = ``close`` (Yahoo's ``Adj Close`` also removes dividends: a month's
return here leaves out the dividend). A day without a trade (no price) is left out. When a new split changes the
adjustment factor, the stored history and the re-fetched sessions disagree by the split's ratio: ingest's rule
then re-fetches the whole history and replaces it (kabucast.data.ingest), as for any source.

Tickers are Yahoo's spelling (``7203.T``); J-Quants' code is the 4 characters and a ``0`` (``72030``).

Failures, per request (``retry``: attempts and backoff, as for yfinance):

- 401 / 403, or no key: :class:`JQuantsAuthError` at once (exit 2), before anything is written;
- 429: wait the ``Retry-After`` it sends (at most :data:`MAX_RETRY_AFTER_S`; else the backoff), then again;
- 5xx, a connection error, a timeout, an answer that is not whole JSON (a truncated page): backoff, then again;
- any other status (400, 404): no retry.

A ticker whose requests all failed goes to ``failures`` with the last reason, and nothing of it is stored; when no
ticker of the call got bars and every failure was of the service (rate limit, 5xx, network),
:class:`JQuantsUnavailable` fails the run. The key never appears in a message: it is an
:class:`~kabucast.data.sources.jquants_key.ApiKey`, and errors quote the path, the status and J-Quants' message.
``JQUANTS_API_BASE`` points the client elsewhere (the tests' stand-in of the API; a proxy).
"""

from __future__ import annotations

import math
import os
import re
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import pandas as pd

from kabucast.config import RetrySettings
from kabucast.data.disclosures import ClosesFetch, StatementsFetch, statements_frame
from kabucast.data.prices import normalize_prices
from kabucast.data.sources.base import InfoFetch, PriceFetch
from kabucast.data.sources.jquants_key import ApiKey, api_key
from kabucast.errors import SourceError, UsageError

BASE_URL = "https://api.jquants.com/v2"
ENV_BASE_URL = "JQUANTS_API_BASE"
MAX_RETRY_AFTER_S = 60.0
TIMEOUT_S = 30.0
_TICKER = re.compile(r"^(?P<code>[0-9A-Z]{4})\.T$")
_BARS = {"AdjO": "open", "AdjH": "high", "AdjL": "low", "AdjC": "close", "AdjVo": "volume"}
T = TypeVar("T")


class JQuantsAuthError(UsageError):
    """J-Quants refused the API key (401 / 403): nothing was fetched or written."""


class JQuantsUnavailable(SourceError):
    """J-Quants answered no request of the run (rate limited, server errors or unreachable)."""


class _Retryable(Exception):
    """A failed request worth trying again; ``wait``: the seconds the service asked for (None: backoff)."""

    def __init__(self, reason: str, wait: float | None = None) -> None:
        super().__init__(reason)
        self.wait = wait


class JQuantsSource:
    """J-Quants behind the PriceSource interface (module docstring). ``client`` builds the API client from the
    key, the base URL and the timeout (default: the official ClientV2); ``sleep`` waits between retries."""

    name = "jquants"

    def __init__(
        self,
        key: ApiKey | None = None,
        base_url: str | None = None,
        retry: RetrySettings | None = None,
        timeout: float = TIMEOUT_S,
        sleep: Callable[[float], None] = time.sleep,
        client: Callable[[ApiKey, str, float], Any] | None = None,
    ) -> None:
        self.key = key if key is not None else api_key()
        self.base_url = (base_url or os.environ.get(ENV_BASE_URL) or BASE_URL).rstrip("/")
        self.retry = retry or RetrySettings()
        self.timeout = timeout
        self._sleep = sleep
        self._make_client = client or official_client
        self._client: Any = None
        self.requests = 0  # HTTP requests made (pages included), for the bench and the logs

    def fetch_prices(self, tickers: Sequence[str], start: pd.Timestamp, end: pd.Timestamp) -> PriceFetch:
        """Bars from ``start`` to ``end`` (JST dates, both inclusive) of each ticker, one request each."""
        start, end = pd.Timestamp(start).normalize(), pd.Timestamp(end).normalize()
        rows, failures = self._per_ticker(tickers, "bars", lambda code: self._bars(code, start, end))
        out = PriceFetch(failures=failures)
        for ticker, got in rows.items():
            frame = bars_frame(got, start, end)
            if frame is None:
                out.failures[ticker] = f"J-Quants has no bars of {ticker} from {start.date()} to {end.date()}"
            else:
                out.frames[ticker] = frame
        return out

    def fetch_info(self, tickers: Sequence[str]) -> InfoFetch:
        raise UsageError(
            "J-Quants gives fundamentals by disclosure date, not as of today: `kabucast enrich --source jquants` "
            "builds their point-in-time history (kabucast.data.enrich.enrich_point_in_time)"
        )

    def fetch_statements(self, tickers: Sequence[str]) -> StatementsFetch:
        """Every financial statement J-Quants holds of each ticker (``/fins/summary``), one request each
        (kabucast.data.disclosures.statements_frame); a ticker without any gets an empty frame."""
        call = lambda code: self._api().get_fin_summary_cursor(code=code)[0]  # noqa: E731
        rows, failures = self._per_ticker(tickers, "statements", call)
        return StatementsFetch({t: statements_frame(r) for t, r in rows.items()}, failures)

    def fetch_closes(self, tickers: Sequence[str], start: pd.Timestamp, end: pd.Timestamp) -> ClosesFetch:
        """Unadjusted closes ``C`` (JPY, the price of the shares of that day) from ``start`` to ``end``."""
        start, end = pd.Timestamp(start).normalize(), pd.Timestamp(end).normalize()
        rows, failures = self._per_ticker(tickers, "closes", lambda code: self._bars(code, start, end))
        out = ClosesFetch(failures=failures)
        for ticker, got in rows.items():
            if got is None or got.empty or not {"Date", "C"} <= set(got.columns):
                out.closes[ticker] = pd.Series(dtype="float64")
                continue
            close = pd.Series(pd.to_numeric(got["C"], errors="coerce").to_numpy(), index=pd.to_datetime(got["Date"]))
            out.closes[ticker] = close.dropna().sort_index()
        return out

    def _bars(self, code: str, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
        return self._api().get_eq_bars_daily(
            code=code, from_yyyymmdd=f"{start:%Y-%m-%d}", to_yyyymmdd=f"{end:%Y-%m-%d}"
        )

    def _per_ticker(
        self, tickers: Sequence[str], what: str, call: Callable[[str], T]
    ) -> tuple[dict[str, T], dict[str, str]]:
        """``call(code)`` of each ticker through the retries: the answers, and the failures by ticker.
        :class:`JQuantsUnavailable` when no ticker was answered and every failure was of the service."""
        got: dict[str, T] = {}
        failures: dict[str, str] = {}
        service_down = 0
        for ticker in tickers:
            found = _TICKER.match(ticker)
            if found is None:
                failures[ticker] = f"not a Tokyo ticker J-Quants knows ({ticker!r}: expected 4 characters + .T)"
                continue
            code = found.group("code") + "0"
            try:
                got[ticker] = self._with_retries(lambda code=code: call(code), f"{what} of {ticker}")
            except _Retryable as exc:
                failures[ticker] = str(exc)
                service_down += 1
            except _Refused as exc:
                failures[ticker] = str(exc)
        if tickers and not got and service_down and service_down == len(failures):
            some = "; ".join(f"{t}: {r}" for t, r in list(failures.items())[:3])
            raise JQuantsUnavailable(f"J-Quants answered none of {len(tickers)} tickers ({self.base_url}): {some}")
        return got, failures

    def request(self, what: str, call: Callable[[Any], T]) -> T:
        """``call(client)`` through the same retry policy, for the other endpoints (the listed-issue master, the
        trading calendar): :class:`JQuantsUnavailable` when the retries run out, :class:`SourceError` when J-Quants
        refuses the request, :class:`JQuantsAuthError` when it refuses the key."""
        try:
            return self._with_retries(lambda: call(self._api()), what)
        except _Retryable as exc:
            raise JQuantsUnavailable(f"{exc} ({self.base_url})") from None
        except _Refused as exc:
            raise SourceError(str(exc)) from None

    def _api(self) -> Any:
        if self._client is None:
            self._client = self._make_client(self.key, self.base_url, self.timeout)
            self._client.on_request = self._count
        return self._client

    def _count(self) -> None:
        self.requests += 1

    def _with_retries(self, call: Callable[[], T], what: str) -> T:
        """``call`` until it succeeds, at most ``retry.max_attempts`` times (module docstring)."""
        import requests

        last: _Retryable | None = None
        for attempt in range(self.retry.max_attempts):
            if last is not None:
                self._sleep(last.wait if last.wait is not None else self.retry.base_seconds * 2 ** (attempt - 1))
            try:
                with warnings.catch_warnings():  # the client's own pandas deprecations are not actionable here
                    warnings.filterwarnings("ignore", module="jquantsapi")
                    return call()
            except requests.HTTPError as exc:
                last = _classified(exc.response, what)
            except (requests.ConnectionError, requests.Timeout) as exc:
                last = _Retryable(f"J-Quants unreachable for {what}: {type(exc).__name__}")
            except ValueError:  # requests' JSONDecodeError: the answer was cut off or is not JSON
                last = _Retryable(f"J-Quants sent an answer that is not whole JSON for {what} (a truncated page?)")
        assert last is not None
        raise _Retryable(f"{last} (gave up after {self.retry.max_attempts} attempts)")


class _Refused(Exception):
    """A request J-Quants refused for a reason a retry cannot change (400, 404)."""


def _classified(response: Any, what: str) -> _Retryable:
    """The retryable failure an HTTP error status is, or the error it raises (auth, a bad request)."""
    status = getattr(response, "status_code", 0)
    message = _message(response)
    if status in (401, 403):
        raise JQuantsAuthError(
            f"J-Quants refused the API key ({status}: {message}) for {what}: check JQUANTS_API_KEY (or the SSM "
            "parameter JQUANTS_API_KEY_PARAMETER names) holds a current key of a plan that covers this data"
        )
    if status == 429:
        return _Retryable(f"J-Quants rate limit (429) for {what}", _retry_after(response))
    if status >= 500:
        return _Retryable(f"J-Quants server error {status} for {what}: {message}")
    raise _Refused(f"J-Quants refused {what} ({status}: {message})")


def _message(response: Any) -> str:
    try:
        body = response.json()
        text = str(body.get("message", "")) if isinstance(body, dict) else ""
    except ValueError:
        text = ""
    return (text or getattr(response, "reason", "") or "no message")[:200]


def _retry_after(response: Any) -> float | None:
    raw = (getattr(response, "headers", None) or {}).get("Retry-After")
    try:
        seconds = float(raw)
    except (TypeError, ValueError):
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_S) if math.isfinite(seconds) else None


def bars_frame(rows: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame | None:
    """J-Quants' daily bars (the client's frame, v2 field names) as a canonical price frame (None: no bar)."""
    if rows is None or rows.empty or "Date" not in rows.columns:
        return None
    missing = [c for c in _BARS if c not in rows.columns]
    if missing:
        raise SourceError(f"J-Quants bars lack the fields {missing}: has the API changed? (has {list(rows.columns)})")
    dates = pd.DatetimeIndex(pd.to_datetime(rows["Date"])).as_unit("ns")  # the unit the other sources store
    frame = rows.set_index(dates).loc[:, list(_BARS)].rename(columns=_BARS)
    frame = frame.apply(pd.to_numeric, errors="coerce").dropna(subset=["open", "high", "low", "close"])
    frame = frame[(frame.index >= start) & (frame.index <= end)].sort_index()
    if frame.empty:
        return None
    frame["volume"] = frame["volume"].fillna(0.0)
    return normalize_prices(frame.assign(adj_close=frame["close"]))


def official_client(key: ApiKey, base_url: str, timeout: float) -> Any:
    """jquants-api-client's ClientV2 on ``base_url``, with this module's timeout and no retries of its own (the
    source's policy is the only one: the client retries 429 and 5xx only over https, three times)."""
    import requests
    from jquantsapi import ClientV2

    class Client(ClientV2):
        on_request: Callable[[], None] = staticmethod(lambda: None)

        def _request_session(self, *args: Any, **kwargs: Any) -> requests.Session:
            if self._session is None:
                self._session = requests.Session()
            return self._session

        def _get(self, url: str, params: dict[str, Any] | None = None) -> requests.Response:
            self.on_request()
            headers = self._base_headers()
            response = self._request_session().get(url, params=params, headers=headers, timeout=timeout)
            self._raise_for_status(response)
            return response

    client = Client(api_key=key.reveal())
    client.JQUANTS_API_BASE = base_url
    return client

"""A stand-in for Yahoo's servers: a curl_cffi session that answers from tests/fixtures/yahoo/.

Only the network is replaced: yfinance 1.7 runs unchanged (cookie and crumb handshake, the tz
lookup, chart and quoteSummary parsing, ``yf.download``'s merging), fed with bodies in Yahoo's
wire format. Scenarios (rate limits, outages) are time windows on a fake clock whose ``sleep`` the
source under test is given, so a backoff of 2 s really moves the clock by 2 s.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import yfinance as yf
from curl_cffi import requests as curl_requests
from curl_cffi.requests.exceptions import DNSError

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "yahoo"
CRUMB = "Xq3Bz9kLmW1"
CHART = "/v8/finance/chart/"
QUOTE_SUMMARY = "/v10/finance/quoteSummary/"


@dataclass
class FakeClock:
    """Seconds since the test began; ``sleep`` advances it instantly and is recorded."""

    now: float = 0.0
    sleeps: list[float] = field(default_factory=list)

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@dataclass
class Outage:
    """Requests whose path starts with ``path`` (and, if given, names ``symbol``) fail until ``until`` s."""

    path: str
    until: float
    status: int  # 0 = the host cannot be resolved at all
    symbol: str | None = None


class YahooReplaySession(curl_requests.Session):
    """Serves Yahoo's endpoints from JSON files; records every request it is asked for."""

    def __init__(self, clock: FakeClock, fixtures: Path = FIXTURES) -> None:
        super().__init__()
        self.clock = clock
        self.fixtures = fixtures
        self.outages: list[Outage] = []
        self.requests: list[tuple[str, dict[str, str]]] = []

    def fail(self, path: str, until: float, status: int, symbol: str | None = None) -> None:
        self.outages.append(Outage(path, until, status, symbol))

    def chart_requests(self, symbol: str | None = None) -> list[dict[str, str]]:
        """Query parameters of every chart request for history (not the 1-day tz lookups)."""
        return [
            q
            for p, q in self.requests
            if p.startswith(CHART) and "period1" in q and (symbol is None or p == CHART + symbol)
        ]

    def request(self, method: str, url: str, params: dict[str, Any] | None = None, **kwargs: Any) -> Any:  # type: ignore[override]
        parts = urlsplit(url)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        query.update({k: str(v) for k, v in (params or {}).items()})
        self.requests.append((parts.path, query))
        symbol = query.get("symbols") or parts.path.rsplit("/", 1)[-1]
        for o in self.outages:
            if parts.path.startswith(o.path) and self.clock.now < o.until and o.symbol in (None, symbol):
                if o.status == 0:
                    raise DNSError(f"Failed to perform, curl: (6) Could not resolve host: {parts.hostname}.")
                return _response(url, o.status, "Too Many Requests\r\n" if o.status == 429 else "")
        status, body = self._answer(parts.hostname or "", parts.path, query)
        return _response(url, status, body if isinstance(body, str) else json.dumps(body))

    def _answer(self, host: str, path: str, query: dict[str, str]) -> tuple[int, str | dict[str, Any]]:
        if host in ("fc.yahoo.com", "guce.yahoo.com"):
            return 200, "<html><body></body></html>"
        if path == "/v1/test/getcrumb":
            return 200, CRUMB
        if path.startswith(CHART):
            return self._chart(path.removeprefix(CHART), query)
        if path.startswith(QUOTE_SUMMARY):
            symbol = path.removeprefix(QUOTE_SUMMARY)
            body = self._load(f"quoteSummary/{symbol}.json")
            return (200, body) if body else (404, self._load("errors/quoteSummary_not_found.json", symbol))
        if path == "/v7/finance/quote":
            return 200, self._load(f"quote/{query['symbols']}.json") or self._load("errors/quote_empty.json")
        if "/fundamentals-timeseries/" in path:
            return 200, self._load("errors/timeseries_empty.json", query["symbol"])
        return 404, ""

    def _chart(self, symbol: str, query: dict[str, str]) -> tuple[int, dict[str, Any]]:
        body = self._load(f"chart/{symbol}.json")
        if not body:
            return 404, self._load("errors/chart_not_found.json")
        result = body["chart"]["result"][0]
        if "timestamp" in result:
            stamps = result["timestamp"]
            if "period1" in query:
                lo, hi = int(query["period1"]), int(query["period2"])
                keep = [i for i, t in enumerate(stamps) if lo <= t < hi]
            else:  # range=1d: the tz lookup gets the latest bar
                keep = [len(stamps) - 1]
            _select(result, keep)
        return 200, body

    def _load(self, name: str, symbol: str = "") -> dict[str, Any]:
        path = self.fixtures / name
        if not path.is_file():
            return {}
        return json.loads(path.read_text(encoding="utf-8").replace("{symbol}", symbol))


def _select(result: dict[str, Any], keep: list[int]) -> None:
    """Keep only the bars at positions ``keep`` (what Yahoo does for period1/period2)."""
    result["timestamp"] = [result["timestamp"][i] for i in keep]
    quote = result["indicators"]["quote"][0]
    for k in quote:
        quote[k] = [quote[k][i] for i in keep]
    adj = result["indicators"]["adjclose"][0]
    adj["adjclose"] = [adj["adjclose"][i] for i in keep]


def _response(url: str, status: int, text: str) -> curl_requests.Response:
    r = curl_requests.Response()
    r.url = url
    r.status_code = status
    r.ok = status < 400
    r.reason = "OK" if r.ok else "Error"
    r.content = text.encode("utf-8")
    return r


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def yahoo(clock: FakeClock) -> YahooReplaySession:
    """A fresh replay of Yahoo for one test."""
    return YahooReplaySession(clock)


@pytest.fixture(scope="session")
def yf_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One yfinance cache folder for the whole run (yfinance opens its sqlite caches once per process)."""
    return tmp_path_factory.mktemp("yfinance-cache")


@pytest.fixture(autouse=True)
def _fresh_yfinance_memo() -> Iterator[None]:
    """yfinance memoises GETs per process (``YfData.cache_get``); a test must not see another's answers."""
    yf.data.YfData.cache_get.cache_clear()
    yield
    yf.data.YfData.cache_get.cache_clear()

"""A stand-in of the J-Quants API v2 on the loopback, for the tests and the benches: the real service cannot be
reached here, so the real client (jquants-api-client) is pointed at this server through its base URL.

It answers, in the API's JSON shape (``{"data": [...], "pagination_key": "..."}``, at most ``page_size`` rows a
page, the v2 field names):

- ``GET /v2/equities/bars/daily`` (``code``, ``from``, ``to`` or ``date``): ``Date``, ``Code``, ``O``, ``H``, ``L``,
  ``C``, ``Vo``, ``Va``, ``AdjFactor``, ``AdjO`` ... ``AdjVo``;
- ``GET /v2/equities/master`` (``date``, ``code``): the listed-issue master in force on that date (the latest
  one the test gave on or before it: ``Date``, ``Code``, ``CoName``, ``CoNameEn``, ``S17``, ``S17Nm``, ``S33``,
  ``S33Nm``, ``ScaleCat``, ``Mkt``, ``MktNm``, ...);
- ``GET /v2/markets/calendar`` (``from``, ``to``, ``hol_div``): ``Date``, ``HolDiv`` ("1" a trading day, "2" a
  half day, "0" and "3" no session);
- ``GET /v2/fins/summary`` (``code`` or ``date``): the financial statements (:func:`statement_row`: every v2 field,
  numbers as strings, "" when not disclosed), in disclosure order;

and refuses a request without the right ``x-api-key`` with 401 and the API's error body (``{"message": ...}``).
:class:`Faults` injects what the real service does on a bad day: 429 with ``Retry-After``, 500, slow answers, a
page cut off mid-JSON. Every request is logged (path, query, status), never its key.

The data is built by the test (:func:`bars_rows`: from a canonical price frame and planted splits; :func:`masters_of`:
masters that replay a universe file's membership; :func:`calendar_rows`: J-Quants' calendar from kabucast's); nothing
here reads ../shared (its two real v1 answers only show the field shapes).
"""

from __future__ import annotations

import base64
import http.server
import json
import threading
import time
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from kabucast.data.disclosures import ClosesFetch, StatementsFetch, statements_frame

PREFIX = "/v2"


@dataclass
class Faults:
    """What the next requests meet. Counters run down as requests arrive (429s first, then 500s)."""

    rate_limited: int = 0  # the next N requests answer 429
    retry_after: str | None = "0"  # their Retry-After header (None: none)
    server_errors: int = 0  # then the next N answer 500
    slow_s: float = 0.0  # every answer waits this long first
    truncated: set[str] = field(default_factory=set)  # codes whose pages are cut off mid-JSON


@dataclass
class Logged:
    path: str
    query: dict[str, str]
    status: int


def bars_rows(code: str, frame: pd.DataFrame, splits: Mapping[str, float] | None = None) -> list[dict[str, Any]]:
    """J-Quants' rows of one stock from a canonical (adjusted) price frame: ``splits`` (date -> the factor the
    exchange publishes on that day, 0.5 for a 2-for-1 split) make the raw prices before each split higher by its
    inverse; the Adj* fields are the frame's (adjusted through every split)."""
    factors = pd.Series(1.0, index=frame.index)
    for day, factor in (splits or {}).items():
        factors[pd.Timestamp(day)] = factor
    # raw price = adjusted / (product of the factors of the splits after that day)
    later = factors[::-1].cumprod()[::-1].shift(-1, fill_value=1.0)
    rows = []
    for day, bar in frame.iterrows():
        scale = 1.0 / later[day]
        raw = {
            k: round(float(bar[c]) * scale, 1) for k, c in (("O", "open"), ("H", "high"), ("L", "low"), ("C", "close"))
        }
        rows.append(
            {
                "Date": f"{day:%Y-%m-%d}",
                "Code": code,
                **raw,
                "UL": "0",
                "LL": "0",
                "Vo": float(round(bar["volume"] / scale)),
                "Va": float(round(bar["volume"] * bar["close"])),
                "AdjFactor": float(factors[day]),
                "AdjO": float(bar["open"]),
                "AdjH": float(bar["high"]),
                "AdjL": float(bar["low"]),
                "AdjC": float(bar["close"]),
                "AdjVo": float(bar["volume"]),
            }
        )
    return rows


class StandIn:
    """The server (module docstring). ``bars``: code -> rows (:func:`bars_rows`), replaceable while it runs."""

    def __init__(
        self,
        bars: dict[str, list[dict[str, Any]]],
        api_key: str,
        page_size: int = 1000,
        masters: dict[str, list[dict[str, Any]]] | None = None,
        calendar: list[dict[str, str]] | None = None,
        statements: dict[str, list[dict[str, str]]] | None = None,
    ) -> None:
        self.bars, self.api_key, self.page_size = bars, api_key, page_size
        self.statements = statements or {}  # code -> its statements (statement_row), replaceable while it runs
        self.masters = masters or {}  # "YYYY-MM-DD" -> the master's rows from that date on
        self.calendar = calendar or []
        self.faults = Faults()
        self.log: list[Logged] = []
        self._lock = threading.Lock()
        self._server: http.server.ThreadingHTTPServer | None = None

    @property
    def base_url(self) -> str:
        assert self._server is not None, "start() first"
        return f"http://127.0.0.1:{self._server.server_address[1]}{PREFIX}"

    def start(self) -> StandIn:
        stand_in = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                stand_in._answer(self)

            def log_message(self, *args: object) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def requests_to(self, path: str) -> list[Logged]:
        return [entry for entry in self.log if entry.path == PREFIX + path]

    def _answer(self, handler: http.server.BaseHTTPRequestHandler) -> None:
        url = urllib.parse.urlsplit(handler.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        status, body, headers = self._route(url.path, query, handler.headers.get("x-api-key"))
        with self._lock:
            self.log.append(Logged(url.path, query, status))
        if self.faults.slow_s:
            time.sleep(self.faults.slow_s)
        data = json.dumps(body).encode()
        if status == 200 and query.get("code", "") in self.faults.truncated:
            data = data[: len(data) // 2]  # the connection closes mid-answer: a truncated page
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(data)

    def _route(self, path: str, query: dict[str, str], key: str | None) -> tuple[int, Any, dict[str, str]]:
        if key != self.api_key:
            return 401, {"message": "The incoming token is invalid or expired."}, {}
        with self._lock:
            if self.faults.rate_limited > 0:
                self.faults.rate_limited -= 1
                after = {"Retry-After": self.faults.retry_after} if self.faults.retry_after is not None else {}
                return 429, {"message": "Rate limit exceeded"}, after
            if self.faults.server_errors > 0:
                self.faults.server_errors -= 1
                return 500, {"message": "Internal Server Error"}, {}
        if path == f"{PREFIX}/equities/bars/daily":
            return self._bars(query)
        if path == f"{PREFIX}/equities/master":
            return self._master(query)
        if path == f"{PREFIX}/fins/summary":
            return self._statements(query)
        if path == f"{PREFIX}/markets/calendar":
            first, last = _day(query.get("from")), _day(query.get("to"))
            rows = [r for r in self.calendar if (not first or r["Date"] >= first) and (not last or r["Date"] <= last)]
            rows = [r for r in rows if not query.get("hol_div") or r["HolDiv"] == query["hol_div"]]
            return self._page(rows, query)
        return 404, {"message": f"no such endpoint {path}"}, {}

    def _bars(self, query: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        code = query.get("code", "")
        if not code and not query.get("date"):
            return 400, {"message": "This API requires at least 1 parameter as follows; 'date','code'."}, {}
        rows = self.bars.get(code, []) if code else [r for rows in self.bars.values() for r in rows]
        first, last = _day(query.get("from") or query.get("date")), _day(query.get("to") or query.get("date"))
        rows = [r for r in rows if (first is None or r["Date"] >= first) and (last is None or r["Date"] <= last)]
        return self._page(rows, query)

    def _statements(self, query: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        code, day = query.get("code", ""), _day(query.get("date"))
        if not code and not day:
            return 400, {"message": "This API requires at least 1 parameter as follows; 'date','code'."}, {}
        code = code if len(code) != 4 else code + "0"
        rows = self.statements.get(code, []) if code else [r for rows in self.statements.values() for r in rows]
        rows = sorted((r for r in rows if not day or r["DiscDate"] == day), key=lambda r: (r["DiscDate"], r["DiscNo"]))
        return self._page(rows, query)

    def _master(self, query: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        day = _day(query.get("date")) or max(self.masters, default="")
        known = [d for d in self.masters if d <= day]
        rows = [{**r, "Date": day} for r in self.masters[max(known)]] if known else []
        if query.get("code"):
            code = query["code"] if len(query["code"]) == 5 else query["code"] + "0"
            rows = [r for r in rows if r["Code"] == code]
        return self._page(rows, query)

    def _page(self, rows: list[dict[str, Any]], query: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        offset = _offset(query.get("pagination_key"))
        page = rows[offset : offset + self.page_size]
        body: dict[str, Any] = {"data": page}
        if offset + self.page_size < len(rows):
            body["pagination_key"] = base64.urlsafe_b64encode(f"offset:{offset + self.page_size}".encode()).decode()
        return 200, body, {}


def _day(raw: str | None) -> str | None:
    if not raw:
        return None
    return f"{raw[:4]}-{raw[4:6]}-{raw[6:]}" if len(raw) == 8 and raw.isdigit() else raw


def _offset(key: str | None) -> int:
    return int(base64.urlsafe_b64decode(key.encode()).decode().split(":")[1]) if key else 0


def master_row(code: str, name: str, scale: str, s33: str, s33_name: str) -> dict[str, str]:
    """One row of the listed-issue master (v2 fields; the market is the Prime market)."""
    return {
        "Code": code,
        "CoName": name,
        "CoNameEn": name,
        "S17": "99",
        "S17Nm": "-",
        "S33": s33,
        "S33Nm": s33_name,
        "ScaleCat": scale,
        "Mkt": "0111",
        "MktNm": "プライム",
        "Mrgn": "2",
        "MrgnNm": "貸借",
        "ProdCat": "011",  # a domestic stock (the client's frame has this column: a row without it fails there)
    }


def codes_of(tickers: Sequence[str]) -> dict[str, str]:
    """Ticker (``7203.T``) -> J-Quants code (``72030``)."""
    return {t: t.split(".")[0] + "0" for t in tickers}


def masters_of(universe: Any, calendar: Any, index: str = "TOPIX Core30") -> dict[str, list[dict[str, str]]]:
    """Masters that replay a universe's membership (kabucast.universe.UniverseSettings): one from ``history_from`` and
    one on each session its membership changes, listing its members on that day under ``index`` (each with a TSE
    33-sector code of its sector), and one issue of the TOPIX Mid400 that is never a member."""
    days = {universe.history_from} | {m.since for m in universe.members if m.since}
    days |= {str(calendar.session_after(m.until, 1).date()) for m in universe.members if m.until}
    return {day: [*(member_row(m, index) for m in universe.spells_on(day)), OUTSIDER] for day in sorted(days)}


def member_row(member: Any, scale: str) -> dict[str, str]:
    """The master's row of a universe member (kabucast.universe.UniverseMember) under ``scale``."""
    from kabucast.config import load_sectors

    s33, entry = next((code, e) for code, e in load_sectors().tse33.items() if e.sector == member.sector)
    return master_row(member.ticker.split(".")[0] + "0", member.name, scale, s33, entry.name)


OUTSIDER = master_row("99990", "Outsider", "TOPIX Mid400", "6100", "Retail Trade")


def calendar_rows(calendar: Any, since: str, until: str) -> list[dict[str, str]]:
    """J-Quants' trading calendar from a kabucast TradingCalendar: HolDiv "1" on its sessions, "0" on other days."""
    sessions = set(calendar.sessions(since, until))
    days = pd.date_range(since, until, freq="D")
    return [{"Date": f"{d:%Y-%m-%d}", "HolDiv": "1" if d in sessions else "0"} for d in days]


def statement_row(code: str, disclosed: str, period: str, number: int = 0, **fields: float) -> dict[str, str]:
    """One row of ``/fins/summary``: the statement of ``period`` (FY, 1Q, 2Q, 3Q) of ``code`` disclosed on
    ``disclosed`` ("YYYY-MM-DD"), with ``fields`` (EPS, BPS, NP, Eq, TA, DivAnn, ShOutFY, TrShFY, ...) as the API
    writes numbers (strings); every other v2 field is "" (not disclosed)."""
    from jquantsapi.constants import FIN_SUMMARY_COLUMNS_V2

    row = dict.fromkeys(FIN_SUMMARY_COLUMNS_V2, "")
    row.update(
        {
            "DiscDate": disclosed,
            "DiscTime": "15:00:00",
            "Code": code,
            "DiscNo": f"{disclosed.replace('-', '')}{number:06d}",
        }
    )
    row.update({"DocType": f"{period}FinancialStatements_Consolidated_JP", "CurPerType": period})
    row.update({name: repr(float(value)) for name, value in fields.items()})
    return row


def statements_of(code: str, first_year: int, last_year: int, eps: float = 100.0) -> list[dict[str, str]]:
    """A plain company's statements: fiscal years ending in March, the full year disclosed on May 10 (EPS ``eps``,
    annual dividend 30 % of it), the quarters on Aug 5 (1Q), Nov 5 (2Q) and Feb 5 (3Q); 1,000 M shares (10 M
    treasury), equity 1,000 x EPS per share held, assets 2.5 x equity. Dates on weekends stay (J-Quants keeps the
    day it was disclosed)."""
    rows = []
    for year in range(first_year, last_year + 1):
        for day, period in ((f"{year}-02-05", "3Q"), (f"{year}-05-10", "FY"), (f"{year}-08-05", "1Q")):
            rows.append(_plain(code, day, period, eps))
        rows.append(_plain(code, f"{year}-11-05", "2Q", eps))
    return rows


def _plain(code: str, day: str, period: str, eps: float) -> dict[str, str]:
    shares, treasury = 1.0e9, 1.0e7
    equity = 10.0 * eps * (shares - treasury)
    fields = {"BPS": 10.0 * eps, "Eq": equity, "TA": 2.5 * equity, "ShOutFY": shares, "TrShFY": treasury}
    if period == "FY":
        fields |= {"EPS": eps, "NP": eps * (shares - treasury), "DivAnn": 0.3 * eps}
    return statement_row(code, day, period, **fields)


class MemorySource:
    """Statements (the API's rows, :func:`statement_row`) and unadjusted closes held in memory, served as
    JQuantsSource serves them (kabucast.data.enrich.StatementSource) without HTTP; ``failing``: tickers whose
    statements fail."""

    name = "memory"

    def __init__(self, rows: dict[str, list[dict[str, str]]], closes: dict[str, pd.Series]) -> None:
        self.rows, self.closes, self.failing = rows, closes, set[str]()

    def fetch_statements(self, tickers: Sequence[str]) -> StatementsFetch:
        out = StatementsFetch(failures={t: "J-Quants server error 500" for t in tickers if t in self.failing})
        out.frames = {t: statements_frame(pd.DataFrame(self.rows.get(t, []))) for t in tickers if t not in self.failing}
        return out

    def fetch_closes(self, tickers: Sequence[str], start: pd.Timestamp, end: pd.Timestamp) -> ClosesFetch:
        return ClosesFetch({t: self.closes[t].loc[start:end] for t in tickers})

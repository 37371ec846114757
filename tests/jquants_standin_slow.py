"""The J-Quants stand-in (tests/jquants_standin.py) with the seeds' slow data: it also answers, in the v2 JSON shape
and pages of the base server,

- ``GET /v2/markets/margin-interest`` (``code`` with ``from``/``to``, or ``date``): ``PubDate``, ``Date``, ``Code``,
  ``IssType``, ``ShrtVol``, ``LongVol``, ... (:func:`margin_row`);
- ``GET /v2/markets/short-ratio`` (``s33``, ``from``/``to`` or ``date``): ``Date``, ``S33``, ``SellExShortVa``,
  ``ShrtWithResVa``, ``ShrtNoResVa`` (:func:`short_ratio_row`);
- ``GET /v2/equities/investor-types`` (``section``, ``from``/``to`` on ``PubDate``): ``PubDate``, ``StDate``,
  ``EnDate``, ``Section``, the 4 fields per investor type (:func:`investor_row`).

A request without a code, sector or date where the API needs one gets the API's 400. The data is the test's.
"""

from __future__ import annotations

from typing import Any

from tests.jquants_standin import PREFIX, StandIn, _day

INVESTORS = (
    "Prop",
    "Brk",
    "Tot",
    "Ind",
    "Frgn",
    "SecCo",
    "InvTr",
    "BusCo",
    "OthCo",
    "InsCo",
    "Bank",
    "TrstBnk",
    "OthFin",
)


def margin_row(code: str, day: str, long_vol: float, short_vol: float, published: str | None = None) -> dict[str, Any]:
    """One margin-interest row (``published`` None: a weekly row from before 2026-09-25, without ``PubDate``)."""
    return {
        "PubDate": published,
        "Date": day,
        "Code": code,
        "IssType": "2",
        "ShrtVol": short_vol,
        "LongVol": long_vol,
        "ShrtNegVol": short_vol / 2,
        "LongNegVol": long_vol / 2,
        "ShrtStdVol": short_vol / 2,
        "LongStdVol": long_vol / 2,
        **{f: None for f in ("ShrtVal", "LongVal", "ShrtNegVal", "LongNegVal", "ShrtStdVal", "LongStdVal")},
    }


def short_ratio_row(s33: str, day: str, not_short: float, with_res: float, no_res: float) -> dict[str, Any]:
    """One day of one TSE 33 sector's selling values, JPY."""
    return {"Date": day, "S33": s33, "SellExShortVa": not_short, "ShrtWithResVa": with_res, "ShrtNoResVa": no_res}


def investor_row(section: str, start: str, end: str, published: str, total: float, foreign: float, individual: float):
    """One week of a section by investor type: every investor's fields (0 but the total, foreigners, individuals)."""
    row: dict[str, Any] = {"PubDate": published, "StDate": start, "EnDate": end, "Section": section}
    for who in INVESTORS:
        row |= {f"{who}Sell": 0.0, f"{who}Buy": 0.0, f"{who}Tot": 0.0, f"{who}Bal": 0.0}
    row |= {"TotTot": total, "FrgnBal": foreign, "IndBal": individual}
    return row


class SlowStandIn(StandIn):
    """The stand-in with ``margin`` (code -> rows), ``short_ratio`` (rows) and ``investors`` (rows)."""

    def __init__(
        self,
        api_key: str,
        margin: dict[str, list[dict[str, Any]]] | None = None,
        short_ratio: list[dict[str, Any]] | None = None,
        investors: list[dict[str, Any]] | None = None,
        page_size: int = 1000,
    ) -> None:
        super().__init__({}, api_key, page_size)
        self.margin = margin or {}
        self.short_ratio = short_ratio or []
        self.investors = investors or []

    def _route(self, path: str, query: dict[str, str], key: str | None) -> tuple[int, Any, dict[str, str]]:
        answer = super()._route(path, query, key)
        if answer[0] != 404:
            return answer
        if path == f"{PREFIX}/markets/margin-interest":
            if not query.get("code") and not query.get("date"):
                return 400, {"message": "This API requires at least 1 parameter as follows; 'date','code'."}, {}
            rows = self.margin.get(query["code"], []) if query.get("code") else _all(self.margin)
            return self._page(_between(rows, "Date", query), query)
        if path == f"{PREFIX}/markets/short-ratio":
            if not query.get("s33") and not query.get("date"):
                return 400, {"message": "This API requires at least 1 parameter as follows; 'date','s33'."}, {}
            rows = [r for r in self.short_ratio if not query.get("s33") or r["S33"] == query["s33"]]
            return self._page(_between(rows, "Date", query), query)
        if path == f"{PREFIX}/equities/investor-types":
            rows = [r for r in self.investors if not query.get("section") or r["Section"] == query["section"]]
            return self._page(_between(rows, "PubDate", query), query)
        return answer


def _all(by_code: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    return [r for rows in by_code.values() for r in rows]


def _between(rows: list[dict[str, Any]], field: str, query: dict[str, str]) -> list[dict[str, Any]]:
    first, last = _day(query.get("from") or query.get("date")), _day(query.get("to") or query.get("date"))
    return [r for r in rows if (first is None or r[field] >= first) and (last is None or r[field] <= last)]

"""The seeds' slow data from J-Quants (API v2): weekly margin interest, short selling by sector and investor-type
flows, each as a frame with the date J-Quants published it (``published``, a JST date).

- ``margin`` (``/markets/margin-interest``, one request per ticker with ``code``/``from``/``to``): the margin
  balances of a stock on its application date ``Date`` (``LongVol`` bought on margin, ``ShrtVol`` sold, shares).
  ``published`` is ``PubDate``; J-Quants has it only from the 2026-09-25 applications on (daily data since). For
  the weekly rows before (``PubDate`` null) it is the second session after ``Date``: JPX publishes the weekly
  balances after the close of the second business day after the Friday they are dated (so never earlier).
- ``short_selling`` (``/markets/short-ratio``, one request per TSE 33-sector code with ``s33``/``from``/``to``):
  the day's selling values of a sector, JPY (``SellExShortVa`` not short, ``ShrtWithResVa`` / ``ShrtNoResVa``
  short with and without price restriction). JPX publishes them after that day's close: ``published`` = ``Date``.
- ``flows`` (``/equities/investor-types``, ``from``/``to``, every section): the week ``StDate``..``EnDate`` of a
  market section by investor type, JPY (``TotTot`` all trading, buy + sell; ``FrgnBal`` / ``IndBal`` foreigners' /
  individuals' buy - sell). ``published`` is ``PubDate``.

Every request goes through :meth:`JQuantsSource.request` (its retries, backoff and named errors). A batch (a
ticker, a sector, the flows' range) whose request fails, a truncated page included, gives no row: the caller stores
nothing of it and lists it in ``failures``. 401 / 403 raise :class:`JQuantsAuthError` before anything is written.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from kabucast.config import load_sectors
from kabucast.data.calendar import TradingCalendar
from kabucast.errors import SourceError, UsageError

GROUPS = ("margin", "short_selling", "flows")
"""The slow-data groups, in the order their feature columns are appended (kabucast.features.registry)."""

COLUMNS: dict[str, tuple[str, ...]] = {
    "margin": ("ticker", "date", "published", "long_vol", "short_vol"),
    "short_selling": ("s33", "date", "published", "sell_ex_short_va", "short_with_res_va", "short_no_res_va"),
    "flows": ("section", "start", "end", "published", "total_va", "foreign_bal_va", "individual_bal_va"),
}
"""The stored columns of each group; dates are tz-naive JST midnight, values float64."""

KEYS: dict[str, tuple[str, ...]] = {
    "margin": ("ticker", "date"),
    "short_selling": ("s33", "date"),
    "flows": ("section", "start"),
}
"""The columns that identify a row: a stored row is never replaced (what was published stays what was public)."""

MARGIN_PUBLICATION_SESSIONS = 2
"""Sessions after the application date that weekly margin balances without ``PubDate`` count as published."""

Request = Callable[[str, Callable[[Any], Any]], Any]
""":meth:`JQuantsSource.request`: ``(what, call(client))`` through the source's retry policy."""


class UnknownGroup(UsageError):
    """A slow-data group that does not exist."""


def check_groups(raw: Sequence[str]) -> tuple[str, ...]:
    """The named groups in :data:`GROUPS` order; :class:`UnknownGroup` for a name that is not one."""
    unknown = [g for g in raw if g not in GROUPS]
    if unknown:
        raise UnknownGroup(f"unknown slow-data group(s) {unknown}: choose among {', '.join(GROUPS)}")
    return tuple(g for g in GROUPS if g in raw)


@dataclass
class SlowFetch:
    """Rows of one group, and the batches (ticker, sector code, range) that gave none and why."""

    frame: pd.DataFrame
    failures: dict[str, str] = field(default_factory=dict)


def fetch_group(
    request: Request,
    group: str,
    tickers: Sequence[str],
    calendar: TradingCalendar,
    start: pd.Timestamp,
    end: pd.Timestamp,
) -> SlowFetch:
    """``group``'s rows dated ``start`` .. ``end`` (JST, inclusive); ``tickers`` matter to ``margin`` only."""
    frames, failures = [], {}
    for name, call in _batches(group, tickers, start, end).items():
        try:
            rows = request(f"{group} of {name}", call)
        except SourceError as exc:  # a refused key (JQuantsAuthError, a UsageError) stops the run instead
            failures[name] = str(exc)
            continue
        if group == "margin":
            frames.append(margin_frame(name, rows, calendar))
        else:
            frames.append(short_selling_frame(rows) if group == "short_selling" else flows_frame(rows))
    frame = pd.concat(frames, ignore_index=True) if frames else empty(group)
    return SlowFetch(frame.loc[:, list(COLUMNS[group])], failures)


def _batches(
    group: str, tickers: Sequence[str], start: pd.Timestamp, end: pd.Timestamp
) -> dict[str, Callable[[Any], pd.DataFrame]]:
    """Batch name (ticker, TSE 33 code, date range) -> its request on the client: one failure loses one batch."""
    span = {"from_yyyymmdd": f"{start:%Y-%m-%d}", "to_yyyymmdd": f"{end:%Y-%m-%d}"}
    if group == "margin":
        codes = {t: t.split(".")[0] + "0" for t in tickers}
        return {t: (lambda c, code=code: c.get_mkt_margin_interest(code=code, **span)) for t, code in codes.items()}
    if group == "short_selling":
        return {s: (lambda c, s=s: c.get_mkt_short_ratio(sector_33_code=s, **span)) for s in load_sectors().tse33}
    return {f"{start.date()}..{end.date()}": lambda c: c.get_eq_investor_types(**span)}


def empty(group: str) -> pd.DataFrame:
    """A frame of ``group``'s columns and no row."""
    return pd.DataFrame({c: pd.Series(dtype=_dtype(c)) for c in COLUMNS[group]})


def margin_frame(ticker: str, rows: pd.DataFrame, calendar: TradingCalendar) -> pd.DataFrame:
    """The client's margin-interest frame of one ticker as stored rows (module docstring: ``published``)."""
    if rows is None or rows.empty:
        return empty("margin")
    _require(rows, ("Date", "PubDate", "LongVol", "ShrtVol"), "margin interest")
    dates = _dates(rows["Date"])
    inferred = [calendar.session_after(d, MARGIN_PUBLICATION_SESSIONS) for d in dates]
    stated = _dates(rows["PubDate"])
    published = pd.DatetimeIndex([s if pd.notna(s) else i for s, i in zip(stated, inferred, strict=True)])
    return pd.DataFrame(
        {
            "ticker": ticker,
            "date": dates,
            "published": published,
            "long_vol": pd.to_numeric(rows["LongVol"], errors="coerce").to_numpy(),
            "short_vol": pd.to_numeric(rows["ShrtVol"], errors="coerce").to_numpy(),
        }
    )


def short_selling_frame(rows: pd.DataFrame) -> pd.DataFrame:
    """The client's short-ratio frame (one sector or all) as stored rows: published on the trading day itself."""
    if rows is None or rows.empty:
        return empty("short_selling")
    _require(rows, ("Date", "S33", "SellExShortVa", "ShrtWithResVa", "ShrtNoResVa"), "short selling by sector")
    dates = _dates(rows["Date"])
    values = {
        new: pd.to_numeric(rows[old], errors="coerce").to_numpy()
        for old, new in (
            ("SellExShortVa", "sell_ex_short_va"),
            ("ShrtWithResVa", "short_with_res_va"),
            ("ShrtNoResVa", "short_no_res_va"),
        )
    }
    return pd.DataFrame({"s33": rows["S33"].astype(str).to_numpy(), "date": dates, "published": dates, **values})


def flows_frame(rows: pd.DataFrame) -> pd.DataFrame:
    """The client's investor-types frame as stored rows, one per (section, week)."""
    if rows is None or rows.empty:
        return empty("flows")
    _require(rows, ("PubDate", "StDate", "EnDate", "Section", "TotTot", "FrgnBal", "IndBal"), "investor types")
    return pd.DataFrame(
        {
            "section": rows["Section"].astype(str).to_numpy(),
            "start": _dates(rows["StDate"]),
            "end": _dates(rows["EnDate"]),
            "published": _dates(rows["PubDate"]),
            "total_va": pd.to_numeric(rows["TotTot"], errors="coerce").to_numpy(),
            "foreign_bal_va": pd.to_numeric(rows["FrgnBal"], errors="coerce").to_numpy(),
            "individual_bal_va": pd.to_numeric(rows["IndBal"], errors="coerce").to_numpy(),
        }
    )


def _require(rows: pd.DataFrame, fields: tuple[str, ...], what: str) -> None:
    missing = [f for f in fields if f not in rows.columns]
    if missing:
        raise SourceError(f"J-Quants {what} lack the fields {missing}: has the API changed? (has {list(rows.columns)})")


def _dates(values: pd.Series) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(pd.to_datetime(values, errors="coerce")).normalize().as_unit("ns")


def _dtype(column: str) -> str:
    if column in ("ticker", "s33", "section"):
        return "object"
    if column in ("date", "published", "start", "end"):
        return "datetime64[ns]"
    return "float64"

"""Point-in-time fundamentals from J-Quants' financial statements (``/fins/summary``, one row per disclosure).

The T+1 rule: a statement disclosed on day D (``DiscDate``, a JST date, at any hour) is *visible from* the first
session strictly after D (``calendar.session_after(D, 1)``, the exchange's calendar: a disclosure on a Friday or
before a holiday waits for the next session). A sample, a snapshot or a daily run dated before that session never
sees it; one dated on it or later does. Disclosures come out at or after the close (15:00 JST and later), so the
close of D, where a sample dated D starts its labels, was priced without them.

:func:`fundamentals_on` turns what is visible on a session into the raw fields of
kabucast.data.sources.base.STATIC_INFO_KEYS (the units kabucast.features.static expects), valued at that session's
close (the unadjusted close ``C``: the statements' per-share figures are of the shares of their day):

- ``trailingPE`` = close / EPS of the latest full fiscal year (``CurPerType`` FY);
- ``priceToBook`` = close / the latest BPS;
- ``dividendYield`` = the latest fiscal year's annual dividend per share (``DivAnn``) / close, a fraction;
- ``returnOnEquity`` = that fiscal year's net profit / its equity, a fraction;
- ``debtToEquity`` = (total assets - equity) / equity of the latest statement, a percentage (every liability, where
  Yahoo's counts interest-bearing debt only);
- ``marketCap`` = close x (shares issued - treasury shares) of the latest statement, JPY.

A field the visible statements do not give stays missing (NaN): kabucast.features.static's fill policy applies.
Known approximation: a split between a statement's period end and the snapshot's session puts its per-share
figures on the old share count until the next statement.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from kabucast.data.calendar import TradingCalendar
from kabucast.data.sources.base import STATIC_INFO_KEYS
from kabucast.errors import SourceError

NUMBERS = ("EPS", "BPS", "NP", "Eq", "TA", "DivAnn", "ShOutFY", "TrShFY")
"""The statement fields the static inputs are built from (J-Quants sends them as strings, "" when missing)."""


@dataclass
class StatementsFetch:
    """Statements per ticker (:func:`statements_frame`), and the tickers that failed, with why."""

    frames: dict[str, pd.DataFrame] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)


@dataclass
class ClosesFetch:
    """Unadjusted closes (JPY) per ticker, indexed by session, and the tickers that failed, with why."""

    closes: dict[str, pd.Series] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)


def statements_frame(rows: pd.DataFrame) -> pd.DataFrame:
    """The client's ``/fins/summary`` rows as ``disclosed`` (Timestamp), ``period`` (FY, 1Q, ...) and the float
    columns of :data:`NUMBERS`, in disclosure order (date, then ``DiscNo``)."""
    if rows is None or rows.empty:
        return pd.DataFrame(columns=["disclosed", "period", *NUMBERS])
    missing = [c for c in ("DiscDate", "CurPerType", *NUMBERS) if c not in rows.columns]
    if missing:
        raise SourceError(f"J-Quants statements lack the fields {missing}: has the API changed? (has {list(rows)})")
    out = pd.DataFrame({"disclosed": pd.to_datetime(rows["DiscDate"], errors="coerce").dt.normalize()})
    out["period"] = rows["CurPerType"].astype(str)
    for name in NUMBERS:
        out[name] = pd.to_numeric(rows[name], errors="coerce").astype(np.float64)
    order = rows["DiscNo"].astype(str) if "DiscNo" in rows.columns else pd.Series("", index=rows.index)
    out = out.assign(_no=order).dropna(subset=["disclosed"]).sort_values(["disclosed", "_no"], kind="stable")
    return out.drop(columns="_no").reset_index(drop=True)


def with_visibility(statements: pd.DataFrame, calendar: TradingCalendar) -> pd.DataFrame:
    """``statements`` with ``visible``: the first session after each disclosure (the T+1 rule)."""
    visible = [calendar.session_after(day, 1) for day in statements["disclosed"]]
    return statements.assign(visible=pd.DatetimeIndex(visible, dtype="datetime64[ns]"))


def snapshot_days(
    statements: Mapping[str, pd.DataFrame], calendar: TradingCalendar, start: pd.Timestamp, end: pd.Timestamp
) -> pd.DatetimeIndex:
    """The sessions from ``start`` to ``end`` on which a snapshot is due: each session a statement becomes visible
    on, and the first session of each month (the valuations move with the price between disclosures)."""
    sessions = calendar.sessions(start, end)
    if sessions.empty:
        return sessions
    visible = {day for frame in statements.values() for day in frame["visible"]}
    months = pd.Series(sessions, index=sessions).groupby(sessions.to_period("M")).min()
    return pd.DatetimeIndex(sorted({d for d in visible if sessions[0] <= d <= sessions[-1]} | set(months)))


def fundamentals_on(
    statements: Mapping[str, pd.DataFrame], closes: Mapping[str, pd.Series], day: pd.Timestamp
) -> pd.DataFrame:
    """(N, 6) raw static fields of every ticker of ``statements`` on session ``day`` (module docstring), from the
    statements visible on ``day`` and the latest close on or before it; ``disclosed``: the newest of those
    statements' dates (NaT: none visible)."""
    rows = {}
    for ticker, frame in statements.items():
        seen = frame[frame["visible"] <= day]
        close = closes.get(ticker, pd.Series(dtype=np.float64))
        close = close[close.index <= day]
        price = float(close.iloc[-1]) if len(close) else np.nan
        rows[ticker] = {**_fields(seen, price), "disclosed": seen["disclosed"].max() if len(seen) else pd.NaT}
    frame = pd.DataFrame.from_dict(rows, orient="index", columns=[*STATIC_INFO_KEYS, "disclosed"])
    return frame.rename_axis("ticker")


def _fields(seen: pd.DataFrame, price: float) -> dict[str, float]:
    """The raw static fields of one ticker from its visible statements and a close (NaN where unknown)."""
    fy = seen[seen["period"] == "FY"]
    eps, dividend = _last(fy["EPS"]), _last(fy["DivAnn"])
    fy_both = fy.dropna(subset=["NP", "Eq"]).query("Eq > 0")
    roe = fy_both["NP"].iloc[-1] / fy_both["Eq"].iloc[-1] if len(fy_both) else np.nan
    balance = seen.dropna(subset=["TA", "Eq"])
    equity = balance["Eq"].iloc[-1] if len(balance) else np.nan
    liabilities = balance["TA"].iloc[-1] - equity if len(balance) else np.nan
    shares = seen.dropna(subset=["ShOutFY"])
    held = shares["ShOutFY"].iloc[-1] - np.nan_to_num(shares["TrShFY"].iloc[-1]) if len(shares) else np.nan
    with np.errstate(divide="ignore", invalid="ignore"):
        values = {
            "trailingPE": price / eps if eps else np.nan,
            "priceToBook": price / _last(seen["BPS"]),
            "dividendYield": dividend / price,
            "returnOnEquity": roe,
            "debtToEquity": 100.0 * liabilities / equity if equity > 0 else np.nan,
            "marketCap": price * held,
        }
    return {k: float(v) if np.isfinite(v) else np.nan for k, v in values.items()}


def _last(values: pd.Series) -> float:
    """The latest non-missing value of ``values`` (NaN: none)."""
    known = values.dropna()
    return float(known.iloc[-1]) if len(known) else np.nan

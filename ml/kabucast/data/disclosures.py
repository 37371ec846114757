"""Point-in-time fundamentals from J-Quants' financial statements (``/fins/summary``, one row per disclosure).

The T+1 rule: a statement disclosed on day D (``DiscDate``, a JST date, at any hour) is *visible from* the first
session strictly after D (``calendar.session_after(D, 1)``, the exchange's calendar: a disclosure on a Friday or
before a holiday waits for the next session). A sample, a snapshot or a daily run dated before that session never
sees it; one dated on it or later does. Disclosures come out at or after the close (15:00 JST and later), so the
close of D, where a sample dated D starts its labels, was priced without them.

:func:`fundamentals_on` turns what is visible on each session into the raw fields of
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
    statements: Mapping[str, pd.DataFrame], closes: Mapping[str, pd.Series], days: pd.DatetimeIndex
) -> pd.DataFrame:
    """The raw static fields (module docstring) of every ticker of ``statements`` on each session of ``days``, from
    the statements visible on it and the latest close on or before it: index (``day``, ``ticker``), columns
    STATIC_INFO_KEYS and ``disclosed`` (the newest visible statement's date; NaT: none yet)."""
    per_ticker = []
    for ticker, frame in statements.items():
        state = _state(frame).reindex(days, method="ffill")  # (D, 7) what is visible on each day
        close = closes.get(ticker, pd.Series(dtype=np.float64)).sort_index()
        price = close[~close.index.duplicated(keep="last")].reindex(days, method="ffill")
        with np.errstate(divide="ignore", invalid="ignore"):
            fields = pd.DataFrame(
                {
                    "trailingPE": price / state["eps"].where(state["eps"] != 0),
                    "priceToBook": price / state["bps"],
                    "dividendYield": state["dividend"] / price,
                    "returnOnEquity": state["roe"],
                    "debtToEquity": 100.0 * state["liabilities"] / state["equity"].where(state["equity"] > 0),
                    "marketCap": price * state["held"],
                },
                index=days,
            )
        fields = fields.where(np.isfinite(fields)).assign(disclosed=state["disclosed"], ticker=ticker)
        per_ticker.append(fields.rename_axis("day").set_index("ticker", append=True))
    if not per_ticker:
        return pd.DataFrame(columns=[*STATIC_INFO_KEYS, "disclosed"])
    return pd.concat(per_ticker).sort_index()


def _state(frame: pd.DataFrame) -> pd.DataFrame:
    """What one ticker's statements tell from each ``visible`` session on: the latest full year's EPS, dividend and
    ROE, the latest BPS, the latest statement's equity, liabilities and shares held (NaN: not disclosed yet)."""
    fy = frame["period"] == "FY"
    balance = frame["TA"].notna() & frame["Eq"].notna()
    shares = frame["ShOutFY"].notna()
    with np.errstate(divide="ignore", invalid="ignore"):
        roe = (frame["NP"] / frame["Eq"]).where(fy & (frame["Eq"] > 0))
    state = pd.DataFrame(
        {
            "eps": frame["EPS"].where(fy).ffill(),
            "dividend": frame["DivAnn"].where(fy).ffill(),
            "roe": roe.ffill(),
            "bps": frame["BPS"].ffill(),
            "equity": frame["Eq"].where(balance).ffill(),
            "liabilities": (frame["TA"] - frame["Eq"]).where(balance).ffill(),
            "held": (frame["ShOutFY"] - frame["TrShFY"].fillna(0.0)).where(shares).ffill(),
            "disclosed": frame["disclosed"],
            "visible": frame["visible"],
        }
    )
    return state.drop_duplicates("visible", keep="last").set_index("visible").sort_index()

"""The slow-data feature groups (kabucast.features.registry.SLOW_FEATURES) as weekly rows, joined strictly as of
their publication: pure functions of the stored rows (kabucast.data.slow_store) and the trading calendar.

A value J-Quants published on day P (its ``published`` date, JST) becomes visible from the first session strictly
after P: the data comes out after P's close, so a row dated P (a week ending on P, an as-of date P) cannot see it.
A row of date d takes, per stock (margin), per sector (short selling) or for the whole market (flows), the value
that became visible last on or before d; none, or one older than the group's :data:`MAX_AGE_DAYS`, is the feature's
neutral value. A complete week's row is dated by its last session, a partial week's by its as-of date.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from kabucast.config import SectorSettings
from kabucast.data.calendar import TradingCalendar
from kabucast.data.sources.jquants_slow import check_groups
from kabucast.features.registry import SLOW_FEATURES, neutral_values, slow_specs

MAX_AGE_DAYS = {"margin": 21, "short_selling": 10, "flows": 21}
"""Calendar days a visible value stays in use: a stock or sector the data stopped covering goes back to neutral."""
FLOW_SECTIONS = ("TSEPrime", "TSE1st")
"""The investor-type section of the flows features: the first that a week has (Prime since April 2022, the 1st
section before)."""
MARKET = "*"


@dataclass(frozen=True, eq=False)
class SlowEvents:
    """One group's values per entity (ticker, sector or the market), each with the day it became visible."""

    group: str
    entity: np.ndarray  # (E,) object: ticker, sector name or MARKET
    visible: pd.DatetimeIndex  # (E,) first session strictly after the publication date (NaT: not yet)
    values: np.ndarray  # (E, G) float64 the group's features, NaN where undefined


def visible_from(published: pd.Series | pd.DatetimeIndex, calendar: TradingCalendar) -> pd.DatetimeIndex:
    """(E,) the first session strictly after each publication date (NaT after the calendar's last session)."""
    days = pd.DatetimeIndex(published).normalize()
    sessions = calendar.sessions(calendar.first, calendar.last)
    i = sessions.searchsorted(days, side="right")
    ok = (i < len(sessions)) & ~days.isna()
    return pd.DatetimeIndex(np.where(ok, sessions[np.minimum(i, len(sessions) - 1)], pd.NaT))


def slow_events(
    group: str, rows: pd.DataFrame, calendar: TradingCalendar, sector_of_code: Mapping[str, str]
) -> SlowEvents:
    """``group``'s stored rows (kabucast.data.sources.jquants_slow.COLUMNS) as visible feature values;
    ``sector_of_code``: TSE 33-sector code -> the sector map's name (config/sectors.yaml's tse33)."""
    if group == "margin":
        frame = _margin(rows)
    elif group == "short_selling":
        frame = _short_selling(rows, sector_of_code)
    else:
        frame = _flows(rows)
    names = [s.name for s in SLOW_FEATURES[group]]
    return SlowEvents(
        group, frame["entity"].to_numpy(object), visible_from(frame["published"], calendar), frame[names].to_numpy()
    )


def _margin(rows: pd.DataFrame) -> pd.DataFrame:
    rows = rows.sort_values(["ticker", "date"]).reset_index(drop=True)
    before = rows.assign(date=rows["date"] + pd.Timedelta(days=7)).rename(columns={"long_vol": "long_before"})
    joined = pd.merge_asof(
        rows.sort_values("date"), before[["ticker", "date", "long_before"]].sort_values("date"), on="date", by="ticker"
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        return joined.assign(
            entity=joined["ticker"],
            margin_long_short=np.log1p(joined["long_vol"]) - np.log1p(joined["short_vol"]),
            margin_long_chg_1w=np.log1p(joined["long_vol"]) - np.log1p(joined["long_before"]),
        )


def _short_selling(rows: pd.DataFrame, sector_of_code: Mapping[str, str]) -> pd.DataFrame:
    values = ["sell_ex_short_va", "short_with_res_va", "short_no_res_va"]
    sector = rows["s33"].map(lambda code: sector_of_code.get(str(code).zfill(4), ""))
    by_sector = rows.assign(entity=sector)[sector != ""].groupby(["entity", "date"], as_index=False)[values].sum()
    market = rows.groupby("date", as_index=False)[values].sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        market["market_ratio"] = _short_ratio(market)
        out = by_sector.merge(market[["date", "market_ratio"]], on="date")
        out["short_ratio_sector"] = _short_ratio(out)
    out["short_ratio_sector_rel"] = out["short_ratio_sector"] - out["market_ratio"]
    return out.assign(published=out["date"])


def _short_ratio(frame: pd.DataFrame) -> pd.Series:
    short = frame["short_with_res_va"] + frame["short_no_res_va"]
    return short / (short + frame["sell_ex_short_va"])


def _flows(rows: pd.DataFrame) -> pd.DataFrame:
    rank = rows["section"].map({s: i for i, s in enumerate(FLOW_SECTIONS)})
    chosen = rows.assign(rank=rank).dropna(subset=["rank"]).sort_values(["start", "rank"])
    week = chosen.drop_duplicates("start", keep="first")
    with np.errstate(divide="ignore", invalid="ignore"):
        return week.assign(
            entity=MARKET,
            flow_foreign_net=week["foreign_bal_va"] / week["total_va"],
            flow_individual_net=week["individual_bal_va"] / week["total_va"],
        )


def slow_rows(
    events: Sequence[SlowEvents], dates: pd.DatetimeIndex, tickers: Sequence[str], sectors_of: Mapping[str, str]
) -> np.ndarray:
    """(R, N, G) float64 values of ``events``' groups on rows dated ``dates`` (R,) for ``tickers`` (N,), neutral
    where no value is visible (module docstring); G counts every group's features, in the order of ``events``."""
    parts = [_group_rows(e, pd.DatetimeIndex(dates), tickers, sectors_of) for e in events]
    if not parts:
        return np.zeros((len(dates), len(tickers), 0))
    return np.concatenate(parts, axis=-1)


def _group_rows(
    events: SlowEvents, dates: pd.DatetimeIndex, tickers: Sequence[str], sectors_of: Mapping[str, str]
) -> np.ndarray:
    neutral = neutral_values(slow_specs([events.group]))  # (G,)
    out = np.tile(neutral, (len(dates), len(tickers), 1))  # (R, N, G)
    if events.group == "margin":
        entity_of = list(tickers)
    elif events.group == "short_selling":
        entity_of = [sectors_of.get(t, "") for t in tickers]
    else:
        entity_of = [MARKET] * len(tickers)
    day = dates.to_numpy()
    max_age = np.timedelta64(MAX_AGE_DAYS[events.group], "D")
    for entity in set(entity_of):
        mine = (events.entity == entity) & ~events.visible.isna()
        if not mine.any():
            continue
        order = np.argsort(events.visible[mine].to_numpy(), kind="stable")
        visible, values = events.visible[mine].to_numpy()[order], events.values[mine][order]
        last = visible.searchsorted(day, side="right") - 1  # (R,) the latest value visible on each row's date
        fresh = (last >= 0) & (day - visible[np.maximum(last, 0)] <= max_age)
        taken = np.where(fresh[:, None], values[np.maximum(last, 0)], np.nan)  # (R, G)
        taken = np.where(np.isfinite(taken), taken, neutral)
        out[:, [i for i, e in enumerate(entity_of) if e == entity]] = taken[:, None, :]
    return out


@dataclass(frozen=True, eq=False)
class SlowInputs:
    """The enabled slow-data groups' events and each ticker's sector: what the weekly builders append."""

    events: tuple[SlowEvents, ...]
    sectors_of: Mapping[str, str]

    @property
    def groups(self) -> tuple[str, ...]:
        return tuple(e.group for e in self.events)

    @property
    def width(self) -> int:
        return len(slow_specs(self.groups))

    def rows(self, dates: pd.DatetimeIndex, tickers: Sequence[str]) -> np.ndarray:
        """(R, N, G) float64: :func:`slow_rows` of these groups."""
        return slow_rows(self.events, dates, tickers, self.sectors_of)


def slow_inputs(
    frames: Mapping[str, pd.DataFrame],
    calendar: TradingCalendar,
    sectors_of: Mapping[str, str],
    sectors: SectorSettings,
) -> SlowInputs:
    """The groups of ``frames`` (group -> its stored rows; kabucast.data.slow_store.load_slow_groups), in GROUPS
    order, ready to append; ``sectors_of``: ticker -> sector name (the short-selling group's entity); ``sectors``:
    the sector map, whose tse33 sums the exchange's 33 sectors into its own."""
    groups = check_groups(list(frames))
    by_code = {code: entry.sector for code, entry in sectors.tse33.items()}
    return SlowInputs(tuple(slow_events(g, frames[g], calendar, by_code) for g in groups), dict(sectors_of))

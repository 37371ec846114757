"""The ranker's (date, ticker) panel of daily OHLCV for a large universe, and its partitioned parquet store.

A :class:`RankerPanel` is a :class:`~kabucast.features.panel.PricePanel` (arrays (T, N): JPY prices,
volume in shares, NaN where a ticker has no bar) plus each ticker's sector. It comes from any price
source (:func:`panel_from_source`: files, yfinance, the sample market), from the per-ticker prices
already in a store (:func:`panel_from_store`), or from the synthetic ranker universe
(:mod:`kabucast.ranker.sample`).

Stored layout (:func:`write_panel`), one parquet per calendar year, written with fastparquet as
kabucast.storage.base does::

    ranker/panel/<name>/year=YYYY/part.parquet   long format: date, ticker, open, high, low, close, adj_close, volume
    ranker/panel/<name>/meta.json                tickers, sectors, years, failures, how it was made

``meta.json`` is written last and lists the years to read, so a reader never mixes a half-written panel
with an older one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from kabucast.data.calendar import TradingCalendar
from kabucast.data.plausibility import Suspect
from kabucast.data.prices import PRICE_COLUMNS, prices_key
from kabucast.data.screening import screen_bars
from kabucast.data.sources.base import PriceSource
from kabucast.errors import ConfigError, ObjectNotFound
from kabucast.features.panel import PANEL_COLUMNS, PricePanel
from kabucast.ranker.errors import EmptyPanel, PanelNotFound
from kabucast.storage import Store

_NAME = re.compile(r"[A-Za-z0-9._-]+")


@dataclass(frozen=True, eq=False)
class RankerPanel:
    """Daily bars of N tickers on T sessions (``prices``), each ticker's sector, and the tickers left out.

    ``suspects``: the implausible bars found while the panel was assembled (kabucast.data.plausibility),
    one dict each (ticker, date, kind, action, detail); the rejected ones are not in ``prices``, and a
    ``corporate_action`` with action ``rebased`` says that the ticker's earlier bars were rescaled by its ratio.
    """

    prices: PricePanel
    sectors: tuple[str, ...]
    failures: dict[str, str] = field(default_factory=dict)
    suspects: tuple[dict[str, str], ...] = ()

    def __post_init__(self) -> None:
        if len(self.sectors) != len(self.prices.tickers):
            raise ValueError(f"{len(self.prices.tickers)} tickers but {len(self.sectors)} sectors")

    @property
    def dates(self) -> pd.DatetimeIndex:
        return self.prices.dates

    @property
    def tickers(self) -> tuple[str, ...]:
        return self.prices.tickers

    def sector_codes(self) -> np.ndarray:
        """(N,) int64 position of each ticker's sector in the sorted list of sector names."""
        return np.unique(np.asarray(self.sectors), return_inverse=True)[1].astype(np.int64)

    def to_long(self) -> pd.DataFrame:
        """One row per (date, ticker) with a bar: columns date, ticker and :data:`PRICE_COLUMNS`."""
        p = self.prices
        has_bar = np.isfinite(p.close)  # (T, N)
        rows, cols = np.nonzero(has_bar)
        frame = pd.DataFrame({"date": p.dates.values[rows], "ticker": np.asarray(p.tickers, dtype=object)[cols]})
        for name in PRICE_COLUMNS:
            frame[name] = getattr(p, name)[rows, cols]
        frame["volume"] = np.round(frame["volume"]).astype(np.int64)
        return frame

    @classmethod
    def from_long(cls, frame: pd.DataFrame, tickers: Sequence[str], sectors: Sequence[str]) -> RankerPanel:
        """The inverse of :meth:`to_long`: rows scattered into (T, N) arrays in the order of ``tickers``."""
        dates = pd.DatetimeIndex(np.unique(frame["date"].to_numpy()), name="date")
        rows = dates.get_indexer(pd.DatetimeIndex(frame["date"]))
        cols = pd.Index(tickers).get_indexer(frame["ticker"])
        if (cols < 0).any():
            unknown = frame["ticker"].to_numpy()[cols < 0][0]
            raise ValueError(f"{unknown} is in the panel's rows but not in its tickers")
        arrays = {}
        for name in PANEL_COLUMNS:
            values = np.full((len(dates), len(tickers)), np.nan)
            values[rows, cols] = frame[name].to_numpy(dtype=np.float64)
            arrays[name] = values
        return cls(PricePanel(dates=dates, tickers=tuple(tickers), **arrays), tuple(sectors))


def panel_from_source(
    source: PriceSource,
    sectors: Mapping[str, str],
    start: object,
    end: object,
    calendar: TradingCalendar | None = None,
    chunk: int = 500,
) -> RankerPanel:
    """The bars of the tickers of ``sectors`` (ticker -> sector) in [start, end] (local dates) from ``source``.

    Tickers are fetched ``chunk`` at a time; a ticker the source cannot serve is listed in ``failures``.
    Every ticker's bars are checked as ingest checks them (:func:`_assemble`).
    """
    tickers = list(sectors)
    frames: dict[str, pd.DataFrame] = {}
    failures: dict[str, str] = {}
    for lo in range(0, len(tickers), chunk):
        fetch = source.fetch_prices(tickers[lo : lo + chunk], pd.Timestamp(start), pd.Timestamp(end))
        frames.update(fetch.frames)
        failures.update(fetch.failures)
    return _assemble(frames, failures, sectors, f"{source.name} source", calendar)


def panel_from_store(
    store: Store, sectors: Mapping[str, str], start: object, end: object, calendar: TradingCalendar | None = None
) -> RankerPanel:
    """The bars in [start, end] of the tickers of ``sectors`` stored as ``data/prices/daily/<ticker>.parquet``."""
    frames: dict[str, pd.DataFrame] = {}
    failures: dict[str, str] = {}
    lo, hi = pd.Timestamp(start), pd.Timestamp(end)
    for ticker in sectors:
        try:
            frame = store.get_parquet(prices_key(ticker))
        except ObjectNotFound:
            failures[ticker] = f"no stored prices ({prices_key(ticker)}); run `kabucast backfill` first"
            continue
        window = frame.loc[(frame.index >= lo) & (frame.index <= hi)]
        if window.empty:
            failures[ticker] = f"no stored bars from {lo.date()} to {hi.date()}"
        else:
            frames[ticker] = window
    return _assemble(frames, failures, sectors, f"store {store.url}", calendar)


def _assemble(
    frames: dict[str, pd.DataFrame],
    failures: dict[str, str],
    sectors: Mapping[str, str],
    where: str,
    calendar: TradingCalendar | None = None,
) -> RankerPanel:
    """A panel of the tickers that have frames, in the order of ``sectors``.

    Each frame is checked first: dates off ``calendar`` (the universe's exchange) fail the ticker; bars
    the plausibility checks reject are left out and every suspect is kept in ``suspects`` (the policy
    of kabucast.data.ingest; a ticker with more than ``QUARANTINE_SHARE`` of its bars rejected fails).
    Unlike ingest, which re-fetches, a ticker whose source left a split or consolidation unadjusted is
    rebased by the split's ratio (its bars before the action rescaled to the later ones; the suspect
    ``corporate_action`` with action ``rebased`` names it), so that no ticker carries two scales.
    """
    frames, suspects = dict(frames), []
    for ticker in list(frames):
        problem, frames[ticker], found = screen_bars(frames[ticker], ticker, calendar, rebase_actions=True)
        suspects += [_suspect_row(x) for x in found]
        if problem:
            failures[ticker] = problem
            del frames[ticker]
    kept = [t for t in sectors if t in frames]
    if not kept:
        example = next(iter(failures.items()), ("-", "no tickers asked"))
        raise EmptyPanel(f"{where} gave no bars for {len(sectors)} tickers (e.g. {example[0]}: {example[1]})")
    prices = PricePanel.from_frames(frames, kept)
    return RankerPanel(prices, tuple(sectors[t] for t in kept), failures, tuple(suspects))


def _suspect_row(s: Suspect) -> dict[str, str]:
    return {"ticker": s.ticker, "date": str(s.date.date()), "kind": s.kind, "action": s.action, "detail": s.detail}


# --- partitioned parquet storage -----------------------------------------------------------------------


def panel_prefix(name: str) -> str:
    """``ranker/panel/<name>/``; a name is letters, digits, '.', '_' and '-'."""
    if not _NAME.fullmatch(name) or set(name) == {"."}:
        raise ConfigError(f"panel name {name!r}: use letters, digits, '.', '_' and '-' only (e.g. sample4000)")
    return f"ranker/panel/{name}/"


def write_panel(store: Store, name: str, panel: RankerPanel, origin: dict[str, Any]) -> list[str]:
    """Write the panel as one parquet per year, then ``meta.json`` (``origin``: how it was made); return the keys."""
    prefix = panel_prefix(name)
    long = panel.to_long()
    years = long["date"].dt.year.to_numpy()
    keys = []
    for year in np.unique(years):
        key = f"{prefix}year={year}/part.parquet"
        store.put_parquet(key, long.loc[years == year].reset_index(drop=True))
        keys.append(key)
    meta = {
        "tickers": list(panel.tickers),
        "sectors": list(panel.sectors),
        "years": [int(y) for y in np.unique(years)],
        "rows": len(long),
        "failures": panel.failures,
        "suspects": list(panel.suspects),
        "origin": origin,
    }
    store.put_json(f"{prefix}meta.json", meta)
    return [*keys, f"{prefix}meta.json"]


def read_panel(store: Store, name: str) -> RankerPanel:
    """The panel stored under ``ranker/panel/<name>/`` by :func:`write_panel`."""
    meta = read_panel_meta(store, name)
    prefix = panel_prefix(name)
    parts = [store.get_parquet(f"{prefix}year={year}/part.parquet") for year in meta["years"]]
    panel = RankerPanel.from_long(pd.concat(parts, ignore_index=True), meta["tickers"], meta["sectors"])
    return RankerPanel(panel.prices, panel.sectors, dict(meta["failures"]), tuple(meta.get("suspects", ())))


def read_panel_meta(store: Store, name: str) -> dict[str, Any]:
    """The panel's ``meta.json``; :class:`PanelNotFound` when the panel was never written."""
    key = f"{panel_prefix(name)}meta.json"
    if not store.exists(key):
        hint = "run `kabucast ranker validate` to build it"
        raise PanelNotFound(f"no ranker panel {name!r} in {store.url} ({key}); {hint}")
    return store.get_json(key)

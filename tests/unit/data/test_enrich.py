"""The static snapshot: raw fundamentals per ticker, carry-forward on failure, nothing written on total failure."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kabucast.data.enrich import enrich, latest_static, static_key
from kabucast.data.sources.base import STATIC_INFO_KEYS, InfoFetch, PriceFetch
from kabucast.errors import SourceError
from kabucast.storage import LocalStore

SECTORS = {"7203.T": "Consumer Cyclical", "6758.T": "Technology", "9984.T": "Communication Services"}


class InfoTable:
    """Serves fundamentals from a dict (a stand-in for Yahoo's quoteSummary); others fail."""

    name = "info-table"

    def __init__(self, info: dict[str, dict[str, object]]) -> None:
        self.info = info

    def fetch_prices(self, tickers: Sequence[str], start: pd.Timestamp, end: pd.Timestamp) -> PriceFetch:
        raise NotImplementedError

    def fetch_info(self, tickers: Sequence[str]) -> InfoFetch:
        out = InfoFetch()
        for t in tickers:
            if t in self.info:
                out.info[t] = self.info[t]
            else:
                out.failures[t] = "quoteSummary returned nothing"
        return out


def values(scale: float) -> dict[str, object]:
    return {k: scale * (i + 1) for i, k in enumerate(STATIC_INFO_KEYS)} | {"sector": "x"}


def test_snapshot_written_with_carry_forward_and_missing(tmp_path: Path) -> None:
    # GIVEN last month's snapshot with all three tickers
    store = LocalStore(tmp_path)
    enrich(store, InfoTable({t: values(1.0) for t in SECTORS}), list(SECTORS), SECTORS, pd.Timestamp("2025-10-01"))
    # WHEN this month 6758.T fails, and a new ticker 8306.T also fails
    info = {"7203.T": values(2.0), "9984.T": {**values(3.0), "trailingPE": None}}
    report = enrich(store, InfoTable(info), [*SECTORS, "8306.T"], SECTORS, pd.Timestamp("2025-11-01"))
    # THEN the snapshot has fetched, carried and missing rows, each labelled
    snap = store.get_parquet(static_key(pd.Timestamp("2025-11-01")))
    assert report.fetched == ["7203.T", "9984.T"] and report.carried == ["6758.T"] and report.missing == ["8306.T"]
    assert snap.loc["7203.T", "priceToBook"] == 4.0
    assert snap.loc["6758.T", "priceToBook"] == 2.0  # last month's value
    assert np.isnan(snap.loc["9984.T", "trailingPE"]) and np.isnan(snap.loc["8306.T", "marketCap"])
    assert list(snap["origin"]) == ["fetched", "carried", "fetched", "missing"]
    assert snap.loc["6758.T", "sector"] == "Technology"


def test_total_failure_writes_nothing(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    enrich(store, InfoTable({t: values(1.0) for t in SECTORS}), list(SECTORS), SECTORS, pd.Timestamp("2025-10-01"))
    with pytest.raises(SourceError, match="nothing written"):
        enrich(store, InfoTable({}), list(SECTORS), SECTORS, pd.Timestamp("2025-11-01"))
    assert store.list("data/static/") == ["data/static/2025-10-01.parquet"]


def test_latest_static_is_point_in_time(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    for day, scale in (("2025-09-01", 1.0), ("2025-10-01", 2.0)):
        enrich(store, InfoTable({"7203.T": values(scale)}), ["7203.T"], SECTORS, pd.Timestamp(day))
    assert latest_static(store).loc["7203.T", "trailingPE"] == 2.0
    assert latest_static(store, before=pd.Timestamp("2025-10-01")).loc["7203.T", "trailingPE"] == 1.0
    assert latest_static(store, before=pd.Timestamp("2025-09-01")) is None

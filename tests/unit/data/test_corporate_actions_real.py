"""Unadjusted corporate actions in real TSE prices (../shared/data): found, and never stored or paneled at two scales.

The TSE files are split-adjusted, except where the source's adjustment ignored a split or a share
consolidation (2012 and 2018; docs/DATA_SOURCES.md): there a level shift by a split ratio persists. The
oracle here is deliberately cruder than the rule: a one-day close move beyond x1.8 after which the median
of the next five closes is still beyond x1.8 of the median of the five before. Tokyo's daily price limits
make such a move impossible for these names except as a corporate action, so every ticker it finds must be
quarantined by name (ingest) or rebased (the ranker's panel). Skipped when the files are absent.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kabucast.data.calendar import TradingCalendar
from kabucast.data.corporate_actions import corporate_actions, ratio_text
from kabucast.data.ingest import backfill
from kabucast.data.prices import prices_key
from kabucast.data.sources.file_source import FileSource
from kabucast.ranker.panel import panel_from_source
from kabucast.storage import LocalStore

DATA = Path(__file__).resolve().parents[4] / "shared" / "data"
FILES = ("jp_large100_dev.csv.gz", "jp_panel500_dev.csv.gz")
LAST = pd.Timestamp("2018-11-16")
SHIFT = math.log(1.8)


def persistent_shifts(close: pd.Series) -> list[pd.Timestamp]:
    """Dates of a one-day move beyond x1.8 whose 5-close medians on either side still differ by x1.8."""
    log_close = np.log(close.to_numpy())
    found = []
    for t in np.flatnonzero(np.abs(np.diff(log_close)) > SHIFT) + 1:
        after, before = np.median(log_close[t : t + 5]), np.median(log_close[max(0, t - 5) : t])
        if abs(after - before) > SHIFT:
            found.append(close.index[t])
    return found


@pytest.fixture(scope="module", params=FILES)
def tse(request) -> tuple[FileSource, dict[str, pd.DataFrame]]:
    path = DATA / request.param
    if not path.exists():
        pytest.skip(f"real TSE prices absent: {path}")
    source = FileSource(path)
    tickers = sorted(pd.read_csv(path, usecols=["ticker"])["ticker"].unique())
    return source, source.fetch_prices(tickers, pd.Timestamp("2000-01-01"), LAST).frames


def shifted_tickers(frames: dict[str, pd.DataFrame]) -> dict[str, list[pd.Timestamp]]:
    return {t: dates for t, f in frames.items() if (dates := persistent_shifts(f["close"]))}


def test_every_unadjusted_consolidation_of_the_tse_files_is_found(tse) -> None:
    _, frames = tse
    oracle = shifted_tickers(frames)
    found = {t: [a.date for a in actions] for t, f in frames.items() if (actions := corporate_actions(f, ticker=t))}
    # dozens in the two files: 4 in the 100 most traded names, 33 in the next 500
    assert found == oracle and len(found) >= 4
    if "6702.T" in frames:  # Fujitsu's 10-to-1 consolidation of 2018-10-01, first traded on 2018-09-26
        (action,) = corporate_actions(frames["6702.T"])
        assert (action.date, ratio_text(action.ratio)) == (pd.Timestamp("2018-09-26"), "10")
    if "5707.T" in frames:  # a month at x0.1 in 2012, then back
        assert [ratio_text(a.ratio) for a in corporate_actions(frames["5707.T"])] == ["1/10", "10"]


def test_ingest_quarantines_each_by_name_and_stores_nothing_at_two_scales(
    tse, tmp_path: Path, calendar: TradingCalendar
) -> None:
    # GIVEN a backfill from the file of every affected ticker and of three clean ones
    source, frames = tse
    affected = shifted_tickers(frames)
    clean = [t for t in sorted(frames) if t not in affected][:3]
    store = LocalStore(tmp_path)
    report = backfill(store, source, [*affected, *clean], calendar, LAST, "15y")
    # THEN each affected ticker fails with the date and ratio of its first shift, and nothing of it is stored
    for ticker, dates in affected.items():
        assert report.failures[ticker].startswith(f"unadjusted corporate action on {dates[0].date()}, ratio ")
        assert "re-fetch when the source adjusts" in report.failures[ticker]
        assert not store.exists(prices_key(ticker))
    assert sorted(report.corporate_actions) == sorted(affected)
    assert sorted(report.updated) == clean


def test_the_ranker_panel_rebases_each_by_name_onto_one_scale(tse, calendar: TradingCalendar) -> None:
    # GIVEN a ranker panel built from the file for every affected ticker and three clean ones
    source, frames = tse
    affected = shifted_tickers(frames)
    clean = [t for t in sorted(frames) if t not in affected][:3]
    panel = panel_from_source(source, dict.fromkeys([*affected, *clean], "-"), "2005-01-04", LAST, calendar)
    # THEN every affected ticker is in it, named by a rebased corporate action at each shift ...
    assert not panel.failures and list(panel.tickers) == [*affected, *clean]
    rebased = {(s["ticker"], s["date"]) for s in panel.suspects if s["action"] == "rebased"}
    assert rebased == {(t, str(d.date())) for t, dates in affected.items() for d in dates}
    # ... and no ticker of the panel carries two scales any more
    close = pd.DataFrame(panel.prices.close, index=panel.dates, columns=list(panel.tickers))
    assert all(persistent_shifts(close[t].dropna()) == [] for t in panel.tickers)

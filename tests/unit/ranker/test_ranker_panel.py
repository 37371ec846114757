"""The ranker's panel: the planted synthetic universe, the other sources, and the partitioned parquet store."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from tests.sources import TableSource
from tests.unit.ranker.conftest import END, START

from kabucast.data.calendar import TradingCalendar
from kabucast.data.prices import prices_key
from kabucast.features.panel import PANEL_COLUMNS
from kabucast.ranker.errors import PanelNotFound
from kabucast.ranker.panel import RankerPanel, panel_from_source, panel_from_store, read_panel, write_panel
from kabucast.ranker.sample import SamplePanel, oracle_rank_ic, planted_state, sample_panel
from kabucast.ranker.settings import PlantSettings
from kabucast.storage import LocalStore


def assert_same_panel(a: RankerPanel, b: RankerPanel) -> None:
    assert a.dates.equals(b.dates)
    assert a.tickers == b.tickers
    assert a.sectors == b.sectors
    for name in PANEL_COLUMNS:
        np.testing.assert_array_equal(getattr(a.prices, name), getattr(b.prices, name), err_msg=name)


def test_panel_round_trips_through_partitioned_parquet(tmp_path: Path, small: SamplePanel) -> None:
    # GIVEN a panel spanning two calendar years, with one missing bar
    store = LocalStore(tmp_path)
    two_years = sample_panel(5, "2020-12-01", "2021-01-29", seed=1)
    close = two_years.panel.prices.close.copy()
    close[3, 2] = np.nan
    prices = dataclasses.replace(two_years.panel.prices, close=close)
    panel = RankerPanel(prices, two_years.panel.sectors, {"X.T": "no bars"})

    # WHEN it is written and read back
    keys = write_panel(store, "tiny", panel, {"source": "test"})
    back = read_panel(store, "tiny")

    # THEN one part per year sits under ranker/panel/<name>/year=YYYY/, and every bar comes back (NaN included)
    assert keys == [
        "ranker/panel/tiny/year=2020/part.parquet",
        "ranker/panel/tiny/year=2021/part.parquet",
        "ranker/panel/tiny/meta.json",
    ]
    assert np.isnan(back.prices.close[3, 2]) and np.isnan(back.prices.open[3, 2])
    back_close = back.prices.close.copy()
    back_close[3, 2] = np.nan
    np.testing.assert_array_equal(back_close, close)
    assert back.failures == {"X.T": "no bars"}
    assert store.get_json("ranker/panel/tiny/meta.json")["origin"] == {"source": "test"}
    write_panel(store, "small", small.panel, {})
    assert_same_panel(read_panel(store, "small"), small.panel)


def test_reading_a_missing_panel_names_it(tmp_path: Path) -> None:
    with pytest.raises(PanelNotFound, match="no ranker panel 'absent'"):
        read_panel(LocalStore(tmp_path), "absent")


def test_panel_from_the_stored_per_ticker_prices_lists_the_missing_ones(tmp_path: Path, small: SamplePanel) -> None:
    # GIVEN two tickers' canonical frames in the store, and a third that was never backfilled
    from kabucast.data.sources.sample_market import SampleMarketSource

    source = SampleMarketSource.synthetic(3, seed=3, origin=START)
    fetch = source.fetch_prices(["S0001.T", "S0002.T"], START, END)
    store = LocalStore(tmp_path)
    for ticker, frame in fetch.frames.items():
        store.put_parquet(prices_key(ticker), frame)
    sectors = {"S0001.T": "Energy", "S0002.T": "Utilities", "S0003.T": "Energy"}

    # WHEN the panel is read from the store and, for comparison, straight from the source
    stored = panel_from_store(store, sectors, START, END)
    direct = panel_from_source(source, sectors, START, END)

    # THEN both hold the same bars; only the store misses S0003.T, and says how to fix it
    assert stored.tickers == ("S0001.T", "S0002.T")
    assert "kabucast backfill" in stored.failures["S0003.T"]
    np.testing.assert_array_equal(stored.prices.close, direct.prices.close[:, :2])
    assert stored.sectors == ("Energy", "Utilities")


def test_an_unadjusted_consolidation_is_rebased_and_labelled_never_two_scales() -> None:
    # GIVEN a source whose S0002.T shows a 10-to-1 consolidation it did not adjust (bars x10 from a date on)
    from kabucast.data.sources.sample_market import SampleMarketSource

    frames = (
        SampleMarketSource.synthetic(2, seed=3, origin=START).fetch_prices(["S0001.T", "S0002.T"], START, END).frames
    )
    since = frames["S0002.T"].index[100]
    raw = frames["S0002.T"].copy()
    raw.loc[raw.index >= since, ["open", "high", "low", "close", "adj_close"]] *= 10
    raw.loc[raw.index >= since, "volume"] //= 10
    sectors = {"S0001.T": "Energy", "S0002.T": "Utilities"}

    # WHEN the ranker's panel is built from it
    panel = panel_from_source(TableSource({**frames, "S0002.T": raw}), sectors, START, END)

    # THEN the ticker is kept on the later scale (earlier bars x10, volume / 10), and the suspects say so by name
    assert panel.tickers == ("S0001.T", "S0002.T") and not panel.failures
    np.testing.assert_allclose(panel.prices.close[:, 1], frames["S0002.T"]["close"].to_numpy() * 10)
    (action,) = [s for s in panel.suspects if s["kind"] == "corporate_action"]
    assert (action["ticker"], action["date"], action["action"]) == ("S0002.T", str(since.date()), "rebased")
    assert "ratio 10 (a 10-to-1 consolidation)" in action["detail"]
    assert not [s for s in panel.suspects if s["action"] == "reject"]


def test_planted_state_is_prefix_stable_and_per_ticker() -> None:
    short = planted_state(7, ["A.T", "B.T"], 50, half_life=10)
    long = planted_state(7, ["B.T", "C.T", "A.T"], 80, half_life=10)
    np.testing.assert_array_equal(short[:, 0], long[:50, 2])
    np.testing.assert_array_equal(short[:, 1], long[:50, 0])
    assert abs(long.std() - 1.0) < 0.3


def test_planted_bars_stay_consistent(small: SamplePanel) -> None:
    p = small.panel.prices
    assert (p.low <= np.minimum(p.open, p.close)).all() and (p.high >= np.maximum(p.open, p.close)).all()
    assert (p.low >= 0.1).all() and (p.volume % 100 == 0).all() and (p.volume >= 100).all()
    np.testing.assert_array_equal(p.adj_close, p.close)


def test_planted_signal_is_in_the_oracle_and_absent_without_a_plant(
    calendar: TradingCalendar, small: SamplePanel
) -> None:
    with_plant = oracle_rank_ic(small, [5])[5]
    without = sample_panel(40, START, END, seed=3, plant=None, calendar=calendar)
    assert with_plant["planted"] > 0.08
    assert with_plant["oracle"] > with_plant["drift"]
    assert not without.truth.state.any()
    assert not np.array_equal(without.panel.prices.volume, small.panel.prices.volume)


def test_same_seed_same_panel(calendar: TradingCalendar, small: SamplePanel) -> None:
    again = sample_panel(40, START, END, seed=3, plant=PlantSettings(), calendar=calendar)
    assert_same_panel(again.panel, small.panel)

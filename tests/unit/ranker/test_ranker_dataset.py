"""The dataset from settings: each panel source, and a stored panel reused unless rebuilt."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from kabucast.data.calendar import TradingCalendar
from kabucast.data.sources.sample_market import SampleMarketSource
from kabucast.errors import ConfigError
from kabucast.ranker.dataset import build_dataset, build_panel, load_panel
from kabucast.ranker.settings import PanelSettings, RankerDataSettings
from kabucast.storage import LocalStore

START, END = "2021-01-04", "2021-06-30"


def universe_file(tmp_path: Path, sectors: dict[str, str]) -> Path:
    members = [{"ticker": t, "name": t, "sector": s} for t, s in sectors.items()]
    doc = {"env": "local", "name": "test", "description": "test", "reviewed": "2025-10-31", "members": members}
    path = tmp_path / "universe.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def test_panel_from_a_long_csv_file(tmp_path: Path, calendar: TradingCalendar) -> None:
    # GIVEN a long-format CSV of two tickers, and a universe naming a third the file lacks
    source = SampleMarketSource.synthetic(2, seed=5, origin=START)
    frames = source.fetch_prices(list(source.tickers), START, END).frames
    long = pd.concat([f.assign(ticker=t) for t, f in frames.items()]).reset_index()
    long.to_csv(tmp_path / "bars.csv", index=False)
    sectors = {"S0001.T": "Energy", "S0002.T": "Energy", "S0003.T": "Utilities"}
    settings = PanelSettings(
        name="files",
        source=f"file:{tmp_path / 'bars.csv'}",
        start=START,
        end=END,
        universe=str(universe_file(tmp_path, sectors)),
    )

    # WHEN the panel is built from the file
    panel, origin = build_panel(LocalStore(tmp_path / "store"), settings, calendar)

    # THEN it holds the file's bars, lists the missing ticker, and records where it came from
    assert panel.tickers == ("S0001.T", "S0002.T") and "S0003.T" in panel.failures
    np.testing.assert_allclose(panel.prices.close[:, 0], frames["S0001.T"]["close"].to_numpy())
    assert origin["source"].startswith("file:")


def test_other_sources_need_a_universe(tmp_path: Path, calendar: TradingCalendar) -> None:
    settings = PanelSettings(name="x", source="store", start=START, end=END)
    with pytest.raises(ConfigError, match=r"panel\.universe is required"):
        build_panel(LocalStore(tmp_path), settings, calendar)


def test_a_stored_panel_is_reused_until_rebuilt(tmp_path: Path, calendar: TradingCalendar) -> None:
    store = LocalStore(tmp_path)
    settings = PanelSettings(name="s", source="sample:3", start=START, end=END, n_stocks=12)
    first = load_panel(store, settings, calendar)
    meta = store.get_json("ranker/panel/s/meta.json")
    assert meta["origin"]["synthetic"]["seed"] == 3 and meta["origin"]["synthetic"]["plant"]["half_life"] == 10.0
    bigger = PanelSettings(name="s", source="sample:3", start=START, end=END, n_stocks=20)
    assert load_panel(store, bigger, calendar).tickers == first.tickers  # the stored one
    assert len(load_panel(store, bigger, calendar, rebuild=True).tickers) == 20
    data = build_dataset(first, RankerDataSettings(env="local", panel=settings, horizons=(1, 5)))
    assert data.targets.names == ("fwd_1", "fwd_5") and data.features.values.shape[:2] == (len(first.dates), 12)

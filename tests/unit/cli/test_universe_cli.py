"""``kabucast universe``: the members of a date, the dated changes, and the staleness warning."""

from __future__ import annotations

import json

import pandas as pd

from kabucast.cli import main
from kabucast.data.sources.sample_market import SampleMarketSource


def test_members_of_a_past_date_and_every_change(capsys, tmp_path) -> None:
    assert main(["universe", "--as-of", "2021-06-01", "--store", str(tmp_path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    tickers = [m["ticker"] for m in out["members"]]
    assert len(tickers) == 29 and "9437.T" not in tickers and "8035.T" not in tickers  # Docomo gone, TEL not yet
    assert {"date": "2021-10-29", "change": "joined", "ticker": "8035.T", "name": "Tokyo Electron"} in out["changes"]
    assert out["exchange"] == "XTKS" and out["currency"] == "JPY"


def test_a_date_before_the_established_history_says_so(capsys, tmp_path) -> None:
    assert main(["universe", "--as-of", "2008-06-02", "--store", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "before 2011-10-28, the earliest established membership" in out


def test_the_sample_market_has_prices_for_every_member_ever_listed(universe) -> None:
    source = SampleMarketSource.from_universe(universe)
    fetched = source.fetch_prices(list(universe.every_ticker), pd.Timestamp("2026-11-02"), pd.Timestamp("2026-11-20"))
    assert fetched.failures == {} and set(fetched.frames) == set(universe.every_ticker)
    assert set(universe.tickers) <= set(fetched.frames)

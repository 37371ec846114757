"""`kabucast enrich --source jquants` end to end: the CLI, the official client and the point-in-time snapshots,
against the stand-in of the J-Quants API on the loopback (tests/jquants_standin.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import yaml
from tests.jquants_standin import StandIn, bars_rows, codes_of, statements_of

from kabucast.cli.main import main
from kabucast.config import CONFIG_DIR
from kabucast.data.enrich import STATIC_PREFIX, static_key
from kabucast.data.sources.jquants_key import ENV_KEY
from kabucast.data.sources.jquants_source import ENV_BASE_URL
from kabucast.data.sources.sample_market import SampleMarketSource
from kabucast.storage import LocalStore

KEY = "jq-test-key-7c4a8d09ca3762af61e59520943dc26494f8941b"
TICKERS = ("7203.T", "6758.T", "8306.T")
AS_OF = pd.Timestamp("2026-11-20")


@pytest.fixture(scope="module")
def market(universe) -> dict[str, pd.DataFrame]:
    fetched = SampleMarketSource.from_universe(universe).fetch_prices(TICKERS, AS_OF - pd.Timedelta(days=730), AS_OF)
    return fetched.frames


@pytest.fixture
def standin(market, monkeypatch) -> Iterator[StandIn]:
    """Bars of two years and statements since 2025 (8 a company), 3 rows a page; the client pointed at it."""
    codes = codes_of(TICKERS)
    server = StandIn({codes[t]: bars_rows(codes[t], f) for t, f in market.items()}, KEY, page_size=3)
    server.statements = {codes[t]: statements_of(codes[t], 2025, 2026) for t in TICKERS}
    monkeypatch.setenv(ENV_KEY, KEY)
    monkeypatch.setenv(ENV_BASE_URL, server.start().base_url)
    yield server
    server.stop()


@pytest.fixture
def config(tmp_path) -> str:
    settings = yaml.safe_load((CONFIG_DIR / "enrich_universe.yaml").read_text())
    settings["retry"]["base_seconds"] = 0.01
    (tmp_path / "enrich.yaml").write_text(yaml.safe_dump(settings))
    return str(tmp_path / "enrich.yaml")


def enrich(config: str, store: LocalStore) -> int:
    argv = ["enrich", "--config", config, "--source", "jquants", "--tickers", ",".join(TICKERS)]
    return main([*argv, "--as-of", str(AS_OF.date()), "--store", str(store.root)])


def files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_enrich_writes_the_point_in_time_history_and_a_rerun_changes_nothing(standin, config, tmp_path, capsys):
    # WHEN the history is built from J-Quants (every company's statements take 3 pages)
    store = LocalStore(tmp_path / "jq")
    assert enrich(config, store) == 0
    first = capsys.readouterr()
    # THEN a snapshot stands on each session a statement became visible on, the last page's included
    assert len(standin.requests_to("/fins/summary")) == 3 * len(TICKERS)
    keys = store.list(STATIC_PREFIX)
    assert keys[0] == static_key(pd.Timestamp("2025-02-06")) and static_key(pd.Timestamp("2026-11-06")) in keys
    latest = store.get_parquet(keys[-1])
    assert sorted(latest.index) == sorted(TICKERS) and set(latest["origin"]) == {"jquants"}
    assert (latest["disclosed"] == pd.Timestamp("2026-11-05")).all()
    closes = {t: market.loc[: keys[-1][-18:-8], "close"].iloc[-1] for t, market in standin_market(standin).items()}
    assert latest.loc["7203.T", "trailingPE"] == pytest.approx(closes["7203.T"] / 100.0)
    assert f"{len(keys)} snapshots written" in first.out
    # AND a re-run writes nothing and asks J-Quants for no price
    before, bars = files(store.root), len(standin.requests_to("/equities/bars/daily"))
    assert enrich(config, store) == 0
    again = capsys.readouterr()
    assert files(store.root) == before and "0 snapshots written" in again.out
    assert len(standin.requests_to("/equities/bars/daily")) == bars
    # AND the key is in no output and no stored file
    assert KEY not in first.out + first.err + again.out + again.err
    assert not any(KEY.encode() in data for data in before.values())


def standin_market(standin: StandIn) -> dict[str, pd.DataFrame]:
    """The stand-in's unadjusted closes per ticker (Date -> C)."""
    out = {}
    for ticker, code in codes_of(TICKERS).items():
        rows = pd.DataFrame(standin.bars[code])
        out[ticker] = pd.DataFrame({"close": rows["C"].to_numpy()}, index=pd.to_datetime(rows["Date"]))
    return out


def test_a_rate_limit_storm_is_waited_out_and_a_refused_key_writes_nothing(standin, config, tmp_path, monkeypatch):
    store = LocalStore(tmp_path / "jq")
    standin.faults.rate_limited = 3
    assert enrich(config, store) == 0 and store.list(STATIC_PREFIX)
    monkeypatch.setenv(ENV_KEY, "jq-wrong-key")
    other = LocalStore(tmp_path / "other")
    assert enrich(config, other) == 2 and not other.list(STATIC_PREFIX)

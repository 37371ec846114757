"""`--source jquants` end to end: the CLI, the official client (jquants-api-client) and the ingest rules, against
the stand-in of the J-Quants API on the loopback (tests/jquants_standin.py: J-Quants itself cannot be reached
here, and its answers are built from the sample market)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import yaml
from tests.jquants_standin import StandIn, bars_rows, codes_of

from kabucast.cli.main import main
from kabucast.config import CONFIG_DIR
from kabucast.data.prices import prices_key
from kabucast.data.sources.jquants_key import ENV_KEY
from kabucast.data.sources.jquants_source import ENV_BASE_URL
from kabucast.data.sources.sample_market import SampleMarketSource
from kabucast.storage import LocalStore

KEY = "jq-test-key-5d41402abc4b2a76b9719d911017c592"
TICKERS = ("7203.T", "6758.T", "8306.T")
AS_OF = pd.Timestamp("2026-11-20")
SPLIT_DAY = "2026-11-20"  # a 2-for-1 split the stand-in announces after the backfill


@pytest.fixture(scope="module")
def market(universe) -> dict[str, pd.DataFrame]:
    """Two years of the sample market for three names, up to AS_OF."""
    fetched = SampleMarketSource.from_universe(universe).fetch_prices(TICKERS, AS_OF - pd.Timedelta(days=730), AS_OF)
    return fetched.frames


@pytest.fixture
def standin(market) -> Iterator[StandIn]:
    """The API serving every session but AS_OF (the next fetch's new bar), 300 rows a page."""
    codes = codes_of(TICKERS)
    server = StandIn({codes[t]: bars_rows(codes[t], f.iloc[:-1]) for t, f in market.items()}, KEY, page_size=300)
    yield server.start()
    server.stop()


@pytest.fixture
def env(standin, monkeypatch) -> None:
    monkeypatch.setenv(ENV_KEY, KEY)
    monkeypatch.setenv(ENV_BASE_URL, standin.base_url)


@pytest.fixture(autouse=True)
def quick_retries(tmp_path, monkeypatch) -> None:
    """The fetch configs with 10 ms backoffs (J-Quants' Retry-After is honoured as sent: 0 here)."""
    for name in ("fetch_daily_backfill.yaml", "fetch_daily_universe.yaml"):
        settings = yaml.safe_load((CONFIG_DIR / name).read_text())
        settings["retry"]["base_seconds"] = 0.01
        (tmp_path / name).write_text(yaml.safe_dump(settings))
    CONFIGS.update(
        {"backfill": str(tmp_path / "fetch_daily_backfill.yaml"), "fetch": str(tmp_path / "fetch_daily_universe.yaml")}
    )


CONFIGS: dict[str, str] = {}


def run(command: str, *argv: str) -> int:
    tickers = ",".join(TICKERS)
    return main(
        [
            command,
            *argv,
            "--config",
            CONFIGS[command],
            "--source",
            "jquants",
            "--tickers",
            tickers,
            "--as-of",
            str(AS_OF.date()),
        ]
    )


def files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_backfill_then_fetch_store_the_exchanges_adjusted_bars(env, standin, market, tmp_path, capsys) -> None:
    # WHEN two years are backfilled from J-Quants (pages of 300 rows: two requests or more a name)
    store = LocalStore(tmp_path / "jq")
    assert run("backfill", "--store", str(store.root), "--period", "2y") == 0
    # THEN each name is stored in the canonical layout, its bars the exchange's adjusted ones
    for ticker in TICKERS:
        stored = store.get_parquet(prices_key(ticker))
        expected = market[ticker].iloc[:-1]
        assert list(stored.columns) == list(expected.columns) and stored.index.name == "date"
        assert stored.dtypes.to_dict() == expected.dtypes.to_dict()
        pd.testing.assert_frame_equal(stored.drop(columns="adj_close"), expected.drop(columns="adj_close"))
        assert (stored["adj_close"] == stored["close"]).all()  # J-Quants does not adjust for dividends
    assert len(standin.requests_to("/equities/bars/daily")) >= 2 * len(TICKERS)
    # AND a re-run changes nothing
    before = files(store.root)
    assert run("backfill", "--store", str(store.root), "--period", "2y") == 0
    assert files(store.root) == before and "0 updated" in capsys.readouterr().out.splitlines()[-1]
    # WHEN the exchange publishes AS_OF's bars, and a 2-for-1 split of one name on that day
    codes = codes_of(TICKERS)
    split = market[TICKERS[0]].copy()  # the adjusted series stays continuous: every price halves, volume doubles
    split[["open", "high", "low", "close", "adj_close"]] /= 2.0
    split["volume"] *= 2
    standin.bars = {codes[t]: bars_rows(codes[t], f) for t, f in market.items()}
    standin.bars[codes[TICKERS[0]]] = bars_rows(codes[TICKERS[0]], split, {SPLIT_DAY: 0.5})
    assert run("fetch", "--store", str(store.root)) == 0
    # THEN the new bar is stored, and the split name's whole history is the newly adjusted one (ingest's rebase)
    out = capsys.readouterr().out
    assert "1 rebased" in out, out
    rebased = store.get_parquet(prices_key(TICKERS[0]))
    assert rebased.index[-1] == AS_OF and rebased["close"].iloc[0] == pytest.approx(split["close"].iloc[0])
    assert store.get_parquet(prices_key(TICKERS[1])).index[-1] == AS_OF


def test_a_rate_limit_storm_is_waited_out(env, standin, tmp_path, capsys) -> None:
    # GIVEN J-Quants answers 429 (Retry-After: 0) to the next 3 requests: fewer than the 4 attempts of a request
    standin.faults.rate_limited = 3
    store = LocalStore(tmp_path / "jq")
    # WHEN a backfill runs; THEN every name is stored, after 3 more requests than without the storm
    assert run("backfill", "--store", str(store.root), "--period", "2y") == 0
    assert all(store.exists(prices_key(t)) for t in TICKERS)
    statuses = [entry.status for entry in standin.requests_to("/equities/bars/daily")]
    assert statuses[:3] == [429] * 3 and statuses.count(429) == 3 and set(statuses[3:]) == {200}


def test_a_storm_longer_than_the_retries_fails_that_name_only(env, standin, tmp_path, capsys) -> None:
    standin.faults.rate_limited = 4  # the first name's 4 attempts
    store = LocalStore(tmp_path / "jq")
    assert run("backfill", "--store", str(store.root), "--period", "2y") == 0  # a failed ticker is a report line
    out, err = capsys.readouterr()
    assert "1 failed" in out and "J-Quants rate limit (429) for bars of 7203.T (gave up after 4 attempts)" in err
    assert not store.exists(prices_key("7203.T")) and store.exists(prices_key("6758.T"))


def test_a_refused_key_exits_2_with_advice_and_writes_nothing(standin, tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv(ENV_KEY, "a-revoked-key")
    monkeypatch.setenv(ENV_BASE_URL, standin.base_url)
    assert run("backfill", "--store", str(tmp_path / "jq"), "--period", "2y") == 2
    err = capsys.readouterr().err
    assert "J-Quants refused the API key (401: The incoming token is invalid or expired.)" in err
    assert "check JQUANTS_API_KEY" in err and "a-revoked-key" not in err
    assert not (tmp_path / "jq").exists() or files(tmp_path / "jq") == {}
    assert len(standin.log) == 1  # it stopped at the first refusal


def test_no_key_exits_2_before_any_request(standin, tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.delenv(ENV_KEY, raising=False)
    monkeypatch.delenv("JQUANTS_API_KEY_PARAMETER", raising=False)
    monkeypatch.setenv(ENV_BASE_URL, standin.base_url)
    assert run("backfill", "--store", str(tmp_path / "jq"), "--period", "2y") == 2
    assert "no J-Quants API key: set JQUANTS_API_KEY" in capsys.readouterr().err and standin.log == []


def test_a_truncated_page_stores_nothing_of_that_name(env, standin, tmp_path, capsys) -> None:
    standin.faults.truncated = {codes_of(TICKERS)["6758.T"]}
    store = LocalStore(tmp_path / "jq")
    assert run("backfill", "--store", str(store.root), "--period", "2y") == 0
    assert "not whole JSON for bars of 6758.T (a truncated page?)" in capsys.readouterr().err
    assert not store.exists(prices_key("6758.T")) and store.exists(prices_key("7203.T"))


def test_the_key_appears_in_no_output(env, standin, tmp_path, capfd, caplog) -> None:
    # every path a run can take: success, a storm, a truncated page, a failed fetch, JSON reports
    store = LocalStore(tmp_path / "jq")
    standin.faults.rate_limited, standin.faults.truncated = 5, {codes_of(TICKERS)["8306.T"]}
    assert run("backfill", "--store", str(store.root), "--period", "2y", "--json") == 0
    assert run("fetch", "--store", str(store.root), "--json") == 0
    os.environ[ENV_KEY] = KEY + "x"  # a refused key (restored by monkeypatch)
    assert run("fetch", "--store", str(store.root)) == 2
    out, err = capfd.readouterr()
    assert "J-Quants" in out + err  # the runs said something about J-Quants ...
    for text in (out, err, caplog.text, *(b.decode("latin-1") for b in files(store.root).values())):
        assert KEY not in text  # ... and never its key

"""The seeds' slow data from J-Quants into the store (kabucast.data.slow_store) against the stand-in on the loopback
(tests/jquants_standin_slow.py): the official client, its pagination, the store's rules and the named errors."""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
import pytest
from tests.jquants_standin_slow import SlowStandIn, investor_row, margin_row, short_ratio_row
from tests.sources import walk

from kabucast.cli.main import main
from kabucast.config import RetrySettings
from kabucast.data.prices import prices_key
from kabucast.data.slow_store import load_slow, slow_key, update_slow
from kabucast.data.sources.jquants_key import ENV_KEY, ApiKey
from kabucast.data.sources.jquants_slow import GROUPS, UnknownGroup, check_groups
from kabucast.data.sources.jquants_source import ENV_BASE_URL, JQuantsAuthError, JQuantsSource
from kabucast.storage import LocalStore

KEY = "jq-test-key-slow-0123456789abcdef"
TICKERS = ("7203.T", "6758.T")
TODAY = pd.Timestamp("2026-11-20")
SINCE = pd.Timestamp("2026-01-01")
FRIDAYS = [f"{d:%Y-%m-%d}" for d in pd.date_range("2026-01-09", "2026-09-18", freq="W-FRI")]


@pytest.fixture
def standin() -> Iterator[SlowStandIn]:
    """Weekly margin rows of two names (without PubDate, as before 2026-09-25) and two daily ones with it; a
    sector's short selling on 40 days; the flows of two sections for every week; 7 rows a page (pages follow)."""
    margin = {
        code: [margin_row(code, d, 1e6 + i, 2e5 + i) for i, d in enumerate(FRIDAYS)]
        + [margin_row(code, "2026-10-01", 2e6, 3e5, published="2026-10-02")]
        for code in ("72030", "67580")
    }
    days = [f"{d:%Y-%m-%d}" for d in pd.bdate_range("2026-09-01", periods=40)]
    short = [short_ratio_row("3700", d, 6e10, 3e10, 1e9) for d in days]
    weeks = pd.date_range("2026-01-05", "2026-10-26", freq="W-MON")
    flows = [
        investor_row(s, *(f"{w + pd.Timedelta(days=n):%Y-%m-%d}" for n in (0, 4, 10)), 5e12, 1e10, -2e10)
        for w in weeks
        for s in ("TSEPrime", "TSEStandard")
    ]
    server = SlowStandIn(KEY, margin, short, flows, page_size=7).start()
    yield server
    server.stop()


def source(standin: SlowStandIn, key: str = KEY) -> JQuantsSource:
    return JQuantsSource(ApiKey(key), standin.base_url, RetrySettings(3, 0.0), sleep=lambda _s: None)


def test_every_group_is_stored_with_its_publication_date_and_a_rerun_changes_nothing(standin, calendar, tmp_path):
    # GIVEN an empty store  WHEN the three groups are fetched
    store = LocalStore(tmp_path)
    report = update_slow(store, source(standin).request, GROUPS, TICKERS, calendar, TODAY, SINCE)
    # THEN every row arrived across pages, with its publication date
    assert report.added == {"margin": 2 * (len(FRIDAYS) + 1), "short_selling": 40, "flows": 2 * 43}
    assert not any(report.failures.values())
    margin = load_slow(store, "margin")
    weekly = margin[(margin.ticker == "7203.T") & (margin.date == pd.Timestamp("2026-01-09"))].iloc[0]
    # no PubDate: the 2nd session after Friday 9 Jan (Monday 12 Jan is Coming of Age Day: Tue 13, then Wed 14)
    assert weekly.published == pd.Timestamp("2026-01-14")
    daily = margin[(margin.ticker == "6758.T") & (margin.date == pd.Timestamp("2026-10-01"))].iloc[0]
    assert (daily.published, daily.long_vol, daily.short_vol) == (pd.Timestamp("2026-10-02"), 2e6, 3e5)
    short = load_slow(store, "short_selling")
    assert (short.published == short.date).all() and set(short.s33) == {"3700"}
    flows = load_slow(store, "flows")
    assert flows.iloc[0][["section", "published", "total_va", "foreign_bal_va"]].tolist() == [
        "TSEPrime", pd.Timestamp("2026-01-15"), 5e12, 1e10
    ]  # fmt: skip
    # WHEN it runs again  THEN nothing is written (the files are byte-identical)
    before = {g: (tmp_path / slow_key(g)).read_bytes() for g in GROUPS}
    again = update_slow(store, source(standin).request, GROUPS, TICKERS, calendar, TODAY, SINCE)
    assert again.added == {g: 0 for g in GROUPS}
    assert {g: (tmp_path / slow_key(g)).read_bytes() for g in GROUPS} == before


def test_history_never_shrinks_and_a_stored_value_is_never_replaced(standin, calendar, tmp_path):
    store = LocalStore(tmp_path)
    update_slow(store, source(standin).request, ("margin",), TICKERS, calendar, TODAY, SINCE)
    # GIVEN the API now serves a revised value and has forgotten the first weeks
    standin.margin["72030"] = [margin_row("72030", d, 9e9, 9e9) for d in FRIDAYS[10:]]
    # WHEN fetched again  THEN the stored rows stay as they were
    update_slow(store, source(standin).request, ("margin",), TICKERS, calendar, TODAY, SINCE)
    stored = load_slow(store, "margin")
    assert len(stored) == 2 * (len(FRIDAYS) + 1)
    assert stored[stored.ticker == "7203.T"].long_vol.max() == 2e6


def test_a_truncated_page_stores_nothing_of_its_batch(standin, calendar, tmp_path):
    # GIVEN every page of 7203's margin rows is cut off mid-JSON
    standin.faults.truncated = {"72030"}
    store = LocalStore(tmp_path)
    report = update_slow(store, source(standin).request, ("margin",), TICKERS, calendar, TODAY, SINCE)
    # THEN 7203 is a named failure with nothing stored, and 6758 is whole
    assert "truncated page" in report.failures["margin"]["7203.T"]
    assert set(load_slow(store, "margin").ticker) == {"6758.T"}


def test_a_rate_limit_storm_recovers(standin, calendar, tmp_path):
    standin.faults.rate_limited = 2
    report = update_slow(LocalStore(tmp_path), source(standin).request, ("flows",), TICKERS, calendar, TODAY, SINCE)
    assert report.added["flows"] == 86 and not report.failures["flows"]


def test_a_refused_key_is_a_named_error_and_nothing_is_written(standin, calendar, tmp_path):
    with pytest.raises(JQuantsAuthError, match="JQUANTS_API_KEY") as error:
        update_slow(
            LocalStore(tmp_path), source(standin, "a-wrong-key").request, GROUPS, TICKERS, calendar, TODAY, SINCE
        )
    assert "a-wrong-key" not in str(error.value)
    assert not list(tmp_path.rglob("*.parquet"))


def test_an_unknown_group_is_named():
    assert check_groups(["flows", "margin"]) == ("margin", "flows")
    with pytest.raises(UnknownGroup, match="margin, short_selling, flows"):
        check_groups(["margins"])


def test_the_command_fetches_every_group_and_never_shows_the_key(standin, tmp_path, monkeypatch, capsys):
    # GIVEN the key and the stand-in in the environment
    monkeypatch.setenv(ENV_KEY, KEY)
    monkeypatch.setenv(ENV_BASE_URL, standin.base_url)
    argv = ["slowdata", "--store", str(tmp_path), "--as-of", str(TODAY.date()), "--tickers", ",".join(TICKERS)]
    # WHEN the command runs, then runs again
    assert main([*argv, "--since", str(SINCE.date()), "--json"]) == 0
    assert main([*argv, "--since", str(SINCE.date())]) == 0
    # THEN the three files hold the rows, the second run added none, and the key is in no output
    out = capsys.readouterr()
    assert all((tmp_path / slow_key(g)).is_file() for g in GROUPS)
    assert "margin: +0 rows" in out.out and KEY not in out.out + out.err
    # WHEN the key is refused  THEN exit 2 with what to set, and nothing more is written
    monkeypatch.setenv(ENV_KEY, "a-wrong-key")
    assert main([*argv, "--store", str(tmp_path / "other")]) == 2
    assert "JQUANTS_API_KEY" in capsys.readouterr().err and not (tmp_path / "other").exists()


def test_the_screen_ranks_the_stored_columns(standin, calendar, tmp_path, capsys):
    # GIVEN stored prices and slow data
    store = LocalStore(tmp_path)
    for i, ticker in enumerate(TICKERS):
        store.put_parquet(prices_key(ticker), walk(calendar, i, "2025-01-06", str(TODAY.date())))
    update_slow(store, source(standin).request, GROUPS, TICKERS, calendar, TODAY, SINCE)
    # WHEN screened  THEN a line per column (two names: too few for a RankIC, so n is 0)
    argv = ["slowdata", "--screen", "--store", str(tmp_path), "--as-of", str(TODAY.date()), "--since", "2026-01-05"]
    assert main([*argv, "--tickers", ",".join(TICKERS)]) == 0
    out = capsys.readouterr().out
    assert all(f"  {name} " in out for name in ("margin_long_short", "short_ratio_sector", "flow_foreign_net"))
    assert "(n 0)" in out

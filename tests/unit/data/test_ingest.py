"""Backfill and incremental fetch into a LocalStore: idempotence, revised bars, splits, failures.

The source here is a small in-memory table of bars (a stand-in for a remote market data service);
the store, the calendar, validation and merging are the real ones.
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from tests.sources import TableSource, walk

from kabucast.cli import main
from kabucast.config import CONFIG_DIR, AcceptedLevelShift
from kabucast.data.calendar import TradingCalendar
from kabucast.data.ingest import backfill, fetch_incremental, load_prices, parse_period
from kabucast.data.prices import PRICE_COLUMNS, prices_key
from kabucast.data.sources.file_source import FileSource
from kabucast.errors import EmptyDownload, KabucastError, StoreUnavailable
from kabucast.storage import LocalStore

TODAY = pd.Timestamp("2025-11-21")


@pytest.fixture
def market(calendar: TradingCalendar) -> dict[str, pd.DataFrame]:
    return {"7203.T": walk(calendar, 1), "6758.T": walk(calendar, 2), "9984.T": walk(calendar, 3)}


def test_backfill_then_fetch_twice_is_a_byte_identical_no_op(tmp_path: Path, calendar, market) -> None:
    # GIVEN a backfill of 2 years
    store = LocalStore(tmp_path)
    report = backfill(store, TableSource(market), list(market), calendar, TODAY, "2y")
    assert sorted(report.updated) == sorted(market) and not report.failures
    before = {t: store.get_bytes(prices_key(t)) for t in market}
    # WHEN the daily fetch runs twice with nothing new
    first = fetch_incremental(store, TableSource(market), list(market), calendar, TODAY, 5, "5y")
    second = fetch_incremental(store, TableSource(market), list(market), calendar, TODAY, 5, "5y")
    # THEN nothing is written and every file is byte-identical
    assert first.updated == [] and second.updated == [] and sorted(second.unchanged) == sorted(market)
    assert {t: store.get_bytes(prices_key(t)) for t in market} == before


def test_fetch_appends_new_sessions_and_replaces_revised_bars(tmp_path: Path, calendar, market) -> None:
    # GIVEN prices stored up to a week ago
    store = LocalStore(tmp_path)
    backfill(store, TableSource(market), ["7203.T"], calendar, pd.Timestamp("2025-11-14"), "1y")
    # AND the source revised the last stored bar's volume
    revised = market["7203.T"].copy()
    revised.loc["2025-11-14", "volume"] = 123_456
    # WHEN the daily fetch runs a week later with a 3-session overlap
    source = TableSource({"7203.T": revised})
    report = fetch_incremental(store, source, ["7203.T"], calendar, TODAY, 3, "5y")
    # THEN it asked only from the overlap on, appended 5 sessions and took the revised bar
    assert source.requests[0][1] == pd.Timestamp("2025-11-12")
    stored = store.get_parquet(prices_key("7203.T"))
    assert report.rows_added == 5 and stored.index[-1] == TODAY
    assert stored.loc["2025-11-14", "volume"] == 123_456


def test_failing_ticker_is_reported_and_its_stored_file_untouched(tmp_path: Path, calendar, market) -> None:
    # GIVEN all three tickers stored
    store = LocalStore(tmp_path)
    backfill(store, TableSource(market), list(market), calendar, pd.Timestamp("2025-11-14"), "1y")
    before = store.get_bytes(prices_key("6758.T"))
    # WHEN the source fails for one ticker and returns an inconsistent bar (open above high) for another
    bad = market["9984.T"].copy()
    bad.loc["2025-11-20", "open"] = bad.loc["2025-11-20", "high"] * 1.5
    source = TableSource({**market, "9984.T": bad}, broken=["6758.T"])
    report = fetch_incremental(store, source, list(market), calendar, TODAY, 3, "5y")
    # THEN both are failures with reasons, the good ticker is updated, stored files are intact
    assert report.updated == ["7203.T"]
    assert "no data for 6758.T" in report.failures["6758.T"]
    assert "low <= open/close <= high" in report.failures["9984.T"]
    assert store.get_bytes(prices_key("6758.T")) == before
    assert store.get_parquet(prices_key("9984.T")).index[-1] == pd.Timestamp("2025-11-14")


def test_a_bad_tick_is_rejected_by_name_and_date_and_the_rest_is_stored(tmp_path: Path, calendar, market) -> None:
    # GIVEN a stored ticker, then a fetch whose 2025-11-19 bar is printed at x100 (and reverts the next day)
    store = LocalStore(tmp_path)
    backfill(store, TableSource(market), ["7203.T"], calendar, pd.Timestamp("2025-11-14"), "1y")
    ticked = market["7203.T"].copy()
    ticked.loc["2025-11-19", ["open", "high", "low", "close", "adj_close"]] *= 100
    report = fetch_incremental(store, TableSource({"7203.T": ticked}), ["7203.T"], calendar, TODAY, 3, "5y")
    # THEN the ticker is updated without that bar, and the report names it with the reason
    stored = store.get_parquet(prices_key("7203.T"))
    assert report.updated == ["7203.T"] and not report.failures
    assert pd.Timestamp("2025-11-19") not in stored.index and stored.index[-1] == TODAY
    (line,) = report.rejected["7203.T"]
    assert line.startswith("2025-11-19 reverting_spike: close") and "100x" in line
    assert "1 implausible bars rejected" in report.summary()


def test_a_ticker_with_many_bad_bars_is_quarantined_and_its_store_kept(tmp_path: Path, calendar, market) -> None:
    store = LocalStore(tmp_path)
    backfill(store, TableSource(market), ["7203.T"], calendar, pd.Timestamp("2025-11-14"), "1y")
    before = store.get_bytes(prices_key("7203.T"))
    broken = market["7203.T"].copy()
    broken.loc[broken.index[-3:], ["open", "high", "low", "close", "adj_close"]] = 0.001  # 3 of 7 fetched bars
    report = fetch_incremental(store, TableSource({"7203.T": broken}), ["7203.T"], calendar, TODAY, 3, "5y")
    assert "quarantined: 3 of" in report.failures["7203.T"] and "near_zero_price" in report.failures["7203.T"]
    assert store.get_bytes(prices_key("7203.T")) == before


def test_split_rescaling_triggers_full_refetch(tmp_path: Path, calendar, market) -> None:
    # GIVEN stored prices, then a 1:2 split after which the source reports all history halved
    store = LocalStore(tmp_path)
    backfill(store, TableSource(market), ["7203.T"], calendar, pd.Timestamp("2025-11-14"), "1y")
    split = market["7203.T"].copy()
    split[["open", "high", "low", "close", "adj_close"]] /= 2
    # WHEN the incremental fetch sees the rescaled overlap
    report = fetch_incremental(store, TableSource({"7203.T": split}), ["7203.T"], calendar, TODAY, 3, "5y")
    # THEN the whole stored history is replaced by the rescaled one (no jump at the seam)
    stored = store.get_parquet(prices_key("7203.T"))
    assert report.rebased == ["7203.T"]
    np.testing.assert_allclose(stored["close"].to_numpy(), split.loc[stored.index, "close"].to_numpy())
    assert stored.index[0] == pd.Timestamp("2024-11-14")


def test_bad_ticks_found_by_the_full_refetch_of_a_split_are_reported(tmp_path: Path, calendar, market) -> None:
    # GIVEN stored prices, then a split after which the source reports all history halved, with one bad
    # tick far before the fetch's overlap (only the full re-fetch of the rebase sees it)
    store = LocalStore(tmp_path)
    backfill(store, TableSource(market), ["7203.T"], calendar, pd.Timestamp("2025-11-14"), "1y")
    split = market["7203.T"].copy()
    split[["open", "high", "low", "close", "adj_close"]] /= 2
    split.loc["2025-03-12", ["open", "high", "low", "close", "adj_close"]] *= 100
    # WHEN the incremental fetch rebases the ticker
    report = fetch_incremental(store, TableSource({"7203.T": split}), ["7203.T"], calendar, TODAY, 3, "5y")
    # THEN the rebased history leaves the bad bar out, and the run's report names it
    assert report.rebased == ["7203.T"] and not report.failures
    assert pd.Timestamp("2025-03-12") not in store.get_parquet(prices_key("7203.T")).index
    (line,) = report.rejected["7203.T"]
    assert line.startswith("2025-03-12 reverting_spike")
    assert report.to_dict()["rejected_bars"] == {"7203.T": [line]}


def test_new_ticker_without_history_is_backfilled_by_fetch(tmp_path: Path, calendar, market) -> None:
    store = LocalStore(tmp_path)
    report = fetch_incremental(store, TableSource(market), ["7203.T"], calendar, TODAY, 3, "18mo")
    assert report.updated == ["7203.T"]
    assert store.get_parquet(prices_key("7203.T")).index[0] >= pd.Timestamp("2024-05-21")


def test_corrupt_stored_file_is_reported_not_overwritten(tmp_path: Path, calendar, market) -> None:
    store = LocalStore(tmp_path)
    store.put_bytes(prices_key("7203.T"), b"not parquet")
    report = fetch_incremental(store, TableSource(market), ["7203.T"], calendar, TODAY, 3, "5y")
    assert "unreadable" in report.failures["7203.T"]
    assert store.get_bytes(prices_key("7203.T")) == b"not parquet"


def test_load_prices_reports_missing(tmp_path: Path, calendar, market) -> None:
    store = LocalStore(tmp_path)
    backfill(store, TableSource(market), ["7203.T"], calendar, TODAY, "1y")
    missing: dict[str, str] = {}
    frames = load_prices(store, ["7203.T", "6758.T"], on_missing=missing.__setitem__)
    assert list(frames) == ["7203.T"] and "run `kabucast backfill`" in missing["6758.T"]


def test_parse_period() -> None:
    assert pd.Timestamp("2025-11-21") - parse_period("5y") == pd.Timestamp("2020-11-21")
    assert pd.Timestamp("2025-11-21") - parse_period("18mo") == pd.Timestamp("2024-05-21")
    with pytest.raises(KabucastError, match="invalid period"):
        parse_period("5 years")


class DownSource(TableSource):
    """A source that is down as a whole (no network): every request raises."""

    def fetch_prices(self, tickers, start, end):
        raise EmptyDownload("yfinance returned an empty frame for every batch (offline?)")


def test_source_down_raises_and_leaves_the_store_intact(tmp_path: Path, calendar, market) -> None:
    store = LocalStore(tmp_path)
    backfill(store, TableSource(market), list(market), calendar, pd.Timestamp("2025-11-14"), "1y")
    before = {k: store.get_bytes(k) for k in store.list()}
    with pytest.raises(EmptyDownload, match="offline"):
        fetch_incremental(store, DownSource({}), list(market), calendar, TODAY, 3, "5y")
    assert {k: store.get_bytes(k) for k in store.list()} == before


class AllBarsSource(TableSource):
    """Returns every bar it has, whatever range is asked (as a careless source, or a user's file, would)."""

    def fetch_prices(self, tickers, start, end):
        self.requests.append((tuple(tickers), start, end))
        out = super().fetch_prices(tickers, pd.Timestamp("1990-01-01"), pd.Timestamp("2100-01-01"))
        self.requests.pop()
        return out


@pytest.mark.parametrize("rows", [2, 39])
def test_a_short_rescaled_file_never_replaces_the_stored_history(tmp_path: Path, calendar, market, rows) -> None:
    # GIVEN 2 years stored, and a source that has only the last few bars, in other units (a split?)
    store = LocalStore(tmp_path)
    backfill(store, TableSource(market), ["7203.T"], calendar, TODAY, "2y")
    before = store.get_bytes(prices_key("7203.T"))
    short = market["7203.T"].iloc[-rows:].copy()
    short[["open", "high", "low", "close", "adj_close"]] *= 10
    # WHEN the fetch sees the rescaled overlap and the "full re-fetch" is just as short
    report = fetch_incremental(store, AllBarsSource({"7203.T": short}), ["7203.T"], calendar, TODAY, 3, "5y")
    # THEN the ticker fails with the reason and the stored file is byte-identical
    assert report.rebased == [] and report.updated == []
    assert f"has only {rows} of the" in report.failures["7203.T"] and "stored data kept" in report.failures["7203.T"]
    assert store.get_bytes(prices_key("7203.T")) == before


def test_bars_after_the_as_of_session_are_never_stored(tmp_path: Path, calendar, market) -> None:
    # GIVEN a source that also returns bars after the as-of date
    store = LocalStore(tmp_path)
    report = backfill(store, AllBarsSource(market), ["7203.T"], calendar, pd.Timestamp("2025-06-13"), "1y")
    # THEN only bars up to the as-of session were written
    assert report.updated == ["7203.T"]
    assert store.get_parquet(prices_key("7203.T")).index[-1] == pd.Timestamp("2025-06-13")


def test_stored_dates_out_of_order_are_a_corrupt_file(tmp_path: Path, calendar, market) -> None:
    store = LocalStore(tmp_path)
    store.put_parquet(prices_key("7203.T"), market["7203.T"].iloc[::-1])
    missing: dict[str, str] = {}
    assert load_prices(store, ["7203.T"], on_missing=missing.__setitem__) == {}
    assert "out of order" in missing["7203.T"]


class UnreachableStore(LocalStore):
    """A store whose every read fails as an unreachable S3 endpoint does."""

    def get_bytes(self, key: str) -> bytes:
        raise StoreUnavailable("cannot connect to http://127.0.0.1:9 (simulated)")


def test_an_unreachable_store_stops_the_run_instead_of_failing_each_ticker(tmp_path: Path, calendar, market) -> None:
    with pytest.raises(StoreUnavailable, match="cannot connect"):
        fetch_incremental(UnreachableStore(tmp_path), TableSource(market), list(market), calendar, TODAY, 3, "5y")
    with pytest.raises(StoreUnavailable):
        load_prices(UnreachableStore(tmp_path), list(market), on_missing=lambda *_: None)


# --- unadjusted corporate actions: re-fetched and rebased, or quarantined; never stored at two scales ---------

PRICES = ["open", "high", "low", "close", "adj_close"]


def unadjusted(frame: pd.DataFrame, since: str, ratio: float) -> pd.DataFrame:
    """``frame`` as a source that has not adjusted a split of ``ratio`` on ``since`` gives it: the bars from that
    session on at the new scale (prices times ``ratio``, volume divided by it), the earlier ones as they were."""
    out = frame.copy()
    after = out.index >= pd.Timestamp(since)
    out.loc[after, PRICES] *= ratio
    out.loc[after, "volume"] = (out.loc[after, "volume"] / ratio).round().astype("int64")
    return out


def write_file(path: Path, frames: dict[str, pd.DataFrame]) -> FileSource:
    """``frames`` as one long CSV, and a file source reading it (``kabucast fetch --source file:PATH``)."""
    long = [f.reset_index().assign(ticker=t) for t, f in frames.items()]
    pd.concat(long).loc[:, ["date", "ticker", *PRICE_COLUMNS]].to_csv(path, index=False)
    return FileSource(path)


@pytest.mark.parametrize(("ratio", "shown"), [(0.5, "1/2"), (0.2, "1/5"), (10.0, "10")])
def test_an_unadjusted_split_in_the_new_bars_is_never_stored(tmp_path: Path, calendar, market, ratio, shown) -> None:
    # GIVEN two tickers stored through 2025-11-14 from a file
    store = LocalStore(tmp_path / "store")
    clean = {t: market[t] for t in ("7203.T", "6758.T")}
    backfill(store, write_file(tmp_path / "a.csv", clean), list(clean), calendar, pd.Timestamp("2025-11-14"), "1y")
    before = store.get_bytes(prices_key("7203.T"))
    # AND a file in which 7203.T's 2:1 / 5:1 split or 1:10 consolidation of 2025-11-19 is not adjusted
    source = write_file(tmp_path / "b.csv", {**clean, "7203.T": unadjusted(market["7203.T"], "2025-11-19", ratio)})
    # WHEN the daily fetch runs (the source still unadjusted on the full re-fetch)
    report = fetch_incremental(store, source, list(clean), calendar, TODAY, 3, "5y")
    # THEN that ticker fails by name with the date and ratio, no bar of it is stored, and the other one proceeds
    assert report.failures["7203.T"] == (
        f"unadjusted corporate action on 2025-11-19, ratio {shown}: re-fetch when the source adjusts; stored data kept"
    )
    assert store.get_bytes(prices_key("7203.T")) == before
    (line,) = report.corporate_actions["7203.T"]
    assert line.startswith("2025-11-19 corporate_action: close") and "1 with an unadjusted" in report.summary()
    assert report.updated == ["6758.T"] and report.to_dict()["corporate_actions"] == report.corporate_actions


def test_a_split_between_the_stored_and_the_new_bars_is_never_stored(tmp_path: Path, calendar, market) -> None:
    # GIVEN 7203.T stored through 2025-11-14, then a file that has only the sessions after it, all halved
    store = LocalStore(tmp_path / "store")
    backfill(store, TableSource(market), ["7203.T"], calendar, pd.Timestamp("2025-11-14"), "1y")
    before = store.get_bytes(prices_key("7203.T"))
    new = unadjusted(market["7203.T"], "2025-11-17", 0.5).loc["2025-11-17":]
    # WHEN the daily fetch runs: the shift is only visible against the stored bars
    report = fetch_incremental(
        store, write_file(tmp_path / "b.csv", {"7203.T": new}), ["7203.T"], calendar, TODAY, 3, "5y"
    )
    # THEN the ticker fails with the corporate action first, and the stored file is byte-identical
    assert report.failures["7203.T"].startswith(
        "unadjusted corporate action on 2025-11-17, ratio 1/2: re-fetch when the source adjusts; the full re-fetch has "
        "only 0 of the"
    )
    assert store.get_bytes(prices_key("7203.T")) == before


def test_a_backfill_with_an_unadjusted_consolidation_stores_nothing(tmp_path: Path, calendar, market) -> None:
    store = LocalStore(tmp_path / "store")
    source = write_file(tmp_path / "a.csv", {"7203.T": unadjusted(market["7203.T"], "2025-03-03", 10.0)})
    report = backfill(store, source, ["7203.T"], calendar, TODAY, "1y")
    assert report.failures["7203.T"].startswith("unadjusted corporate action on 2025-03-03, ratio 10: ")
    assert store.list() == []


class LaggingSource(TableSource):
    """A source behind on a split: recent bars unadjusted, but a request for the whole range adjusted (``full``)."""

    def __init__(self, recent: dict[str, pd.DataFrame], full: dict[str, pd.DataFrame], since: pd.Timestamp) -> None:
        super().__init__(recent)
        self.full, self.since = full, since

    def fetch_prices(self, tickers, start, end):
        if start <= self.since:
            return TableSource(self.full).fetch_prices(tickers, start, end)
        return super().fetch_prices(tickers, start, end)


@pytest.mark.parametrize("adjusted_file", [False, True])
def test_an_adjusted_re_fetch_rebases_the_whole_history(tmp_path: Path, calendar, market, adjusted_file) -> None:
    # GIVEN 7203.T stored for a year through 2025-11-14, then a 2:1 split on 2025-11-19
    store = LocalStore(tmp_path / "store")
    backfill(store, TableSource(market), ["7203.T"], calendar, pd.Timestamp("2025-11-14"), "1y")
    first = store.get_parquet(prices_key("7203.T")).index[0]
    adjusted = market["7203.T"].copy()
    adjusted[PRICES] *= 0.5  # the bars from 2025-11-19 on as traded, the earlier ones adjusted
    # AND a source that has adjusted its whole history (a file), or whose recent bars lag but whose full range
    # is adjusted (the incremental request shows the shift, the re-fetch does not)
    if adjusted_file:
        source = write_file(tmp_path / "a.csv", {"7203.T": adjusted})
    else:
        lagging = unadjusted(market["7203.T"], "2025-11-19", 0.5)
        source = LaggingSource({"7203.T": lagging}, {"7203.T": adjusted}, first)
    # WHEN the daily fetch runs
    report = fetch_incremental(store, source, ["7203.T"], calendar, TODAY, 3, "5y")
    # THEN the stored history is the adjusted one, on one scale, and the report says why it was rebased
    stored = store.get_parquet(prices_key("7203.T"))
    assert report.rebased == ["7203.T"] and not report.failures and list(report.corporate_actions) == ["7203.T"]
    assert stored.index[0] == first and stored.index[-1] == TODAY
    np.testing.assert_allclose(stored["close"], adjusted.loc[stored.index, "close"])


def test_fetch_from_a_file_lists_the_quarantined_ticker_and_exits_0(tmp_path: Path, calendar, market, capsys) -> None:
    # GIVEN two tickers stored through 2025-11-14, and a file in which 7203.T's 5:1 split of 2025-11-19 is unadjusted
    store = tmp_path / "store"
    clean = {t: market[t] for t in ("7203.T", "6758.T")}
    backfill(LocalStore(store), TableSource(clean), list(clean), calendar, pd.Timestamp("2025-11-14"), "1y")
    path = tmp_path / "prices.csv"
    write_file(path, {**clean, "7203.T": unadjusted(market["7203.T"], "2025-11-19", 0.2)})
    # WHEN `kabucast fetch --source file:PATH` runs
    argv = ["fetch", "--store", str(store), "--source", f"file:{path}", "--tickers", "7203.T,6758.T"]
    code = main([*argv, "--as-of", "2025-11-21", "--json"])
    out, err = capsys.readouterr()
    # THEN it exits 0 (the other ticker was fetched), and names the ticker with its reason, in --json and on stderr
    report = json.loads(out)
    assert code == 0 and report["updated"] == ["6758.T"]
    reason = "unadjusted corporate action on 2025-11-19, ratio 1/5: re-fetch when the source adjusts"
    assert report["failures"][0]["ticker"] == "7203.T" and report["failures"][0]["reason"].startswith(reason)
    assert f"failed 7203.T: {reason}" in err
    assert LocalStore(store).get_parquet(prices_key("7203.T")).index[-1] == pd.Timestamp("2025-11-14")


# --- a level shift an operator accepts as a real move ----------------------------------------------------------


def test_an_accepted_level_shift_is_stored_and_flagged_and_stays_accepted(tmp_path: Path, calendar, market) -> None:
    # GIVEN 7203.T stored through 2025-11-14, and a source whose bars halve on 2025-11-19 and stay there: a genuine
    # move that looks like a 2-for-1 split (quarantined on every run, whatever the re-fetch says)
    store = LocalStore(tmp_path / "store")
    backfill(store, TableSource(market), ["7203.T"], calendar, pd.Timestamp("2025-11-14"), "1y")
    moved = unadjusted(market["7203.T"], "2025-11-19", 0.5)
    source = TableSource({"7203.T": moved})
    assert (
        fetch_incremental(store, source, ["7203.T"], calendar, TODAY, 3, "5y")
        .failures["7203.T"]
        .startswith("unadjusted corporate action on 2025-11-19, ratio 1/2: ")
    )
    # WHEN the operator accepts that shift as a real move
    accepted = [AcceptedLevelShift("7203.T", datetime.date(2025, 11, 19))]
    report = fetch_incremental(store, source, ["7203.T"], calendar, TODAY, 3, "5y", accepted)
    # THEN the new bars are stored as the source gives them, and the shift is flagged by name, not a corporate action
    stored = store.get_parquet(prices_key("7203.T"))
    assert report.updated == ["7203.T"] and not report.failures and not report.corporate_actions
    assert stored.index[-1] == TODAY and stored.loc["2025-11-19", "close"] == moved.loc["2025-11-19", "close"]
    (line,) = report.flagged["7203.T"]
    assert line.startswith("2025-11-19 accepted_level_shift: close") and "accepted as a real move" in line
    # AND the next fetch, whose overlap holds the stored shift, accepts it again and changes nothing
    again = fetch_incremental(store, source, ["7203.T"], calendar, TODAY, 5, "5y", accepted)
    assert again.unchanged == ["7203.T"] and not again.failures
    # AND without the acceptance the stored shift fails the ticker again, its stored file kept
    before = store.get_bytes(prices_key("7203.T"))
    assert "7203.T" in fetch_incremental(store, source, ["7203.T"], calendar, TODAY, 5, "5y").failures
    assert store.get_bytes(prices_key("7203.T")) == before


@pytest.mark.parametrize("how", ["option", "config"])
def test_fetch_accepts_a_level_shift_from_its_option_or_its_config(tmp_path: Path, calendar, market, how) -> None:
    # GIVEN 7203.T stored through 2025-11-14, and a file in which it halves on 2025-11-19 for good (a real move)
    store = tmp_path / "store"
    backfill(LocalStore(store), TableSource(market), ["7203.T"], calendar, pd.Timestamp("2025-11-14"), "1y")
    path = tmp_path / "prices.csv"
    write_file(path, {"7203.T": unadjusted(market["7203.T"], "2025-11-19", 0.5)})
    argv = ["fetch", "--store", str(store), "--source", f"file:{path}", "--tickers", "7203.T", "--as-of", "2025-11-21"]
    # WHEN `kabucast fetch` accepts the shift by --accept-level-shift, or by accepted_level_shifts in its config
    if how == "option":
        argv += ["--accept-level-shift", "7203.T:2025-11-19"]
    else:
        config = tmp_path / "fetch.yaml"
        shipped = (CONFIG_DIR / "fetch_daily_universe.yaml").read_text(encoding="utf-8")
        config.write_text(
            shipped.replace(
                "accepted_level_shifts: []", "accepted_level_shifts:\n  - {ticker: 7203.T, date: 2025-11-19}"
            )
        )
        argv += ["--config", str(config)]
    # THEN the ticker is updated through the as-of date and the run exits 0
    assert main(argv) == 0
    assert LocalStore(store).get_parquet(prices_key("7203.T")).index[-1] == TODAY


def test_the_daily_job_accepts_the_level_shifts_of_its_fetch_config(tmp_path: Path, calendar, market) -> None:
    # GIVEN 7203.T stored through 2025-11-14, a file in which it halves on 2025-11-19 for good (a real move), and the
    # daily fetch config accepting that shift
    from kabucast.jobs.daily import run_daily
    from kabucast.jobs.wiring import build_daily_job

    store = LocalStore(tmp_path / "store")
    backfill(store, TableSource(market), ["7203.T"], calendar, pd.Timestamp("2025-11-14"), "1y")
    path = tmp_path / "prices.csv"
    write_file(path, {"7203.T": unadjusted(market["7203.T"], "2025-11-19", 0.5)})
    shipped = (CONFIG_DIR / "fetch_daily_universe.yaml").read_text(encoding="utf-8")
    config = tmp_path / "fetch.yaml"
    config.write_text(
        shipped.replace("accepted_level_shifts: []", "accepted_level_shifts:\n  - {ticker: 7203.T, date: 2025-11-19}")
    )
    # WHEN the daily job built from that config runs its fetch (kabucast daily, the Lambda function)
    job = build_daily_job(fetch_config=str(config), source=f"file:{path}")
    summary = run_daily(store, job.source, calendar, TODAY, ["7203.T"], job.options)
    # THEN the shift is accepted: the ticker is updated, not quarantined
    assert summary["fetch"]["updated"] == ["7203.T"] and not summary["fetch"]["failures"], summary["fetch"]


def test_a_malformed_accept_level_shift_is_a_usage_error(tmp_path: Path, capsys) -> None:
    for bad in ("2025-11-19", "7203.T:2025-11-31", "7203.T:19/11/2025"):
        assert main(["fetch", "--store", str(tmp_path), "--source", "sample", "--accept-level-shift", bad]) == 2
        assert "--accept-level-shift" in capsys.readouterr().err

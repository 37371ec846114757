"""YFinanceSource against a replay of Yahoo's servers, running the real yfinance 1.x code.

Yahoo's servers are the only thing replaced, because they cannot be reached from here: the replay
(conftest.YahooReplaySession, a curl_cffi Session) answers yfinance's real requests (cookie and
crumb, /v8/finance/chart, /v10/finance/quoteSummary, /v7/finance/quote) with bodies in Yahoo's
wire format from tests/fixtures/yahoo/. Everything else, yfinance's parsing and ``yf.download``'s
merging included, is the code that runs in production. Retries wait on a fake clock.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yfinance as yf

from kabucast.config import RetrySettings
from kabucast.data.calendar import TradingCalendar
from kabucast.data.prices import PRICE_COLUMNS
from kabucast.data.sources.yfinance_source import (
    ENV_CACHE_DIR,
    ENV_LAMBDA,
    INFO_KEYS,
    LAMBDA_CACHE_DIR,
    YFinanceSource,
    default_cache_dir,
    dividend_yield_fraction,
)
from kabucast.errors import EmptyDownload

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "yahoo"
START, END = pd.Timestamp("2024-07-01"), pd.Timestamp("2024-09-30")
CHART = "/v8/finance/chart/"
QUOTE_SUMMARY = "/v10/finance/quoteSummary/"

Make = Callable[..., YFinanceSource]


@pytest.fixture
def make(yahoo: Any, clock: Any, yf_cache_dir: Path) -> Make:
    """A source wired to the replay, the fake clock and the run's cache folder."""

    def build(**kwargs: Any) -> YFinanceSource:
        args: dict[str, Any] = {"retry": RetrySettings(max_attempts=4, base_seconds=2.0), "cache_dir": yf_cache_dir}
        return YFinanceSource(session=yahoo, sleep=clock.sleep, **{**args, **kwargs})

    return build


def chart_fixture(ticker: str) -> dict[str, Any]:
    return json.loads((FIXTURES / "chart" / f"{ticker}.json").read_text(encoding="utf-8"))["chart"]["result"][0]


# --- prices -----------------------------------------------------------------------------------


def test_prices_are_canonical_frames_with_yahoos_values(make: Make, calendar: TradingCalendar) -> None:
    # GIVEN Yahoo's daily charts of two Tokyo tickers for July-September 2024
    source = make()
    # WHEN the whole quarter is fetched
    got = source.fetch_prices(["7203.T", "6758.T"], START, END)
    # THEN each is a canonical frame holding exactly Yahoo's numbers, on tz-naive JST dates
    assert got.failures == {}
    for ticker in ("7203.T", "6758.T"):
        frame, body = got.frames[ticker], chart_fixture(ticker)
        quote = body["indicators"]["quote"][0]
        stamps = pd.to_datetime(body["timestamp"], unit="s", utc=True).tz_convert("Asia/Tokyo")
        assert tuple(frame.columns) == PRICE_COLUMNS and frame.index.name == "date" and frame.index.tz is None
        assert list(frame.index) == list(stamps.tz_localize(None).normalize())
        np.testing.assert_array_equal(frame["open"], quote["open"])
        np.testing.assert_array_equal(frame["close"], quote["close"])
        np.testing.assert_array_equal(frame["adj_close"], body["indicators"]["adjclose"][0]["adjclose"])
        np.testing.assert_array_equal(frame["volume"], quote["volume"])
        # AND the JPX holidays stay gaps (07-15, 08-12, 09-16, 09-23): every date is a session, none missing
        assert list(frame.index) == list(calendar.sessions(START, END))
        assert pd.Timestamp("2024-07-15") not in frame.index


def test_close_is_not_dividend_adjusted_but_adj_close_is(make: Make) -> None:
    # GIVEN 7203.T went ex-dividend (45 JPY) on 2024-09-27
    # WHEN its bars are fetched
    frame = make().fetch_prices(["7203.T"], START, END).frames["7203.T"]
    # THEN adj_close is scaled down before the ex-date and equals close from it on
    before, after = frame.loc[:"2024-09-26"], frame.loc["2024-09-27":]
    assert (before["adj_close"] < before["close"]).all()
    assert (after["adj_close"] == after["close"]).all()


def test_both_ends_of_the_window_are_included(make: Make) -> None:
    # GIVEN yfinance's own ``end`` is exclusive
    # WHEN August 2024 is asked for, first to last session
    frame = make().fetch_prices(["6758.T"], pd.Timestamp("2024-08-01"), pd.Timestamp("2024-08-30")).frames["6758.T"]
    # THEN both the first and the last session are there
    assert frame.index[0] == pd.Timestamp("2024-08-01") and frame.index[-1] == pd.Timestamp("2024-08-30")


def test_null_bars_are_dropped_for_that_ticker_only(make: Make) -> None:
    # GIVEN Yahoo sends a null bar for 9984.T on 2024-08-20 (7203.T traded normally)
    # WHEN both are downloaded together (yf.download aligns them on the union of dates)
    got = make().fetch_prices(["7203.T", "9984.T"], START, END)
    # THEN 9984.T has no row that day and no missing values, 7203.T keeps its bar
    day = pd.Timestamp("2024-08-20")
    assert day not in got.frames["9984.T"].index and day in got.frames["7203.T"].index
    assert not got.frames["9984.T"].isna().any().any()


def test_unknown_ticker_fails_alone(make: Make, clock: Any) -> None:
    # GIVEN a batch with a real ticker and one Yahoo answers 404 "No data found, symbol may be delisted"
    # WHEN fetched
    got = make().fetch_prices(["7203.T", "0000.T"], START, END)
    # THEN the good one is served, the bad one is a failure with Yahoo's reason, and nothing was retried
    assert list(got.frames) == ["7203.T"]
    assert got.failures["0000.T"].startswith("no data returned by Yahoo") and "delisted" in got.failures["0000.T"]
    assert clock.sleeps == []


def test_ticker_without_bars_in_a_good_batch_fails_alone(make: Make, clock: Any, yahoo: Any) -> None:
    # GIVEN 1111.T is known to Yahoo but its chart has no bars in the window (a partial frame)
    # WHEN fetched with 7203.T
    got = make().fetch_prices(["7203.T", "1111.T"], START, END)
    # THEN only 1111.T fails, without retries
    assert list(got.frames) == ["7203.T"] and list(got.failures) == ["1111.T"]
    assert "no price data found" in got.failures["1111.T"]
    assert clock.sleeps == [] and len(yahoo.chart_requests("7203.T")) == 1


def test_rate_limited_batch_is_retried_with_exponential_backoff(make: Make, clock: Any, yahoo: Any) -> None:
    # GIVEN Yahoo answers every chart request with 429 for the first 5 seconds
    yahoo.fail(CHART, until=5.0, status=429)
    # WHEN a batch is fetched
    got = make().fetch_prices(["7203.T", "6758.T"], START, END)
    # THEN the source waited 2 s then 4 s (base 2 s * 2**attempt) and then got everything
    assert clock.sleeps == [2.0, 4.0]
    assert sorted(got.frames) == ["6758.T", "7203.T"] and got.failures == {}


def test_rate_limit_on_one_ticker_retries_that_ticker_only(make: Make, clock: Any, yahoo: Any) -> None:
    # GIVEN Yahoo rate-limits the charts of 6758.T (only) during the first second
    yahoo.fail(CHART, until=1.0, status=429, symbol="6758.T")
    # WHEN 7203.T and 6758.T are fetched together
    got = make().fetch_prices(["7203.T", "6758.T"], START, END)
    # THEN 6758.T alone was downloaded again after one backoff, and both are served
    assert clock.sleeps == [2.0]
    assert len(yahoo.chart_requests("7203.T")) == 1
    assert sorted(got.frames) == ["6758.T", "7203.T"]


def test_server_error_is_retried_against_the_server_not_yfinances_memo(make: Make, clock: Any, yahoo: Any) -> None:
    # GIVEN Yahoo's chart endpoint fails with 500 during the first second
    yahoo.fail(CHART, until=1.0, status=500)
    # WHEN fetched (yfinance memoises GETs of past date ranges within the process)
    got = make().fetch_prices(["8306.T"], START, END)
    # THEN the retry reached the server again and got the bars
    assert clock.sleeps == [2.0]
    assert "8306.T" in got.frames


def test_offline_is_an_empty_download_error(make: Make, clock: Any, yahoo: Any) -> None:
    # GIVEN no Yahoo host resolves (what yfinance meets offline: it then returns an EMPTY frame, no error)
    yahoo.fail("/", until=float("inf"), status=0)
    # WHEN prices are fetched
    with pytest.raises(EmptyDownload, match="no rows for any of 2 tickers"):
        make().fetch_prices(["7203.T", "6758.T"], START, END)
    # THEN it was tried max_attempts times, with backoff, before giving up
    assert clock.sleeps == [2.0, 4.0, 8.0]


def test_an_empty_batch_among_good_ones_is_a_failure_not_an_error(make: Make, clock: Any) -> None:
    # GIVEN batches of one ticker, and one of them unknown to Yahoo
    source = make(batch_size=1)
    # WHEN fetched
    got = source.fetch_prices(["7203.T", "0000.T"], START, END)
    # THEN the unknown one's batch was retried, then reported; the other batch is served
    assert clock.sleeps == [2.0, 4.0, 8.0]
    assert list(got.frames) == ["7203.T"] and "0000.T" in got.failures


def test_tickers_are_downloaded_in_batches(make: Make, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN five tickers and batches of two (yf.download observed, not replaced)
    calls: list[list[str]] = []
    real_download = yf.download

    def observed(tickers: list[str], **kwargs: Any) -> pd.DataFrame:
        calls.append(list(tickers))
        return real_download(tickers, **kwargs)

    monkeypatch.setattr(yf, "download", observed)
    tickers = ["7203.T", "6758.T", "9984.T", "8306.T", "6861.T"]
    # WHEN fetched
    got = make(batch_size=2).fetch_prices(tickers, START, END)
    # THEN there were three downloads, in order, and every ticker is served
    assert calls == [["7203.T", "6758.T"], ["9984.T", "8306.T"], ["6861.T"]]
    assert sorted(got.frames) == sorted(tickers)


# --- fundamentals -----------------------------------------------------------------------------


def test_info_keeps_the_static_keys_and_gives_dividend_yield_as_a_fraction(make: Make) -> None:
    # GIVEN quoteSummary for three tickers; for 7203.T also /v7/finance/quote, whose dividendYield is in PERCENT
    # WHEN their fundamentals are fetched
    got = make().fetch_info(["7203.T", "6758.T", "9984.T"])
    # THEN each has exactly the static keys plus sector
    assert got.failures == {}
    assert all(set(info) == set(INFO_KEYS) for info in got.info.values())
    toyota = got.info["7203.T"]
    # AND dividendYield is a fraction whichever endpoint supplied it (v7 said 3.31, quoteSummary 0.0068)
    assert toyota["dividendYield"] == pytest.approx(0.0331)
    assert got.info["6758.T"]["dividendYield"] == pytest.approx(0.0068)
    # AND the other units are Yahoo's: ratios, ROE a fraction, debt/equity in percent, market cap in JPY
    assert toyota["trailingPE"] == 7.46 and toyota["priceToBook"] == 1.05
    assert toyota["returnOnEquity"] == 0.1388 and toyota["debtToEquity"] == 105.3
    assert toyota["marketCap"] == 43e12 and toyota["sector"] == "Consumer Cyclical"
    # AND Yahoo's "Infinity" P/E of a loss-making company is no value, not a number
    assert got.info["9984.T"]["trailingPE"] is None


def test_info_of_unknown_ticker_is_a_failure(make: Make) -> None:
    # GIVEN Yahoo answers 404 "Quote not found" for 0000.T
    # WHEN fetched with a good ticker
    got = make().fetch_info(["7203.T", "0000.T"])
    # THEN only 0000.T fails, with a reason
    assert list(got.info) == ["7203.T"]
    assert "invalid ticker" in got.failures["0000.T"]


def test_info_is_retried_when_rate_limited(make: Make, clock: Any, yahoo: Any) -> None:
    # GIVEN quoteSummary answers 429 for the first 3 seconds
    yahoo.fail(QUOTE_SUMMARY, until=3.0, status=429)
    # WHEN fundamentals are fetched
    got = make().fetch_info(["6758.T"])
    # THEN the source backed off 2 s and 4 s and then got them
    assert clock.sleeps == [2.0, 4.0]
    assert got.info["6758.T"]["sector"] == "Technology"


def test_info_offline_is_an_empty_download_error(make: Make, clock: Any, yahoo: Any) -> None:
    # GIVEN no Yahoo host resolves
    yahoo.fail("/", until=float("inf"), status=0)
    # WHEN fundamentals are fetched
    with pytest.raises(EmptyDownload, match="none of 1 tickers"):
        make(retry=RetrySettings(max_attempts=2, base_seconds=1.0)).fetch_info(["7203.T"])
    # THEN it retried once with the configured backoff
    assert clock.sleeps == [1.0]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"dividendYield": 3.31, "dividendRate": 90.0, "regularMarketPrice": 2721.5}, 0.0331),
        ({"dividendYield": 0.0331, "dividendRate": 90.0, "previousClose": 2721.5}, 0.0331),
        ({"dividendYield": 2.5}, 0.025),
        ({"dividendYield": None}, None),
    ],
)
def test_dividend_yield_unit_is_read_off_the_dividend_rate(raw: dict[str, Any], expected: float | None) -> None:
    # GIVEN an info dict with the yield in percent (v7 quote) or as a fraction (quoteSummary)
    # WHEN normalised
    # THEN the fraction comes out; with no rate to compare against, percent is assumed
    assert dividend_yield_fraction(raw) == pytest.approx(expected)


# --- cache folder -----------------------------------------------------------------------------


def test_yfinance_caches_go_to_the_given_folder_on_first_fetch(make: Make, tmp_path: Path) -> None:
    # GIVEN a source told to keep yfinance's caches in a folder that does not exist yet
    folder = tmp_path / "yf-cache"
    source = make(cache_dir=folder)
    # WHEN it is built, nothing happens; WHEN it first fetches
    assert not folder.exists()
    source.fetch_prices(["7203.T"], START, END)
    # THEN the folder exists and yfinance's tz and cookie caches point at it
    assert folder.is_dir()
    assert yf.cache._TzDBManager.get_location() == str(folder)
    assert yf.cache._CookieDBManager.get_location() == str(folder)


def test_default_cache_folder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # GIVEN no setting, then Lambda, then an explicit folder
    monkeypatch.delenv(ENV_CACHE_DIR, raising=False)
    monkeypatch.delenv(ENV_LAMBDA, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    # THEN the user cache, then /tmp (the only writable place on Lambda), then the explicit folder
    assert default_cache_dir() == tmp_path / ".cache" / "kabucast" / "yfinance"
    monkeypatch.setenv(ENV_LAMBDA, "kabucast-daily")
    assert default_cache_dir() == LAMBDA_CACHE_DIR
    monkeypatch.setenv(ENV_CACHE_DIR, str(tmp_path / "mine"))
    assert default_cache_dir() == tmp_path / "mine"

"""The synthetic sample market: valid JPX bars, deterministic, prefix-stable, with a planted learnable signal."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest

from kabucast.config import SectorSettings, UniverseSettings
from kabucast.data.calendar import TradingCalendar
from kabucast.data.prices import PRICE_COLUMNS, validation_problems
from kabucast.data.sources.base import STATIC_INFO_KEYS
from kabucast.data.sources.sample_market import YAHOO_SECTORS, SampleMarketSource

FIRST = pd.Timestamp("2012-01-01")
AS_OF = pd.Timestamp("2025-11-21")
ORIGIN = "2014-01-06"
LAST = "2020-12-30"
MONTH, QUARTER, YEAR = 21, 63, 245  # sessions


@dataclass(frozen=True)
class Panel:
    """A 300-stock synthetic universe over seven years, wide (dates x tickers)."""

    source: SampleMarketSource
    close: pd.DataFrame  # JPY
    volume: pd.DataFrame  # shares
    returns: pd.DataFrame  # daily log returns
    drift: pd.DataFrame  # planted annualised drift


@pytest.fixture(scope="module")
def core30(universe: UniverseSettings, calendar: TradingCalendar) -> SampleMarketSource:
    return SampleMarketSource.from_universe(universe, calendar=calendar)


@pytest.fixture(scope="module")
def panel(calendar: TradingCalendar) -> Panel:
    source = SampleMarketSource.synthetic(300, calendar=calendar, origin=ORIGIN)
    bars = source.panel(ORIGIN, LAST)
    close = bars["close"].unstack()
    return Panel(
        source=source,
        close=close,
        volume=bars["volume"].unstack(),
        returns=np.log(close).diff().iloc[1:],
        drift=source.latent_drift(ORIGIN, LAST),
    )


def _fetch(source: SampleMarketSource, tickers: list[str], end: str | pd.Timestamp) -> dict[str, pd.DataFrame]:
    result = source.fetch_prices(tickers, FIRST, pd.Timestamp(end))
    assert not result.failures
    return result.frames


def _rank_ic(signal: pd.DataFrame, outcome: pd.DataFrame) -> float:
    """Mean over dates of the cross-sectional Spearman correlation (the RankIC)."""
    a, b = signal.rank(axis=1), outcome.rank(axis=1)
    a, b = a.sub(a.mean(axis=1), axis=0), b.sub(b.mean(axis=1), axis=0)
    return float(((a * b).sum(axis=1) / np.sqrt((a**2).sum(axis=1) * (b**2).sum(axis=1))).mean())


def _lag1_autocorr(x: np.ndarray) -> float:
    """Lag-1 autocorrelation of each column of (T, n), averaged over columns."""
    x = x - x.mean(axis=0)
    return float(np.mean((x[1:] * x[:-1]).sum(axis=0) / (x**2).sum(axis=0)))


# --- contract: valid canonical frames on the JPX calendar -------------------------------------------------------


def test_every_core30_frame_is_valid_on_the_jpx_calendar(core30: SampleMarketSource, calendar: TradingCalendar) -> None:
    # GIVEN the Core30 universe on the sample market
    # WHEN its full history is fetched
    frames = _fetch(core30, list(core30.tickers), AS_OF)
    # THEN every frame is canonical, valid, and has a bar on every session from the origin on
    assert sorted(frames) == sorted(core30.tickers)
    sessions = calendar.sessions("2012-01-04", AS_OF)
    for ticker, frame in frames.items():
        assert validation_problems(frame, calendar) == [], ticker
        assert list(frame.columns) == list(PRICE_COLUMNS)
        assert frame.index.equals(sessions.rename("date")), ticker


def test_no_bars_on_holidays_or_the_2020_10_01_halt(core30: SampleMarketSource) -> None:
    # GIVEN autumn 2020: two holidays in September, the TSE system halt, the year-end closure
    # WHEN one ticker is fetched over it
    frame = core30.fetch_prices(["7203.T"], pd.Timestamp("2020-09-14"), pd.Timestamp("2021-01-08")).frames["7203.T"]
    # THEN those days are gaps and the neighbouring sessions are there
    days = set(frame.index)
    for off in ("2020-09-21", "2020-09-22", "2020-10-01", "2020-12-31", "2021-01-01", "2021-01-03"):
        assert pd.Timestamp(off) not in days, off
    for on in ("2020-09-18", "2020-09-30", "2020-10-02", "2020-12-30", "2021-01-04"):
        assert pd.Timestamp(on) in days, on


def test_prices_sit_on_the_tick_in_a_realistic_jpy_range_with_volumes_in_lots(panel: Panel) -> None:
    # GIVEN seven years of 300 synthetic stocks
    bars = panel.source.panel(ORIGIN, LAST)
    prices = bars[["open", "high", "low", "close"]].to_numpy()
    # THEN prices are on the 0.1 JPY tick, between a few JPY and a few hundred thousand JPY
    assert np.array_equal(np.round(prices * 10), prices * 10)
    assert prices.min() >= 5 and prices.max() <= 300_000
    assert 500 <= np.median(prices) <= 5_000
    # AND adj_close is close (no dividends), volumes are whole 100-share lots
    assert bars["adj_close"].equals(bars["close"])
    assert (bars["volume"] % 100 == 0).all() and (bars["volume"] >= 100).all()
    # AND annualised vols are those of single stocks (20-35 %)
    vols = panel.returns.std() * np.sqrt(YEAR)
    assert 0.20 <= vols.median() <= 0.35
    assert vols.min() > 0.12 and vols.max() < 0.5


# --- determinism ------------------------------------------------------------------------------------------------


def test_same_seed_is_bit_identical_and_another_seed_differs(
    universe: UniverseSettings, calendar: TradingCalendar
) -> None:
    # GIVEN three fresh sources: two with seed 7, one with seed 8
    tickers = ["7203.T", "9984.T"]
    a, b, c = (SampleMarketSource.from_universe(universe, seed=s, calendar=calendar) for s in (7, 7, 8))
    # WHEN each serves the same request
    fa, fb, fc = (_fetch(s, tickers, AS_OF) for s in (a, b, c))
    # THEN seed 7 twice gives the same bits, and seed 8 other prices
    for t in tickers:
        pd.testing.assert_frame_equal(fa[t], fb[t], check_exact=True)
        assert not np.array_equal(fa[t]["close"].to_numpy(), fc[t]["close"].to_numpy())
    assert a.fetch_info(tickers).info == b.fetch_info(tickers).info != c.fetch_info(tickers).info


def test_a_backfill_and_a_later_fetch_agree_on_every_shared_date(
    universe: UniverseSettings, calendar: TradingCalendar
) -> None:
    # GIVEN a backfill up to D (the cache ends with D's year) and a fetch up to D + 30 days (the next year)
    tickers = ["6758.T", "8306.T"]
    day = pd.Timestamp("2019-12-20")
    backfilled = SampleMarketSource.from_universe(universe, calendar=calendar)
    before = _fetch(backfilled, tickers, day)
    extended = _fetch(backfilled, tickers, day + pd.Timedelta(days=30))
    # AND a fresh source asked only for the longer window
    fresh = _fetch(SampleMarketSource.from_universe(universe, calendar=calendar), tickers, day + pd.Timedelta(days=30))
    # THEN all three agree bit for bit up to D, and the later fetches also extend past it
    for t in tickers:
        assert before[t].index[-1] == day
        pd.testing.assert_frame_equal(extended[t].loc[:day], before[t], check_exact=True)
        pd.testing.assert_frame_equal(fresh[t], extended[t], check_exact=True)
        assert extended[t].index[-1] > pd.Timestamp("2020-01-10")


def test_a_stock_does_not_depend_on_the_other_tickers_or_their_order(calendar: TradingCalendar) -> None:
    # GIVEN a 40-stock synthetic universe and a source holding two of its stocks, in reverse order
    big = SampleMarketSource.synthetic(40, calendar=calendar, origin=ORIGIN)
    pair = ["S0031.T", "S0002.T"]
    small = SampleMarketSource(pair, [big.sectors[t] for t in pair], calendar=calendar, origin=ORIGIN)
    # WHEN both serve those two stocks
    fb, fs = _fetch(big, pair, LAST), _fetch(small, pair[::-1], LAST)
    # THEN the bars, the planted drift and the fundamentals are identical
    for t in pair:
        pd.testing.assert_frame_equal(fb[t], fs[t], check_exact=True)
    pd.testing.assert_frame_equal(big.latent_drift(ORIGIN, LAST)[pair], small.latent_drift(ORIGIN, LAST)[pair])
    assert big.fetch_info(pair).info == small.fetch_info(pair).info
    # AND a larger synthetic universe starts with the same stocks
    assert SampleMarketSource.synthetic(10, calendar=calendar).sectors == {
        t: s for t, s in SampleMarketSource.synthetic(4000, calendar=calendar).sectors.items() if t <= "S0010.T"
    }


# --- requests at the edges --------------------------------------------------------------------------------------


def test_an_unknown_ticker_fails_with_a_reason_and_the_others_are_served(core30: SampleMarketSource) -> None:
    # WHEN a request mixes a known ticker and one the sample market does not hold
    prices = core30.fetch_prices(["7203.T", "0000.T"], pd.Timestamp("2024-01-04"), pd.Timestamp("2024-01-31"))
    info = core30.fetch_info(["0000.T", "7203.T"])
    # THEN the unknown one is a failure naming it, and the known one is served
    assert list(prices.frames) == ["7203.T"] and list(info.info) == ["7203.T"]
    assert "0000.T is not in this sample market" in prices.failures["0000.T"]
    assert "0000.T" in info.failures


def test_bars_start_at_the_origin_and_an_empty_window_is_an_empty_canonical_frame(calendar: TradingCalendar) -> None:
    # GIVEN a source whose market begins on 2016-01-04
    source = SampleMarketSource(["1111.T"], ["Energy"], calendar=calendar, origin="2016-01-01")
    # WHEN asked for bars from 2010, and for a window that ends before the origin
    early = source.fetch_prices(["1111.T"], pd.Timestamp("2010-01-01"), pd.Timestamp("2016-02-01")).frames["1111.T"]
    empty = source.fetch_prices(["1111.T"], pd.Timestamp("2010-01-01"), pd.Timestamp("2015-06-01")).frames["1111.T"]
    # THEN the first bar is on the origin's first session, and the empty frame still has the canonical layout
    assert early.index[0] == pd.Timestamp("2016-01-04")
    assert empty.empty and list(empty.columns) == list(PRICE_COLUMNS) and empty["volume"].dtype == np.int64


def test_fundamentals_come_in_the_units_the_yfinance_source_uses(core30: SampleMarketSource) -> None:
    # WHEN fundamentals of the whole Core30 are fetched
    info = core30.fetch_info(core30.tickers).info
    # THEN every static key is there, in Yahoo's units (ratios, fractions, D/E percent, JPY)
    for ticker, row in info.items():
        assert set(row) == {*STATIC_INFO_KEYS, "sector"}
        assert row["sector"] == core30.sectors[ticker]
        assert 2 < row["trailingPE"] < 100 and 0.1 < row["priceToBook"] < 20
        assert 0 <= row["dividendYield"] < 0.12 and -0.1 < row["returnOnEquity"] < 0.8
        assert 1 < row["debtToEquity"] < 1_000
        assert isinstance(row["marketCap"], int) and 1e9 < row["marketCap"] < 1e14


def test_a_synthetic_universe_uses_the_sector_names_of_the_sector_map(sectors: SectorSettings) -> None:
    # THEN the names a synthetic universe uses are exactly the keys of config/sectors.yaml
    assert set(YAHOO_SECTORS) == set(sectors.sectors)
    # AND a universe with 3 sectors uses the first 3 of them
    assert set(SampleMarketSource.synthetic(200, n_sectors=3).sectors.values()) == set(YAHOO_SECTORS[:3])


# --- stylised facts ---------------------------------------------------------------------------------------------


def test_volume_rises_with_the_size_of_the_move(panel: Panel) -> None:
    # WHEN each stock's volume is rank-correlated with its absolute daily return
    moves = panel.returns.abs()
    corr = moves.corrwith(panel.volume.iloc[1:].astype(float), method="spearman")
    # THEN big moves come with big volume (measured 0.45 on seed 7)
    assert corr.mean() > 0.3


def test_volatility_clusters_while_returns_stay_unpredictable_from_yesterday(panel: Panel) -> None:
    returns = panel.returns.to_numpy()
    # THEN |r| is autocorrelated (measured 0.089 on seed 7, 0.002 without GARCH), r itself is not
    assert _lag1_autocorr(np.abs(returns)) > 0.05
    assert abs(_lag1_autocorr(returns)) < 0.03


def test_stocks_of_one_sector_move_together_more_than_across_sectors(panel: Panel) -> None:
    # GIVEN the correlation matrix of daily returns
    corr = panel.returns.corr().to_numpy()
    sector = np.array([panel.source.sectors[t] for t in panel.returns.columns])
    same = sector[:, None] == sector[None, :]
    off_diagonal = ~np.eye(len(sector), dtype=bool)
    # THEN pairs within a sector correlate more (measured 0.40 vs 0.28 on seed 7)
    within, across = corr[same & off_diagonal].mean(), corr[~same].mean()
    assert across > 0.1
    assert within > across + 0.05


# --- the planted signal -----------------------------------------------------------------------------------------


def _forward_and_trailing(panel: Panel) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Drift, forward 3-month and trailing 12-month log returns on weekly dates where both are known."""
    log_close = np.log(panel.close)
    forward = log_close.shift(-QUARTER) - log_close
    trailing = log_close - log_close.shift(YEAR)
    dates = panel.close.index[YEAR:-QUARTER:5]
    return panel.drift.loc[dates], forward.loc[dates], trailing.loc[dates]


def test_the_planted_drift_predicts_forward_returns_and_a_shuffled_one_does_not(panel: Panel) -> None:
    # GIVEN the latent drift and the realised forward 3-month returns
    drift, forward, _ = _forward_and_trailing(panel)
    rng = np.random.default_rng(0)
    shuffled = drift.apply(lambda row: pd.Series(rng.permutation(row.to_numpy()), index=row.index), axis=1)
    # THEN the drift ranks stocks by their forward return (measured 0.216 on seed 7), a permuted one does not (-0.001)
    assert _rank_ic(drift, forward) > 0.12
    assert abs(_rank_ic(shuffled, forward)) < 0.03


def test_trailing_returns_carry_part_of_the_signal(panel: Panel) -> None:
    # GIVEN the trailing 12-month return, a momentum feature any model can compute
    drift, forward, trailing = _forward_and_trailing(panel)
    ic = _rank_ic(trailing, forward)
    # THEN it predicts forward 3-month returns (measured 0.057 on seed 7), though less well than the drift itself
    assert 0.02 < ic < _rank_ic(drift, forward)


def test_fundamentals_carry_part_of_the_long_run_drift(panel: Panel) -> None:
    # GIVEN each stock's average planted drift over seven years and its synthetic fundamentals
    info = pd.DataFrame(panel.source.fetch_info(panel.source.tickers).info).T
    mean_drift = panel.drift.mean()
    # THEN cheap and profitable stocks drift up (measured 0.58, 0.25, 0.14 on seed 7)
    assert (1 / info["trailingPE"].astype(float)).corr(mean_drift, method="spearman") > 0.4
    assert (1 / info["priceToBook"].astype(float)).corr(mean_drift, method="spearman") > 0.1
    assert info["returnOnEquity"].astype(float).corr(mean_drift, method="spearman") > 0.05

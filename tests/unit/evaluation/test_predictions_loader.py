"""The predictions history loader: stored daily forecast documents -> a date x ticker frame for the backtest."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from kabucast.config import BacktestSettings
from kabucast.data.sources.base import STATIC_INFO_KEYS
from kabucast.evaluation.backtest import next_day_returns, run_backtest
from kabucast.experiments.predictions import (
    NoPredictions,
    check_month,
    first_snapshot,
    load_prediction_history,
    point_in_time_static,
    prediction_keys,
)
from kabucast.features import static_features
from kabucast.forecast.dataset import ForecastSamples
from kabucast.forecast.document import forecast_document
from kabucast.jobs.publish import prediction_key
from kabucast.storage import LocalStore

TICKERS = ("1000.T", "2000.T", "3000.T", "4000.T")
DAYS = pd.DatetimeIndex(["2026-11-16", "2026-11-17", "2026-11-18", "2026-11-19", "2026-11-20"])


def publish(store: LocalStore, day: pd.Timestamp, simple_returns: np.ndarray) -> None:
    """A forecast document of the daily job's schema whose month-m return of ticker i is ``simple_returns[i, m-1]``."""
    doc = forecast_document(
        TICKERS,
        np.log1p(simple_returns),
        {t: day for t in TICKERS},
        {t: 1000.0 for t in TICKERS},
        {t: "Technology" for t in TICKERS},
        {},
        "v1",
        day,
    )
    store.put_json(prediction_key(day), doc)


def planted(day_index: int) -> np.ndarray:
    """(4, 12) simple returns: ticker i, month m -> 0.001 * (day + 1) * (i + 1) * m * (-1 for odd tickers)."""
    sign = np.array([1, -1, 1, -1])[:, None]
    return 0.001 * (day_index + 1) * np.arange(1, 5)[:, None] * np.arange(1, 13)[None, :] * sign


@pytest.fixture
def store(tmp_path) -> LocalStore:
    s = LocalStore(tmp_path)
    for i, day in enumerate(DAYS):
        publish(s, day, planted(i))
    return s


def test_frame_has_one_row_per_document_and_the_chosen_month(store: LocalStore) -> None:
    # WHEN the 3-month horizon is loaded
    frame = load_prediction_history(store, horizon_month=3)
    # THEN one row per dated document (latest.json is not a date), tickers as columns, the month-3 returns
    assert prediction_keys(store) == [f"predictions/{d.date()}.json" for d in DAYS]
    assert list(frame.index) == list(DAYS) and frame.index.name == "date"
    assert list(frame.columns) == list(TICKERS)
    expected = np.stack([planted(i)[:, 2] for i in range(len(DAYS))])
    np.testing.assert_allclose(frame.to_numpy(), expected, atol=1e-6)  # documents keep 6 decimals


def test_start_and_end_keep_part_of_the_history(store: LocalStore) -> None:
    frame = load_prediction_history(store, 1, start="2026-11-17", end="2026-11-19")
    assert list(frame.index) == list(DAYS[1:4])
    with pytest.raises(NoPredictions, match="none between"):
        load_prediction_history(store, 1, start="2027-01-01")


def test_an_empty_store_says_how_to_get_predictions(tmp_path) -> None:
    with pytest.raises(NoPredictions, match=r"run `kabucast daily`.*--predictions model"):
        load_prediction_history(LocalStore(tmp_path / "empty"))


@pytest.mark.parametrize("month", [0, 13])
def test_a_horizon_outside_1_to_12_is_refused(month: int) -> None:
    with pytest.raises(NoPredictions, match=r"months 1\.\.12"):
        check_month(month)


def test_a_document_without_the_month_names_the_ticker_and_date(store: LocalStore) -> None:
    doc = store.get_json("predictions/2026-11-20.json")
    doc["predictions"][0]["predictions"] = doc["predictions"][0]["predictions"][:6]
    store.put_json("predictions/2026-11-20.json", doc)
    with pytest.raises(NoPredictions, match=r"1000\.T dated 2026-11-20 has no month 12"):
        load_prediction_history(store, 12)


def test_row_t_is_traded_against_the_return_from_t_to_t_plus_1(tmp_path) -> None:
    # GIVEN stored forecasts whose 1-month return equals the next session's realised return (a perfect forecast)
    rng = np.random.default_rng(3)
    prices = pd.DataFrame(
        100 * np.exp(np.cumsum(rng.normal(0, 0.02, (len(DAYS) + 1, 4)), axis=0)),
        index=DAYS.append(pd.DatetimeIndex(["2026-11-24"])),
        columns=list(TICKERS),
    )
    realised = next_day_returns(prices)
    store = LocalStore(tmp_path)
    for day in DAYS:
        publish(store, day, np.repeat(realised.loc[day].to_numpy()[:, None], 12, axis=1))
    # WHEN the loaded frame is backtested THEN every day's RankIC is 1: rows line up with the returns they forecast
    frame = load_prediction_history(store, 1)
    result = run_backtest(frame, realised, BacktestSettings(env="local", impact_k_bps=0.0))
    assert result.daily["rankic"].to_numpy() == pytest.approx(1.0)
    assert result.summary["gross_sharpe"] > 5


def fake_samples(dates: list[str], tickers: list[str]) -> ForecastSamples:
    """Samples over a stand-in history (only ``as_of`` and ``tickers`` are read) with static features all 7."""
    history = SimpleNamespace(as_of=pd.DatetimeIndex(dates), tickers=tuple(tickers))
    n = len(dates) * len(tickers)
    date_pos, ticker_pos = np.divmod(np.arange(n), len(tickers))
    empty = np.zeros((n, 0), dtype=np.float32)
    return ForecastSamples(
        history=history,  # type: ignore[arg-type]
        date_pos=date_pos,
        ticker_pos=ticker_pos,
        static=np.full((n, 6), 7.0, dtype=np.float32),
        position=empty,
        sector_id=np.zeros(n, dtype=np.int64),
        target=empty,
        momentum_12m=np.zeros(n, dtype=np.float32),
        reversal_1m=np.zeros(n, dtype=np.float32),
        static_lookahead=n,
    )


def test_days_before_the_first_snapshot_see_no_snapshot_as_the_daily_job_did() -> None:
    samples = fake_samples(["2026-01-05", "2026-02-02", "2026-03-02"], ["1000.T", "2000.T"])
    missing = pd.DataFrame(index=pd.Index([], name="ticker"), columns=list(STATIC_INFO_KEYS), dtype="float64")
    neutral = static_features(missing, ["1000.T"])[0]
    # WHEN the first snapshot is dated 2026-02-02
    out = point_in_time_static(samples, pd.Timestamp("2026-02-02"))
    # THEN January's samples get the fill policy's values, later ones keep their snapshot's, the input is untouched
    np.testing.assert_array_equal(out.static[:2], np.stack([neutral, neutral]))
    assert (out.static[2:] == 7.0).all() and (samples.static == 7.0).all()
    assert out.static_lookahead == 0
    # AND without any snapshot every day gets the fill policy
    assert (point_in_time_static(samples, None).static == neutral).all()


def test_first_snapshot_is_the_oldest_static_file(tmp_path) -> None:
    store = LocalStore(tmp_path)
    assert first_snapshot(store) is None
    frame = pd.DataFrame({"marketCap": [1e12]}, index=pd.Index(["1000.T"], name="ticker"))
    for day in ("2026-03-02", "2026-01-05"):
        store.put_parquet(f"data/static/{day}.parquet", frame)
    assert first_snapshot(store) == pd.Timestamp("2026-01-05")

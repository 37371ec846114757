"""Forecaster samples on the sample market: labels, eligibility, point-in-time static, the purged split."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kabucast.data.sources.sample_market import SampleMarketSource
from kabucast.features import PricePanel, weekly_feature_history
from kabucast.forecast.dataset import LONGEST_LABEL, build_samples, time_split

TICKERS = ["7203.T", "6758.T", "8306.T", "9984.T"]
SECTORS = {"7203.T": "Consumer Cyclical", "6758.T": "Technology", "8306.T": "Financial Services"}


@pytest.fixture(scope="module")
def panel() -> PricePanel:
    source = SampleMarketSource(TICKERS, ["Consumer Cyclical", "Technology", "Financial Services", "x"], seed=3)
    fetched = source.fetch_prices(TICKERS, pd.Timestamp("2016-01-04"), pd.Timestamp("2022-12-30"))
    frames = dict(fetched.frames)
    frames["9984.T"] = frames["9984.T"].loc["2017-06-01":]  # listed late: short history
    return PricePanel.from_frames(frames, TICKERS)


def snapshot(pe: float) -> pd.DataFrame:
    cols = ["trailingPE", "priceToBook", "dividendYield", "returnOnEquity", "debtToEquity", "marketCap"]
    return pd.DataFrame([[pe, 1.0, 0.02, 0.1, 50.0, 1e12]] * len(TICKERS), index=TICKERS, columns=cols)


def test_samples_labels_and_eligibility(panel: PricePanel, calendar, sectors) -> None:
    # GIVEN the feature history over every session and two static snapshots
    history = weekly_feature_history(panel, panel.dates)
    snaps = {pd.Timestamp("2020-01-06"): snapshot(10.0), pd.Timestamp("2021-01-04"): snapshot(20.0)}
    # WHEN samples are built
    s = build_samples(panel, history, snaps, SECTORS, sectors, calendar)
    # THEN every sample has 156 weeks of history and all 12 labels, and labels are log returns 21*m rows ahead
    assert len(s) > 0 and s.target.shape == (len(s), 12) and np.isfinite(s.target).all()
    rows = panel.dates.get_indexer(s.dates)
    cols = s.ticker_pos
    assert (rows + LONGEST_LABEL < len(panel.dates)).all()
    i = len(s) // 2
    expected = np.log(panel.adj_close[rows[i] + 63, cols[i]] / panel.adj_close[rows[i], cols[i]])
    assert s.target[i, 2] == pytest.approx(expected, rel=1e-6)
    # the late listing only appears once it has 156 weeks of history
    late = s.dates[s.tickers == "9984.T"]
    assert len(late) > 0 and late.min() >= pd.Timestamp("2017-06-01") + pd.DateOffset(weeks=155)
    # static features are point in time: before 2021-01-04 the 2020 snapshot, earliest used before 2020
    ey = s.static[:, 0]
    assert np.allclose(ey[s.dates >= "2021-01-04"], 1 / 20) and np.allclose(ey[s.dates < "2021-01-04"], 1 / 10)
    assert s.static_lookahead == int((s.dates < "2020-01-06").sum())
    assert set(s.sector_id[s.tickers == "9984.T"]) == {sectors.unknown_id}
    batch = s.take(np.arange(5))
    assert batch["weekly"].shape == (5, 156, 23) and batch["weekly"].dtype == np.float32


def test_time_split_purges_the_longest_label(panel: PricePanel, calendar, sectors) -> None:
    history = weekly_feature_history(panel, panel.dates)
    s = build_samples(panel, history, {}, SECTORS, sectors, calendar, static_mode="none")
    split = time_split(s, val_fraction=0.2, purge_sessions=LONGEST_LABEL)
    train_rows = panel.dates.get_indexer(s.dates[split.train])
    val_rows = panel.dates.get_indexer(s.dates[split.val])
    # the last training label window ends before the first validation day
    assert train_rows.max() + LONGEST_LABEL < val_rows.min()
    assert not np.intersect1d(split.train, split.val).size
    assert (s.static == 0).all()
    with pytest.raises(ValueError, match="shorter than the longest label"):
        time_split(s, 0.2, purge_sessions=100)

"""The sample market's cross-sectional preset (LEAD_LAG): a follower's next month is told by its sector's leaders'
recent moves and not by its own; the default market has no such effect (the control)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from kabucast.data.sources.market_model import MarketParams, lead_lags
from kabucast.data.sources.sample_market import LEAD_LAG, SampleMarketSource, static_draws

N_STOCKS, N_SECTORS, STEP, LOOKBACK = 160, 4, 21, 20


def signals(params: MarketParams) -> dict[str, float]:
    """Mean over non-overlapping dates of the RankIC, over the followers, of (their sector leaders' mean last-20-
    session log return | their own) against their next 21 sessions' log return."""
    source = SampleMarketSource.synthetic(N_STOCKS, N_SECTORS, origin="2016-01-04", params=params)
    closes = pd.DataFrame(
        {t: f["close"] for t, f in source.fetch_prices(source.tickers, "2016-01-04", "2021-12-30").frames.items()}
    )
    draws = static_draws(source.seed, source.tickers)
    lags = lead_lags(draws["size"], draws["lead"], LEAD_LAG)  # who leads (the preset's rule)
    sectors = np.array([source.sectors[t] for t in source.tickers])
    logs = np.log(closes[list(source.tickers)].to_numpy())
    leader_ic, own_ic = [], []
    for t in range(LOOKBACK, len(logs) - STEP, STEP):
        past, future = logs[t] - logs[t - LOOKBACK], logs[t + STEP] - logs[t]
        leaders = np.array([past[(sectors == s) & (lags == 0)].mean() for s in sectors])
        follow = lags > 0
        leader_ic.append(spearmanr(leaders[follow], future[follow]).statistic)
        own_ic.append(spearmanr(past[follow], future[follow]).statistic)
    return {"leader": float(np.mean(leader_ic)), "leader_t": _t(leader_ic), "own": float(np.mean(own_ic))}


def _t(values: list[float]) -> float:
    return float(np.mean(values) / (np.std(values, ddof=1) / np.sqrt(len(values))))


def test_followers_follow_their_leaders_and_not_their_own_past() -> None:
    planted = signals(LEAD_LAG)
    assert planted["leader"] > 0.10 and planted["leader_t"] > 3, planted
    assert abs(planted["own"]) < 0.06, planted  # a per-stock model cannot see it in a follower's own history


def test_the_default_market_has_no_lead_lag() -> None:
    control = signals(MarketParams())
    assert abs(control["leader"]) < 0.06 and abs(control["leader_t"]) < 2.5, control


def test_the_largest_quarter_leads_and_followers_lag_one_to_four_weeks() -> None:
    size, lead = np.random.default_rng(1).standard_normal((2, 20_000))
    lags = lead_lags(size, lead, LEAD_LAG)
    assert np.mean(lags == 0) == pytest.approx(LEAD_LAG.lead_share, abs=0.01)
    assert size[lags == 0].min() > size[lags > 0].max()  # the big caps lead
    followers = lags[lags > 0]
    assert followers.min() == LEAD_LAG.lead_lag_first and followers.max() == LEAD_LAG.lead_lag_last
    assert np.bincount(followers)[LEAD_LAG.lead_lag_first :].std() / len(followers) < 0.01  # about uniform

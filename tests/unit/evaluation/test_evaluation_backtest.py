"""The backtest: alignment (no lookahead), the book, costs, the stored CSVs and the A/B comparison."""

from __future__ import annotations

import dataclasses
import itertools
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from tests.unit.evaluation.conftest import Market

from kabucast.config import BacktestSettings, load_settings, resolve_config_path
from kabucast.data.prices import normalize_prices, prices_key
from kabucast.errors import ConfigError
from kabucast.evaluation import (
    BacktestInputError,
    InvalidRunId,
    backtest_from_store,
    compare_backtests,
    load_summary,
    next_day_returns,
    run_backtest,
    write_backtest,
)
from kabucast.evaluation.backtest import DAILY_COLUMNS
from kabucast.evaluation.metrics import sharpe_ratio
from kabucast.evaluation.portfolio import PortfolioRules, rebalanced_weights
from kabucast.storage import LocalStore

SETTINGS = BacktestSettings(env="local")
NO_IMPACT = dataclasses.replace(SETTINGS, impact_k_bps=0.0)


def sharpe_noise(n_days: int) -> float:
    """Standard error of an annualised Sharpe ratio estimated on ``n_days`` of returns with no edge."""
    return math.sqrt(252 / n_days)


def test_shipped_config_loads() -> None:
    settings = load_settings(BacktestSettings, resolve_config_path("backtest.yaml"))
    assert settings.quantile == 0.2 and settings.rebalance_days is None  # the forecast horizon (CLI) or 1
    assert (settings.base_bps, settings.slippage_bps) == (10.0, 2.0)


def test_a_hand_computed_book() -> None:
    # GIVEN 4 tickers, the score of day t known at its close, and the t -> t+1 returns on the same row
    dates = pd.bdate_range("2024-01-01", periods=2, name="date")
    scores = pd.DataFrame([[4.0, 3.0, 2.0, 1.0], [1.0, 2.0, 3.0, 4.0]], index=dates, columns=list("ABCD"))
    returns = pd.DataFrame([[0.02, 0.01, 0.0, -0.03], [0.01, 0.0, 0.02, 0.05]], index=dates, columns=list("ABCD"))
    # WHEN the top and bottom quarter are traded
    daily = run_backtest(scores, returns, dataclasses.replace(NO_IMPACT, quantile=0.25)).daily
    # THEN day 1 is long A, short D; day 2 long D, short A: the book flips, every leg trades twice
    np.testing.assert_allclose(daily["gross"], [0.02 + 0.03, 0.05 - 0.01])
    np.testing.assert_allclose(daily["long_ret"], [0.02, 0.05])
    np.testing.assert_allclose(daily["short_ret"], [-0.03, 0.01])
    np.testing.assert_allclose(daily["turnover"], [2.0, 4.0])
    np.testing.assert_allclose(daily["cost"], daily["turnover"] * 12e-4)
    np.testing.assert_allclose(daily["net"], daily["gross"] - daily["cost"])
    assert list(daily.columns) == list(DAILY_COLUMNS) and daily.index.name == "date"


def test_next_day_returns_are_labelled_by_the_first_day() -> None:
    prices = pd.DataFrame({"A": [100.0, 110.0, 99.0]}, index=pd.bdate_range("2024-01-01", periods=3))
    returns = next_day_returns(prices)
    np.testing.assert_allclose(returns["A"].to_numpy()[:2], [0.1, -0.1])
    assert math.isnan(returns["A"].iloc[-1])


def test_oracle_fast_mode_has_a_large_sharpe_ratio(market: Market) -> None:
    result = run_backtest(None, market.returns, dataclasses.replace(SETTINGS, fast_mode=True), adv=market.adv)
    assert result.summary["net_sharpe"] > 10 * sharpe_noise(len(market.returns))
    assert result.summary["mean_rankic"] == pytest.approx(1.0)


def test_shuffled_predictions_earn_nothing_and_lose_their_costs(market: Market) -> None:
    # GIVEN scores that carry no information (the returns shuffled across tickers, seeded)
    rng = np.random.default_rng(0)
    shuffled = pd.DataFrame(rng.permuted(market.returns.to_numpy(), axis=1), index=market.returns.index)
    shuffled.columns = market.returns.columns
    # WHEN backtested
    summary = run_backtest(shuffled, market.returns, SETTINGS, adv=market.adv).summary
    # THEN the gross Sharpe is within noise of 0, and costs make the net one clearly negative
    assert abs(summary["gross_sharpe"]) < 3 * sharpe_noise(len(market.returns))
    assert summary["net_sharpe"] < -3 * sharpe_noise(len(market.returns))
    assert abs(summary["mean_rankic"]) < 0.01


def test_a_score_of_the_past_day_cannot_see_the_next_day(market: Market) -> None:
    # GIVEN the t-1 -> t return, known at the close of t, as the score of day t (a planted lookahead trap:
    # a backtest that paired score(t) with return(t-1 -> t) would read it as an oracle)
    backward = market.returns.shift(1)
    # WHEN backtested
    summary = run_backtest(backward, market.returns, NO_IMPACT).summary
    # THEN it earns nothing: the return it trades is the next one
    assert abs(summary["gross_sharpe"]) < 3 * sharpe_noise(len(market.returns))
    assert abs(summary["mean_ic"]) < 0.01
    # and the same-row return, the true oracle, is exactly what fast_mode trades
    oracle = run_backtest(market.returns, market.returns, NO_IMPACT).daily
    pd.testing.assert_frame_equal(
        oracle, run_backtest(None, market.returns, dataclasses.replace(NO_IMPACT, fast_mode=True)).daily
    )


def test_long_only_holds_no_short_leg(market: Market) -> None:
    settings = dataclasses.replace(SETTINGS, long_only=True, fast_mode=True)
    daily = run_backtest(None, market.returns, settings, adv=market.adv).daily
    assert (daily["n_short"] == 0).all() and (daily["short_ret"] == 0).all()
    assert (daily["n_long"] == 100).all()
    np.testing.assert_allclose(daily["gross"], daily["long_ret"])
    assert daily["turnover"].iloc[0] == pytest.approx(1.0)
    assert daily["long_ret"].mean() > 0


def test_weights_are_held_between_rebalances(market: Market) -> None:
    # GIVEN scores that change every day and a rebalance every 5 sessions
    rng = np.random.default_rng(1)
    scores = pd.DataFrame(rng.normal(size=market.returns.shape), index=market.returns.index)
    scores.columns = market.returns.columns
    settings = dataclasses.replace(NO_IMPACT, rebalance_days=5)
    # WHEN backtested
    daily = run_backtest(scores, market.returns, settings).daily
    # THEN trading happens on rebalance days only, and each day earns the book chosen at its block's start
    on_rebalance = np.arange(len(daily)) % 5 == 0
    assert (daily["turnover"][~on_rebalance] == 0).all() and (daily["turnover"][on_rebalance] > 0).all()
    start = scores.to_numpy()[np.arange(len(daily)) // 5 * 5]  # (T, N) the scores of each block's first day
    book = rebalanced_weights(start, PortfolioRules(0.2, long_only=False), rebalance_days=1)
    np.testing.assert_allclose(daily["gross"], (book * market.returns.to_numpy()).sum(axis=1), atol=1e-15)
    daily_rebalanced = run_backtest(scores, market.returns, NO_IMPACT).daily
    assert daily["turnover"].mean() < daily_rebalanced["turnover"].mean() / 4


def test_costs_rise_with_the_impact_coefficient(market: Market) -> None:
    totals = []
    for k in (0.0, 50.0, 100.0, 400.0):
        settings = dataclasses.replace(SETTINGS, impact_k_bps=k, fast_mode=True)
        daily = run_backtest(None, market.returns, settings, adv=market.adv).daily
        totals.append((daily["cost"].sum(), daily["net"].sum(), daily["gross"].sum()))
    costs, nets, grosses = zip(*totals, strict=True)
    assert all(a < b for a, b in itertools.pairwise(costs))
    assert all(a > b for a, b in itertools.pairwise(nets))
    assert len(set(grosses)) == 1


def test_impact_of_one_trade_by_hand() -> None:
    # GIVEN a 2-ticker book entering at 1 bn JPY a leg, ADV 100 bn and 25 bn: participation 1 % and 4 %
    dates = pd.bdate_range("2024-01-01", periods=1, name="date")
    scores = pd.DataFrame([[1.0, 0.0]], index=dates, columns=["A", "B"])
    returns = pd.DataFrame([[0.0, 0.0]], index=dates, columns=["A", "B"])
    adv = pd.DataFrame([[1e11, 2.5e10]], index=dates, columns=["A", "B"])
    settings = dataclasses.replace(SETTINGS, quantile=0.5, impact_k_bps=100.0, notional={"JPY": 1e9})
    cost = run_backtest(scores, returns, settings, adv=adv).daily["cost"].iloc[0]
    # THEN linear cost 2 x 12 bps plus impact 100 bps x (sqrt(1 %) + sqrt(4 %))
    assert cost == pytest.approx(2 * 12e-4 + 100e-4 * (0.1 + 0.2))


def test_days_keeps_the_most_recent_sessions(market: Market) -> None:
    daily = run_backtest(None, market.returns, dataclasses.replace(NO_IMPACT, fast_mode=True, days=60)).daily
    assert len(daily) == 60 and daily.index[-1] == market.returns.index[-1]
    assert daily["turnover"].iloc[0] == pytest.approx(2.0)  # the window starts from cash


def test_inputs_that_cannot_be_lined_up_are_named_errors(market: Market) -> None:
    with pytest.raises(BacktestInputError, match="needs adv"):
        run_backtest(None, market.returns, dataclasses.replace(SETTINGS, fast_mode=True))
    with pytest.raises(BacktestInputError, match="share no date"):
        run_backtest(market.returns.shift(1000, freq="D"), market.returns, NO_IMPACT)
    with pytest.raises(BacktestInputError, match="no predictions"):
        run_backtest(None, market.returns, NO_IMPACT)
    with pytest.raises(ConfigError, match="quantile"):
        run_backtest(None, market.returns, dataclasses.replace(NO_IMPACT, quantile=0.6, fast_mode=True))


def test_write_load_and_compare(tmp_path: Path, market: Market) -> None:
    # GIVEN two backtests written to a local store
    store = LocalStore(tmp_path)
    a = run_backtest(None, market.returns, dataclasses.replace(SETTINGS, fast_mode=True), adv=market.adv)
    b = run_backtest(
        None, market.returns, dataclasses.replace(SETTINGS, fast_mode=True, rebalance_days=5), adv=market.adv
    )
    keys = write_backtest(a, store, "run-a") + write_backtest(b, store, "run-b")
    # THEN the CSVs are where the design says, the summary reads back, and the comparison is b - a
    assert keys[:2] == ["reports/run-a/daily_results.csv", "reports/run-a/summary_metrics.csv"]
    daily = pd.read_csv(tmp_path / keys[0], index_col="date", parse_dates=True)
    pd.testing.assert_frame_equal(daily, a.daily, check_freq=False, check_dtype=False)
    loaded_a, loaded_b = load_summary(store, "run-a"), load_summary(store, "run-b")
    assert loaded_a == pytest.approx(a.summary, nan_ok=True)
    table = compare_backtests(loaded_a, loaded_b, names=("daily", "weekly"))
    assert list(table.columns) == ["daily", "weekly", "diff"]
    assert table.at["mean_turnover", "diff"] == pytest.approx(b.summary["mean_turnover"] - a.summary["mean_turnover"])
    assert table.at["mean_turnover", "diff"] < 0
    with pytest.raises(InvalidRunId):
        write_backtest(a, store, "../elsewhere")


def test_backtest_from_store_uses_stored_prices(tmp_path: Path) -> None:
    # GIVEN stored prices for two tickers (a third one has none)
    store = LocalStore(tmp_path)
    dates = pd.bdate_range("2024-01-01", periods=30, name="date")
    rng = np.random.default_rng(2)
    for ticker in ("1301.T", "1332.T"):
        close = 1000 * np.exp(np.cumsum(rng.normal(0.0, 0.02, len(dates))))
        frame = pd.DataFrame({c: close for c in ("open", "high", "low", "close", "adj_close")}, index=dates)
        store.put_parquet(prices_key(ticker), normalize_prices(frame.assign(volume=1_000_000)))
    # WHEN the oracle is backtested from the store
    settings = dataclasses.replace(SETTINGS, fast_mode=True, quantile=0.5)
    result = backtest_from_store(store, None, settings, tickers=["1301.T", "1332.T", "9999.T"])
    # THEN it trades every session that has a next one, and the missing ticker is listed, not fatal
    assert len(result.daily) == len(dates) - 1
    assert (result.daily["gross"] > 0).all()
    assert set(result.failures) == {"9999.T"}


def test_the_evaluation_package_does_not_import_matplotlib() -> None:
    code = "import sys, kabucast.evaluation; assert 'matplotlib' not in sys.modules and 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_leg_size_is_the_universes_currency_and_no_rate_is_guessed(market) -> None:
    from kabucast.errors import ConfigError

    # GIVEN the same book costed as JPY (1 bn a leg) and as USD (7 m a leg) against the same ADV numbers
    settings = dataclasses.replace(SETTINGS, fast_mode=True, notional={"JPY": 1e9, "USD": 7e6})
    jpy = run_backtest(None, market.returns, settings, adv=market.adv, currency="JPY").daily["cost"].sum()
    usd = run_backtest(None, market.returns, settings, adv=market.adv, currency="USD").daily["cost"].sum()
    # THEN the smaller leg pays less impact; a currency without a leg size is refused by name
    assert usd < jpy
    with pytest.raises(ConfigError, match="no notional for EUR"):
        run_backtest(None, market.returns, settings, adv=market.adv, currency="EUR")


def test_the_equal_weight_universe_is_the_benchmark(market: Market) -> None:
    result = run_backtest(market.returns, market.returns, dataclasses.replace(NO_IMPACT, fast_mode=True))
    expected = market.returns.loc[result.daily.index].mean(axis=1, skipna=True)
    np.testing.assert_allclose(result.daily["benchmark"].to_numpy(), expected.to_numpy(), atol=1e-12)
    assert result.summary["benchmark_sharpe"] == pytest.approx(sharpe_ratio(result.daily["benchmark"]))
    assert list(result.daily.columns) == list(DAILY_COLUMNS)


def test_a_short_backtest_is_warned_about() -> None:
    from kabucast.evaluation.backtest import MIN_MEANINGFUL_DAYS, sample_warning

    assert sample_warning(MIN_MEANINGFUL_DAYS) is None
    assert "only 20 sessions: under 60" in (sample_warning(20) or "")


def test_the_command_rebalances_at_the_forecasts_horizon_by_default() -> None:
    import argparse

    from kabucast.cli.evaluation import backtest_settings, settings_line

    def args(**over: object) -> argparse.Namespace:
        base = {"config": "backtest.yaml", "long_only": False, "fast_mode": False, "days": None}
        flags = {"rebalance_days": None, "horizon_month": 1, "max_weight": None, "max_sector": None}
        return argparse.Namespace(**{**base, **flags, **over})

    assert backtest_settings(args()).rebalance_days == 21
    assert backtest_settings(args(horizon_month=3)).rebalance_days == 63
    assert backtest_settings(args(fast_mode=True)).rebalance_days == 1  # the oracle's scores are next-day returns
    assert backtest_settings(args(rebalance_days=5)).rebalance_days == 5
    line = settings_line(backtest_settings(args()), "JPY")
    assert "long top / short bottom 20%, rebalanced every 21 sessions, costs 12 bps" in line
    assert "1,000,000,000 JPY a leg" in line
    capped = backtest_settings(args(max_weight=0.1, max_sector=0.3))
    assert (capped.max_weight, capped.max_sector) == (0.1, 0.3)
    assert "20%, a name <= 10% of a leg, a sector <= 30% of a leg, rebalanced" in settings_line(capped, "JPY")


def test_caps_reach_the_backtest_through_the_portfolio_function(market: Market) -> None:
    rng = np.random.default_rng(4)
    scores = pd.DataFrame(rng.normal(size=market.returns.shape), index=market.returns.index)
    scores.columns = market.returns.columns
    sectors = {t: f"s{i % 3}" for i, t in enumerate(scores.columns)}
    capped = dataclasses.replace(NO_IMPACT, max_sector=0.4, max_weight=0.15)
    # WHEN the same scores are backtested with and without caps
    plain = run_backtest(scores, market.returns, NO_IMPACT).daily
    daily = run_backtest(scores, market.returns, capped, sectors=sectors).daily
    # THEN the capped book earns what the portfolio function's weights earn, and differs from the plain one
    labels = np.array([sectors[t] for t in scores.columns], dtype=object)
    rules = PortfolioRules(capped.quantile, capped.long_only, capped.max_weight, capped.max_sector)
    book = rebalanced_weights(scores.to_numpy(), rules, 1, labels)
    np.testing.assert_allclose(daily["gross"], (book * market.returns.to_numpy()).sum(axis=1), atol=1e-15)
    assert not np.allclose(daily["gross"], plain["gross"])
    # AND a sector cap without the sectors is a named error, not a silent equal-weight book
    with pytest.raises(ConfigError, match="max_sector needs the universe's sectors"):
        run_backtest(scores, market.returns, capped)
    with pytest.raises(ConfigError, match="max_weight must be in"):
        run_backtest(scores, market.returns, dataclasses.replace(NO_IMPACT, max_weight=2.0))

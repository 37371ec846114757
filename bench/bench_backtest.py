"""Benchmark of the cost-aware backtest on a synthetic panel: 4,000 stocks x 1,250 sessions (about 5 years).

Run: ``python bench/bench_backtest.py [--tickers 4000] [--dates 1250]``. Prints seconds per run
(daily, weekly and monthly rebalancing, with and without the portfolio caps of
kabucast.evaluation.portfolio, the oracle) and the peak resident memory; asserts nothing about time
(machines differ).
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from dataclasses import replace

import numpy as np
import pandas as pd

from kabucast.config import CONFIG_DIR, BacktestSettings, load_settings
from kabucast.evaluation import run_backtest


def synthetic_panel(n_dates: int, n_tickers: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Seeded next-day returns (2 % daily vol), scores with an IC of about 0.1, and ADV between 0.1 and 10 bn JPY."""
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range("2020-01-06", periods=n_dates, name="date")
    tickers = [f"{1000 + i}.T" for i in range(n_tickers)]
    returns = rng.normal(0.0, 0.02, (n_dates, n_tickers))
    scores = returns + rng.normal(0.0, 0.2, returns.shape)
    adv = np.exp(rng.uniform(np.log(1e8), np.log(1e10), returns.shape))

    def frame(values: np.ndarray) -> pd.DataFrame:
        return pd.DataFrame(values, index=dates, columns=tickers)

    return frame(scores), frame(returns), frame(adv)


Panel = tuple[pd.DataFrame | None, pd.DataFrame, pd.DataFrame]
"""Scores (None in fast_mode), next-day returns and ADV in JPY, all date x ticker."""


def timed(label: str, settings: BacktestSettings, panel: Panel, sectors: dict[str, str] | None = None) -> None:
    """One :func:`run_backtest` of ``panel`` (scores, returns, ADV), its seconds printed under ``label``."""
    scores, returns, adv = panel
    start = time.perf_counter()
    result = run_backtest(scores, returns, settings, adv=adv, sectors=sectors)
    seconds = time.perf_counter() - start
    print(f"{label:<44} {seconds:8.3f} s  net Sharpe {result.summary['net_sharpe']:8.2f}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tickers", type=int, default=4000)
    parser.add_argument("--dates", type=int, default=1250)
    args = parser.parse_args(argv)
    settings = load_settings(BacktestSettings, CONFIG_DIR / "backtest.yaml")
    scores, returns, adv = synthetic_panel(args.dates, args.tickers)
    print(f"synthetic panel: {args.tickers} tickers x {args.dates} sessions")
    timed("run_backtest, daily rebalance (first run)", settings, (scores, returns, adv))
    timed("run_backtest, daily rebalance", settings, (scores, returns, adv))
    timed("run_backtest, rebalance every 5 sessions", replace(settings, rebalance_days=5), (scores, returns, adv))
    timed("run_backtest, rebalance every 21 sessions", replace(settings, rebalance_days=21), (scores, returns, adv))
    sectors = {t: f"sector-{i % 33}" for i, t in enumerate(returns.columns)}
    capped = replace(settings, max_weight=0.002, max_sector=0.025)  # sectors bind (33 x 2.5 % < 1)
    for every in (21, 5, 1):
        label = f"run_backtest, capped, rebalance every {every}"
        timed(label, replace(capped, rebalance_days=every), (scores, returns, adv), sectors)
    timed("run_backtest, fast_mode (oracle)", replace(settings, fast_mode=True), (None, returns, adv))
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (1024 * 1024 if sys.platform == "darwin" else 1024)
    print(f"peak RSS {peak_mb:.0f} MB")


if __name__ == "__main__":
    main()

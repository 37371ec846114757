"""Seeded synthetic markets for the evaluation tests: iid next-day returns and liquidity, as wide frames."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest


@dataclass(frozen=True)
class Market:
    """``returns``: date x ticker next-day simple returns (row t = close t -> close t+1); ``adv``: ADV in JPY."""

    returns: pd.DataFrame
    adv: pd.DataFrame


def synthetic_market(n_dates: int, n_tickers: int, seed: int = 0) -> Market:
    """Returns with no structure at all (iid, 2 % daily vol), so only a lookahead could predict them."""
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range("2022-01-03", periods=n_dates, name="date")
    tickers = [f"{1000 + i}.T" for i in range(n_tickers)]
    returns = pd.DataFrame(rng.normal(0.0, 0.02, (n_dates, n_tickers)), index=dates, columns=tickers)
    adv = pd.DataFrame(rng.uniform(5e8, 5e10, (n_dates, n_tickers)), index=dates, columns=tickers)
    return Market(returns=returns, adv=adv)


@pytest.fixture(scope="module")
def market() -> Market:
    """500 stocks x 500 sessions."""
    return synthetic_market(500, 500, seed=7)

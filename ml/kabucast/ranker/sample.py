"""The ranker's SYNTHETIC universe: the sample market at scale, plus a planted, feature-visible signal.

The bars come from :class:`~kabucast.data.sources.sample_market.SampleMarketSource` (its model and
parameters, through its public API: ``synthetic``, ``panel``, ``latent_drift``). Its own planted drift
mu_i(t) is learnable but mostly invisible to price features (trailing returns reach a RankIC of ~0.02 at
5 sessions), so the ranker's tests need a signal that features CAN see. :func:`plant_signal` adds one,
modelled on the high-volume return premium (Gervais, Kaniel and Mingelgrin, 2001):

    q_i(t) = phi q_i(t-1) + sqrt(1 - phi^2) e_i(t),   phi = 0.5 ** (1 / half_life),  q_i(0) = e_i(0)
    log volume_i(t)  += volume_loading * q_i(t)                (visible on day t)
    log price_i(t)   += return_per_sd * sum_{k < t} q_i(k)     (day t + 1 earns return_per_sd * q_i(t))

so the expected log return over the h sessions after t gains return_per_sd * q_i(t) (1 - phi^h) / (1 - phi).
e are standard normals from one stream per (seed, ticker), drawn session by session, so the plant
keeps the sample market's guarantees: deterministic, prefix-stable, independent of the other tickers.
Prices are rescaled bar by bar (open by the share ``overnight_share`` of the day's shift, high and
low so the bar stays consistent) and rounded to the 0.1 JPY tick; volume stays in 100-share lots.

Nothing here is real market data.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from kabucast.data.calendar import TradingCalendar
from kabucast.data.sources.sample_market import LOT_SHARES, SESSIONS_PER_YEAR, TICK_JPY, SampleMarketSource
from kabucast.features.panel import PricePanel
from kabucast.ranker.arrays import rank_ic_by_date
from kabucast.ranker.panel import RankerPanel
from kabucast.ranker.settings import PlantSettings
from kabucast.ranker.targets import forward_returns

PLANT_DOMAIN = 101
"""Random-stream tag of the planted state (the sample market's own streams use tags 1 to 4)."""


@dataclass(frozen=True, eq=False)
class PlantedTruth:
    """What generated a synthetic panel, which features never see: (T, N) arrays on the panel's grid.

    ``drift``: the sample market's mu_i(t), annualised log return; ``state``: the planted q_i(t) (zeros
    without a plant).
    """

    drift: np.ndarray
    state: np.ndarray
    plant: PlantSettings | None

    def expected_returns(self, horizon: int, planted_only: bool = False) -> np.ndarray:
        """(T, N) expected log return over the ``horizon`` sessions after t from the known state (the oracle).

        mu_i(t) h / 245 (its slow AR(1) decay over h <= 20 sessions is ignored) plus the planted term.
        """
        planted = np.zeros_like(self.state)
        if self.plant is not None:
            phi = 0.5 ** (1 / self.plant.half_life)
            planted = self.plant.return_per_sd * self.state * (1 - phi**horizon) / (1 - phi)
        return planted if planted_only else planted + self.drift * horizon / SESSIONS_PER_YEAR


@dataclass(frozen=True, eq=False)
class SamplePanel:
    """A synthetic panel and the truth behind it (for oracles and tests, never for features)."""

    panel: RankerPanel
    truth: PlantedTruth


def sample_panel(
    n_stocks: int,
    start: object,
    end: object,
    seed: int = 7,
    n_sectors: int = 11,
    plant: PlantSettings | None = None,
    calendar: TradingCalendar | None = None,
) -> SamplePanel:
    """A synthetic universe ``S0001.T ...`` over the sessions in [start, end], the market opening at ``start``."""
    source = SampleMarketSource.synthetic(n_stocks, n_sectors, seed, calendar, origin=str(pd.Timestamp(start).date()))
    prices = _wide(source.panel(start, end), source.tickers)
    drift = source.latent_drift(start, end).to_numpy()
    state = np.zeros_like(drift)
    if plant is not None:
        state = planted_state(seed, source.tickers, len(prices.dates), plant.half_life)
        prices = plant_signal(prices, state, plant, source.params.overnight_share)
    panel = RankerPanel(prices, tuple(source.sectors[t] for t in source.tickers))
    return SamplePanel(panel, PlantedTruth(drift, state, plant))


def planted_state(seed: int, tickers: Sequence[str], n_sessions: int, half_life: float) -> np.ndarray:
    """(T, N) the planted AR(1) q_i(t), unit variance, started in its stationary law."""
    shocks = np.empty((n_sessions, len(tickers)))
    for j, ticker in enumerate(tickers):
        entropy = [seed, PLANT_DOMAIN, *ticker.encode("utf-8")]
        shocks[:, j] = np.random.default_rng(np.random.SeedSequence(entropy)).standard_normal(n_sessions)
    phi = 0.5 ** (1 / half_life)
    scale = math.sqrt(1 - phi**2)
    state = np.empty_like(shocks)
    state[0] = shocks[0]
    for t in range(1, n_sessions):
        state[t] = phi * state[t - 1] + scale * shocks[t]
    return state


def plant_signal(prices: PricePanel, state: np.ndarray, plant: PlantSettings, overnight_share: float) -> PricePanel:
    """``prices`` with the planted state's volume shift and its next-session returns (module docstring)."""
    shift = np.zeros_like(state)  # (T, N) A(t): cumulative planted log return up to the close of t
    shift[1:] = plant.return_per_sd * np.cumsum(state[:-1], axis=0)
    before = np.vstack([np.zeros((1, state.shape[1])), shift[:-1]])  # A(t - 1)
    at_open = before + overnight_share * (shift - before)
    open_, close = _tick(prices.open * np.exp(at_open)), _tick(prices.close * np.exp(shift))
    high = np.maximum(_tick(prices.high * np.exp(np.maximum(at_open, shift))), np.maximum(open_, close))
    low = np.minimum(_tick(prices.low * np.exp(np.minimum(at_open, shift))), np.minimum(open_, close))
    lots = np.maximum(np.round(prices.volume * np.exp(plant.volume_loading * state) / LOT_SHARES), 1)
    return PricePanel(
        dates=prices.dates,
        tickers=prices.tickers,
        open=open_,
        high=high,
        low=low,
        close=close,
        adj_close=close.copy(),
        volume=lots * LOT_SHARES,
    )


def oracle_rank_ic(sample: SamplePanel, horizons: Sequence[int]) -> dict[int, dict[str, float]]:
    """Mean per-date RankIC with the realised target of each horizon: of the full oracle, the plant, the drift."""
    out: dict[int, dict[str, float]] = {}
    for h in horizons:
        realised = forward_returns(sample.panel.prices.adj_close, h)
        planted = sample.truth.expected_returns(h, planted_only=True)
        scores = {
            "oracle": sample.truth.expected_returns(h),
            "planted": planted,
            "drift": sample.truth.drift,
        }
        out[h] = {name: float(np.nanmean(rank_ic_by_date(score, realised))) for name, score in scores.items()}
    return out


def _wide(frame: pd.DataFrame, tickers: tuple[str, ...]) -> PricePanel:
    """The sample market's (date, ticker) product-indexed frame as (T, N) arrays."""
    dates = frame.index.get_level_values("date").unique()
    if len(frame) != len(dates) * len(tickers) or tuple(frame.index[: len(tickers)].get_level_values(1)) != tickers:
        raise ValueError("expected the sample market's panel: every (date, ticker) pair, dates outer")
    arrays = {c: frame[c].to_numpy(dtype=np.float64).reshape(len(dates), len(tickers)) for c in frame.columns}
    return PricePanel(dates=pd.DatetimeIndex(dates, name="date"), tickers=tickers, **arrays)


def _tick(jpy: np.ndarray) -> np.ndarray:
    """Prices rounded to the 0.1 JPY tick, never below one tick."""
    return np.maximum(np.round(jpy, 1), TICK_JPY)

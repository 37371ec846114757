"""The sample market's generative model: parameters and simulation, pure numpy and scipy (no I/O).

A factor model with GARCH(1,1) market and sector shocks, a slowly varying expected return per stock
tied to its synthetic fundamentals (the planted signal), news jumps, and bars and volumes drawn from
the day's return. Every random stream is seeded by (seed, domain tag, word of a ticker or sector), so
a stock's history never depends on which other stocks are simulated with it. Units as in
kabucast.data.sources.sample_market; the equations are in docs/SAMPLE_MARKET.md.
:class:`~kabucast.data.sources.sample_market.SampleMarketSource` serves what this simulates.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.signal import lfilter
from scipy.special import log_ndtr, ndtr

SESSIONS_PER_YEAR = 245
"""Sessions in a JPX year, the annualisation factor of every drift and vol below."""
TICK_JPY = 0.1
LOT_SHARES = 100
_MARKET, _SECTOR, _STOCK_SHOCKS, _STOCK_STATICS, _LEAD = 1, 2, 3, 4, 5
"""Domain tags of the random streams, so that no two streams share a seed."""
_STATIC_DRAWS = (
    "value",
    "quality",
    "other",
    "beta",
    "loading",
    "idio_vol",
    "price",
    "size",
    "pb",
    "pe",
    "payout",
    "leverage",
    "volume",
    "lead",
)
"""The standard normal draws fixed per (seed, ticker), in stream order (append only)."""
_SHOCKS_PER_SESSION = 8


@dataclass(frozen=True)
class Garch:
    """GARCH(1,1) of a daily shock: annualised long-run vol, reaction to the last squared shock, persistence."""

    vol: float
    alpha: float
    beta: float


@dataclass(frozen=True)
class MarketParams:
    """Every tunable constant of the generative model (docs/SAMPLE_MARKET.md shows where each enters).

    Drifts and vols are annualised log-return figures; half-lives are in sessions. ``drift_volume`` is
    the shift of log volume per standard deviation of the drift's moving part: 0 (the default) keeps
    the drift out of the volumes; above 0 traders crowd into the stocks whose expected return is high
    and volumes show it (see :data:`PLANTED`).
    """

    market_drift: float = 0.05
    market: Garch = Garch(vol=0.17, alpha=0.12, beta=0.86)
    sector: Garch = Garch(vol=0.10, alpha=0.10, beta=0.88)
    idio_alpha: float = 0.10
    idio_beta: float = 0.88
    idio_vol_low: float = 0.16
    idio_vol_high: float = 0.26
    beta_std: float = 0.25
    loading_std: float = 0.30
    news_prob: float = 1 / 60
    news_scale: float = 4.0
    drift_value: float = 0.045
    drift_quality: float = 0.03
    drift_other: float = 0.03
    drift_std: float = 0.10
    drift_half_life: float = 82.0
    drift_volume: float = 0.0
    overnight_share: float = 0.25
    price_median: float = 1500.0
    price_log_std: float = 0.8
    volume_median: float = 1.0e6
    volume_return_weight: float = 0.35
    volume_surprise_cap: float = 6.0
    volume_noise: float = 0.35
    news_volume: float = 1.0
    lead_vol: float = 0.0  # annualised vol of each sector's lead factor (0: none, the default market)
    lead_share: float = 0.25  # share of stocks that lead their sector (the largest: move with the factor the same day)
    lead_lag_first: int = 5  # a follower moves with the factor this many sessions later ...
    lead_lag_last: int = 20  # ... up to this many (its own lag, drawn per stock)


PLANTED = MarketParams(drift_std=0.25, drift_half_life=42.0, drift_volume=1.0)
"""The planted-signal preset: a faster, stronger moving drift that volumes reveal (attention).

A stock whose drift is 1 sd above its mean trades e times its usual volume, so the weekly volume
features see the drift and a forecaster can learn it at a 1-month horizon
(tests/functional/test_planted_signal.py). Deliberately far stronger than any real volume effect;
docs/SAMPLE_MARKET.md gives its oracle RankIC.
"""


LEAD_LAG = MarketParams(lead_vol=0.20)
"""The cross-sectional preset: each sector has a lead factor that its largest quarter (the leaders, by size: their
market cap and volume say so) moves with the same day and every other stock (a follower) 1 to 4 weeks later, at a
lag of its own. A follower's own past says
nothing of its next move (the factor is white noise), its leaders' recent moves do: a model that sees the stocks
of a date together can learn it, one that sees each stock alone cannot (docs/SAMPLE_MARKET.md)."""


@dataclass(frozen=True)
class StockConstants:
    """Per-stock constants, arrays over stocks (n,): loadings, variances, drift mean, price and volume levels."""

    sector_index: np.ndarray  # column of the stock's sector in Factors (minus the market column)
    beta: np.ndarray  # loading on the market factor
    loading: np.ndarray  # loading on the sector factor
    idio_var: np.ndarray  # long-run daily variance of the idiosyncratic shock
    daily_vol: np.ndarray  # long-run daily vol of the whole return
    drift_mean: np.ndarray  # m_i, annualised log return
    log_price0: np.ndarray  # log JPY, the close before the origin session
    log_volume: np.ndarray  # log shares, the typical session volume
    lead_lag: np.ndarray | None = None  # sessions after its sector's lead factor the stock moves with it (0: leads)


@dataclass(frozen=True)
class Factors:
    """Market (column 0) and sector (columns 1..S) log returns per session, and their conditional variances."""

    returns: np.ndarray  # (T, 1 + S)
    variances: np.ndarray  # (T, 1 + S)
    leads: np.ndarray | None = None  # (T, S) each sector's lead factor (None: the market has none)


def word(text: str) -> int:
    """A stable 64-bit hash of a name (Python's hash() changes between processes)."""
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "little")


def _stream(seed: int, *words: int) -> np.random.Generator:
    """An independent random stream per (seed, domain, name); draws come in order, so longer draws extend shorter."""
    return np.random.default_rng(np.random.SeedSequence([seed, *words]))


def static_draws(seed: int, tickers: Sequence[str]) -> dict[str, np.ndarray]:
    """The per-stock standard normals of :data:`_STATIC_DRAWS`, each an array over ``tickers``."""
    raw = np.stack([_stream(seed, _STOCK_STATICS, word(t)).standard_normal(len(_STATIC_DRAWS)) for t in tickers])
    return dict(zip(_STATIC_DRAWS, raw.T, strict=True))


def stock_shocks(seed: int, tickers: Sequence[str], n_sessions: int) -> np.ndarray:
    """Standard normal shocks (8, T, n): one stream per ticker, drawn session by session (prefix-stable)."""
    shocks = np.empty((_SHOCKS_PER_SESSION, n_sessions, len(tickers)))
    for j, t in enumerate(tickers):
        shocks[:, :, j] = _stream(seed, _STOCK_SHOCKS, word(t)).standard_normal((n_sessions, _SHOCKS_PER_SESSION)).T
    return shocks


def stock_constants(draws: dict[str, np.ndarray], sector_index: np.ndarray, p: MarketParams) -> StockConstants:
    """Per-stock constants from the static draws (equations in docs/SAMPLE_MARKET.md, "Stocks")."""
    beta = np.clip(1 + p.beta_std * draws["beta"], 0.3, 2.0)
    loading = np.clip(1 + p.loading_std * draws["loading"], 0.2, 2.0)
    idio_vol = p.idio_vol_low + (p.idio_vol_high - p.idio_vol_low) * ndtr(draws["idio_vol"])
    idio_var = idio_vol**2 / SESSIONS_PER_YEAR
    factor_var = (beta * p.market.vol) ** 2 + (loading * p.sector.vol) ** 2
    return StockConstants(
        sector_index=sector_index,
        beta=beta,
        loading=loading,
        idio_var=idio_var,
        daily_vol=np.sqrt(factor_var / SESSIONS_PER_YEAR + idio_var),
        drift_mean=p.drift_value * draws["value"] + p.drift_quality * draws["quality"] + p.drift_other * draws["other"],
        log_price0=math.log(p.price_median) + p.price_log_std * draws["price"],
        log_volume=math.log(p.volume_median) + 0.5 * draws["size"] - 0.5 * draws["price"] + 0.3 * draws["volume"],
        lead_lag=lead_lags(draws["size"], draws["lead"], p) if p.lead_vol else None,
    )


def lead_lags(size: np.ndarray, lead: np.ndarray, p: MarketParams) -> np.ndarray:
    """Each stock's lag behind its sector's lead factor (sessions, (n,) int): 0 for the largest ``lead_share`` by
    the ``size`` draw (big caps lead: market cap and volume show who they are), else uniform in
    ``lead_lag_first .. lead_lag_last`` by its ``lead`` draw."""
    span = p.lead_lag_last - p.lead_lag_first + 1
    follower = np.minimum((ndtr(lead) * span).astype(np.int64), span - 1)
    return np.where(ndtr(size) > 1 - p.lead_share, 0, p.lead_lag_first + follower)


def fundamentals(draws: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Yahoo-like fundamentals: ratios, fractions (dividend yield, ROE), D/E in percent, market cap in JPY.

    Cheap (high ``value``) and profitable (high ``quality``) stocks have a higher long-run drift, so
    book-to-price, earnings yield and ROE carry part of the planted signal.
    """
    v, q = draws["value"], draws["quality"]
    pb = np.exp(math.log(1.2) - 0.45 * v + 0.25 * q + 0.20 * draws["pb"])
    pe = np.exp(math.log(15.0) - 0.30 * v - 0.15 * q + 0.20 * draws["pe"])
    payout = np.clip(0.30 + 0.12 * draws["payout"] + 0.05 * v, 0.0, 0.8)
    payout[payout < 0.05] = 0.0
    return {
        "trailingPE": np.round(pe, 2),
        "priceToBook": np.round(pb, 2),
        "dividendYield": np.round(payout / pe, 4),
        "returnOnEquity": np.round(pb / pe, 4),
        "debtToEquity": np.round(100 * np.exp(math.log(0.6) - 0.2 * q + 0.6 * draws["leverage"]), 3),
        "marketCap": np.round(np.exp(math.log(1.5e11) + 1.2 * draws["size"] + 0.3 * q)).astype(np.int64),
    }


def _garch_variance(
    shocks: np.ndarray, long_run: np.ndarray, alpha: float | np.ndarray, beta: float | np.ndarray
) -> np.ndarray:
    """Conditional daily variances (T, K) of GARCH(1,1) series driven by unit-variance ``shocks`` (T, K).

    h[0] is the long-run daily variance; h[t] = (1 - alpha - beta) long_run + (alpha shocks[t-1]^2 + beta) h[t-1].
    """
    h = np.empty_like(shocks)
    omega = (1 - alpha - beta) * long_run
    growth = alpha * shocks**2 + beta
    h[0] = long_run
    for t in range(1, len(shocks)):
        h[t] = omega + growth[t - 1] * h[t - 1]
    return h


def simulate_factors(seed: int, sectors: Sequence[str], n_sessions: int, p: MarketParams) -> Factors:
    """Market and sector factor log returns: GARCH(1,1) shocks; the market also carries its drift."""
    z = np.column_stack(
        [_stream(seed, _MARKET).standard_normal(n_sessions)]
        + [_stream(seed, _SECTOR, word(s)).standard_normal(n_sessions) for s in sectors]
    )
    specs = [p.market] + [p.sector] * len(sectors)
    long_run = np.array([g.vol**2 for g in specs]) / SESSIONS_PER_YEAR
    h = _garch_variance(z, long_run, np.array([g.alpha for g in specs]), np.array([g.beta for g in specs]))
    returns = np.sqrt(h) * z
    returns[:, 0] += p.market_drift / SESSIONS_PER_YEAR
    leads = None
    if p.lead_vol:
        daily = p.lead_vol / math.sqrt(SESSIONS_PER_YEAR)
        leads = np.column_stack([daily * _stream(seed, _LEAD, word(s)).standard_normal(n_sessions) for s in sectors])
    return Factors(returns=returns, variances=h, leads=leads)


def _drift_paths(shocks: np.ndarray, mean: np.ndarray, p: MarketParams) -> np.ndarray:
    """mu_i(t) = m_i + x_i(t), x an AR(1) started in its stationary law (annualised log return, (T, n))."""
    phi = 0.5 ** (1 / p.drift_half_life)
    scale = math.sqrt(1 - phi**2)
    e = shocks.copy()
    e[0] /= scale
    return mean + lfilter([p.drift_std * scale], [1.0, -phi], e, axis=0)


def simulate_stocks(stocks: StockConstants, f: Factors, shocks: np.ndarray, p: MarketParams) -> dict[str, np.ndarray]:
    """Bars (T, n) of a chunk of stocks: open/high/low/close JPY, volume shares, drift (annualised log return)."""
    z, eta, gap, up, down, vol_noise, news_draw, spike = shocks
    news = ndtr(news_draw) < p.news_prob
    xi = z * np.where(news, p.news_scale, 1.0) / math.sqrt(1 + p.news_prob * (p.news_scale**2 - 1))
    h = _garch_variance(z, stocks.idio_var, p.idio_alpha, p.idio_beta)
    drift = _drift_paths(eta, stocks.drift_mean, p)
    sector = 1 + stocks.sector_index
    r = drift / SESSIONS_PER_YEAR + stocks.beta * f.returns[:, :1] + stocks.loading * f.returns[:, sector]
    r += np.sqrt(h) * xi
    var = stocks.beta**2 * f.variances[:, :1] + stocks.loading**2 * f.variances[:, sector] + h
    if f.leads is not None and stocks.lead_lag is not None:  # leaders move with the factor, followers later
        r += _lagged(f.leads[:, stocks.sector_index], stocks.lead_lag)
        var = var + p.lead_vol**2 / SESSIONS_PER_YEAR
    bars = _bars(r, var, gap, up, down, stocks.log_price0, p.overnight_share)
    surprise = np.minimum(np.abs(r) / stocks.daily_vol, p.volume_surprise_cap) - math.sqrt(2 / math.pi)
    log_volume = stocks.log_volume + p.volume_return_weight * surprise
    log_volume += p.volume_noise * vol_noise + news * (p.news_volume + 0.4 * spike)
    if p.drift_volume:  # attention: volume rises with the drift's moving part x_i(t), in sd units
        log_volume += p.drift_volume * (drift - stocks.drift_mean) / p.drift_std
    lots = np.maximum(np.round(np.exp(log_volume) / LOT_SHARES), 1)
    return {**bars, "volume": (lots * LOT_SHARES).astype(np.int64), "drift": drift}


def _lagged(series: np.ndarray, lags: np.ndarray) -> np.ndarray:
    """(T, n) ``series`` with column j shifted ``lags[j]`` sessions later (zeros before)."""
    out = np.zeros_like(series)
    for j, lag in enumerate(lags):
        out[lag:, j] = series[: len(series) - lag, j]
    return out


def _bars(
    r: np.ndarray, var: np.ndarray, gap: np.ndarray, up: np.ndarray, down: np.ndarray, log_p0: np.ndarray, share: float
) -> dict[str, np.ndarray]:
    """OHLC in JPY from close-to-close log returns ``r`` and their conditional variances ``var`` (T, n).

    The overnight gap takes ``share`` of the variance (a Brownian split of r); high and low are the
    exact extremes of a Brownian bridge from open to close, so the range scales with the day's vol.
    """
    log_close = log_p0 + np.cumsum(r, axis=0)
    log_open = np.vstack([log_p0[None, :], log_close[:-1]]) + share * r + np.sqrt(share * (1 - share) * var) * gap
    body = log_close - log_open
    spread = -2 * (1 - share) * var
    log_high = log_open + 0.5 * (body + np.sqrt(body**2 + spread * log_ndtr(up)))
    log_low = log_open + 0.5 * (body - np.sqrt(body**2 + spread * log_ndtr(down)))
    o, c = _tick(np.exp(log_open)), _tick(np.exp(log_close))
    high = np.maximum(_tick(np.exp(log_high)), np.maximum(o, c))
    low = np.minimum(_tick(np.exp(log_low)), np.minimum(o, c))
    return {"open": o, "high": high, "low": low, "close": c}


def _tick(jpy: np.ndarray) -> np.ndarray:
    """Prices rounded to the 0.1 JPY tick, never below one tick."""
    return np.maximum(np.round(jpy, 1), TICK_JPY)

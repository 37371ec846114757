"""Cross-sectional ranker features: pure, vectorised functions of (T, N) price arrays.

Every feature at date t uses bars up to and including t only (rolling windows end at t; cross-sectional
statistics use date t's row only), see :mod:`kabucast.ranker.rolling`. Windows count sessions. Units:
returns are log returns; volatilities are daily log-return standard deviations (not annualised); Amihud
illiquidity is log(|daily return| per billion JPY traded); volume z-scores are in standard deviations
of log volume. NaN marks "not enough history" (the warm-up) or a missing bar. Features are raw here:
cross-sectional normalisation happens once, in :mod:`kabucast.ranker.normalize`. The table of every
feature is in docs/RANKER.md.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from kabucast.errors import ConfigError
from kabucast.ranker.arrays import PanelArray
from kabucast.ranker.panel import RankerPanel
from kabucast.ranker.rolling import lagged, rolling_corr, rolling_cov, rolling_mean, rolling_std, rolling_var
from kabucast.ranker.settings import FEATURE_GROUPS, FeatureSettings

AMIHUD_SCALE = 1e9
"""Amihud illiquidity is |log return| per this many JPY traded (a billion)."""
VOLVOL_INNER = 5
"""Sessions of the short Parkinson volatility whose variation vol-of-vol measures."""


# --- pure feature functions on (T, N) arrays ---------------------------------------------------------


def log_returns(close: np.ndarray, window: int) -> np.ndarray:
    """(T, N) log return over the last ``window`` sessions: log(close[t] / close[t - window])."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.log(close / lagged(close, window))


def parkinson_var(high: np.ndarray, low: np.ndarray) -> np.ndarray:
    """(T, N) one session's Parkinson variance: ln(H/L)^2 / (4 ln 2)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.log(high / low) ** 2 / (4 * math.log(2))


def rogers_satchell_var(open_: np.ndarray, high: np.ndarray, low: np.ndarray, close: np.ndarray) -> np.ndarray:
    """(T, N) one session's Rogers-Satchell variance: ln(H/C) ln(H/O) + ln(L/C) ln(L/O) (drift-free)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.log(high / close) * np.log(high / open_) + np.log(low / close) * np.log(low / open_)


def overnight_intraday(open_: np.ndarray, close: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(T, N) overnight log return ln(O_t / C_t-1) and open-to-close log return ln(C_t / O_t)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.log(open_ / lagged(close, 1)), np.log(close / open_)


def range_vol(daily_var: np.ndarray, window: int) -> np.ndarray:
    """(T, N) volatility from per-session variance estimates (Parkinson, Rogers-Satchell) over ``window``."""
    return np.sqrt(np.maximum(rolling_mean(daily_var, window), 0.0))


def yang_zhang_vol(overnight: np.ndarray, intraday: np.ndarray, rs_var: np.ndarray, window: int) -> np.ndarray:
    """(T, N) Yang-Zhang volatility: overnight variance + k open-to-close variance + (1 - k) Rogers-Satchell.

    k = 0.34 / (1.34 + (w + 1) / (w - 1)) (Yang and Zhang, 2000); needs ``window`` >= 2 and the
    previous close, so its warm-up is one session longer than the window.
    """
    k = 0.34 / (1.34 + (window + 1) / (window - 1))
    variance = rolling_var(overnight, window) + k * rolling_var(intraday, window)
    return np.sqrt(np.maximum(variance + (1 - k) * rolling_mean(rs_var, window), 0.0))


def vol_of_vol(parkinson: np.ndarray, window: int) -> np.ndarray:
    """(T, N) coefficient of variation over ``window`` sessions of the 5-session Parkinson volatility."""
    short = range_vol(parkinson, VOLVOL_INNER)
    with np.errstate(invalid="ignore", divide="ignore"):
        return rolling_std(short, window) / rolling_mean(short, window)


def amihud(returns: np.ndarray, close: np.ndarray, volume: np.ndarray, window: int) -> np.ndarray:
    """(T, N) log Amihud illiquidity: log of the mean over ``window`` of |return| per billion JPY traded.

    NaN where nothing traded (volume 0) in the window or the stock did not move at all.
    """
    traded = close * volume
    with np.errstate(invalid="ignore", divide="ignore"):
        daily = np.where(traded > 0, np.abs(returns) / traded * AMIHUD_SCALE, np.nan)
        mean = rolling_mean(daily, window)
        return np.where(mean > 0, np.log(mean), np.nan)


def volume_zscores(log_volume: np.ndarray, windows: Sequence[int], baseline: int) -> dict[int, np.ndarray]:
    """Per window w: (T, N) mean log volume of the last w sessions, in baseline std devs from the baseline mean."""
    mean, sd = rolling_mean(log_volume, baseline), rolling_std(log_volume, baseline)
    out = {}
    with np.errstate(invalid="ignore", divide="ignore"):
        for w in windows:
            out[w] = np.where(sd > 0, (rolling_mean(log_volume, w) - mean) / sd, np.nan)
    return out


def market_beta(returns: np.ndarray, market: np.ndarray, window: int) -> np.ndarray:
    """(T, N) OLS beta over ``window`` sessions of each stock's returns on the market's (T, 1)."""
    var = rolling_var(market, window)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(var > 0, rolling_cov(returns, market, window) / var, np.nan)


def group_mean(x: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """(T, N) per date, the mean of the finite values of ``x`` in each stock's group (``codes`` (N,))."""
    onehot = np.eye(codes.max() + 1)[codes]  # (N, K)
    valid = np.isfinite(x)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = (np.where(valid, x, 0.0) @ onehot) / (valid.astype(np.float64) @ onehot)  # (T, K)
    return means[:, codes]


def leave_one_out_mean(x: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """(T, N) per date, the mean of ``x`` over the OTHER stocks of each stock's group (NaN: no peer)."""
    onehot = np.eye(codes.max() + 1)[codes]  # (N, K)
    valid = np.isfinite(x)
    own = np.where(valid, x, 0.0)
    totals = (own @ onehot)[:, codes]  # (T, N) group sum, the stock included
    peers = (valid.astype(np.float64) @ onehot)[:, codes] - valid
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(peers > 0, (totals - own) / peers, np.nan)


# --- groups ----------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class _Inputs:
    """A panel's arrays and the derived series several groups share, computed once."""

    panel: RankerPanel

    @cached_property
    def returns(self) -> np.ndarray:
        """(T, N) daily log return of the dividend-adjusted close."""
        return log_returns(self.panel.prices.adj_close, 1)

    @cached_property
    def market(self) -> np.ndarray:
        """(T, 1) equal-weighted mean daily log return of the stocks with a return that day."""
        valid = np.isfinite(self.returns)
        with np.errstate(invalid="ignore", divide="ignore"):
            return (np.where(valid, self.returns, 0.0).sum(axis=1) / valid.sum(axis=1))[:, None]

    @cached_property
    def codes(self) -> np.ndarray:
        return self.panel.sector_codes()


Group = Callable[[_Inputs, FeatureSettings], dict[str, np.ndarray]]


def _returns_group(d: _Inputs, s: FeatureSettings) -> dict[str, np.ndarray]:
    return {f"ret_{w}": log_returns(d.panel.prices.adj_close, w) for w in s.return_windows}


def _volatility_group(d: _Inputs, s: FeatureSettings) -> dict[str, np.ndarray]:
    p = d.panel.prices
    parkinson, rs = parkinson_var(p.high, p.low), rogers_satchell_var(p.open, p.high, p.low, p.close)
    overnight, intraday = overnight_intraday(p.open, p.close)
    out: dict[str, np.ndarray] = {}
    for w in s.vol_windows:
        out[f"vol_park_{w}"] = range_vol(parkinson, w)
        out[f"vol_rs_{w}"] = range_vol(rs, w)
        out[f"vol_yz_{w}"] = yang_zhang_vol(overnight, intraday, rs, w)
    out[f"volvol_{s.volvol_window}"] = vol_of_vol(parkinson, s.volvol_window)
    return out


def _liquidity_group(d: _Inputs, s: FeatureSettings) -> dict[str, np.ndarray]:
    p = d.panel.prices
    return {f"amihud_{w}": amihud(d.returns, p.close, p.volume, w) for w in s.amihud_windows}


def _volume_group(d: _Inputs, s: FeatureSettings) -> dict[str, np.ndarray]:
    volume = d.panel.prices.volume
    with np.errstate(invalid="ignore", divide="ignore"):
        log_volume = np.where(volume > 0, np.log(volume), np.nan)
    zscores = volume_zscores(log_volume, s.volume_windows, s.volume_baseline)
    return {f"volume_z_{w}": z for w, z in zscores.items()}


def _beta_group(d: _Inputs, s: FeatureSettings) -> dict[str, np.ndarray]:
    return {f"beta_{s.beta_window}": market_beta(d.returns, d.market, s.beta_window)}


def _peer_corr_group(d: _Inputs, s: FeatureSettings) -> dict[str, np.ndarray]:
    w = s.corr_window
    return {
        f"peer_corr_{w}": rolling_corr(d.returns, leave_one_out_mean(d.returns, d.codes), w),
        f"market_corr_{w}": rolling_corr(d.returns, d.market, w),
    }


GROUPS: dict[str, Group] = {
    "returns": _returns_group,
    "volatility": _volatility_group,
    "liquidity": _liquidity_group,
    "volume": _volume_group,
    "beta": _beta_group,
    "peer_corr": _peer_corr_group,
}
"""The base groups; ``sector_relative`` is built last, from features of these."""


def build_features(panel: RankerPanel, settings: FeatureSettings) -> PanelArray:
    """The raw (T, N, F) float32 features of the configured groups, in :data:`FEATURE_GROUPS` order."""
    unknown = [g for g in settings.groups if g not in FEATURE_GROUPS]
    if unknown:
        known = ", ".join(FEATURE_GROUPS)
        raise ConfigError(f"unknown feature group {unknown[0]!r} in features.groups (known: {known})")
    inputs = _Inputs(panel)
    columns: dict[str, tuple[np.ndarray, str]] = {}
    for group in (g for g in FEATURE_GROUPS if g in settings.groups and g in GROUPS):
        for name, values in GROUPS[group](inputs, settings).items():
            columns[name] = (values.astype(np.float32), group)
    if "sector_relative" in settings.groups:
        for name, values in sector_relative(columns, settings.sector_relative, inputs.codes).items():
            columns[name] = (values, "sector_relative")
    return PanelArray(
        dates=panel.dates,
        tickers=panel.tickers,
        names=tuple(columns),
        groups=tuple(group for _, group in columns.values()),
        values=np.stack([values for values, _ in columns.values()], axis=2),
    )


def sector_relative(
    columns: dict[str, tuple[np.ndarray, str]], names: Sequence[str], codes: np.ndarray
) -> dict[str, np.ndarray]:
    """``<name>_sr``: each named feature minus its sector's mean on the same date (float32)."""
    missing = [n for n in names if n not in columns]
    if missing:
        raise ConfigError(
            f"features.sector_relative names {missing[0]!r}, which the selected groups do not build "
            f"(built: {', '.join(columns)})"
        )
    out = {}
    for name in names:
        x = columns[name][0].astype(np.float64)
        out[f"{name}_sr"] = (x - group_mean(x, codes)).astype(np.float32)
    return out


def warmup_sessions(settings: FeatureSettings) -> int:
    """Leading sessions in which some configured feature is NaN by construction (its windows are filling).

    Returns need the close ``w`` sessions back; Yang-Zhang, Amihud, beta and correlations need one daily
    return more than their window; vol-of-vol stacks its window on the 5-session Parkinson volatility.
    """
    needs = [
        *settings.return_windows,
        *settings.vol_windows,
        *settings.amihud_windows,
        settings.volvol_window + VOLVOL_INNER - 1,
        settings.volume_baseline,
        settings.beta_window,
        settings.corr_window,
    ]
    return max(needs)

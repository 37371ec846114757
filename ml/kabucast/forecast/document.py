"""Turn model outputs into the published forecast document (the seed's schema plus provenance).

Units: ``return`` and ``predicted_12m_return`` are simple returns (``exp(log_return) - 1``),
``predicted_price = current_price * exp(log_return)`` in the universe's ``currency`` (JPY by default);
month m is 21 sessions ahead. ``timestamp`` is the close of the session the forecast is based on,
local to the exchange (Tokyo: 15:30), not the wall clock, so the same inputs always give the same bytes.
Prices are rounded to 0.1 JPY, or to 0.01 in other currencies.

A model with a quantile head adds, per month, ``quantiles`` (level -> simple return) and ``interval``:
the range between its lowest and highest quantile (``coverage`` = their difference, 0.8 for 0.1 /
0.9) as returns and prices; the document then names its ``quantile_levels``, and ``band_adaptation``
says how the daily job's adaptive conformal factors stretched those quantiles around the median
(kabucast.forecast.adaptive_bands: ``method``, ``gamma``, ``factors`` per level pair and month,
``matured_forecasts`` learnt from, ``through`` (month -> the last forecast date learnt from) and
``factors_as_of``, the session whose factors they are, null for factors 1). ``model_kind`` names the
kind of the model that forecast (``bilstm``, ``ridge``, ``momentum``). All are additive: a reader of the
seed schema sees the same fields as before.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from kabucast.errors import KabucastError

CLOSE_TIME = "15:30:00"
"""Tokyo's closing time, the default ``close_time``."""
PRICE_DECIMALS = {"JPY": 1}
"""Decimals of a published price per currency (2 for a currency not listed)."""


class MissingHorizon(KabucastError):
    """A forecast document has no prediction for the month asked for."""


def forecast_document(
    tickers: tuple[str, ...],
    log_returns: np.ndarray,
    last_date: Mapping[str, pd.Timestamp],
    last_close: Mapping[str, float],
    sectors_of: Mapping[str, str],
    failures: Mapping[str, str],
    model_version: str,
    data_as_of: pd.Timestamp,
    currency: str = "JPY",
    close_time: str = CLOSE_TIME,
    quantiles: np.ndarray | None = None,
    levels: tuple[float, ...] = (),
    model_kind: str | None = None,
    band_adaptation: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The JSON document for ``predictions/<date>.json``; ``log_returns`` is (N, 12) in ``tickers`` order,
    ``quantiles`` (N, 12, Q) their quantiles at ``levels`` (None: a model without a quantile head),
    ``model_kind`` the served model's kind (model.json's, e.g. ``momentum`` when a free baseline is served),
    ``band_adaptation`` what stretched the quantiles (kabucast.forecast.adaptive_bands' record)."""
    if log_returns.shape != (len(tickers), 12) or not np.isfinite(log_returns).all():
        raise ValueError(f"expected finite (N={len(tickers)}, 12) log returns, got {log_returns.shape}")
    if quantiles is not None and (
        quantiles.shape != (len(tickers), 12, len(levels)) or not np.isfinite(quantiles).all()
    ):
        raise ValueError(f"expected finite (N={len(tickers)}, 12, {len(levels)}) quantiles, got {quantiles.shape}")
    decimals = PRICE_DECIMALS.get(currency, 2)
    rows = [
        _ticker_forecast(
            t,
            log_returns[i],
            last_date[t],
            last_close[t],
            sectors_of.get(t, "Unknown"),
            decimals,
            None if quantiles is None else quantiles[i],
            levels,
        )
        for i, t in enumerate(tickers)
    ]
    head = {"model_kind": model_kind} if model_kind is not None else {}
    head |= {"quantile_levels": list(levels)} if quantiles is not None else {}
    head |= {"band_adaptation": dict(band_adaptation)} if band_adaptation is not None else {}
    return {
        "timestamp": f"{data_as_of.date()}T{close_time}",
        "currency": currency,
        "num_predictions": len(rows),
        "predictions": rows,
        "model_version": model_version,
        "data_as_of": str(data_as_of.date()),
        **head,
        "failures": [{"ticker": t, "reason": r} for t, r in sorted(failures.items())],
    }


def _ticker_forecast(
    ticker: str,
    logret: np.ndarray,
    day: pd.Timestamp,
    price: float,
    sector: str,
    decimals: int,
    quantiles: np.ndarray | None = None,
    levels: tuple[float, ...] = (),
) -> dict[str, Any]:
    prices = price * np.exp(logret.astype(np.float64))
    months = [
        {"month": m + 1, "predicted_price": round(float(p), decimals), "return": round(float(np.expm1(r)), 6)}
        for m, (p, r) in enumerate(zip(prices, logret.astype(np.float64), strict=True))
    ]
    if quantiles is not None:
        q = quantiles.astype(np.float64)  # (12, Q): one numpy call per array, not per month
        returns, bounds = np.expm1(q).tolist(), (price * np.exp(q[:, [0, -1]])).tolist()
        for month, r, b in zip(months, returns, bounds, strict=True):
            month.update(_distribution(r, b, levels, decimals))
    return {
        "ticker": ticker,
        "as_of_date": str(day.date()),
        "current_price": round(float(price), decimals),
        "predictions": months,
        "predicted_12m_price": months[-1]["predicted_price"],
        "predicted_12m_return": months[-1]["return"],
        "sector": sector,
    }


def _distribution(
    returns: list[float], bounds: list[float], levels: tuple[float, ...], decimals: int
) -> dict[str, Any]:
    """One month's ``quantiles`` (level -> simple return) and ``interval``, from its quantiles' simple
    ``returns`` (Q,) and the prices at the lowest and highest (2,)."""
    interval = {
        "coverage": round(levels[-1] - levels[0], 6),
        "low": round(returns[0], 6),
        "high": round(returns[-1], 6),
        "low_price": round(bounds[0], decimals),
        "high_price": round(bounds[1], decimals),
    }
    return {
        "quantiles": {f"{lv:g}": round(r, 6) for lv, r in zip(levels, returns, strict=True)},
        "interval": interval,
    }


def top_by_12m_return(document: Mapping[str, Any], k: int = 5) -> list[tuple[str, float]]:
    """The ``k`` tickers with the highest predicted 12-month return, best first."""
    rows = sorted(document["predictions"], key=lambda r: (-r["predicted_12m_return"], r["ticker"]))
    return [(r["ticker"], r["predicted_12m_return"]) for r in rows[:k]]


def describe_top(document: Mapping[str, Any], k: int = 5) -> str:
    """Numbered lines of :func:`top_by_12m_return`, each with its 12-month interval when the model has one."""
    months = {r["ticker"]: r["predictions"][-1] for r in document["predictions"]}
    lines = []
    for i, (ticker, ret) in enumerate(top_by_12m_return(document, k), 1):
        interval = months[ticker].get("interval")
        span = (
            f"  ({interval['coverage']:.0%} interval {interval['low']:+.1%} .. {interval['high']:+.1%})"
            if interval
            else ""
        )
        lines.append(f"  {i}. {ticker}  {ret:+.1%}{span}")
    return "\n".join(lines)


def document_returns(document: dict, horizon_month: int) -> dict[str, float]:
    """Ticker -> predicted simple return ``horizon_month`` months ahead, from one forecast document."""
    out: dict[str, float] = {}
    for row in document.get("predictions", []):
        months = {int(p["month"]): float(p["return"]) for p in row.get("predictions", [])}
        if horizon_month not in months:
            raise MissingHorizon(
                f"the forecast of {row.get('ticker')} dated {document.get('data_as_of')} has no month "
                f"{horizon_month} (months {sorted(months)}); pick another --horizon-month"
            )
        out[str(row["ticker"])] = months[horizon_month]
    return out

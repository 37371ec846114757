"""Static features: the 6 fundamentals of kabucast.data.sources.base.STATIC_INFO_KEYS, model-scaled.

Each raw field becomes one feature of kabucast.features.registry.STATIC_FEATURES: ratios that
spread over orders of magnitude are logged (PBR, debt/equity, market cap), PER becomes the earnings
yield 1/PER (continuous through zero and through losses, where PER is not), and every feature is
clipped so one odd value cannot dominate.

Missing values: a field that is missing, not a number, or meaningless (PBR <= 0, PER = 0, debt/equity
< 0, market cap <= 0) is replaced by the median of that feature over every ticker of the frame (the
universe); when no ticker has it, by the registry's neutral value (a typical TOPIX large-cap figure).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from kabucast.data.sources.base import STATIC_INFO_KEYS
from kabucast.features.registry import STATIC_FEATURES, feature_names, neutral_values

STATIC_NAMES = feature_names(STATIC_FEATURES)
CLIP_BOUNDS: dict[str, tuple[float, float]] = {
    "earnings_yield": (-0.5, 0.5),
    "log_price_to_book": (-3.0, 3.0),
    "dividend_yield": (0.0, 0.2),
    "return_on_equity": (-1.0, 1.0),
    "log_debt_to_equity": (0.0, 5.0),
    "log_market_cap": (-5.0, 5.0),
}
"""Inclusive [low, high] of each static feature after its transform."""


def static_features(frame: pd.DataFrame, tickers: Sequence[str]) -> np.ndarray:
    """(N, 6) float32 static features of ``tickers`` from ``frame`` (index ticker, columns STATIC_INFO_KEYS).

    Units of the inputs: trailingPE and priceToBook are ratios, dividendYield and returnOnEquity
    fractions, debtToEquity a percentage (Yahoo style, 150 = 1.5x), marketCap JPY. A ticker or a
    column absent from ``frame`` counts as missing (module docstring).
    """
    if not frame.index.is_unique:
        raise ValueError(f"static frame has duplicate tickers: {sorted(set(frame.index[frame.index.duplicated()]))}")
    scaled = transform_static(frame)  # (M, 6)
    fill = scaled.median(skipna=True).fillna(pd.Series(neutral_values(STATIC_FEATURES), index=list(STATIC_NAMES)))
    return scaled.reindex(list(tickers)).fillna(fill).to_numpy(dtype=np.float32)


def transform_static(frame: pd.DataFrame) -> pd.DataFrame:
    """(M, 6) float64 features of every ticker of ``frame``, NaN where the input is missing or meaningless."""
    raw = frame.reindex(columns=list(STATIC_INFO_KEYS)).apply(pd.to_numeric, errors="coerce").astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        values = {
            "earnings_yield": 1.0 / raw["trailingPE"].where(raw["trailingPE"] != 0),
            "log_price_to_book": np.log(raw["priceToBook"].where(raw["priceToBook"] > 0)),
            "dividend_yield": raw["dividendYield"],
            "return_on_equity": raw["returnOnEquity"],
            "log_debt_to_equity": np.log1p(raw["debtToEquity"].where(raw["debtToEquity"] >= 0) / 100.0),
            "log_market_cap": np.log(raw["marketCap"].where(raw["marketCap"] > 0) / 1e12),
        }
    scaled = pd.DataFrame(values, index=frame.index).loc[:, list(STATIC_NAMES)]
    scaled = scaled.where(np.isfinite(scaled))
    low = pd.Series({name: bounds[0] for name, bounds in CLIP_BOUNDS.items()})
    high = pd.Series({name: bounds[1] for name, bounds in CLIP_BOUNDS.items()})
    return scaled.clip(lower=low, upper=high, axis=1)

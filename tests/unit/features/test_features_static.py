"""Static features: transforms, clipping and the missing-value policy."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from kabucast.data.sources.base import STATIC_INFO_KEYS
from kabucast.features.registry import STATIC_FEATURES
from kabucast.features.static import STATIC_NAMES, static_features


def info(rows: dict[str, tuple[object, ...]]) -> pd.DataFrame:
    return pd.DataFrame.from_dict(rows, orient="index", columns=list(STATIC_INFO_KEYS)).rename_axis("ticker")


def test_raw_fundamentals_become_scaled_features() -> None:
    # GIVEN one ticker with PER 20, PBR e, yield 3%, ROE 12%, D/E 150%, market cap 2 trillion JPY
    frame = info({"7203.T": (20.0, math.e, 0.03, 0.12, 150.0, 2e12)})

    # WHEN its static features are built
    features = static_features(frame, ["7203.T"])

    # THEN each is the documented transform, as float32 in registry order
    assert features.shape == (1, 6) and features.dtype == np.float32
    expected = [0.05, 1.0, 0.03, 0.12, math.log(2.5), math.log(2.0)]
    np.testing.assert_allclose(features[0], expected, rtol=1e-6)
    assert tuple(s.name for s in STATIC_FEATURES) == STATIC_NAMES


def test_extreme_values_are_clipped() -> None:
    # GIVEN absurd fundamentals (PER 0.5, PBR 1e6, yield 90%, ROE -300%, D/E 1e9%, market cap 1e20)
    frame = info({"X.T": (0.5, 1e6, 0.9, -3.0, 1e9, 1e20)})

    # WHEN / THEN every feature sits on its bound
    np.testing.assert_allclose(static_features(frame, ["X.T"])[0], [0.5, 3.0, 0.2, -1.0, 5.0, 5.0])


def test_missing_values_take_the_universe_median_then_the_neutral_value() -> None:
    # GIVEN three tickers: one with nonsense or missing fields, and nobody reporting ROE
    frame = info(
        {
            "A.T": (10.0, 1.0, 0.02, None, 100.0, 1e12),
            "B.T": (20.0, 2.0, 0.04, None, 50.0, 4e12),
            "C.T": (0.0, -1.0, None, "n/a", -5.0, float("nan")),
        }
    )

    # WHEN features are built for them and for a ticker absent from the frame
    features = static_features(frame, ["C.T", "Z.T", "A.T"])

    # THEN C's and Z's gaps are the medians of A and B; ROE is the registry's neutral value for all
    medians = [0.075, math.log(2.0) / 2, 0.03, 0.09, (math.log(2.0) + math.log(1.5)) / 2, math.log(2.0)]
    np.testing.assert_allclose(features[0], medians, rtol=1e-6)
    np.testing.assert_allclose(features[1], medians, rtol=1e-6)
    assert features[2, 3] == pytest.approx(STATIC_FEATURES[3].neutral)
    assert np.isfinite(features).all()


def test_duplicate_tickers_are_refused() -> None:
    # GIVEN a frame listing one ticker twice
    frame = pd.concat([info({"A.T": (10.0, 1.0, 0.02, 0.1, 100.0, 1e12)})] * 2)

    # WHEN / THEN it is refused, naming the ticker
    with pytest.raises(ValueError, match=r"A\.T"):
        static_features(frame, ["A.T"])

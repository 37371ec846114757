"""build_features: the whole model input of a universe as of one date."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kabucast.config import SectorSettings
from kabucast.data.calendar import TradingCalendar
from kabucast.data.sources.base import STATIC_INFO_KEYS
from kabucast.features.build import FeatureSet, build_features
from kabucast.features.panel import PricePanel
from kabucast.features.position import position_features
from kabucast.features.sequences import weekly_features_at
from kabucast.features.static import static_features

SECTORS_OF = {"1301.T": "Consumer Defensive", "2914.T": "Consumer Defensive", "7203.T": "Consumer Cyclical"}


@pytest.fixture
def static_frame() -> pd.DataFrame:
    rows = {
        "1301.T": (12.0, 1.1, 0.03, 0.08, 40.0, 1.5e11),
        "2914.T": (15.0, 2.0, 0.06, 0.12, 30.0, 8e12),
        "7203.T": (9.0, 1.2, 0.025, 0.13, 105.0, 4.5e13),
    }
    return pd.DataFrame.from_dict(rows, orient="index", columns=list(STATIC_INFO_KEYS))


def test_build_features_returns_model_shaped_arrays_and_failures(
    three_year_market: dict[str, pd.DataFrame],
    static_frame: pd.DataFrame,
    sectors: SectorSettings,
    calendar: TradingCalendar,
) -> None:
    # GIVEN a market where 2914.T is too young, and a request that also names an unknown ticker
    frames = dict(three_year_market)
    frames["2914.T"] = frames["2914.T"].loc["2022-01-04":]
    panel = PricePanel.from_frames(frames)
    tickers = ["7203.T", "2914.T", "9984.T", "1301.T", "0000.T"]

    # WHEN the features as of a Wednesday are built
    fs = build_features(panel, static_frame, SECTORS_OF, sectors, calendar, "2023-06-14", tickers)

    # THEN the good tickers get arrays of the model's shapes and dtypes, the others a reason
    assert fs.tickers == ("7203.T", "9984.T", "1301.T") and fs.as_of == pd.Timestamp("2023-06-14")
    assert fs.weekly.shape == (3, 156, 23) and fs.weekly.dtype == np.float32
    assert fs.static.shape == (3, 6) and fs.static.dtype == np.float32
    assert fs.position.shape == (3, 2) and fs.position.dtype == np.float32
    assert fs.sector_id.shape == (3,) and fs.sector_id.dtype == np.int64
    assert set(fs.failures) == {"2914.T", "0000.T"} and "156 needed" in fs.failures["2914.T"]
    for array in (fs.weekly, fs.static, fs.position):
        assert np.isfinite(array).all()

    # AND each part is the one its own function gives, row by row in ticker order
    np.testing.assert_array_equal(fs.weekly, weekly_features_at(panel, "2023-06-14", fs.tickers))
    np.testing.assert_array_equal(fs.static, static_features(static_frame, fs.tickers))
    np.testing.assert_array_equal(fs.position, np.repeat(position_features(["2023-06-14"], calendar), 3, axis=0))
    # 9984.T has no sector in the map: the unknown id
    assert fs.sector_id.tolist() == [2, sectors.unknown_id, 3]


def test_build_features_is_point_in_time(
    three_year_market: dict[str, pd.DataFrame],
    static_frame: pd.DataFrame,
    sectors: SectorSettings,
    calendar: TradingCalendar,
) -> None:
    # GIVEN the market and a copy with every bar after the as-of date doubled in price and volume
    day = pd.Timestamp("2023-02-08")
    changed = {}
    for ticker, frame in three_year_market.items():
        later = frame.copy()
        later.loc[later.index > day, ["open", "high", "low", "close", "adj_close", "volume"]] *= 2
        changed[ticker] = later
    args = (static_frame, SECTORS_OF, sectors, calendar, day, tuple(three_year_market))

    # WHEN features as of the date are built from both
    plain = build_features(PricePanel.from_frames(three_year_market), *args)
    later = build_features(PricePanel.from_frames(changed), *args)

    # THEN every array is bit-identical
    for name in ("weekly", "static", "position", "sector_id"):
        np.testing.assert_array_equal(getattr(plain, name), getattr(later, name))


def test_a_feature_set_refuses_inconsistent_shapes() -> None:
    # GIVEN arrays for two tickers but one ticker name WHEN / THEN the set refuses to exist
    with pytest.raises(ValueError, match="weekly"):
        FeatureSet(
            tickers=("A.T",),
            as_of=pd.Timestamp("2024-01-04"),
            weekly=np.zeros((2, 156, 23), np.float32),
            static=np.zeros((1, 6), np.float32),
            position=np.zeros((1, 2), np.float32),
            sector_id=np.zeros(1, np.int64),
            failures={},
        )

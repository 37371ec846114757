"""The 23 weekly features, checked by hand against direct computations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kabucast.data.calendar import TradingCalendar
from kabucast.features.panel import PricePanel
from kabucast.features.registry import TRADING_DAYS_PER_YEAR
from kabucast.features.sequences import weekly_features_at
from kabucast.features.weekly import WEEKLY_NAMES


def col(name: str) -> int:
    return WEEKLY_NAMES.index(name)


def _direct_weeks(frame: pd.DataFrame, as_of: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Weekly bars of one gap-free ticker up to ``as_of`` by plain pandas, and its adjusted daily bars."""
    past = frame.loc[:as_of]
    factor = past["adj_close"] / past["close"]
    daily = pd.DataFrame(
        {
            "close": past["adj_close"],
            "high": past["high"] * factor,
            "low": past["low"] * factor,
            "volume": past["volume"],
            "ret": np.log(past["adj_close"]).diff(),
            "monday": past.index - pd.to_timedelta(past.index.day_of_week, unit="D"),
        }
    )
    weeks = daily.groupby("monday").agg(
        close=("close", "last"), high=("high", "max"), low=("low", "min"), volume=("volume", "sum")
    )
    weeks["sessions"] = daily.groupby("monday").size()
    return weeks, daily


def _expected(weeks: pd.DataFrame, daily: pd.DataFrame) -> dict[str, float]:
    """The hand-computed features of the last row of ``weeks``."""
    close = weeks["close"].to_numpy()
    days4 = daily[daily["monday"].isin(weeks.index[-4:])]
    weekly_returns = np.diff(np.log(close))[-14:]
    per_session = weeks["volume"] / weeks["sessions"]
    window = weeks.iloc[-52:]
    return {
        "ret_1w": np.log(close[-1] / close[-2]),
        "ret_4w": np.log(close[-1] / close[-5]),
        "ret_52w": np.log(close[-1] / close[-53]),
        "rvol_4w": np.sqrt(TRADING_DAYS_PER_YEAR * np.mean(days4["ret"] ** 2)),
        "parkinson_4w": np.sqrt(
            TRADING_DAYS_PER_YEAR * np.mean(np.log(days4["high"] / days4["low"]) ** 2) / (4 * np.log(2))
        ),
        "dist_high_52w": np.log(close[-1] / window["high"].max()),
        "dist_low_52w": np.log(close[-1] / window["low"].min()),
        "ma_ratio_13w": np.log(close[-1] / close[-13:].mean()),
        "volume_rel_52w": np.log1p(per_session.iloc[-1]) - np.log1p(window["volume"].sum() / window["sessions"].sum()),
        "rsi_14w": weekly_returns.clip(min=0).sum() / np.abs(weekly_returns).sum(),
    }


@pytest.mark.parametrize("as_of", ["2023-06-30", "2023-06-28", "2022-12-14"])
def test_features_equal_a_direct_computation(three_year_market: dict[str, pd.DataFrame], as_of: str) -> None:
    # GIVEN a four-ticker market and an as-of date (a Friday, or a Wednesday: partial last week)
    frame = three_year_market["7203.T"]
    panel = PricePanel.from_frames(three_year_market)

    # WHEN the sequences as of that date are built
    features = weekly_features_at(panel, as_of)[panel.tickers.index("7203.T")]  # (156, 23)

    # THEN the last row, and a complete week 30 rows earlier, match plain pandas on the same bars
    weeks, daily = _direct_weeks(frame, as_of)
    for row, cut in ((-1, len(weeks)), (-31, len(weeks) - 30)):
        expected = _expected(weeks.iloc[:cut], daily)
        for name, value in expected.items():
            assert features[row, col(name)] == pytest.approx(value, rel=1e-5, abs=1e-6), (name, row)


def _stair_market(calendar: TradingCalendar, pattern: tuple[float, ...]) -> pd.DataFrame:
    """Prices constant within each week, moving by the weekly log returns ``pattern`` (repeated)."""
    sessions = calendar.sessions("2020-01-06", "2023-12-29")
    mondays = sessions - pd.to_timedelta(sessions.day_of_week, unit="D")
    week = np.unique(mondays, return_inverse=True)[1]
    steps = np.resize(np.array(pattern), week.max() + 1)
    level = (1000.0 * np.exp(np.cumsum(steps)))[week]
    columns = {"open": level, "high": level, "low": level, "close": level, "adj_close": level}
    return pd.DataFrame({**columns, "volume": np.full(len(sessions), 1000)}, index=sessions.rename("date"))


def test_a_known_series_gives_known_values(calendar: TradingCalendar) -> None:
    # GIVEN a price that is flat within each week and alternates +2% / -1% (log) between weeks
    frame = _stair_market(calendar, (0.02, -0.01))
    panel = PricePanel.from_frames({"S.T": frame})

    # WHEN its features are built as of the last Friday
    last = weekly_features_at(panel, "2023-12-29")[0, -1]  # (23,)

    # THEN returns, RSI and the flat-week features are exact
    ret_1w = last[col("ret_1w")]
    assert ret_1w == pytest.approx(0.02) or ret_1w == pytest.approx(-0.01)
    assert last[col("ret_4w")] == pytest.approx(0.02)
    assert last[col("ret_52w")] == pytest.approx(26 * 0.01)
    assert last[col("rsi_14w")] == pytest.approx(2 / 3)
    assert last[col("overnight_1w")] == pytest.approx(ret_1w)
    assert last[col("dist_high_52w")] == pytest.approx(0.0 if ret_1w > 0 else -0.01, abs=1e-6)
    for name in ("body_1w", "range_1w", "mkt_rel_1w", "volume_rel_52w", "volume_z_13w"):
        assert last[col(name)] == pytest.approx(0.0, abs=1e-6), name


def test_market_relative_returns_sum_to_zero_across_tickers(three_year_market: dict[str, pd.DataFrame]) -> None:
    # GIVEN four tickers listed over the whole window
    panel = PricePanel.from_frames(three_year_market)

    # WHEN sequences are built
    features = weekly_features_at(panel, "2023-05-17").astype(np.float64)  # (4, 156, 23)

    # THEN each week's market-relative return is the return minus the cross-sectional mean
    ret = features[:, :, col("ret_1w")]
    np.testing.assert_allclose(features[:, :, col("mkt_rel_1w")], ret - ret.mean(axis=0), atol=1e-6)
    np.testing.assert_allclose(features[:, :, col("mkt_rel_13w")].sum(axis=0), 0.0, atol=1e-5)


def test_features_are_scale_free(three_year_market: dict[str, pd.DataFrame]) -> None:
    # GIVEN the same market with every price x 37 and every volume x 3
    panel = PricePanel.from_frames(three_year_market)
    scaled_frames = {}
    for ticker, frame in three_year_market.items():
        scaled = frame.copy()
        scaled[["open", "high", "low", "close", "adj_close"]] *= 37.0
        scaled["volume"] *= 3
        scaled_frames[ticker] = scaled

    # WHEN features are built for both
    plain = weekly_features_at(panel, "2023-03-15")
    rescaled = weekly_features_at(PricePanel.from_frames(scaled_frames), "2023-03-15")

    # THEN every feature but the volume levels (log1p keeps a small offset) is unchanged
    volume = [col("volume_rel_52w"), col("volume_z_13w")]
    others = [i for i in range(len(WEEKLY_NAMES)) if i not in volume]
    np.testing.assert_allclose(plain[..., others], rescaled[..., others], atol=1e-5)
    np.testing.assert_allclose(plain[..., volume], rescaled[..., volume], atol=1e-3)

"""Ranker features: point in time, the formulas against pandas / closed forms, and their configuration."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest

from kabucast.errors import ConfigError
from kabucast.features.panel import PANEL_COLUMNS
from kabucast.ranker.features import (
    build_features,
    group_mean,
    leave_one_out_mean,
    parkinson_var,
    range_vol,
    warmup_sessions,
)
from kabucast.ranker.panel import RankerPanel
from kabucast.ranker.rolling import rolling_corr, rolling_mean, rolling_std
from kabucast.ranker.sample import SamplePanel
from kabucast.ranker.settings import FEATURE_GROUPS, FeatureSettings
from kabucast.ranker.targets import build_targets

AS_OF = 150
"""The date row whose features must not see what comes after it."""


def scrambled_after(panel: RankerPanel, row: int, seed: int = 0) -> RankerPanel:
    """The panel with every bar after ``row`` replaced by unrelated values (bars up to ``row`` untouched)."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for name in PANEL_COLUMNS:
        values = getattr(panel.prices, name).copy()
        future = values[row + 1 :]
        values[row + 1 :] = np.round(future * rng.lognormal(0.0, 0.5, future.shape), 1)
        arrays[name] = values
    arrays["volume"][row + 5] = 0.0  # a day without trades, and a missing bar, in the future
    arrays["close"][row + 7, 3] = np.nan
    return RankerPanel(dataclasses.replace(panel.prices, **arrays), panel.sectors)


def test_features_at_t_do_not_move_when_the_future_changes(small: SamplePanel) -> None:
    # GIVEN the panel and a copy whose bars after AS_OF are scrambled
    settings = FeatureSettings()
    before = build_features(small.panel, settings)
    after = build_features(scrambled_after(small.panel, AS_OF), settings)

    # THEN every feature up to AS_OF is bit-for-bit the same, and later ones did change
    np.testing.assert_array_equal(before.values[: AS_OF + 1], after.values[: AS_OF + 1])
    assert not np.array_equal(before.values[AS_OF + 1 :], after.values[AS_OF + 1 :], equal_nan=True)
    # AND the target at AS_OF starts after it: it changes, and the target of AS_OF - h does not
    t_before, t_after = build_targets(small.panel, [5]), build_targets(scrambled_after(small.panel, AS_OF), [5])
    np.testing.assert_array_equal(t_before.values[: AS_OF - 4], t_after.values[: AS_OF - 4])
    assert not np.array_equal(t_before.values[AS_OF], t_after.values[AS_OF])


def test_target_is_the_return_from_close_t_to_close_t_plus_h(small: SamplePanel) -> None:
    close = small.panel.prices.adj_close
    fwd = build_targets(small.panel, [1, 5]).column("fwd_5")
    np.testing.assert_allclose(fwd[10], close[15] / close[10] - 1.0, rtol=1e-6)
    assert np.isnan(fwd[-5:]).all() and np.isfinite(fwd[:-5]).all()


def test_every_group_builds_with_the_documented_names(small: SamplePanel) -> None:
    features = build_features(small.panel, FeatureSettings())
    assert features.values.dtype == np.float32 and features.normalization is None
    assert set(features.groups) == set(FEATURE_GROUPS)
    assert features.group_columns("returns") == ["ret_1", "ret_5", "ret_10", "ret_20", "ret_60"]
    assert "volume_z_5_sr" in features.names and "peer_corr_60" in features.names
    body = features.values[warmup_sessions(FeatureSettings()) :]
    assert np.isfinite(body).all()
    np.testing.assert_allclose(
        features.column("ret_5")[100],
        np.log(small.panel.prices.adj_close[100] / small.panel.prices.adj_close[95]),
        rtol=1e-5,
    )


def test_groups_are_selected_by_config(small: SamplePanel) -> None:
    only = build_features(small.panel, FeatureSettings(groups=("volume", "beta")))
    assert only.names == ("volume_z_1", "volume_z_5", "volume_z_20", "beta_60")
    with pytest.raises(ConfigError, match="unknown feature group 'momentum'"):
        build_features(small.panel, FeatureSettings(groups=("momentum",)))
    with pytest.raises(ConfigError, match="sector_relative names 'ret_5'"):
        build_features(small.panel, FeatureSettings(groups=("volume", "sector_relative")))


def test_sector_relative_features_average_zero_within_each_sector(small: SamplePanel) -> None:
    features = build_features(
        small.panel, FeatureSettings(groups=("returns", "sector_relative"), sector_relative=("ret_5",))
    )
    relative = features.column("ret_5_sr").astype(np.float64)[100]
    codes = small.panel.sector_codes()
    for code in np.unique(codes):
        assert abs(relative[codes == code].mean()) < 1e-6


def test_rolling_statistics_match_pandas() -> None:
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(120, 4)), rng.normal(size=(120, 4))
    x[30, 1] = np.nan
    px, py = pd.DataFrame(x), pd.DataFrame(y)
    np.testing.assert_allclose(rolling_mean(x, 20), px.rolling(20).mean(), atol=1e-12)
    np.testing.assert_allclose(rolling_std(x, 20), px.rolling(20).std(), atol=1e-12)
    np.testing.assert_allclose(rolling_corr(x, y, 20), px.rolling(20).corr(py), atol=1e-10)


def test_parkinson_volatility_of_a_constant_range() -> None:
    high, low = np.full((30, 2), 101.0), np.full((30, 2), 100.0)
    vol = range_vol(parkinson_var(high, low), 10)
    assert np.isnan(vol[:9]).all()
    np.testing.assert_allclose(vol[9:], math.log(1.01) / math.sqrt(4 * math.log(2)))


def test_group_means_with_and_without_the_stock_itself() -> None:
    x = np.array([[1.0, 2.0, 3.0, np.nan, 10.0]])
    codes = np.array([0, 0, 0, 0, 1])
    np.testing.assert_allclose(group_mean(x, codes), [[2.0, 2.0, 2.0, 2.0, 10.0]])
    np.testing.assert_allclose(leave_one_out_mean(x, codes), [[2.5, 2.0, 1.5, 2.0, np.nan]])

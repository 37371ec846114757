"""Cross-sectional normalisation happens once, in one place."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kabucast.ranker.arrays import PanelArray
from kabucast.ranker.errors import AlreadyNormalized, NotNormalized
from kabucast.ranker.features import build_features
from kabucast.ranker.loader import write_arrays
from kabucast.ranker.normalize import normalize
from kabucast.ranker.sample import SamplePanel
from kabucast.ranker.settings import FeatureSettings, NormalizationSettings
from kabucast.ranker.targets import build_targets


@pytest.fixture(scope="module")
def raw(small: SamplePanel) -> PanelArray:
    return build_features(small.panel, FeatureSettings(groups=("returns", "volume")))


def test_zscore_per_date_and_feature(raw: PanelArray) -> None:
    z = normalize(raw, NormalizationSettings("zscore", clip=5.0))
    assert z.normalization == "zscore" and raw.normalization is None
    row = z.values[100].astype(np.float64)  # (N, F)
    np.testing.assert_allclose(row.mean(axis=0), 0.0, atol=1e-6)
    np.testing.assert_allclose(row.std(axis=0), 1.0, atol=1e-5)
    assert np.array_equal(np.isnan(z.values), np.isnan(raw.values))  # NaN stays NaN (the warm-up)


def test_rank_maps_onto_minus_half_to_half(raw: PanelArray) -> None:
    r = normalize(raw, NormalizationSettings("rank"))
    row = r.values[100]
    assert row.min() == -0.5 and row.max() == 0.5
    order = np.argsort(raw.values[100, :, 0])
    assert (np.diff(row[order, 0]) > 0).all()


def test_clip_bounds_outliers(raw: PanelArray) -> None:
    spiked = raw.values.copy()
    spiked[100, 0, 0] = 1e6
    z = normalize(PanelArray(raw.dates, raw.tickers, raw.names, raw.groups, spiked), NormalizationSettings(clip=3.0))
    assert z.values[100, 0, 0] == 3.0


def test_normalising_twice_is_refused(raw: PanelArray) -> None:
    once = normalize(raw, NormalizationSettings())
    with pytest.raises(AlreadyNormalized, match="already zscore-normalised"):
        normalize(once, NormalizationSettings("rank"))
    with pytest.raises(ValueError, match="before normalising"):
        once.with_columns({"extra": once.column("ret_1")}, "returns")


def test_the_loader_only_takes_normalised_features(tmp_path: Path, raw: PanelArray, small: SamplePanel) -> None:
    targets = build_targets(small.panel, [1])
    with pytest.raises(NotNormalized):
        write_arrays(raw, targets, tmp_path)
    arrays = write_arrays(normalize(raw, NormalizationSettings()), targets, tmp_path)
    assert arrays.normalization == "zscore"  # recorded in meta.json beside the arrays
    assert not np.isnan(arrays.features()).any()  # NaN written as 0, the cross-sectional centre

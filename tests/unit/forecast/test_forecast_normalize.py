"""Feature statistics: training arrays only, constant features, the model.json round trip."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from kabucast.forecast.normalize import Normalizer

from .conftest import random_batch


def test_fit_uses_every_week_of_every_training_sample_only() -> None:
    # GIVEN training samples and validation samples on a very different scale
    train, val = random_batch(20, seed=1), random_batch(20, seed=2)
    val["weekly"] *= 100.0
    # WHEN the normalizer is fitted on the training arrays
    norm = Normalizer.fit(train["weekly"], train["static"])
    # THEN its statistics are exactly those of the training weeks (all weeks and samples pooled)
    np.testing.assert_allclose(norm.weekly_mean.numpy(), train["weekly"].reshape(-1, 23).mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(norm.weekly_std.numpy(), train["weekly"].reshape(-1, 23).std(axis=0), rtol=1e-5)
    np.testing.assert_allclose(norm.static_mean.numpy(), train["static"].mean(axis=0), rtol=1e-5)
    assert norm.weekly_std.max() < 10.0  # nothing of the x100 validation data leaked in


def test_a_constant_feature_is_not_divided_by_zero() -> None:
    # GIVEN a weekly feature that never changes in training
    batch = random_batch(8)
    batch["weekly"][..., 3] = 7.0
    norm = Normalizer.fit(batch["weekly"], batch["static"])
    # WHEN inputs are standardised THEN the constant feature maps to 0, finite
    weekly, _ = norm(torch.from_numpy(batch["weekly"]), torch.from_numpy(batch["static"]))
    assert norm.weekly_std[3] == 1.0
    assert torch.isfinite(weekly).all()
    assert torch.all(weekly[..., 3] == 0.0)


def test_weights_count_rows_as_if_repeated() -> None:
    rows = np.array([[1.0, 5.0], [3.0, 5.0], [9.0, 5.0]])
    norm = Normalizer.fit(rows, rows, weekly_weights=np.array([2.0, 1.0, 0.0]))
    repeated = Normalizer.fit(rows[[0, 0, 1]], rows)
    torch.testing.assert_close(norm.weekly_mean, repeated.weekly_mean)
    torch.testing.assert_close(norm.weekly_std, repeated.weekly_std)


def test_statistics_round_trip_through_a_dict() -> None:
    # GIVEN fitted statistics WHEN written for model.json and read back THEN nothing changes
    batch = random_batch(8)
    norm = Normalizer.fit(batch["weekly"], batch["static"])
    restored = Normalizer.from_dict(norm.to_dict())
    for name, buf in norm.named_buffers():
        torch.testing.assert_close(getattr(restored, name), buf, rtol=0, atol=0)


def test_non_finite_training_features_are_refused() -> None:
    batch = random_batch(4)
    batch["weekly"][0, 0, 5] = np.nan
    with pytest.raises(ValueError, match=r"feature columns \[5\]"):
        Normalizer.fit(batch["weekly"], batch["static"])


def test_from_dict_names_a_missing_key() -> None:
    with pytest.raises(ValueError, match="static_std"):
        Normalizer.from_dict({"weekly_mean": [0.0], "weekly_std": [1.0], "static_mean": [0.0]})

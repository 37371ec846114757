"""Purged CV: no training label window [t + 1, t + h_max] overlaps its test fold (a property over many shapes)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kabucast.ranker.cv import CVSettings, holdout_split, make_folds, purged_kfold, walk_forward


def assert_purged(fold_train: np.ndarray, fold_test: np.ndarray, h_max: int, embargo: int) -> None:
    """The property: every training label window misses the test span, and the embargo after it is empty."""
    a, b = int(fold_test.min()), int(fold_test.max())
    assert np.array_equal(fold_test, np.arange(a, b + 1)), "a test fold is a contiguous block"
    for t in fold_train.tolist():
        label = range(t + 1, t + h_max + 1)
        assert not (a <= t <= b), "a test session is never trained on"
        assert not any(a <= s <= b for s in label), f"label window of {t} overlaps the test fold [{a}, {b}]"
        assert not any(a <= s <= b + h_max for s in label), f"label window of {t} overlaps the test labels"
        assert not (b < t < b + h_max + embargo), f"{t} lies in the purge + embargo after the test fold"


shapes = st.tuples(
    st.integers(min_value=4, max_value=300),  # n_dates
    st.integers(min_value=1, max_value=6),  # n_splits
    st.integers(min_value=0, max_value=10),  # embargo
    st.integers(min_value=1, max_value=25),  # h_max
)


@settings(max_examples=300, deadline=None)
@given(shapes)
def test_purged_kfold_never_trains_on_labels_that_overlap_the_test_fold(shape: tuple[int, int, int, int]) -> None:
    n_dates, n_splits, embargo, h_max = shape
    n_splits = max(2, min(n_splits, n_dates))
    folds = purged_kfold(n_dates, n_splits, h_max, embargo)
    # GIVEN k folds THEN the test blocks tile every session exactly once
    assert np.array_equal(np.concatenate([f.test for f in folds]), np.arange(n_dates))
    for fold in folds:
        assert_purged(fold.train, fold.test, h_max, embargo)
        # AND nothing the rule keeps is dropped: every other session is trained on
        a, b = int(fold.test[0]), int(fold.test[-1])
        expected = [t for t in range(n_dates) if t + h_max < a or t >= b + h_max + embargo]
        assert fold.train.tolist() == expected


@settings(max_examples=300, deadline=None)
@given(shapes)
def test_walk_forward_trains_on_the_purged_past_only(shape: tuple[int, int, int, int]) -> None:
    n_dates, n_splits, embargo, h_max = shape
    n_splits = min(n_splits, n_dates - 1)
    folds = walk_forward(n_dates, n_splits, h_max, embargo)
    assert len(folds) == n_splits
    for fold in folds:
        assert_purged(fold.train, fold.test, h_max, embargo)
        assert len(fold.train) == 0 or fold.train.max() + h_max < fold.test.min()
    assert folds[-1].test[-1] == n_dates - 1


@settings(max_examples=200, deadline=None)
@given(st.integers(20, 500), st.floats(0.05, 0.5), st.integers(1, 25), st.integers(0, 10))
def test_the_holdout_is_purged_and_embargoed(n_dates: int, fraction: float, h_max: int, embargo: int) -> None:
    development, held_out = holdout_split(n_dates, fraction, h_max, embargo)
    assert held_out[-1] == n_dates - 1 and np.array_equal(held_out, np.arange(held_out[0], n_dates))
    if len(development):
        assert development.max() + h_max + embargo < held_out.min()


def test_make_folds_names_the_problem_when_history_is_too_short() -> None:
    with pytest.raises(ValueError, match="too few"):
        make_folds(30, CVSettings(kind="walk_forward", n_splits=5, embargo_days=5), h_max=20)
    assert len(make_folds(300, CVSettings(), h_max=20)) == 5

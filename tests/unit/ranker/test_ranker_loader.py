"""The loader: windows are slices of the memory-mapped arrays, by index; batch shapes; worker processes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from kabucast.ranker.arrays import PanelArray
from kabucast.ranker.loader import (
    CrossSectionDataset,
    WindowArrays,
    WindowDataset,
    date_sampler,
    make_loader,
    safe_start_method,
    window_sampler,
    window_samples,
    write_arrays,
)

T, N, F, H, L = 40, 7, 5, 2, 10


@pytest.fixture(scope="module")
def arrays(tmp_path_factory: pytest.TempPathFactory) -> WindowArrays:
    """Features whose value encodes its (date, stock, feature) position; the last 3 dates have no targets."""
    t, i, f = np.meshgrid(np.arange(T), np.arange(N), np.arange(F), indexing="ij")
    values = (t * 10_000 + i * 100 + f).astype(np.float32)  # (T, N, F)
    values[5, 2, 1] = np.nan  # written as 0
    dates = pd.bdate_range("2024-01-01", periods=T, name="date")
    tickers = tuple(f"S{k}.T" for k in range(N))
    features = PanelArray(dates, tickers, tuple(f"f{k}" for k in range(F)), ("g",) * F, values, "zscore")
    y = np.random.default_rng(0).normal(size=(T, N, H)).astype(np.float32)
    y[-3:] = np.nan
    y[20, 4, 1] = np.nan
    targets = PanelArray(dates, tickers, ("fwd_1", "fwd_5"), ("target",) * H, y)
    return write_arrays(features, targets, tmp_path_factory.mktemp("arrays"))


def test_files_hold_the_arrays(arrays: WindowArrays) -> None:
    x = arrays.features()
    assert isinstance(x, np.memmap) and x.dtype == np.float32 and x.shape == (T, N, F)
    assert x[5, 2, 1] == 0.0 and x[6, 3, 4] == 60_304
    assert arrays.feature_names[0] == "f0" and arrays.target_names == ("fwd_1", "fwd_5")
    assert arrays.dates[0] == pd.Timestamp("2024-01-01")


def test_window_samples_need_a_full_lookback_and_every_target(arrays: WindowArrays) -> None:
    samples = window_samples(arrays.targets(), L)
    assert samples[:, 0].min() == L - 1 and samples[:, 0].max() == T - 4
    assert [20, 4] not in samples.tolist()
    assert len(samples) == (T - 3 - (L - 1)) * N - 1
    assert set(window_samples(arrays.targets(), L, rows=[12, 13])[:, 0]) == {12, 13}


def test_random_windows_are_the_slices_of_the_array(arrays: WindowArrays) -> None:
    samples = window_samples(arrays.targets(), L)
    dataset = WindowDataset(arrays.directory, samples, L)
    positions = [0, 17, len(samples) - 1]
    x, y = dataset[positions]
    assert x.shape == (3, L, F) and y.shape == (3, H) and x.dtype == torch.float32
    features, targets = arrays.features(), arrays.targets()
    for b, (t, i) in enumerate(samples[positions]):
        np.testing.assert_array_equal(x[b].numpy(), features[t - L + 1 : t + 1, i, :])
        np.testing.assert_array_equal(y[b].numpy(), targets[t, i])
        assert x[b, -1, 0] == t * 10_000 + i * 100  # the window ends at its own date


def test_cross_sections_hold_every_stock_of_a_date(arrays: WindowArrays) -> None:
    dataset = CrossSectionDataset(arrays.directory, [L - 1, 25], L)
    x, y = dataset[1]
    assert x.shape == (N, L, F) and y.shape == (N, H)
    np.testing.assert_array_equal(x.numpy(), arrays.features()[25 - L + 1 : 26].transpose(1, 0, 2))
    with pytest.raises(ValueError, match="earlier rows"):
        CrossSectionDataset(arrays.directory, [L - 2], L)


def test_loader_batches_in_process_and_through_workers(arrays: WindowArrays) -> None:
    samples = window_samples(arrays.targets(), L)
    dataset = WindowDataset(arrays.directory, samples, L)
    in_process = list(make_loader(dataset, window_sampler(len(samples), 64, shuffle=False), num_workers=0))
    workers = list(make_loader(dataset, window_sampler(len(samples), 64, shuffle=False), num_workers=1))
    assert [x.shape[0] for x, _ in in_process] == [64] * (len(samples) // 64) + [len(samples) % 64]
    for (xa, ya), (xb, yb) in zip(in_process, workers, strict=True):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    dates = list(make_loader(CrossSectionDataset(arrays.directory, [12, 30], L), date_sampler(2, True), num_workers=0))
    assert [x.shape for x, _ in dates] == [(N, L, F)] * 2
    assert safe_start_method() in ("forkserver", "spawn")


def test_shuffled_batches_cover_every_sample_once(arrays: WindowArrays) -> None:
    samples = window_samples(arrays.targets(), L)
    seen = [p for batch in window_sampler(len(samples), 50, shuffle=True, seed=1) for p in batch]
    assert sorted(seen) == list(range(len(samples))) and seen != sorted(seen)


def test_datasets_pickle_without_their_memory_maps(arrays: WindowArrays, tmp_path: Path) -> None:
    import pickle

    dataset = WindowDataset(arrays.directory, window_samples(arrays.targets(), L), L)
    dataset[[0]]  # opens the maps
    clone = pickle.loads(pickle.dumps(dataset))
    assert clone._x is None and torch.equal(clone[[0]][0], dataset[[0]][0])

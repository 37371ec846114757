"""Windows for the ranker's model, cut by index from memory-mapped arrays: a loader that keeps a GPU busy.

The normalised features are written ONCE as a contiguous float32 ``features.npy`` (T, N, F) (NaN -> 0,
the cross-sectional centre after normalisation) beside ``targets.npy`` (T, N, H) (NaN where unknown) and
``meta.json`` (dates, tickers, column names, normalisation). Workers open them with
``np.load(mmap_mode="r")``: the operating system's page cache is shared by every worker, nothing is
copied at start-up, and no pandas object is touched per sample.

The window of (date t, stock i) is ``features[t - L + 1 : t + 1, i, :]`` (L, F): the L sessions up to
and including t, whose target row is t (returns from close(t) on). Two datasets:

- :class:`CrossSectionDataset`: one item per date, every stock at once, x (N, L, F) and y (N, H); that
  is what a listwise ranking loss needs. In the (T, N, F) layout a date's block (L, N, F) is one
  contiguous read, transposed to (N, L, F) in a single copy.
- :class:`WindowDataset`: random (date, stock) windows; an item is a whole batch (the sampler yields
  arrays of sample positions), gathered with one ``np.take`` on the (T * N, F) view.

:func:`make_loader` wraps either in a DataLoader: ``batch_size=None`` (items are already batches),
worker processes started with ``forkserver`` (``spawn`` where that is unavailable) and never ``fork``:
a forked child inherits the parent's CUDA context (unusable: "Cannot re-initialize CUDA in forked
subprocess") and OpenMP / MKL thread pools and locks that may be held mid-operation (deadlocks);
forkserver forks from a clean single-threaded server, so it is safe and cheaper than spawn. Workers
run torch single-threaded (they copy memory; the cores belong to the model). ``pin_memory`` is on
when CUDA is available (page-locked batches copy to the GPU asynchronously), ``persistent_workers``
keeps workers (and their page cache warm) across epochs. Batches travel from workers through shared
memory: in a container, give it room (Docker ``--shm-size``; AWS Batch ``linuxParameters.sharedMemorySize``)
or use ``num_workers=0``.
"""

from __future__ import annotations

import json
import multiprocessing
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch.utils.data import BatchSampler, DataLoader, Dataset, RandomSampler, Sampler, SequentialSampler

from kabucast.ranker.arrays import PanelArray
from kabucast.ranker.errors import NotNormalized

FEATURES_FILE = "features.npy"
TARGETS_FILE = "targets.npy"
RISK_FILE = "risk.npy"
META_FILE = "meta.json"
_WRITE_ROWS = 64  # dates converted per chunk when writing (bounds the temporary copies)


@dataclass(frozen=True)
class WindowArrays:
    """The loader's files in ``directory`` and their labels (read from ``meta.json``)."""

    directory: Path
    dates: pd.DatetimeIndex
    tickers: tuple[str, ...]
    feature_names: tuple[str, ...]
    target_names: tuple[str, ...]
    normalization: str

    def features(self) -> np.ndarray:
        """The (T, N, F) float32 features, memory-mapped read-only."""
        return np.load(self.directory / FEATURES_FILE, mmap_mode="r")

    def targets(self) -> np.ndarray:
        """The (T, N, H) float32 targets, memory-mapped read-only."""
        return np.load(self.directory / TARGETS_FILE, mmap_mode="r")

    def risk(self) -> np.ndarray | None:
        """The (T, N) float32 raw volatility the vol-neutral P@K scales returns by (None: not written)."""
        path = self.directory / RISK_FILE
        return np.load(path, mmap_mode="r") if path.exists() else None


def write_arrays(
    features: PanelArray, targets: PanelArray, directory: str | Path, risk: np.ndarray | None = None
) -> WindowArrays:
    """Write normalised ``features`` and ``targets`` as the loader's files; :class:`NotNormalized` for raw features.

    ``risk`` (T, N): a raw volatility per date and stock, kept for the held-out metrics (never a model input).
    """
    if features.normalization is None:
        raise NotNormalized("the loader's arrays hold normalised features: call kabucast.ranker.normalize first")
    if not features.dates.equals(targets.dates) or features.tickers != targets.tickers:
        raise ValueError("features and targets must share their dates and tickers")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    out = np.lib.format.open_memmap(directory / FEATURES_FILE, mode="w+", dtype=np.float32, shape=features.values.shape)
    for lo in range(0, len(features.dates), _WRITE_ROWS):
        out[lo : lo + _WRITE_ROWS] = np.nan_to_num(features.values[lo : lo + _WRITE_ROWS], nan=0.0)
    out.flush()
    del out
    np.save(directory / TARGETS_FILE, targets.values.astype(np.float32))
    if risk is not None:
        np.save(directory / RISK_FILE, np.asarray(risk, dtype=np.float32))
    meta = {
        "dates": [str(d.date()) for d in features.dates],
        "tickers": list(features.tickers),
        "feature_names": list(features.names),
        "target_names": list(targets.names),
        "normalization": features.normalization,
    }
    (directory / META_FILE).write_text(json.dumps(meta, indent=1), encoding="utf-8")
    return open_arrays(directory)


def open_arrays(directory: str | Path) -> WindowArrays:
    """The loader's files written by :func:`write_arrays`."""
    directory = Path(directory)
    meta = json.loads((directory / META_FILE).read_text(encoding="utf-8"))
    return WindowArrays(
        directory=directory,
        dates=pd.DatetimeIndex(meta["dates"], name="date"),
        tickers=tuple(meta["tickers"]),
        feature_names=tuple(meta["feature_names"]),
        target_names=tuple(meta["target_names"]),
        normalization=meta["normalization"],
    )


def window_samples(targets: np.ndarray, lookback: int, rows: Sequence[int] | None = None) -> np.ndarray:
    """(S, 2) int64 (date row t, stock i) of every window with a full lookback and all targets finite.

    ``rows`` restricts the dates (e.g. one CV fold's); default: all.
    """
    valid = np.isfinite(targets).all(axis=2)  # (T, N)
    valid[: lookback - 1] = False
    if rows is not None:
        keep = np.zeros(len(valid), dtype=bool)
        keep[np.asarray(rows)] = True
        valid &= keep[:, None]
    return np.argwhere(valid).astype(np.int64)


class _Mapped(Dataset):
    """Opens the memory maps lazily, in the process that reads them (never pickled to workers)."""

    def __init__(self, directory: str | Path, lookback: int) -> None:
        self.directory = Path(directory)
        self.lookback = lookback
        self._x: np.ndarray | None = None
        self._y: np.ndarray | None = None

    def _arrays(self) -> tuple[np.ndarray, np.ndarray]:
        if self._x is None or self._y is None:
            self._x = np.load(self.directory / FEATURES_FILE, mmap_mode="r")  # (T, N, F)
            self._y = np.load(self.directory / TARGETS_FILE, mmap_mode="r")  # (T, N, H)
        return self._x, self._y

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_x": None, "_y": None}


class CrossSectionDataset(_Mapped):
    """Item k: every stock on date row ``rows[k]``: x (N, L, F) float32 and y (N, H) float32 (NaN: no target)."""

    def __init__(self, directory: str | Path, rows: Sequence[int], lookback: int) -> None:
        super().__init__(directory, lookback)
        self.rows = np.asarray(rows, dtype=np.int64)
        if (self.rows < lookback - 1).any():
            raise ValueError(f"every date row needs {lookback - 1} earlier rows for its window")

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = self._arrays()
        t = int(self.rows[k])
        block = x[t - self.lookback + 1 : t + 1]  # (L, N, F), one contiguous read
        windows = np.ascontiguousarray(block.transpose(1, 0, 2))  # (N, L, F)
        return torch.from_numpy(windows), torch.from_numpy(np.array(y[t]))


class WindowDataset(_Mapped):
    """Item: a batch of windows, given as an array of positions into ``samples`` (S, 2) of (date row, stock).

    Returns x (B, L, F) float32 and y (B, H) float32.
    """

    def __init__(self, directory: str | Path, samples: np.ndarray, lookback: int) -> None:
        super().__init__(directory, lookback)
        self.samples = np.asarray(samples, dtype=np.int64)
        if (self.samples[:, 0] < lookback - 1).any():
            raise ValueError(f"every sample's date row needs {lookback - 1} earlier rows for its window")

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, positions: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = self._arrays()
        n_stocks, n_features = x.shape[1], x.shape[2]
        t, i = self.samples[np.asarray(positions)].T  # (B,), (B,)
        steps = np.arange(1 - self.lookback, 1)  # (L,) offsets up to and including t
        flat_rows = (t[:, None] + steps) * n_stocks + i[:, None]  # (B, L) rows of the (T * N, F) view
        windows = np.asarray(np.take(x.reshape(-1, n_features), flat_rows, axis=0))  # (B, L, F)
        targets = np.asarray(np.take(y.reshape(-1, y.shape[2]), t * n_stocks + i, axis=0))  # (B, H)
        return torch.from_numpy(windows), torch.from_numpy(targets)


def window_sampler(n_samples: int, batch_size: int, shuffle: bool, seed: int = 0) -> Sampler:
    """Batches of sample positions for :class:`WindowDataset` (shuffled with a seeded generator, or in order)."""
    order: Sampler = (
        RandomSampler(range(n_samples), generator=torch.Generator().manual_seed(seed))
        if shuffle
        else SequentialSampler(range(n_samples))
    )
    return BatchSampler(order, batch_size, drop_last=False)


def date_sampler(n_dates: int, shuffle: bool, seed: int = 0) -> Sampler:
    """Date positions for :class:`CrossSectionDataset`, shuffled with a seeded generator or in order."""
    if shuffle:
        return RandomSampler(range(n_dates), generator=torch.Generator().manual_seed(seed))
    return SequentialSampler(range(n_dates))


def make_loader(dataset: Dataset, sampler: Sampler, num_workers: int = 2, prefetch_factor: int = 4) -> DataLoader:
    """A DataLoader over ready-made batches: safe worker start method, pinned memory on CUDA (module docstring)."""
    options: dict[str, Any] = {}
    if num_workers > 0:
        options = {
            "multiprocessing_context": safe_start_method(),
            "persistent_workers": True,
            "prefetch_factor": prefetch_factor,
            "worker_init_fn": _single_threaded,
        }
    return DataLoader(
        dataset,
        batch_size=None,
        sampler=sampler,
        num_workers=num_workers,
        pin_memory=torch.cuda.is_available(),
        **options,
    )


def safe_start_method() -> str:
    """``forkserver`` where the platform has it (Linux, macOS), else ``spawn``; never ``fork``."""
    return "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"


def _single_threaded(_worker_id: int) -> None:
    """Workers copy memory; torch's intra-op threads would only compete with the model for the cores."""
    torch.set_num_threads(1)

"""Windows per second of the ranker's loader alone (no model): ``python bench/bench_ranker_loader.py``.

Writes a random (T, N, F) float32 feature array (default 1,222 sessions x 4,000 stocks x 60 features,
1.2 GB, the size of a 5-year, 4,000-stock panel) with :func:`kabucast.ranker.loader.write_arrays`, then
times 60-session windows through both datasets, in-process and through a DataLoader with workers.
The first batches (worker start-up, cold page cache) are left out of each figure. The target of issue 6
is 20,000 windows/s on 2 cores. Machines differ: nothing is asserted.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Iterable

import numpy as np
import pandas as pd

from kabucast.ranker.arrays import PanelArray
from kabucast.ranker.loader import (
    CrossSectionDataset,
    WindowDataset,
    date_sampler,
    make_loader,
    window_sampler,
    window_samples,
    write_arrays,
)

WARMUP_BATCHES = 3


def random_arrays(n_dates: int, n_stocks: int, n_features: int, horizons: int, directory: str) -> None:
    """Normalised-looking random features and targets written as the loader's files."""
    rng = np.random.default_rng(0)
    dates = pd.bdate_range("2020-01-06", periods=n_dates, name="date")
    tickers = tuple(f"S{k:04d}.T" for k in range(1, n_stocks + 1))

    def array(k: int, group: str, normalization: str | None) -> PanelArray:
        values = rng.standard_normal((n_dates, n_stocks, k), dtype=np.float32)
        names = tuple(f"{group}{j}" for j in range(k))
        return PanelArray(dates, tickers, names, (group,) * k, values, normalization)

    write_arrays(array(n_features, "f", "zscore"), array(horizons, "fwd_", None), directory)


def windows_per_second(batches: Iterable[tuple], n_batches: int) -> tuple[float, tuple[int, ...]]:
    """Windows per second over ``n_batches`` batches after :data:`WARMUP_BATCHES`, and the last x's shape."""
    it = iter(batches)
    for _ in range(WARMUP_BATCHES):
        next(it)
    windows, start = 0, time.perf_counter()
    for _ in range(n_batches):
        x, _y = next(it)
        windows += x.shape[0]
    return windows / (time.perf_counter() - start), tuple(x.shape)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dates", type=int, default=1222)
    parser.add_argument("--stocks", type=int, default=4000)
    parser.add_argument("--features", type=int, default=60)
    parser.add_argument("--lookback", type=int, default=60)
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--batches", type=int, default=60, help="timed batches per case")
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_ranker_loader_") as directory:
        t0 = time.perf_counter()
        random_arrays(args.dates, args.stocks, args.features, 4, directory)
        size = args.dates * args.stocks * args.features * 4 / 1e9
        print(
            f"wrote {args.dates} x {args.stocks} x {args.features} float32 ({size:.2f} GB) in "
            f"{time.perf_counter() - t0:.1f} s; lookback {args.lookback}"
        )
        rows = np.arange(args.lookback - 1, args.dates)
        samples = window_samples(np.load(f"{directory}/targets.npy", mmap_mode="r"), args.lookback)
        cross = CrossSectionDataset(directory, rows, args.lookback)
        single = WindowDataset(directory, samples, args.lookback)
        n_cross = max(4, args.batches // 10)
        for workers in args.workers:
            cases = {
                f"random windows, batch {args.batch_size}": (
                    make_loader(single, window_sampler(len(samples), args.batch_size, True), workers),
                    args.batches,
                ),
                "per-date cross-sections": (make_loader(cross, date_sampler(len(rows), True), workers), n_cross),
            }
            for label, (loader, n_batches) in cases.items():
                rate, shape = windows_per_second(loader, n_batches)
                print(f"{label:34s} workers={workers}: {rate:>10,.0f} windows/s  (x {shape})")


if __name__ == "__main__":
    main()

"""Benchmark of the feature builders on a synthetic universe: 31 tickers x 10 years of daily bars.

Run: ``python bench/bench_features.py [--dates 1000]``. Prints seconds, samples per second and the
peak resident memory; asserts nothing about time (machines differ).
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from collections.abc import Callable
from typing import TypeVar

import numpy as np
import pandas as pd

from kabucast.config import CONFIG_DIR, SectorSettings, load_settings
from kabucast.data.calendar import calendar_for
from kabucast.data.sources.base import STATIC_INFO_KEYS
from kabucast.features import PricePanel, build_features, position_features, weekly_feature_history

N_TICKERS = 31
START, END = "2015-01-05", "2024-12-30"
BATCH = 4096
T = TypeVar("T")


def synthetic_frames(sessions: pd.DatetimeIndex, seed: int = 0) -> dict[str, pd.DataFrame]:
    """One seeded random walk of daily OHLCV per ticker on ``sessions`` (~2% daily vol, yearly dividends)."""
    rng = np.random.default_rng(seed)
    n = len(sessions)
    frames = {}
    for i in range(N_TICKERS):
        close = (500.0 + 300 * i) * np.exp(np.cumsum(rng.normal(0.0002, 0.02, n)))
        open_ = np.r_[close[0], close[:-1]] * np.exp(rng.normal(0.0, 0.005, n))
        high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0.0, 0.01, n)))
        low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0.0, 0.01, n)))
        adj_close = close * 0.98 ** ((n - 1 - np.arange(n)) // 245)
        volume = rng.integers(100_000, 5_000_000, n)
        columns = {"open": open_, "high": high, "low": low, "close": close, "adj_close": adj_close, "volume": volume}
        frames[f"{1301 + 100 * i}.T"] = pd.DataFrame(columns, index=sessions.rename("date"))
    return frames


def timed(label: str, fn: Callable[..., T], *args: object) -> tuple[T, float]:
    """``fn(*args)`` and the seconds it took, printed under ``label``."""
    start = time.perf_counter()
    result = fn(*args)
    seconds = time.perf_counter() - start
    print(f"{label:<52} {seconds:8.3f} s")
    return result, seconds


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dates", type=int, default=1000, help="as-of dates for the many-dates builder")
    n_dates = parser.parse_args(argv).dates
    calendar = calendar_for()
    sessions = calendar.sessions(START, END)
    frames = synthetic_frames(sessions)
    tickers = tuple(frames)
    static = pd.DataFrame([[12.0, 1.2, 0.03, 0.1, 80.0, 5e12]] * N_TICKERS, index=tickers, columns=STATIC_INFO_KEYS)
    sectors = load_settings(SectorSettings, CONFIG_DIR / "sectors.yaml")
    print(f"synthetic universe: {N_TICKERS} tickers x {len(sessions)} sessions ({START}..{END})")

    panel, _ = timed("PricePanel.from_frames", PricePanel.from_frames, frames)
    args = (panel, static, {}, sectors, calendar, sessions[-1], tickers)
    fs, one = timed("build_features, one as-of date", build_features, *args)
    print(f"{'':<52} {len(fs.tickers) / one:8.0f} samples/s ({len(fs.tickers)} samples)")

    as_of = sessions[-n_dates:]
    history, built = timed(f"weekly_feature_history, {n_dates} as-of dates", weekly_feature_history, panel, as_of)
    _, pos = timed(f"position_features, {n_dates} as-of dates", position_features, as_of, calendar)
    dates, names = np.nonzero(history.weeks_available >= 156)
    start = time.perf_counter()
    checksum = 0.0
    for lo in range(0, len(dates), BATCH):
        checksum += float(history.windows(dates[lo : lo + BATCH], names[lo : lo + BATCH])[:, -1].sum())
    gathered = time.perf_counter() - start
    print(f"{'windows(), batches of ' + str(BATCH):<52} {gathered:8.3f} s")
    total = built + pos + gathered
    print(f"{'many dates, total':<52} {total:8.3f} s  {len(dates) / total:8.0f} samples/s ({len(dates)} samples)")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (1024 * 1024 if sys.platform == "darwin" else 1024)
    print(f"peak RSS {peak_mb:.0f} MB (checksum {checksum:.3f})")


if __name__ == "__main__":
    main()

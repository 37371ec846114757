"""Generation time and peak memory of the synthetic sample market: ``python bench/bench_sample_market.py``.

Two sizes: the Core30 forecaster's (30 stocks x 10 years) and the cross-sectional ranker's
(4,000 stocks x 5 years). Times are wall-clock seconds without tracing; peak memory is what
tracemalloc sees (numpy buffers and Python objects) in a second, traced run on a fresh source.
"""

from __future__ import annotations

import os
import resource
import time
import tracemalloc
from dataclasses import dataclass

import numpy as np
import pandas as pd

from kabucast.data.calendar import calendar_for
from kabucast.data.sources.sample_market import SampleMarketSource

END = pd.Timestamp("2024-12-30")


@dataclass(frozen=True)
class Case:
    label: str
    n_stocks: int
    origin: str  # the first session simulated, so the window is origin..END

    def source(self) -> SampleMarketSource:
        return SampleMarketSource.synthetic(self.n_stocks, calendar=calendar_for(), origin=self.origin)


CASES = (Case("30 stocks x 10 years", 30, "2015-01-05"), Case("4,000 stocks x 5 years", 4000, "2020-01-06"))


def seconds(case: Case) -> tuple[int, float, float]:
    """Bars, seconds to simulate and build the panel, seconds to build every ticker's frame (paths cached)."""
    source, start = case.source(), pd.Timestamp(case.origin)
    t0 = time.perf_counter()
    rows = len(source.panel(start, END))
    t1 = time.perf_counter()
    source.fetch_prices(source.tickers, start, END)
    return rows, t1 - t0, time.perf_counter() - t1


def peak_mb(case: Case, frames: bool) -> float:
    """Peak traced memory of a fresh source simulating and building the panel (or every ticker's frame)."""
    source, start = case.source(), pd.Timestamp(case.origin)
    tracemalloc.start()
    if frames:
        source.fetch_prices(source.tickers, start, END)
    else:
        source.panel(start, END)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 1e6


def bench(case: Case) -> None:
    """Print the size of ``case``, then time and peak memory of its panel and of its per-ticker frames."""
    rows, t_panel, t_frames = seconds(case)
    peak_panel, peak_frames = peak_mb(case, frames=False), peak_mb(case, frames=True)
    print(f"{case.label}: {rows:,} bars")
    print(f"  simulate + panel()            {t_panel:6.2f} s   peak {peak_panel:7.1f} MB")
    print(f"  fetch_prices() frames, cached {t_frames:6.2f} s   peak {peak_frames:7.1f} MB (frames incl. simulate)")


def main() -> None:
    print(f"sample market bench: numpy {np.__version__}, pandas {pd.__version__}, {os.cpu_count()} CPUs")
    calendar_for()
    for case in CASES:
        bench(case)
    print(f"process max RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()

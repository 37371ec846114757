"""Benchmark of the bad-tick and plausibility checks on the real US panels in /work/shared/data.

Run: ``python bench/bench_plausibility.py [--data-dir /work/shared/data] [--repeat 3]``. For each of
us_large30_dev.csv.gz and us_panel300_dev.csv.gz prints rows, tickers, the CSV load time, the
seconds of :func:`kabucast.data.plausibility.panel_suspects` (median of the repeats), suspect counts
by kind and action, and the 10 largest reverting spikes; asserts nothing (machines differ).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import pandas as pd

from kabucast.data.plausibility import panel_suspects

DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "data"
FILES = ("us_large30_dev.csv.gz", "us_panel300_dev.csv.gz")


def largest_spikes(panel: pd.DataFrame, suspects: pd.DataFrame, most: int = 10) -> pd.DataFrame:
    """The ``most`` reverting spikes with the largest one-day |log move| against the previous row's close."""
    spikes = suspects.loc[suspects["kind"] == "reverting_spike", ["ticker", "date", "detail"]]
    bars = panel.sort_values(["ticker", "date"], kind="stable")
    bars = bars.assign(move=np.log(bars["close"]).groupby(bars["ticker"]).diff().abs())
    spikes = spikes.merge(bars[["ticker", "date", "move"]], on=["ticker", "date"], how="left")
    return spikes.sort_values("move", ascending=False).head(most)


def bench_file(path: Path, repeat: int) -> None:
    start = time.perf_counter()
    panel = pd.read_csv(path, parse_dates=["date"])
    loaded = time.perf_counter() - start
    seconds = []
    for _ in range(repeat):
        start = time.perf_counter()
        suspects = panel_suspects(panel)
        seconds.append(time.perf_counter() - start)
    print(f"== {path.name}: {len(panel):,} rows, {panel['ticker'].nunique()} tickers")
    print(f"   load {loaded:.2f} s; panel_suspects {statistics.median(seconds):.3f} s (median of {repeat})")
    print(f"   {len(suspects)} suspects in {suspects['ticker'].nunique()} tickers")
    counts = suspects.groupby(["kind", "action"]).size()
    for (kind, action), count in counts.items():
        print(f"   {kind:<20} {action:<7} {count:>6}")
    top = largest_spikes(panel, suspects)
    if len(top):
        print("   largest reverting spikes:")
        for row in top.itertuples():
            print(f"   {row.ticker:<6} {row.date.date()}  {row.detail}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR, help="folder holding the shared gzip CSVs")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per file (the median is shown)")
    args = parser.parse_args(argv)
    for name in FILES:
        path = args.data_dir / name
        if not path.exists():
            print(f"== {name}: absent from {args.data_dir}, skipped")
            continue
        bench_file(path, args.repeat)


if __name__ == "__main__":
    main()

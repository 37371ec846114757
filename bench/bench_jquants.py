"""What `--source jquants` costs: a 10-year backfill of the Core30 and a daily fetch, against the stand-in of the
J-Quants API on the loopback (tests/jquants_standin.py; J-Quants itself cannot be reached here). Prints figures.

    python bench/bench_jquants.py [--years 10] [--page-size 1000] [--repeats 3]

The stand-in serves the sample market's bars of every name of the universe as J-Quants rows (the v2 fields),
``--page-size`` rows a page. Each run is ``kabucast backfill --source jquants`` (then ``kabucast fetch --source
jquants`` on the store it left, as the daily job fetches: the overlap sessions and the new one) in a fresh
process, as a user or the daily Lambda runs it: wall seconds, the requests the stand-in answered, and the
process's peak resident memory (ru_maxrss), medians of ``--repeats``. The daily Lambda has 512 MB.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests' stand-in of the API

from tests.jquants_standin import StandIn, bars_rows, codes_of

from cli_process import run_cli
from kabucast.config import load_universe
from kabucast.data.sources.sample_market import SampleMarketSource

AS_OF = pd.Timestamp("2026-11-20")
KEY = "bench-key"


def run(argv: list[str], base_url: str) -> tuple[float, float, str]:
    """One CLI run in a fresh process: (wall seconds, peak RSS MiB, its summary line)."""
    wall, rss, out = run_cli(argv, {**os.environ, "JQUANTS_API_KEY": KEY, "JQUANTS_API_BASE": base_url})
    return wall, rss, out.strip().splitlines()[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--years", type=int, default=10)
    parser.add_argument("--page-size", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    universe = load_universe("universes/topix_core30.yaml")
    tickers = list(universe.members_on(AS_OF))
    frames = (
        SampleMarketSource.from_universe(universe)
        .fetch_prices(tickers, AS_OF - pd.DateOffset(years=args.years), AS_OF)
        .frames
    )
    codes = codes_of(tickers)
    full = {codes[t]: bars_rows(codes[t], f) for t, f in frames.items()}
    rows = sum(len(r) for r in full.values())
    print(f"stand-in: {len(full)} names, {rows} bars ({args.years} years), {args.page_size} rows a page")
    server = StandIn({c: r[:-1] for c, r in full.items()}, KEY, page_size=args.page_size).start()
    figures: dict[str, list[tuple[float, float, int]]] = {"backfill": [], "fetch": []}
    try:
        for i in range(args.repeats):
            with tempfile.TemporaryDirectory() as store:
                common = ["--store", store, "--source", "jquants", "--as-of", str(AS_OF.date())]
                common += ["--tickers", ",".join(tickers)]  # the day's 31 members (a backfill takes every name ever)
                server.bars = {c: r[:-1] for c, r in full.items()}  # the backfill ends the session before AS_OF
                timed(figures, i, "backfill", ["backfill", *common, "--period", f"{args.years}y"], server)
                server.bars = full  # AS_OF's bars are out: the daily fetch
                timed(figures, i, "fetch", ["fetch", *common], server)
    finally:
        server.stop()
    for name, runs in figures.items():
        wall, rss, requests = (statistics.median(column) for column in zip(*runs, strict=True))
        print(
            f"{name}, median of {len(runs)}: {wall:.2f} s, {rss:.0f} MiB peak RSS (the daily Lambda has 512 MB), "
            f"{requests:.0f} requests"
        )


def timed(figures: dict, i: int, name: str, argv: list[str], server: StandIn) -> None:
    before = len(server.log)
    wall, rss, line = run(argv, server.base_url)
    requests = len(server.log) - before
    figures[name].append((wall, rss, requests))
    print(f"run {i + 1} {name}: {wall:.2f} s, {rss:.0f} MiB peak RSS, {requests} requests: {line}")


if __name__ == "__main__":
    main()

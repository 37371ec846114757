"""What the live scorecard costs the daily job after a long history of published forecasts (prints figures; asserts
nothing about time).

Sets up a LocalStore with ``--names`` random-walk price histories and a forecast with 80 % bands published for
every session of ``--history`` sessions (as forecast_document writes them), so that on the last session every
month 1..12 has matured for most of them: the steady state of a deployment that ran that long, with nothing
incremental to help. Then ``--repeats`` times, on fresh copies of the store, writes the scorecard of the last
session as the daily job does (from the previous session's scorecard, scoring what matured since) and from scratch
(as ``kabucast scorecard --since`` does), prices read from the store, and prints each time, the medians and the
document's size.

    python bench/bench_scorecard.py [--repeats 3] [--history 360] [--names 31]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from kabucast.data.calendar import calendar_for
from kabucast.data.prices import prices_key
from kabucast.forecast.document import forecast_document
from kabucast.jobs.publish import SCORECARDS, prediction_key
from kabucast.jobs.scorecard_step import daily_scorecard, publish_scorecards
from kabucast.storage import LocalStore

LAST = pd.Timestamp("2026-11-20")


def planted_store(root: Path, history: int, names: int) -> tuple[LocalStore, list[pd.Timestamp], tuple[str, ...]]:
    """Prices from two years before the first forecast to LAST, and a banded forecast for each of the last
    ``history`` sessions."""
    store, calendar, rng = LocalStore(root), calendar_for(), np.random.default_rng(0)
    tickers = tuple(f"{1001 + i}.T" for i in range(names))
    sessions = calendar.sessions(LAST - pd.Timedelta(days=365 * 2 + history * 7 // 5), LAST)
    for t in tickers:
        price = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, len(sessions))))
        frame = pd.DataFrame({c: price for c in ("open", "high", "low", "close", "adj_close")}, index=sessions)
        store.put_parquet(prices_key(t), frame.rename_axis("date").assign(volume=1000))
    days = list(sessions[-history:])
    for day in days:
        log_returns = rng.normal(0, 0.05, (names, 12))
        quantiles = log_returns[..., None] + np.array([-0.08, 0.0, 0.08])
        document = forecast_document(
            tickers, log_returns, {t: day for t in tickers}, {t: 1.0 for t in tickers}, {}, {}, "v1", day,
            quantiles=quantiles, levels=(0.1, 0.5, 0.9),
        )  # fmt: skip
        store.put_json(prediction_key(day), document)
    return store, days, tickers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--history", type=int, default=360, help="sessions of published forecasts")
    parser.add_argument("--names", type=int, default=31)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store, days, tickers = planted_store(Path(tmp) / "store", args.history, args.names)
        calendar, members = calendar_for(), lambda _day: tickers
        scratch, daily = [], []
        publish_scorecards(store, calendar, [days[-2]], members)  # the previous session's, as a daily run left it
        for i in range(args.repeats):
            copy = LocalStore(shutil.copytree(store.root, Path(tmp) / f"run{i}"))
            start = time.perf_counter()
            out = daily_scorecard(copy, calendar, days[-1], members, None)
            daily.append(time.perf_counter() - start)
            copy = LocalStore(shutil.copytree(store.root, Path(tmp) / f"scratch{i}"))
            start = time.perf_counter()
            publish_scorecards(copy, calendar, [days[-1]], members)
            scratch.append(time.perf_counter() - start)
            print(
                f"repeat {i + 1}: daily run {daily[-1]:.2f} s (from the previous scorecard), from scratch "
                f"{scratch[-1]:.2f} s, {out['num_scored']} forecasts scored"
            )
        size = len(copy.get_bytes(SCORECARDS.latest_key))
        print(
            f"median over {len(days)} published forecasts x {len(tickers)} names: daily run "
            f"{statistics.median(daily):.2f} s, from scratch (kabucast scorecard --since) "
            f"{statistics.median(scratch):.2f} s"
        )
        print(f"scorecard/latest.json: {size / 1e6:.2f} MB")


if __name__ == "__main__":
    main()

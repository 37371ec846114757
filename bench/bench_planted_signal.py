"""The planted-signal acceptance over several seeds: ``python bench/bench_planted_signal.py [--market-seeds 7 11]
[--train-seeds 42 1]``.

For each sample-market seed: 300 synthetic stocks x 20 years on the PLANTED preset, backfilled and
enriched into a scratch LocalStore; then for each training seed, config/train_planted.yaml trained on
real labels and on shuffled labels (tests/functional/test_planted_signal.py runs market seed 7,
training seed 42). Prints the held-out RankIC at 1 month and its mean over the 12 horizons of both
runs, the latent drift's (the oracle's) on the same held-out dates, and wall-clock seconds. One torch
thread, as in the test.
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from kabucast.config import (
    SectorSettings,
    TrainSettings,
    UniverseMember,
    UniverseSettings,
    load_settings,
    resolve_config_path,
)
from kabucast.data.calendar import SESSIONS_PER_MONTH, TradingCalendar
from kabucast.data.enrich import enrich
from kabucast.data.ingest import backfill
from kabucast.data.sources.sample_market import PLANTED, SampleMarketSource
from kabucast.forecast.dataset import HORIZONS, ForecastData
from kabucast.forecast.metrics import horizon_metrics
from kabucast.forecast.train import train
from kabucast.storage import LocalStore

AS_OF = pd.Timestamp("2026-11-20")
N_STOCKS = 300
ORIGIN = "2006-01-04"
PERIOD = "20y"


def planted_market(
    root: Path, seed: int, calendar: TradingCalendar
) -> tuple[LocalStore, UniverseSettings, SampleMarketSource]:
    """A LocalStore holding the PLANTED market's bars and one fundamentals snapshot, and its universe."""
    source = SampleMarketSource.synthetic(N_STOCKS, seed=seed, calendar=calendar, origin=ORIGIN, params=PLANTED)
    members = tuple(UniverseMember(t, t, source.sectors[t]) for t in source.tickers)
    name, reviewed = f"sample_planted_{N_STOCKS}", "2026-11-20"
    universe = UniverseSettings("local", name, "SYNTHETIC planted market", reviewed, members)
    store = LocalStore(root)
    backfill(store, source, universe.tickers, calendar, AS_OF, PERIOD)
    enrich(store, source, universe.tickers, dict(source.sectors), AS_OF)
    return store, universe, source


def oracle_rankic(source: SampleMarketSource, first: str, last: str, stride: int) -> list[float]:
    """Held-out RankIC per horizon of the latent drift itself, on every ``stride``-th session of [first, last]."""
    close = np.log(source.panel(first, AS_OF)["close"].unstack())
    drift = source.latent_drift(first, AS_OF)
    rows = np.arange(0, close.index.get_loc(pd.Timestamp(last)) + 1, stride)
    target = np.stack([close.shift(-SESSIONS_PER_MONTH * m).to_numpy() - close.to_numpy() for m in range(1, 13)], -1)
    y = target[rows].reshape(-1, HORIZONS)
    signal = np.repeat(drift.to_numpy()[rows].reshape(-1, 1), HORIZONS, axis=1)
    dates = np.repeat(rows, close.shape[1])
    return horizon_metrics(y, signal, dates)["rankic"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--market-seeds", type=int, nargs="+", default=[7])
    parser.add_argument("--train-seeds", type=int, nargs="+", default=[42])
    args = parser.parse_args()
    torch.set_num_threads(1)
    calendar = TradingCalendar()
    sectors = load_settings(SectorSettings, resolve_config_path("sectors.yaml"))
    base = load_settings(TrainSettings, resolve_config_path("train_planted.yaml"))
    print("market train  real h1  real mean  shuffled h1  shuffled mean  oracle h1  oracle mean  seconds")
    for market_seed in args.market_seeds:
        with tempfile.TemporaryDirectory(prefix="kabucast-planted-") as tmp:
            start = time.perf_counter()
            store, universe, source = planted_market(Path(tmp) / "store", market_seed, calendar)
            data_seconds = time.perf_counter() - start
            oracle = None
            for train_seed in args.train_seeds:
                start = time.perf_counter()
                runs = {}
                for shuffled in (False, True):
                    settings = dataclasses.replace(
                        base,
                        data=dataclasses.replace(base.data, shuffle_labels=shuffled),
                        training={**base.training, "seed": train_seed},
                    )
                    work = Path(tmp) / f"work-{train_seed}-{shuffled}"
                    data = ForecastData(store, universe, sectors, calendar)
                    runs[shuffled] = train(settings, data, AS_OF, work, progress=False)
                seconds = time.perf_counter() - start
                if oracle is None:
                    first, last = runs[False].meta["run"]["val_range"]
                    oracle = oracle_rankic(source, first, last, base.data.as_of_stride)
                real, shuf = (runs[k].meta["validation"]["model"]["rankic"] for k in (False, True))
                print(
                    f"{market_seed:>6} {train_seed:>5}  {real[0]:+.3f}   {np.mean(real):+.3f}      {shuf[0]:+.3f}"
                    f"       {np.mean(shuf):+.3f}         {oracle[0]:+.3f}     {np.mean(oracle):+.3f}      "
                    f"{seconds:.0f} (+{data_seconds:.0f} data)",
                    flush=True,
                )
                data_seconds = 0.0
            print("oracle per horizon: " + " ".join(f"{v:+.3f}" for v in oracle), flush=True)


if __name__ == "__main__":
    main()

"""The ranker's data layer at full size: ``python bench/bench_ranker_panel.py [--stocks 4000]``.

Times, for the SYNTHETIC 4,000-stock x 5-year panel of config/ranker/features.yaml: generating it
(sample market + planted signal), writing and reading it as partitioned parquet in a LocalStore,
building the raw features and targets, normalising them, and validating the dataset. Then prints the
planted signal's oracle RankIC per horizon and that of the best single feature (the ceiling, and what
a model sees). Wall-clock seconds; machines differ and nothing is asserted.
"""

from __future__ import annotations

import argparse
import dataclasses
import resource
import tempfile
import time
from collections.abc import Callable
from typing import TypeVar

import numpy as np

from kabucast.config import load_settings, resolve_config_path
from kabucast.data.calendar import calendar_for
from kabucast.ranker.arrays import rank_ic_by_date
from kabucast.ranker.dataset import build_dataset
from kabucast.ranker.features import warmup_sessions
from kabucast.ranker.normalize import normalize
from kabucast.ranker.panel import read_panel, write_panel
from kabucast.ranker.sample import oracle_rank_ic, sample_panel
from kabucast.ranker.settings import RankerDataSettings
from kabucast.ranker.validate import validate_dataset
from kabucast.storage import LocalStore

T = TypeVar("T")


def timed(label: str, fn: Callable[[], T]) -> T:
    start = time.perf_counter()
    out = fn()
    print(f"{label:44s} {time.perf_counter() - start:6.1f} s")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stocks", type=int, default=None, help="default: the config's panel.n_stocks")
    parser.add_argument("--config", default="ranker/features.yaml")
    args = parser.parse_args()
    cfg = load_settings(RankerDataSettings, resolve_config_path(args.config))
    p = dataclasses.replace(cfg.panel, n_stocks=args.stocks or cfg.panel.n_stocks)
    calendar = calendar_for()
    sample = timed(
        f"generate {p.n_stocks} stocks {p.start}..{p.end}",
        lambda: sample_panel(p.n_stocks, p.start, p.end, 7, p.n_sectors, p.plant, calendar),
    )
    panel = sample.panel
    print(f"  {len(panel.dates)} sessions x {len(panel.tickers)} stocks = {panel.prices.close.size:,} bars")
    with tempfile.TemporaryDirectory(prefix="bench_ranker_panel_") as root:
        store = LocalStore(root)
        timed("write partitioned parquet", lambda: write_panel(store, "bench", panel, {}))
        timed("read it back", lambda: read_panel(store, "bench"))
    data = timed("raw features and targets", lambda: build_dataset(panel, cfg))
    print(f"  features {data.features.values.shape} float32, {data.features.values.nbytes / 1e9:.2f} GB")
    timed(f"normalise ({cfg.normalization.method})", lambda: normalize(data.features, cfg.normalization))
    warmup = warmup_sessions(cfg.features)
    report = timed(
        f"validate (probe every {cfg.validation.probe_stride} dates)",
        lambda: validate_dataset(data.features, data.targets, cfg.validation, warmup),
    )
    print(f"  {report.summary()}")
    oracle = timed("oracle RankIC", lambda: oracle_rank_ic(sample, cfg.horizons))
    rows = slice(warmup, None, 5)
    print("\nmean RankIC with the realised forward return (every 5th date after the warm-up)")
    print(f"{'horizon':>8} {'oracle':>8} {'planted':>8} {'drift':>8}   best feature")
    for h in cfg.horizons:
        y = data.targets.column(f"fwd_{h}")[rows]
        ics = {n: float(np.nanmean(rank_ic_by_date(data.features.column(n)[rows], y))) for n in data.features.names}
        best = max(ics, key=lambda n: abs(ics[n]))
        o = oracle[h]
        print(f"{h:>8} {o['oracle']:8.3f} {o['planted']:8.3f} {o['drift']:8.3f}   {best} {ics[best]:+.3f}")
    print(f"\npeak resident memory {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6:.1f} GB")


if __name__ == "__main__":
    main()

"""The ranker's acceptance at a larger scale: ``python bench/bench_ranker_models.py [--stocks 2000 --end 2024-12-30]``.

Trains the neural ranker and LightGBM on the planted sample market (SYNTHETIC) with
config/ranker/model_test.yaml's small model (or ``--model-config``), once on the real targets and once on
shuffled ones (``--shuffle-seed``), and prints the held-out metrics per horizon. Reports go to a
temporary LocalStore (or ``--store``). Minutes on a laptop CPU; nothing is asserted.
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path

import torch

from kabucast.config import load_settings, resolve_config_path
from kabucast.data.calendar import TradingCalendar
from kabucast.ranker.runs import RankerTrainSettings
from kabucast.ranker.settings import RankerDataSettings
from kabucast.ranker.train import run_ranker
from kabucast.storage import LocalStore


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stocks", type=int, default=2000)
    parser.add_argument("--start", default="2020-01-06")
    parser.add_argument("--end", default="2024-12-30")
    parser.add_argument("--model-config", default="ranker/model_test.yaml")
    parser.add_argument("--shuffle-seed", type=int, default=11)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--store", default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = load_settings(RankerDataSettings, resolve_config_path("ranker/features.yaml"))
    panel = dataclasses.replace(
        data.panel, name=f"bench{args.stocks}", n_stocks=args.stocks, start=args.start, end=args.end
    )
    data = dataclasses.replace(data, panel=panel)
    settings = load_settings(RankerTrainSettings, resolve_config_path(args.model_config))
    with tempfile.TemporaryDirectory(prefix="bench_ranker_models_") as scratch:
        store = LocalStore(args.store or Path(scratch) / "store")
        for label, seed in (("planted", None), ("shuffled", args.shuffle_seed)):
            t0 = time.perf_counter()
            result = run_ranker(
                store,
                data,
                settings,
                f"bench-{label}",
                Path(scratch) / label,
                TradingCalendar(),
                shuffle_seed=seed,
                progress=lambda m, t0=t0: print(f"  [{time.perf_counter() - t0:6.1f} s] {m}", flush=True),
            )
            print(f"{label} targets, {time.perf_counter() - t0:.0f} s: {result.line()}")
            for name, table in result.summary.items():
                columns = ["rankic_mean", "rankic_t", "p_at_k", "random_p_at_k", "spread", "win_rate", "jpx_score"]
                print(f"{name}\n{table[columns].round(4).to_string()}")


if __name__ == "__main__":
    main()

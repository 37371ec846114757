"""What the target portfolio costs the daily job: the prediction step with and without it (prints figures).

``python bench/bench_daily_portfolio.py [--repeats 15]``

The store of bench_daily.py (10 years of the sample market for the Core30, a 1-epoch champion of the
default config). Then, alternating so that the machine's noise falls on both alike:
- in this process, the prediction step (OnnxPredictor, ONNX session warm as in a warm Lambda) with
  ``portfolio: null`` and with the default portfolio, from a store without any published document
  (so every run writes both files), ``--repeats`` times each: median and spread of each, and the ratio;
- the portfolio step alone (PortfolioStep on the published forecast): median milliseconds;
- ``kabucast predict`` in a fresh process (a cold Lambda: imports, ONNX session), with and without,
  5 times each: median wall seconds and the ratio.
Issue 16's target: the daily job within 10 % of its time without the portfolio.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml

from bench_daily import AS_OF, setup
from kabucast.config import CONFIG_DIR
from kabucast.jobs.inputs import load_model_inputs
from kabucast.jobs.wiring import onnx_predictor
from kabucast.storage import LocalStore

PUBLISHED = ("predictions", "portfolio")


def clear(root: Path) -> None:
    for name in PUBLISHED:
        shutil.rmtree(root / name, ignore_errors=True)


def spread(seconds: list[float]) -> str:
    q = statistics.quantiles(seconds, n=4)
    return f"median {statistics.median(seconds) * 1e3:7.1f} ms (IQR {q[0] * 1e3:.1f}..{q[2] * 1e3:.1f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "store"
        t = time.perf_counter()
        setup(root)
        print(f"setup (10y sample backfill + 1-epoch champion): {time.perf_counter() - t:.0f} s")
        without = Path(tmp) / "predict_without_portfolio.yaml"
        config = yaml.safe_load((CONFIG_DIR / "predict.yaml").read_text())
        without.write_text(yaml.safe_dump({**config, "portfolio": None}))
        store, day = LocalStore(root), pd.Timestamp(AS_OF)
        steps = {"without": onnx_predictor(str(without)), "with": onnx_predictor()}
        tickers = list(steps["with"].universe.members_on(day))
        times: dict[str, list[float]] = {name: [] for name in steps}
        portfolio_only: list[float] = []
        for step in steps.values():  # warm-up: ONNX sessions, imports, caches
            clear(root)
            step(store, day, tickers)
        for _ in range(args.repeats):
            for name, step in steps.items():
                clear(root)
                t = time.perf_counter()
                step(store, day, tickers)
                times[name].append(time.perf_counter() - t)
            shutil.rmtree(root / "portfolio")  # the portfolio step alone, on the forecast just published
            forecast, with_step = store.get_json("predictions/latest.json"), steps["with"]
            inputs = load_model_inputs(store, with_step.universe, with_step.sectors, with_step.calendar, day, tickers)
            sectors_of = {m.ticker: m.sector for m in with_step.universe.members}
            t = time.perf_counter()
            with_step.portfolio(store, forecast, inputs.panel, sectors_of, tickers, tickers, with_step.policy)
            portfolio_only.append(time.perf_counter() - t)
        print(f"\nprediction step in process, warm, {args.repeats} runs each (alternating):")
        for name, seconds in times.items():
            print(f"  {name:>7} portfolio: {spread(seconds)}")
        ratio = statistics.median(times["with"]) / statistics.median(times["without"])
        print(f"  ratio with / without: {ratio:.3f}")
        print(f"  portfolio step alone: {spread(portfolio_only)}")
        kabucast = str(Path(sys.executable).parent / "kabucast")
        cold: dict[str, list[float]] = {"without": [], "with": []}
        for _ in range(5):
            for name, extra in (("without", ["--config", str(without)]), ("with", [])):
                clear(root)
                argv = [kabucast, "predict", "--store", str(root), "--as-of", AS_OF, *extra]
                t = time.perf_counter()
                subprocess.run(argv, check=True, capture_output=True)
                cold[name].append(time.perf_counter() - t)
        print("\nkabucast predict, fresh process (cold), 5 runs each (alternating):")
        for name, seconds in cold.items():
            print(f"  {name:>7} portfolio: median {statistics.median(seconds):.2f} s (min {min(seconds):.2f})")
        print(f"  ratio with / without: {statistics.median(cold['with']) / statistics.median(cold['without']):.3f}")


if __name__ == "__main__":
    main()

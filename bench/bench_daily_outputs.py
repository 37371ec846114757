"""What issue 16's outputs cost the daily job: intervals and the portfolio, against neither (prints figures).

``python bench/bench_daily_outputs.py [--repeats 15]``

The store of bench_daily.py (10 years of the sample market for the Core30) with two 1-epoch models of
config/train_bilstm.yaml: one as the config has it (its 0.1 / 0.5 / 0.9 quantile head, calibrated), one
without the head (the model before issue 16). Then, alternating so that the machine's noise falls on both alike:
- in this process, the prediction step (OnnxPredictor, ONNX session warm as in a warm Lambda),
  **before**: the plain model serving, ``portfolio: null``; **after**: the quantile model serving, the
  default portfolio; each from a store without any published document (every run writes its files),
  ``--repeats`` times: median and spread of each, and the ratio;
- the portfolio step alone (PortfolioStep on the published forecast): median milliseconds;
- ``kabucast predict`` in a fresh process (a cold Lambda: imports, ONNX session), before and after,
  5 times each: median wall seconds and the ratio.
Issue 16's target: the daily job within 10 % of its time before.
"""

from __future__ import annotations

import argparse
import dataclasses
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
from kabucast.config import CONFIG_DIR, SectorSettings, TrainSettings, load_settings, load_universe, resolve_config_path
from kabucast.data.calendar import calendar_for
from kabucast.forecast.dataset import ForecastData
from kabucast.forecast.registry import champion_version, set_champion
from kabucast.forecast.train import train
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


def plain_model(root: Path) -> str:
    """A second 1-epoch model of train_bilstm.yaml without its quantile head (the model before issue 16)."""
    base = load_settings(TrainSettings, resolve_config_path("train_bilstm.yaml"))
    model = {k: v for k, v in base.model.items() if k != "quantiles"}
    quick = dataclasses.replace(
        base,
        model=model,
        data=dataclasses.replace(base.data, max_train_samples=512, max_val_samples=256),
        training={**base.training, "max_epochs": 1},
    )
    universe = load_universe("universes/topix_core30.yaml")
    sectors = load_settings(SectorSettings, resolve_config_path("sectors.yaml"))
    data = ForecastData(LocalStore(root), universe, sectors, calendar_for())
    return train(quick, data, pd.Timestamp(AS_OF), root / "work-plain", progress=False).version


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "store"
        t = time.perf_counter()
        setup(root)
        store, day = LocalStore(root), pd.Timestamp(AS_OF)
        versions = {"before": plain_model(root), "after": champion_version(store)}  # train_bilstm.yaml has the head
        print(f"setup (10y sample backfill + two 1-epoch models): {time.perf_counter() - t:.0f} s")
        without = Path(tmp) / "predict_without_portfolio.yaml"
        config = yaml.safe_load((CONFIG_DIR / "predict.yaml").read_text())
        without.write_text(yaml.safe_dump({**config, "portfolio": None}))
        steps = {"before": onnx_predictor(str(without)), "after": onnx_predictor()}
        tickers = list(steps["after"].universe.members_on(day))
        times: dict[str, list[float]] = {name: [] for name in steps}
        portfolio_only: list[float] = []
        for name, step in steps.items():  # warm-up: ONNX sessions, imports, caches
            set_champion(store, versions[name], "bench")
            clear(root)
            step(store, day, tickers)
        for _ in range(args.repeats):
            for name, step in steps.items():
                set_champion(store, versions[name], "bench")
                clear(root)
                t = time.perf_counter()
                step(store, day, tickers)
                times[name].append(time.perf_counter() - t)
            shutil.rmtree(root / "portfolio")  # the portfolio step alone, on the forecast just published
            forecast, after = store.get_json("predictions/latest.json"), steps["after"]
            inputs = load_model_inputs(store, after.universe, after.sectors, after.calendar, day, tickers)
            sectors_of = {m.ticker: m.sector for m in after.universe.members}
            t = time.perf_counter()
            after.portfolio(store, forecast, inputs.panel, sectors_of, tickers, tickers, after.policy)
            portfolio_only.append(time.perf_counter() - t)
        print(f"\nprediction step in process, warm, {args.repeats} runs each (alternating):")
        print(f"  before (plain model, no portfolio):          {spread(times['before'])}")
        print(f"  after (quantile model, intervals, portfolio): {spread(times['after'])}")
        print(f"  ratio after / before: {statistics.median(times['after']) / statistics.median(times['before']):.3f}")
        print(f"  portfolio step alone: {spread(portfolio_only)}")
        kabucast = str(Path(sys.executable).parent / "kabucast")
        cold: dict[str, list[float]] = {"before": [], "after": []}
        for _ in range(5):
            for name, extra in (("before", ["--config", str(without)]), ("after", [])):
                set_champion(store, versions[name], "bench")
                clear(root)
                argv = [kabucast, "predict", "--store", str(root), "--as-of", AS_OF, *extra]
                t = time.perf_counter()
                subprocess.run(argv, check=True, capture_output=True)
                cold[name].append(time.perf_counter() - t)
        print("\nkabucast predict, fresh process (cold), 5 runs each (alternating):")
        for name, seconds in cold.items():
            print(f"  {name:>6}: median {statistics.median(seconds):.2f} s (min {min(seconds):.2f})")
        print(f"  ratio after / before: {statistics.median(cold['after']) / statistics.median(cold['before']):.3f}")


if __name__ == "__main__":
    main()

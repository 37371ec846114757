"""Many shuffled-label controls, cheaply: the ridge baseline of every walk-forward fold, once per seed.

``python bench/bench_control_runs.py [--runs 40] [--market-seed 7] [--folds 2]``

One shuffled control run is a random function of informative features, so its own intervals do not
cover 0 reliably (docs/EVALUATION.md); whether the pipeline leaks is a question across runs, and a
BiLSTM walk-forward costs ~190 s a run (bench/bench_planted_evaluation.py). The ridge costs ~16 s, so
this runs it ``--runs`` times on the PLANTED market exactly as walk-forward's control does: seed s picks
the fold's training / early-stopping samples (kabucast.experiments.walkforward.inner_split) and both
label permutations (training and early-stopping, the blind control); the last fold's ridge also scores
the holdout. Prints, per period and month, the mean RankIC over the runs with a Student t interval
(kabucast.evaluation.uncertainty.across_runs), how many runs fell below 0, and whether every interval
covers 0. SYNTHETIC data only.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from bench_planted_evaluation import planted_layout
from bench_planted_signal import AS_OF, planted_market
from kabucast.data.calendar import TradingCalendar
from kabucast.evaluation.uncertainty import across_runs
from kabucast.experiments.folds import HOLDOUT, plan_folds
from kabucast.experiments.walkforward import inner_split
from kabucast.forecast.dataset import ForecastData
from kabucast.forecast.interface import SampleSplit
from kabucast.forecast.metrics import horizon_metrics
from kabucast.forecast.ridge_model import RidgeForecaster


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--market-seed", type=int, default=7)
    parser.add_argument("--folds", type=int, default=2)
    args = parser.parse_args()
    calendar = TradingCalendar()
    settings, recipe, sectors = planted_layout(args.folds)
    with tempfile.TemporaryDirectory(prefix="kabucast-controls-") as tmp:
        store, universe, _ = planted_market(Path(tmp) / "store", args.market_seed, calendar)
        data = ForecastData(store, universe, sectors, calendar)
        samples = data.samples(calendar.previous_session(AS_OF), recipe.data.static_mode)
        folds = plan_folds(samples.date_pos, settings)
        tests = {f.name: samples.members_only(f.test) for f in folds}
        rankic: dict[str, list[np.ndarray]] = {name: [] for name in tests}  # period -> one (12,) per run
        start = time.perf_counter()
        for seed in range(args.runs):
            for fold in (f for f in folds if not f.reuse_model):
                fit_idx, val_idx = inner_split(samples, fold.train, recipe, np.random.default_rng(seed))
                rng = np.random.default_rng(seed)
                order, val_order = rng.permutation(len(fit_idx)), rng.permutation(len(val_idx))
                ridge = RidgeForecaster(seed=seed)
                ridge.fit(SampleSplit(samples, fit_idx, val_idx, order, val_order), Path(tmp) / "ridge", progress=False)
                scored = [fold.name] + ([HOLDOUT] if fold is folds[-2] and folds[-1].reuse_model else [])
                for name in scored:
                    idx = tests[name]
                    metrics = horizon_metrics(samples.target[idx], ridge.predict(samples, idx), samples.date_pos[idx])
                    rankic[name].append(np.asarray(metrics["rankic"]))
            print(f"run {seed + 1}/{args.runs}: {time.perf_counter() - start:.0f} s", flush=True)
        covering = total = 0
        for name, runs in rankic.items():
            values = np.stack(runs)  # (runs, 12)
            below = (values.mean(axis=1) < 0).sum()
            print(f"{name}: mean over the 12 months below 0 in {below} of {len(values)} runs")
            for h in range(12):
                e = across_runs(list(values[:, h]))
                covering, total = covering + (not e.excludes_zero), total + 1
                print(f"  m{h + 1:<2} {e.describe()}")
        verdict = "PASS" if covering == total else "FAIL"
        print(f"{verdict}  every interval across {args.runs} runs covers 0: {covering}/{total}")


if __name__ == "__main__":
    main()

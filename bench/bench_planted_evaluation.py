"""Issue 15's acceptance run: walk-forward with error bars on the PLANTED sample market, real and shuffled labels.

``python bench/bench_planted_evaluation.py [--market-seeds 7 11 ...] [--folds 2] [--control-seeds 42 1 ...]
[--skip-real] [--json runs.json]``

300 synthetic stocks x 20 years on the PLANTED preset (as bench_planted_signal.py), then
``kabucast evaluate``'s walk-forward (kabucast.experiments.walkforward.walk_forward_recipe) of
config/train_planted.yaml: ``--folds`` expanding folds, a 252-session purge, the last 15 % of dates
held out and scored by the last fold's model. Once on real labels (unless ``--skip-real``), then once
per control seed with ``data.shuffle_labels`` (every fold's BiLSTM and ridge train and early-stop on
permuted labels; the test labels are untouched); ``--json`` keeps every control run's intervals,
written after each run; seeds already in the file are read back instead of run again, so a long series
(40 seeds, ~3 min each) survives an interruption.

For a recipe with a quantile head (train_planted.yaml has one) it also prints, per run and period,
the 0.1-0.9 interval's coverage and the pinball loss over the unconditional quantiles' per month, and
checks issue 16's acceptance: real labels, 75-85 % coverage at every month; shuffled labels, a pinball
loss not below the unconditional baseline's (a 2 % allowance for its sampling noise). With several
``--market-seeds`` the real-label walk-forward runs on each market (the controls on the first only)
and coverage is judged by its mean over the markets: at long horizons one market's test years hold
few independent market moves, so a single run's coverage swings by several points with that
market's path (the unconditional interval's too; the per-month 95 % interval of the coverage in
``kabucast evaluate`` says how much), while the mean over markets measures the procedure.

Prints, per run and period (folds / holdout), the mean RankIC at months 1, 3, 6 and 12 of the model,
the ridge baseline and momentum with their 95 % intervals (Newey-West, lag = 2 x the label), and the
paired differences model - baseline. The shuffled control runs once per ``--control-seeds`` seed
(each seed draws another label permutation and initialisation). A single shuffled run's intervals are
conditional on the random function of informative features that run learned, so the control is judged
across runs (kabucast.evaluation.uncertainty.across_runs: Student t over the runs' means). Checks:
- real labels: the model and the ridge are both significantly above 0 at month 1 on the folds;
- shuffled labels, across runs: every interval of the model and the ridge (12 months x 2 periods)
  covers 0 at the family-wise 95 % level (Bonferroni over the 48: 48 intervals at 95 % each miss 0
  about 2.4 times under a true null), with how many cover at 95 % each and in single runs.
One torch thread. SYNTHETIC data only.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from scipy.stats import t as student_t

from bench_planted_signal import AS_OF, planted_market
from kabucast.config import EvaluateSettings, SectorSettings, TrainSettings, load_settings, resolve_config_path
from kabucast.data.calendar import TradingCalendar
from kabucast.evaluation.uncertainty import Estimate, across_runs
from kabucast.experiments.walkforward import walk_forward_recipe
from kabucast.experiments.walkforward_calibration import quantile_calibration
from kabucast.experiments.walkforward_report import paired_intervals, rankic_intervals
from kabucast.forecast.dataset import ForecastData

MONTHS = (1, 3, 6, 12)
CALIBRATION: dict[str, dict | None] = {}  # run label -> its quantile calibration (a recipe with a quantile head)
TRAINED = ("model", "ridge")


def cell(e: Estimate) -> str:
    return f"{e.value:+.3f} [{e.ci_low:+.3f}, {e.ci_high:+.3f}]{'' if e.excludes_zero else ' ~0'}"


def planted_layout(folds: int) -> tuple[EvaluateSettings, TrainSettings, SectorSettings]:
    """The walk-forward layout of the planted runs (``folds`` expanding folds, a 15 % holdout scored by the
    last fold's model, no champion), the recipe config/train_planted.yaml and the sector ids."""
    settings = EvaluateSettings(
        env="local",
        train_config="train_planted.yaml",
        folds=folds,
        holdout_fraction=0.15,
        holdout_model="last_fold",
        compare_champion=False,
    )
    recipe = load_settings(TrainSettings, resolve_config_path(settings.train_config))
    return settings, recipe, load_settings(SectorSettings, resolve_config_path("sectors.yaml"))


def print_table(intervals: dict, paired: dict) -> None:
    for period in intervals:
        for month in MONTHS:
            cells = [f"{n} {cell(e[month - 1])}" for n, e in intervals[period].items()]
            print(f"  {period:>7} m{month:<2} " + "; ".join(cells))
        for month in MONTHS if paired else ():
            cells = [f"{n} {cell(e[month - 1])}" for n, e in paired[period].items()]
            print(f"  {period:>7} m{month:<2} paired " + "; ".join(cells))


def evaluate(settings, recipe, data, work: Path, shuffled: bool, seed: int | None) -> dict:
    """One walk-forward of ``recipe`` (``seed``: its training seed); prints its table, returns its intervals."""
    training = recipe.training if seed is None else {**recipe.training, "seed": seed}
    run = dataclasses.replace(recipe, data=dataclasses.replace(recipe.data, shuffle_labels=shuffled), training=training)
    start = time.perf_counter()
    result = walk_forward_recipe(settings, run, data, AS_OF, work, log=print)
    label = f"SHUFFLED labels, seed {training['seed']}" if shuffled else "real labels"
    print(f"\n== {label}: walk-forward {time.perf_counter() - start:.0f} s ==")
    intervals = rankic_intervals(result)
    print_table(intervals, paired_intervals(result))
    calibration = quantile_calibration(result)
    for period, figures in (calibration or {}).items():
        coverage = figures["intervals"]["0.1-0.9"]["coverage"]
        print(f"  {period:>7} 0.1-0.9 coverage by month: " + " ".join(f"{c:.3f}" for c in coverage))
        fixed = figures["intervals"]["0.1-0.9"]["unconditional_coverage"]
        print(f"  {period:>7} unconditional coverage:    " + " ".join(f"{c:.3f}" for c in fixed))
        print(f"  {period:>7} pinball / unconditional:   " + " ".join(f"{r:.3f}" for r in figures["pinball_ratio"]))
    CALIBRATION[label] = calibration
    return intervals


def calibration_checks(checks: dict, markets: dict[int, dict]) -> None:
    """Issue 16's coverage acceptance over the real-label runs of ``markets`` (seed -> quantile calibration)."""
    cells = {seed: {p: f["intervals"]["0.1-0.9"] for p, f in c.items()} for seed, c in markets.items()}
    for what, key in (("model", "coverage"), ("unconditional", "unconditional_coverage")):
        single = [x for c in cells.values() for i in c.values() for x in i[key]]
        inside = sum(0.75 <= x <= 0.85 for x in single)
        print(f"  {what}: {inside}/{len(single)} single-market cells in 75-85 % ({min(single):.3f}..{max(single):.3f})")
    if len(markets) == 1:
        covered = [x for i in next(iter(cells.values())).values() for x in i["coverage"]]
        checks["real: the 80 % interval holds 75-85 % of the outcomes at every month (folds, holdout)"] = (
            all(0.75 <= c <= 0.85 for c in covered),
            f"{min(covered):.3f}..{max(covered):.3f} (one market: judge several, --market-seeds)",
        )
        return
    print(f"\n== the 80 % interval's coverage, mean over {len(markets)} markets [95 % interval, Student t] ==")
    means = []
    for period in ("folds", "holdout"):
        estimates = [across_runs([c[period]["coverage"][h] for c in cells.values()]) for h in range(12)]
        means += [e.value for e in estimates]
        print(f"  {period:>7}: " + " ".join(f"m{h + 1} {e.value:.3f}" for h, e in enumerate(estimates)))
        print(
            f"  {'':>7}  95 %: "
            + " ".join(f"[{e.ci_low:.3f}, {e.ci_high:.3f}]" for e in estimates[::3])
            + " (m1 m4 m7 m10)"
        )
    checks[f"real, over {len(markets)} markets: mean coverage of the 80 % interval in 75-85 % at every month"] = (
        all(0.75 <= m <= 0.85 for m in means),
        f"{min(means):.3f}..{max(means):.3f} (folds and holdout, 12 months each)",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--market-seeds",
        type=int,
        nargs="+",
        default=[7],
        help="planted markets to run the real-label walk-forward on (the controls run on the first)",
    )
    parser.add_argument("--folds", type=int, default=2)
    parser.add_argument("--control-seeds", type=int, nargs="*", default=[42, 1, 2, 3, 4, 5, 6, 7])
    parser.add_argument("--skip-real", action="store_true", help="run only the shuffled controls")
    parser.add_argument(
        "--json",
        help="keep every shuffled run's intervals (all months) in this file, written after each run; "
        "seeds already in it are not run again (resume)",
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    calendar = TradingCalendar()
    settings, recipe, sectors = planted_layout(args.folds)
    checks: dict[str, tuple[bool, str]] = {}
    markets: dict[int, dict] = {}  # market seed -> the real run's quantile calibration
    for market_seed in args.market_seeds:
        first = market_seed == args.market_seeds[0]
        with tempfile.TemporaryDirectory(prefix="kabucast-planted-eval-") as tmp:
            start = time.perf_counter()
            store, universe, _ = planted_market(Path(tmp) / "store", market_seed, calendar)
            seconds = time.perf_counter() - start
            print(f"\nplanted market seed {market_seed}: {len(universe.tickers)} stocks, {seconds:.0f} s")
            data = ForecastData(store, universe, sectors, calendar)
            if not args.skip_real:
                real = evaluate(settings, recipe, data, Path(tmp) / "real", shuffled=False, seed=None)
                if CALIBRATION.get("real labels"):
                    markets[market_seed] = CALIBRATION.pop("real labels")
                if first:
                    month1 = {n: real["folds"][n][0] for n in TRAINED}
                    checks["real: model and ridge significantly above 0 at month 1 (folds)"] = (
                        all(e.ci_low > 0 for e in month1.values()),
                        ", ".join(f"{n} {cell(e)}" for n, e in month1.items()),
                    )
            if first:
                run_controls(args, settings, recipe, data, Path(tmp), checks)
    if markets:
        print(f"\n== real labels, the 80 % interval over {len(markets)} market(s) ==")
        calibration_checks(checks, markets)
    shuffled = [c for c in CALIBRATION.values() if c]
    if shuffled:
        ratios = [r for c in shuffled for f in c.values() for r in f["pinball_ratio"]]
        checks["shuffled: pinball loss not below the unconditional quantiles' (ratio >= 1 - 0.02)"] = (
            min(ratios) >= 0.98,
            f"ratio {min(ratios):.3f}..{max(ratios):.3f} over {len(shuffled)} runs x 2 periods x 12 months",
        )
    print()
    for what, (ok, detail) in checks.items():
        print(f"{'PASS' if ok else 'FAIL'}  {what}: {detail}")


def run_controls(args, settings, recipe, data, tmp: Path, checks: dict) -> None:
    """The shuffled-label runs (``--control-seeds``) on one market, judged across runs."""
    done = json.loads(Path(args.json).read_text()) if args.json and Path(args.json).exists() else {}
    if done:
        print(f"resuming: {len(done)} shuffled runs already in {args.json} (seeds {', '.join(done)})")
    for seed in args.control_seeds:
        if str(seed) in done:
            continue
        run = evaluate(settings, recipe, data, tmp / f"shuffled-{seed}", shuffled=True, seed=seed)
        done[str(seed)] = {p: {n: [e.to_dict() for e in months] for n, months in run[p].items()} for p in run}
        if args.json:  # after every run, so an interrupted series resumes where it stopped
            Path(args.json).write_text(json.dumps(done, indent=1))
    controls = {seed: done[str(seed)] for seed in args.control_seeds}
    runs = list(controls.values())
    if not runs:  # none with --control-seeds and nothing after it
        return
    print("\nshuffled runs, mean RankIC over the 12 months (folds / holdout):")
    for seed, run in controls.items():
        means = {n: [np.mean([e["value"] for e in run[p][n]]) for p in ("folds", "holdout")] for n in TRAINED}
        print(f"  seed {seed:>3}: " + "; ".join(f"{n} {f:+.3f} / {h:+.3f}" for n, (f, h) in means.items()))
    single = [e for run in runs for period in run.values() for n in TRAINED for e in period[n]]
    covering = sum(not e["excludes_zero"] for e in single)
    print(f"\n== SHUFFLED labels across {len(runs)} runs (Student t over the runs' means) ==")
    pooled = {
        period: {n: [across_runs([run[period][n][h]["value"] for run in runs]) for h in range(12)] for n in TRAINED}
        for period in runs[0]
    }
    print_table(pooled, {})
    every = [e for period in pooled.values() for months in period.values() for e in months]
    inside = sum(not e.excludes_zero for e in every)
    if len(runs) >= 2:  # one run has no between-run spread: its "interval" is NaN and judges nothing
        # 48 intervals at 95 % each miss 0 about 2.4 times under a true null: the verdict is family-wise
        # (Bonferroni, each at 1 - 0.05 / 48), the per-interval count is printed beside it
        crit = student_t.ppf(1 - 0.025 / len(every), len(runs) - 1)
        worst = max(abs(e.value) / e.se for e in every)
        checks["shuffled, across runs: every model / ridge interval covers 0 (family-wise 95 %)"] = (
            worst < crit,
            f"max |t| {worst:.2f} < {crit:.2f}; at 95 % each {inside}/{len(every)} cover 0 "
            f"(single runs: {covering}/{len(single)})",
        )


if __name__ == "__main__":
    main()

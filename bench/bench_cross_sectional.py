"""Issue 27's planted-market evidence: does the cross-sectional kind find what a per-stock BiLSTM cannot?

    python bench/bench_cross_sectional.py [--stocks 330] [--sectors 11] [--years 16] [--folds 2]
        [--control-seeds 42 1 2]
    python bench/bench_cross_sectional.py --real jp --work /tmp/jp [--folds 3] [--control-seeds]

Builds the LEAD_LAG sample market (docs/SAMPLE_MARKET.md: followers move with their sector's lead factor 1 to 4
weeks after its leaders; ``--stocks`` synthetic stocks in ``--sectors`` sectors, ``--years`` of history to
2026-11-20, no fundamentals), then runs ``kabucast evaluate``'s walk-forward (``--folds`` expanding folds, a
252-session purge, a 15 % holdout scored by the last fold's model) of config/train_cross_sectional_cpu.yaml and
of config/train_planted.yaml's BiLSTM on the same dates. Prints, per period and month 1, 2, 3, 6, 12, each
model's mean RankIC and the paired per-date difference cross_sectional - bilstm, with 95 % Newey-West intervals
(lag = 2 x the label). Then the cross-sectional kind once per ``--control-seeds`` seed on shuffled labels,
judged across runs (Student t over the runs' means, Bonferroni over months 1-3 x 2 periods). One torch thread.

``--real jp`` runs the same on real Tokyo prices instead (bench/bench_real_jp.py's store in ``--work``: trained on
all 600 dev names point-in-time, scored on the 100 large caps, ``--folds`` expanding folds and a refit holdout as
``kabucast evaluate``), the BiLSTM being config/train_demo.yaml's, and adds the pairs against the ridge each fold
trains on the same split. ``--real us``: the 300 US names of us_panel300_dev (served, trained and scored; 2010-2017
is too short for a fold's purged early-stopping block); ``--real us30``: the 30 of us_large30_dev (2000-2017).
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from scipy.stats import t as student_t

from bench_planted_evaluation import planted_layout
from kabucast.config import TrainSettings, UniverseMember, UniverseSettings, load_settings, resolve_config_path
from kabucast.data.calendar import TradingCalendar, calendar_for
from kabucast.data.ingest import backfill
from kabucast.data.sources.sample_market import LEAD_LAG, SampleMarketSource
from kabucast.evaluation.uncertainty import Estimate, label_lag, mean_estimate
from kabucast.experiments.walkforward import walk_forward_recipe
from kabucast.experiments.walkforward_report import daily_rankic
from kabucast.forecast.dataset import ForecastData, forecast_data
from kabucast.storage import LocalStore

AS_OF = "2026-11-20"
MONTHS = (1, 2, 3, 6, 12)
RECIPES = {"cross_sectional": "train_cross_sectional_cpu.yaml", "bilstm": "train_planted.yaml"}
MAX_TRAIN: int | None = None  # --max-train-samples: both recipes' data.max_train_samples
INNER_PURGE: int | None = None  # --inner-purge: both recipes' data.purge_sessions (their early-stopping block's)
BASELINES = {"momentum_12m": "12-month momentum", "reversal_1m": "1-month reversal"}  # scored by every fold


def cell(e: Estimate) -> str:
    return f"{e.value:+.3f} [{e.ci_low:+.3f}, {e.ci_high:+.3f}]{'' if e.excludes_zero else ' ~0'}"


def lead_lag_market(
    root: Path, stocks: int, sectors: int, years: int, calendar: TradingCalendar
) -> tuple[LocalStore, UniverseSettings]:
    origin = f"{int(AS_OF[:4]) - years}-01-04"
    source = SampleMarketSource.synthetic(stocks, sectors, seed=7, calendar=calendar, origin=origin, params=LEAD_LAG)
    members = tuple(UniverseMember(t, t, source.sectors[t]) for t in source.tickers)
    universe = UniverseSettings("local", f"sample_lead_lag_{stocks}", "SYNTHETIC lead-lag market", AS_OF, members)
    store = LocalStore(root)
    backfill(store, source, universe.tickers, calendar, AS_OF, f"{years}y")
    return store, universe


def run(recipe_file: str, data: ForecastData, work: Path, folds: int, shuffled: bool = False, seed: int | None = None):
    settings, _, _ = planted_layout(folds)
    if REAL is not None:  # as kabucast evaluate on the real files: a refit holdout, the large caps scored
        settings = dataclasses.replace(settings, holdout_fraction=0.1, holdout_model="refit")
    recipe = load_settings(TrainSettings, resolve_config_path(recipe_file))
    if REAL is not None:
        recipe = dataclasses.replace(recipe, universe=REAL["large"], training_universe=REAL["all"])
    training = recipe.training if seed is None else {**recipe.training, "seed": seed}
    sizes = {"max_train_samples": MAX_TRAIN} if MAX_TRAIN else {}
    if INNER_PURGE is not None:  # the early-stopping block's purge (data.purge_sessions), the folds' is unchanged
        sizes["purge_sessions"] = INNER_PURGE
    data_settings = dataclasses.replace(recipe.data, shuffle_labels=shuffled, **sizes)
    model = recipe.model
    if REAL is not None and INNER_PURGE is not None and recipe.model.get("kind", "bilstm") == "bilstm":
        model = {k: v for k, v in model.items() if k != "quantiles"}  # no calibration block: a random inner split
    recipe = dataclasses.replace(recipe, data=data_settings, training=training, model=model)
    settings = dataclasses.replace(settings, train_config=recipe_file)
    start = time.perf_counter()
    if REAL is not None:
        data = forecast_data(data.store, data.calendar, recipe, data.universe, data.sectors, REAL["large"])
    result = walk_forward_recipe(settings, recipe, data, REAL_AS_OF or AS_OF, work, log=lambda *_: None)
    print(f"  {recipe_file}{' SHUFFLED seed ' + str(seed) if shuffled else ''}: {time.perf_counter() - start:.0f} s")
    return daily_rankic(result)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stocks", type=int, default=330)
    # each sector's lead factor is one independent draw a date: 11 sectors (the most the sample market has) give a
    # date's RankIC 11 of them; 4 sectors left the planted effect's RankIC too noisy to tell models apart
    parser.add_argument("--sectors", type=int, default=11, help="sectors (each has its leaders and followers)")
    parser.add_argument("--years", type=int, default=16)
    parser.add_argument("--folds", type=int, default=2)
    parser.add_argument("--control-seeds", type=int, nargs="*", default=[42, 1, 2])
    parser.add_argument(
        "--inner-purge",
        type=int,
        help="sessions between a fold's fit and its early-stopping block (default: the "
        "recipes' 252); with --real, the BiLSTM then drops its quantiles and early-stops on a random share",
    )
    parser.add_argument("--save", help="write every forecast's per-date RankIC (period x forecast) to this .npz")
    parser.add_argument("--controls-only", action="store_true", help="only the shuffled-label control runs")
    parser.add_argument("--max-train-samples", type=int, default=None, help="both recipes' (default: theirs)")
    parser.add_argument("--real", choices=("jp", "us", "us30"), help="real prices instead of the LEAD_LAG market")
    parser.add_argument("--work", help="--real: bench_real_jp.py's folder (store and universes, kept)")
    args = parser.parse_args()
    global MAX_TRAIN, INNER_PURGE
    MAX_TRAIN, INNER_PURGE = args.max_train_samples, args.inner_purge
    torch.set_num_threads(1)
    _, _, sectors = planted_layout(args.folds)
    with tempfile.TemporaryDirectory(prefix="kabucast-xs-") as tmp:
        if args.real:
            data = real_data(args.real, Path(args.work or tmp), sectors)
            print(f"real {args.real} prices: {len(data.universe.tickers)} names served, trained on {REAL['all']}")
        else:
            calendar = TradingCalendar()
            store, universe = lead_lag_market(Path(tmp) / "store", args.stocks, args.sectors, args.years, calendar)
            data = ForecastData(store, universe, sectors, calendar)
            print(f"LEAD_LAG market: {args.stocks} stocks in {args.sectors} sectors, {args.years} years")
        daily = {} if args.controls_only else {n: run(f, data, Path(tmp) / n, args.folds) for n, f in RECIPES.items()}
        if args.save and daily:
            arrays = {f"{n}/{p}/{f}": a for n, by in daily.items() for p, fs in by.items() for f, a in fs.items()}
            np.savez_compressed(args.save, **arrays)
        for period in daily.get("bilstm", ()):
            xs, bi = daily["cross_sectional"][period]["model"], daily["bilstm"][period]["model"]
            ridge = daily["cross_sectional"][period]["ridge"]  # trained on the cross-sectional folds' split
            free = [(name, daily["cross_sectional"][period][key]) for key, name in BASELINES.items()]
            for m in MONTHS:
                lag, h = label_lag(21 * m), m - 1
                rows = (("cross_sectional", xs), ("bilstm", bi), ("ridge", ridge), *free)
                cells = [f"{n} {cell(mean_estimate(r[:, h], lag))}" for n, r in rows]
                pairs = [f"xs - {n} {cell(mean_estimate(xs[:, h] - r[:, h], lag))}" for n, r in rows[1:]]
                print(f"  {period:>7} m{m:<2} " + "; ".join(cells) + "; paired " + "; ".join(pairs))
        controls = [
            run(RECIPES["cross_sectional"], data, Path(tmp) / f"c{s}", args.folds, True, s) for s in args.control_seeds
        ]
        if len(controls) >= 2:
            tests = 2 * 3
            print(f"shuffled controls, {len(controls)} runs, across runs (family-wise 95 %: Bonferroni over {tests})")
            for period in controls[0]:
                for m in (1, 2, 3):
                    means = np.array([float(np.nanmean(c[period]["model"][:, m - 1])) for c in controls])
                    se = means.std(ddof=1) / np.sqrt(len(means))
                    mean, half = means.mean(), student_t.ppf(1 - 0.05 / tests / 2, len(means) - 1) * se
                    covers = "covers 0" if abs(mean) <= half else "MISSES 0"
                    print(f"  {period:>7} m{m} {mean:+.3f} [{mean - half:+.3f}, {mean + half:+.3f}] {covers}")


REAL: dict[str, str] | None = None  # --real: the universe files ("large" served and scored, "all" trained)
REAL_AS_OF: str | None = None


def real_data(market: str, work: Path, sectors) -> ForecastData:
    """bench_real_jp.py's store of the real files in ``work`` (backfilled once), as the served universe's data."""
    import bench_real_jp as real
    from kabucast.config import load_universe

    global REAL, REAL_AS_OF
    work.mkdir(parents=True, exist_ok=True)
    if market == "us30":
        REAL, REAL_AS_OF = us30(work), real.AS_OF["us"]
    else:
        REAL = real.universes(work) if market == "jp" else real.us_universe(work)
        REAL_AS_OF = real.AS_OF[market]
        real.backfill(work, REAL, ["--store", str(work / "store"), "--as-of", REAL_AS_OF], market)
    RECIPES["bilstm"] = real.RECIPES["demo"]
    universe = load_universe(REAL["large"])
    return ForecastData(LocalStore(work / "store"), universe, sectors, calendar_for(universe.exchange))


def us30(work: Path) -> dict[str, str]:
    """us_large30_dev (30 US large caps, 2000-2017, XNYS) as one universe, backfilled once into ``work``/store."""
    from bench_real_data import SECTORS, SHARED, run, write

    members = [{"ticker": t, "name": t, "sector": s} for t, s in SECTORS.items()]
    universe = write(work / "us30.yaml", {"env": "local", "name": "us30", "description": "us_large30_dev",
                     "exchange": "XNYS", "currency": "USD", "reviewed": "2017-11-10", "members": members})  # fmt: skip
    if not (work / "store" / "data").exists():
        source = f"file:{SHARED / 'us_large30_dev.csv.gz'}"
        fetch = write(work / "fetch_us30.yaml", {"env": "local", "universe": universe, "period": "20y",
                      "source": source, "overlap_sessions": 3, "batch_size": 50})  # fmt: skip
        run("backfill", "--config", fetch, "--store", str(work / "store"), "--as-of", "2017-11-10")
    return {"large": universe, "all": universe}


if __name__ == "__main__":
    main()

"""Walk-forward of the model kinds on real Tokyo prices: train broad, score the large caps.

The JP files of ../shared/data stand in for the product's universes (the Core30's own prices are
kept out on purpose): ``jp_large100_dev`` (100 never-Core30 large caps, 2005-2018) plays the served
universe, and training may draw from every name, those 100 plus ``jp_panel500_dev`` (2012-2018),
point-in-time (a name trains from its first stored date). Both files are backfilled into one store
through the product's own ``backfill --source file:`` (bad ticks screened, unadjusted splits
quarantined), universes built by kabucast.universe_listing from ``jp_dev_sectors.csv``.

Each recipe runs ``kabucast evaluate`` (3 expanding folds + a refit holdout, XTKS calendar) and
prints, per period (mean over the folds' days, holdout) and month 1/2/3/6/12, the RankIC of the
recipe's model, the ridge, 12-month momentum and 1-month reversal with 95 % Newey-West intervals,
and the model's paired differences with each.

    python bench/bench_real_jp.py --work /tmp/jp [--recipes momentum,reversal,lightgbm,demo] [--train-on all|large]
    python bench/bench_real_jp.py --work /tmp/jp --score-on all   # score on all 600 names instead
    python bench/bench_real_jp.py --work /tmp/jp --select --recipes ridge,lightgbm,demo   # kabucast select
    python bench/bench_real_jp.py --work /tmp/us --market us --select --score-on all --no-bands   # 300 US names

``--work`` keeps the store between runs (the backfill is done once). Asserts nothing; each recipe
takes minutes on 2 cores (the BiLSTM ``demo`` recipe the longest). ``KABUCAST_SHARED_DATA`` points
at the files (default ../shared/data).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import pandas as pd
import yaml

from bench_real_data import run, write  # the same in-process runner (bench/ is on the path of a bench script)
from kabucast.config import load_sectors
from kabucast.universe_listing import universe_from_listing, write_universe

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("KABUCAST_SHARED_DATA", ROOT.parent / "shared" / "data"))
AS_OF = {"jp": "2018-11-16", "us": "2017-11-10"}
US_FILE = "us_panel300_dev.csv.gz"
RECIPES = {
    "demo": "train_demo.yaml",  # the BiLSTM, short training
    "ridge": "train_ridge.yaml",
    "momentum": "train_momentum.yaml",
    "reversal": "train_reversal.yaml",
    "lightgbm": "train_lightgbm.yaml",
}
MONTHS = (1, 2, 3, 6, 12)
BANDS = True  # --no-bands: the recipes without quantiles (a fold's purged calibration block needs ~350 dates)


def universes(work: Path) -> dict[str, str]:
    """``large`` (the 100 large caps), ``panel`` (the 500) and ``all`` (the 600) as universe files."""
    listing = pd.read_csv(SHARED / "jp_dev_sectors.csv", dtype=str)
    tse33 = load_sectors().tse33  # the 33-sector codes -> the sector map's names (config/sectors.yaml)
    files = {}
    for name, source in (("large", "jp_large100_dev.csv.gz"), ("panel", "jp_panel500_dev.csv.gz")):
        tickers = set(pd.read_csv(SHARED / source, usecols=["ticker"])["ticker"].unique())
        rows = listing[listing["ticker"].isin(tickers)].to_dict("records")
        universe = universe_from_listing(rows, f"jp_{name}", f"real TSE names of {source}", AS_OF["jp"], tse33)
        files[name] = str(write_universe(work / f"universe_{name}.yaml", universe))
    every = universe_from_listing(
        listing.to_dict("records"), "jp_all", "the 600 real TSE dev names", AS_OF["jp"], tse33
    )
    files["all"] = str(write_universe(work / "universe_all.yaml", every))
    return files


def us_universe(work: Path) -> dict[str, str]:
    """The 300 US names (XNYS, USD) as one universe served, trained and scored on; sectors are not in the file:
    the large caps bench_real_data names get theirs, the others the sector map's explicit ``Unknown``."""
    from bench_real_data import SECTORS

    tickers = sorted(pd.read_csv(SHARED / US_FILE, usecols=["ticker"])["ticker"].unique())
    members = [{"ticker": t, "name": t, "sector": SECTORS.get(t, "Unknown")} for t in tickers]
    universe = {"env": "local", "name": "us300", "description": f"real US names of {US_FILE}", "exchange": "XNYS",
                "currency": "USD", "reviewed": AS_OF["us"], "members": members}  # fmt: skip
    path = write(work / "universe_us300.yaml", universe)
    return {"large": path, "all": path}


def backfill(work: Path, files: dict[str, str], store: list[str], market: str) -> None:
    if (work / "store" / "data").exists():
        return
    sources = (
        (("large", "jp_large100_dev.csv.gz"), ("panel", "jp_panel500_dev.csv.gz"))
        if market == "jp"
        else (("large", US_FILE),)
    )
    for name, source in sources:
        fetch = write(
            work / f"fetch_{name}.yaml",
            {"env": "local", "universe": files[name], "source": f"file:{SHARED / source}", "period": "20y",
             "overlap_sessions": 3, "batch_size": 100},
        )  # fmt: skip
        report = run("backfill", "--config", fetch, *store)
        print(f"== {source}: {len(report['updated'])} tickers stored, {len(report['failures'])} failed (quarantined)")


def recipe_file(work: Path, files: dict[str, str], recipe: str, train_on: str) -> str:
    """The shipped ``recipe`` served on the large caps, trained on ``files[train_on]`` (without bands: --no-bands)."""
    train = yaml.safe_load((ROOT / "config" / RECIPES[recipe]).read_text())
    train.update(universe=files["large"], sectors=str(ROOT / "config" / "sectors.yaml"))
    train["training_universe"] = files[train_on]
    if not BANDS:
        train["model"].pop("quantiles", None)
    return write(work / f"train_{recipe}_{train_on}.yaml", train)


def evaluate_file(work: Path, name: str, recipe_path: str, scored: str) -> str:
    """Walk-forward settings: 3 expanding folds + a refit holdout of ``recipe_path``, scoring ``scored``."""
    settings = {"env": "local", "train_config": recipe_path, "folds": 3, "compare_champion": False,
                "evaluation_universe": scored}  # fmt: skip
    return write(work / f"evaluate_{name}.yaml", settings)


def evaluate(work: Path, files: dict[str, str], store: list[str], recipe: str, train_on: str, score_on: str) -> dict:
    path = recipe_file(work, files, recipe, train_on)
    evaluate = evaluate_file(work, f"{recipe}_{train_on}_{score_on}", path, files[score_on])
    return run("evaluate", "--config", evaluate, "--threads", "1", *store)


def select(
    work: Path, files: dict[str, str], store: list[str], recipes: list[str], train_on: str, score_on: str
) -> dict:
    """``kabucast select`` over momentum and reversal (the baselines) and ``recipes`` (the candidates)."""
    paths = {recipe: recipe_file(work, files, recipe, train_on) for recipe in ("momentum", "reversal", *recipes)}
    evaluate = evaluate_file(work, f"select_{score_on}", paths["momentum"], files[score_on])
    settings = {"env": "local", "evaluate": evaluate, "baselines": [paths["momentum"], paths["reversal"]],
                "candidates": [paths[r] for r in recipes], "months": [1, 2, 3], "alpha": 0.05}  # fmt: skip
    return run("select", "--config", write(work / "select.yaml", settings), "--threads", "1", *store)


def show(recipe: str, summary: dict) -> None:
    intervals, paired = summary["rankic_intervals"], summary["paired_differences"]
    for period in intervals:
        print(f"   {recipe} - {period}: RankIC [95 %] per month; paired model - baseline")
        for m in MONTHS:
            cells = [f"{name} {_e(rows[m - 1])}" for name, rows in intervals[period].items()]
            pairs = [f"{name.removeprefix('model - ')} {_e(rows[m - 1])}" for name, rows in paired[period].items()]
            print(f"     m{m:<2} " + "  ".join(cells))
            print("          vs " + "  ".join(pairs))
    calibration = summary.get("quantile_calibration")
    if calibration:
        for period, figures in calibration.items():
            for name, interval in figures["intervals"].items():
                cover = " ".join(f"{c:.0%}" for c in interval["coverage"])
                print(f"   {recipe} - {period}: {name} coverage per month (nominal {interval['nominal']:.0%}): {cover}")


def _e(e: dict) -> str:
    if e["value"] is None:
        return "   -"
    if e["ci_low"] is None:
        return f"{e['value']:+.3f}"
    return f"{e['value']:+.3f}[{e['ci_low']:+.3f},{e['ci_high']:+.3f}]"


def main_() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", required=True, help="folder for the store, universes and settings (kept)")
    parser.add_argument("--recipes", default="momentum,reversal,lightgbm,demo")
    parser.add_argument("--train-on", default="all", choices=("all", "large"))
    parser.add_argument("--score-on", default="large", choices=("large", "all"))
    parser.add_argument("--select", action="store_true", help="kabucast select over --recipes (candidates)")
    parser.add_argument("--no-bands", action="store_true", help="point forecasts only (short histories: the US file)")
    parser.add_argument("--market", default="jp", choices=("jp", "us"), help=f"us: the 300 names of {US_FILE}")
    args = parser.parse_args()
    if not (SHARED / "jp_large100_dev.csv.gz").exists():
        raise SystemExit(f"no real JP data in {SHARED} (set KABUCAST_SHARED_DATA)")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    global BANDS
    BANDS = not args.no_bands
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    files = universes(work) if args.market == "jp" else us_universe(work)
    store = ["--store", str(work / "store"), "--as-of", AS_OF[args.market]]
    backfill(work, files, store, args.market)
    if args.select:
        started = time.perf_counter()
        chosen = select(work, files, store, args.recipes.split(","), args.train_on, args.score_on)
        (work / f"selection_{args.train_on}_{args.score_on}.json").write_text(json.dumps(chosen))
        print(
            f"== select, trained on {args.train_on}, scored on {args.score_on} ({time.perf_counter() - started:.0f} s)"
        )
        print(Path(work / "store" / chosen["keys"]["report"]).read_text())
        return
    for recipe in args.recipes.split(","):
        started = time.perf_counter()
        summary = evaluate(work, files, store, recipe, args.train_on, args.score_on)
        (work / f"summary_{recipe}_{args.train_on}_{args.score_on}.json").write_text(json.dumps(summary))
        print(f"== {recipe}: trained on {args.train_on}, scored on {args.score_on} "
              f"({time.perf_counter() - started:.0f} s)")  # fmt: skip
        show(recipe, summary)
        sys.stdout.flush()


if __name__ == "__main__":
    main_()

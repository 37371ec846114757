"""The forecaster and the ranker on the whole real US files of ../shared/data: the honest figures.

1. ``us_large30_dev.csv.gz`` (30 large caps, 2000-01-03 .. 2017-11-10) as an XNYS / USD universe:
   backfill from the file (bad ticks screened), then walk-forward evaluation of the demo recipe
   (config/train_demo.yaml: a short training; 3 expanding folds + a refit holdout), a training and a
   forecast on the last session, and a backtest of the last 500 sessions. Prints the mean RankIC per
   horizon over the folds and on the holdout, for the model and the baselines (ridge, momentum_12m,
   zero_return); the evaluate command's own stderr table adds their 95 % intervals.
2. ``us_panel300_dev.csv.gz`` (300 stocks, 2010 .. 2017): the ranker's validation (implausible bars)
   and its LightGBM baseline; prints the held-out RankIC per horizon.

Sectors are not in the files: the 30 large caps get theirs from SECTORS below (Yahoo's names, set by
hand), the 300-stock panel one "Unknown" sector (its sector-relative features are then market-relative).
Asserts nothing; takes ~10 minutes on 2 cores. ``KABUCAST_SHARED_DATA`` points at the files (default
../shared/data from the repository root).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml

from kabucast.cli import main

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("KABUCAST_SHARED_DATA", ROOT.parent / "shared" / "data"))
SECTORS = {
    "ORCL": "Technology", "AMGN": "Healthcare", "ABT": "Healthcare", "BMY": "Healthcare", "LLY": "Healthcare",
    "COST": "Consumer Defensive", "LOW": "Consumer Cyclical", "TGT": "Consumer Defensive", "UNP": "Industrials",
    "UPS": "Industrials", "HON": "Industrials", "LMT": "Industrials", "MO": "Consumer Defensive",
    "PEP": "Consumer Defensive", "CL": "Consumer Defensive", "KMB": "Consumer Defensive", "GIS": "Consumer Defensive",
    "SO": "Utilities", "DUK": "Utilities", "EXC": "Utilities", "COP": "Energy", "SLB": "Energy", "HAL": "Energy",
    "MDT": "Healthcare", "BAX": "Healthcare", "BDX": "Healthcare", "EMR": "Industrials", "ITW": "Industrials",
    "APD": "Basic Materials", "ECL": "Basic Materials",
}  # fmt: skip
STORAGE = {"local_root": ".kabucast", "s3_bucket": "", "s3_prefix": ""}


def run(*argv: str) -> dict:
    """``kabucast argv --json`` in-process; its JSON report (exits on failure)."""
    import contextlib
    import io

    out = io.StringIO()
    started = time.perf_counter()
    with contextlib.redirect_stdout(out):
        code = main([*argv, "--json"])
    print(f"   kabucast {argv[0]}{' ' + argv[1] if not argv[1].startswith('-') else ''}: exit {code}, "
          f"{time.perf_counter() - started:.0f} s", file=sys.stderr)  # fmt: skip
    if code != 0:
        raise SystemExit(f"kabucast {' '.join(argv)} failed with exit {code}")
    return json.loads(out.getvalue())


def write(path: Path, data: dict) -> str:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return str(path)


def forecaster(tmp: Path) -> None:
    source = SHARED / "us_large30_dev.csv.gz"
    members = [{"ticker": t, "name": t, "sector": s} for t, s in SECTORS.items()]
    universe = write(
        tmp / "us30.yaml",
        {"env": "local", "name": "us30", "description": "", "exchange": "XNYS", "currency": "USD",
         "reviewed": "2017-11-10", "members": members},
    )  # fmt: skip
    common = {"env": "local", "universe": universe, "storage": STORAGE}
    fetch = write(
        tmp / "fetch.yaml",
        {**common, "source": f"file:{source}", "period": "20y", "overlap_sessions": 3, "batch_size": 50},
    )
    train = yaml.safe_load((ROOT / "config" / "train_demo.yaml").read_text())
    train["universe"] = universe
    train_path = write(tmp / "train.yaml", train)
    evaluate = write(tmp / "evaluate.yaml", {"env": "local", "train_config": train_path, "folds": 3,
                                             "compare_champion": False, "storage": STORAGE})  # fmt: skip
    predict = write(tmp / "predict.yaml", {**common, "sectors": "sectors.yaml", "min_coverage": 0.9})
    store = ["--store", str(tmp / "store"), "--as-of", "2017-11-10"]
    backfill = run("backfill", "--config", fetch, *store)
    rejected = {t: len(v) for t, v in backfill["rejected_bars"].items()}
    flagged = {t: len(v) for t, v in backfill["flagged_bars"].items()}
    print(f"== {source.name}: {len(backfill['updated'])} tickers stored; rejected bars {rejected or 'none'}, "
          f"flagged {flagged or 'none'}")  # fmt: skip
    evaluated = run("evaluate", "--config", evaluate, "--threads", "1", *store)
    means, holdout = evaluated["mean_over_folds"], evaluated["holdout"]["metrics"]
    print("   walk-forward RankIC per horizon (months): mean over 3 folds | holdout")
    print("   month   model   ridge  momentum   zero | model   ridge  momentum")
    for m in range(12):
        cells = [means[name]["rankic"][m] for name in ("model", "ridge", "momentum_12m", "zero_return")]
        hold = [holdout[name]["rankic"][m] for name in ("model", "ridge", "momentum_12m")]
        print(f"   {m + 1:>5} " + " ".join(_f(v) for v in cells) + " | " + " ".join(_f(v) for v in hold))
    run("train", "--config", train_path, "--threads", "1", *store)
    predicted = run("predict", "--config", predict, *store)
    failures = predicted["failures"] or "none"
    print(f"   predict {predicted['key']}: {predicted['predicted']} tickers, failures {failures}")
    backtest = run("backtest", "--predictions", "model", "--predict-config", predict, "--days", "500", *store)
    s = backtest["summary"]
    print(f"   backtest (model scores, last 500 sessions, USD costs): net Sharpe {s['net_sharpe']:+.2f}, "
          f"gross Sharpe {s['gross_sharpe']:+.2f}, mean RankIC {s['mean_rankic']:+.4f}, "
          f"cost drag {s['cost_drag_bps_per_year']:.0f} bps/yr")  # fmt: skip


def ranker(tmp: Path) -> None:
    source = SHARED / "us_panel300_dev.csv.gz"
    tickers = sorted(pd.read_csv(source, usecols=["ticker"])["ticker"].unique())
    members = [{"ticker": t, "name": t, "sector": "Unknown"} for t in tickers]
    universe = write(
        tmp / "us300.yaml",
        {"env": "local", "name": "us300", "description": "", "exchange": "XNYS", "currency": "USD",
         "reviewed": "2017-11-10", "members": members},
    )  # fmt: skip
    data = yaml.safe_load((ROOT / "config" / "ranker" / "features.yaml").read_text())
    data["panel"] = {"name": "us300", "source": f"file:{source}", "start": "2010-01-04", "end": "2017-11-10",
                     "universe": universe}  # fmt: skip
    config = write(tmp / "ranker.yaml", data)
    store = ["--store", str(tmp / "store"), "--as-of", "2017-11-10"]
    try:
        run("ranker", "validate", "--config", config, *store)
    except SystemExit as exc:  # a failed check still writes the report
        print(f"   {exc}")
    validation = json.loads(next((tmp / "store" / "reports").glob("ranker-validate-*/validation.json")).read_text())
    bars = validation["bars"]
    print(f"== {source.name}: {validation['shape']}; implausible bars: {bars['rejected']} rejected, "
          f"{bars['flagged']} flagged {bars['by_kind']}")  # fmt: skip
    run("ranker", "baseline", "--config", config, *store)
    metrics = json.loads(next((tmp / "store" / "reports").glob("ranker-baseline-*/metrics.json")).read_text())
    for h, row in sorted(metrics["models"]["lightgbm"]["holdout"].items(), key=lambda kv: int(kv[0])):
        print(f"   LightGBM held-out RankIC at {h:>2} sessions: {_f(row['rankic_mean'])} over {row['days']:.0f} days")


def _f(value: float | None) -> str:
    return "    -  " if value is None else f"{value:+.4f}"


def main_() -> None:
    if not (SHARED / "us_large30_dev.csv.gz").exists():
        raise SystemExit(f"no real data in {SHARED} (set KABUCAST_SHARED_DATA)")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    with tempfile.TemporaryDirectory(prefix="kabucast-bench-real-") as tmp:
        forecaster(Path(tmp))
        ranker(Path(tmp))


if __name__ == "__main__":
    main_()

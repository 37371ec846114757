"""Benchmark of the unadjusted-corporate-action rule on the real files in /work/shared/data.

Run: ``python bench/bench_corporate_actions.py [--data-dir /work/shared/data]``. For each file prints
rows, tickers, the seconds of the rule alone (:func:`kabucast.data.corporate_actions.corporate_actions` on
every ticker) and of every plausibility rule (:func:`panel_suspects`), and each detection: ticker, first
date at the new scale, ratio, the close ratio printed that day. For the TSE files (split-adjusted, but
with splits and consolidations the source ignored) it also runs what the pipeline does with them:
``backfill`` from the file into a temporary store (``quarantined`` when the file's re-fetch still holds
the shift, ``rebased`` when it does not) and the ranker's panel (``rebased`` by the ratio). The US
files are split-adjusted (CC0), so every detection there is a false positive unless the data itself
holds an unadjusted event; they are counted per ticker-year. Asserts nothing (machines differ).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import pandas as pd

from kabucast.data.calendar import calendar_for
from kabucast.data.corporate_actions import CorporateAction, corporate_actions, ratio_text
from kabucast.data.ingest import backfill
from kabucast.data.plausibility import panel_suspects
from kabucast.data.sources.file_source import FileSource
from kabucast.ranker.panel import panel_from_source
from kabucast.storage import LocalStore

DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "data"
TSE = ("jp_large100_dev.csv.gz", "jp_panel500_dev.csv.gz")
US = ("us_large30_dev.csv.gz", "us_panel300_dev.csv.gz")


def detect(panel: pd.DataFrame) -> tuple[list[CorporateAction], float]:
    """Every ticker's corporate actions (the rule alone) and the seconds it took."""
    start = time.perf_counter()
    found = []
    for ticker, rows in panel.groupby("ticker", sort=True):
        found += corporate_actions(rows.set_index("date").sort_index(), ticker=str(ticker))
    return found, time.perf_counter() - start


def outcomes(path: Path, panel: pd.DataFrame, tickers: list[str]) -> tuple[dict[str, str], dict[str, str]]:
    """What ingest (a backfill from the file) and the ranker's panel do with ``tickers``: per ticker, a word."""
    source, calendar = FileSource(path), calendar_for()
    first, last = panel["date"].min(), panel["date"].max()
    with tempfile.TemporaryDirectory() as tmp:
        report = backfill(LocalStore(tmp), source, tickers, calendar, last, "20y")
    ingest = {
        t: "rebased"
        if t in report.rebased
        else "quarantined"
        if report.failures.get(t, "").startswith("unadjusted corporate action")
        else f"STORED ({report.failures.get(t, 'no failure')})"
        for t in tickers
    }
    ranker = panel_from_source(source, dict.fromkeys(tickers, "-"), first, last, calendar)
    rebased = {s["ticker"] for s in ranker.suspects if s["action"] == "rebased"}
    paneled = {t: "rebased" if t in rebased else ranker.failures.get(t, "KEPT AS IS") for t in tickers}
    return ingest, paneled


def bench_file(path: Path, tse: bool) -> int:
    start = time.perf_counter()
    panel = pd.read_csv(path, parse_dates=["date"])
    loaded = time.perf_counter() - start
    found, seconds = detect(panel)
    start = time.perf_counter()
    panel_suspects(panel)
    every_rule = time.perf_counter() - start
    tickers = sorted({a.ticker for a in found})
    years = panel.groupby("ticker")["date"].agg(lambda d: (d.max() - d.min()).days / 365.25).sum()
    print(f"== {path.name}: {len(panel):,} rows, {panel['ticker'].nunique()} tickers, {years:,.0f} ticker-years")
    print(f"   load {loaded:.2f} s; corporate_actions {seconds:.3f} s; every plausibility rule {every_rule:.3f} s")
    rate = len(found) / years * 1000
    print(f"   {len(found)} corporate actions in {len(tickers)} tickers ({rate:.2f} per 1000 ticker-years)")
    ingest, paneled = outcomes(path, panel, tickers) if tse and tickers else ({}, {})
    closes = panel.set_index(["ticker", "date"])["close"]
    for a in found:
        before = closes.loc[a.ticker].loc[: a.date].iloc[-2:]
        printed = before.iloc[-1] / before.iloc[0]
        what = f"  ingest {ingest[a.ticker]:<12} panel {paneled[a.ticker]}" if tse else ""
        print(f"   {a.ticker:<7} {a.date.date()}  ratio {ratio_text(a.ratio):<5} close x{printed:<7.3f}{what}")
    return len(tickers)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR, help="folder holding the shared gzip CSVs")
    args = parser.parse_args(argv)
    counts = {}
    for name in (*TSE, *US):
        path = args.data_dir / name
        if not path.exists():
            print(f"== {name}: absent from {args.data_dir}, skipped")
            continue
        counts[name] = bench_file(path, name in TSE)
    tse, us = sum(counts.get(n, 0) for n in TSE), sum(counts.get(n, 0) for n in US)
    print(f"TSE tickers with an unadjusted corporate action: {tse}; US tickers flagged (adjusted data): {us}")


if __name__ == "__main__":
    main()

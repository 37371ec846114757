"""What the live page (site/index.html) costs the daily predict step: time and peak memory, before and after, in
one run (prints figures; asserts nothing about time).

    python bench/bench_site.py [--repeats 7] [--history 300]

Sets up a LocalStore with the sample market (Core30 universe, 8 years up to AS_OF) and the production recipe
(config/train.yaml: 12-1 momentum with its bands) as champion, then publishes a forecast, its target book and its
scorecard for each of the ``--history`` sessions before AS_OF through the real predict step (predict.yaml), so
that on AS_OF the page has a year of closes per name, a book and a scorecard with every month matured. Then,
alternating so that the machine's noise falls on both alike, each time on a fresh copy of that store:

- in this process (a warm Lambda container: ONNX session cached), the predict step for AS_OF **before** (predict.yaml
  with ``site: false``: the step as it was) and **after** (``site: true``): median seconds, the ratio, the page
  step's own render and write time and the page's size;
- the Python heap's peak during each step (tracemalloc, a separate pass: tracing slows the step down);
- ``kabucast predict`` in a fresh process each (a cold Lambda), before and after: wall seconds and the process's
  peak resident memory (ru_maxrss), medians and ratios.
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import statistics
import tempfile
import time
import tracemalloc
from pathlib import Path

import yaml

import bench_band_step as band_bench
from cli_process import run_cli
from kabucast.config import CONFIG_DIR, UniverseSettings
from kabucast.jobs.publish import SCORECARDS
from kabucast.jobs.wiring import onnx_predictor
from kabucast.storage import LocalStore

AS_OF = band_bench.AS_OF


def prepared_store(root: Path, history: int) -> tuple[LocalStore, UniverseSettings]:
    """bench_band_step's store (the production recipe as champion, ``history`` published sessions), each session
    published by predict.yaml's step with its book but without the page."""

    def make(universe: UniverseSettings, _sectors: object, _calendar: object) -> object:
        return dataclasses.replace(onnx_predictor("predict.yaml", universe), site=False)

    started = time.perf_counter()
    store, universe, _, _ = band_bench.prepared_store(root, history, make)
    scorecard = store.get_json(SCORECARDS.latest_key)
    matured = [m["summary"]["dates"] for m in scorecard["months"]]
    print(
        f"store ready in {time.perf_counter() - started:.0f} s; scorecard of {scorecard['data_as_of']}: matured "
        f"dates per month {matured}"
    )
    return store, universe


def in_process(base: LocalStore, work: Path, universe: UniverseSettings, repeats: int) -> None:
    """The warm step before and after, alternating, each on a fresh copy; then its heap peak (tracemalloc)."""
    steps = {False: dataclasses.replace(onnx_predictor("predict.yaml", universe), site=False)}
    steps[True] = dataclasses.replace(steps[False], site=True, _cache=steps[False]._cache)  # one ONNX session
    members = universe.members_on(AS_OF)
    steps[True](LocalStore(shutil.copytree(base.root, work / "warm")), AS_OF, members)  # ONNX session and imports
    times: dict[bool, list[float]] = {False: [], True: []}
    pages = []
    for i in range(repeats):
        for site in (False, True):
            store = LocalStore(shutil.copytree(base.root, work / f"run-{i}-{site}"))
            started = time.perf_counter()
            summary = steps[site](store, AS_OF, members)
            times[site].append(time.perf_counter() - started)
            if site:
                pages.append(summary["site"])
        page = pages[-1]
        print(
            f"run {i + 1}: before {times[False][-1] * 1000:.0f} ms, after {times[True][-1] * 1000:.0f} ms "
            f"(page: render {page['render_s'] * 1000:.0f} ms, write {page['write_s'] * 1000:.1f} ms, "
            f"{page['bytes'] / 1e3:.0f} kB)"
        )
    before, after = statistics.median(times[False]), statistics.median(times[True])
    ratios = [a / b for a, b in zip(times[True], times[False], strict=True)]
    render = statistics.median(p["render_s"] for p in pages)
    print(
        f"warm step, median of {repeats}: before {before * 1000:.0f} ms, after {after * 1000:.0f} ms, ratio "
        f"{after / before:.3f} (per pair: median {statistics.median(ratios):.3f}, range {min(ratios):.3f} .. "
        f"{max(ratios):.3f}); the page step's render {render * 1000:.0f} ms"
    )
    peaks = {}
    for site in (False, True):
        store = LocalStore(shutil.copytree(base.root, work / f"traced-{site}"))
        tracemalloc.start()
        steps[site](store, AS_OF, members)
        peaks[site] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    print(
        f"Python heap peak of the warm step (tracemalloc): before {peaks[False] / 2**20:.1f} MiB, after "
        f"{peaks[True] / 2**20:.1f} MiB, ratio {peaks[True] / peaks[False]:.3f}"
    )


def cold(base: LocalStore, work: Path, repeats: int) -> None:
    """``kabucast predict`` in a fresh process per run, before and after: wall seconds and peak RSS."""
    settings = yaml.safe_load((CONFIG_DIR / "predict.yaml").read_text())
    configs = {}
    for site in (False, True):
        configs[site] = work / f"predict-site-{site}.yaml"
        configs[site].write_text(yaml.safe_dump({**settings, "site": site}))
    rows: dict[bool, list[tuple[float, float]]] = {False: [], True: []}
    for i in range(repeats):
        for site in (False, True):
            store = shutil.copytree(base.root, work / f"cold-{i}-{site}")
            argv = ["predict", "--store", str(store), "--as-of", str(AS_OF.date()), "--config", str(configs[site])]
            wall, rss, _ = run_cli(argv)
            rows[site].append((wall, rss))
    med = {site: [statistics.median(column) for column in zip(*rows[site], strict=True)] for site in rows}
    print(
        f"cold `kabucast predict`, median of {repeats}: before {med[False][0]:.2f} s / {med[False][1]:.0f} MiB peak "
        f"RSS, after {med[True][0]:.2f} s / {med[True][1]:.0f} MiB; ratios {med[True][0] / med[False][0]:.3f} "
        f"(time), {med[True][1] / med[False][1]:.3f} (memory)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--history", type=int, default=300, help="sessions of published forecasts before AS_OF")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base, universe = prepared_store(Path(tmp) / "base", args.history)
        in_process(base, Path(tmp), universe, args.repeats)
        cold(base, Path(tmp), max(3, args.repeats // 2))


if __name__ == "__main__":
    main()

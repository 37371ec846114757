"""`kabucast demo` from an empty store, on an idle machine and beside a CPU-bound process.

The issue-12 targets: at most 2 minutes idle and 5 minutes loaded on a 2-core machine. Each run is a
fresh process on a fresh store (backfill 10 years of the sample market, enrich, train the demo
model, daily forecast), with the default thread policy (kabucast/compute.py). Prints every run's
wall time and the medians; asserts nothing. KABUCAST_BENCH_REPEATS sets the runs per case (2).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPEATS = int(os.environ.get("KABUCAST_BENCH_REPEATS", "2"))
KABUCAST = str(Path(sys.executable).with_name("kabucast"))


def busy(stop: float) -> None:
    while time.monotonic() < stop:
        pass


def demo_seconds() -> float:
    with tempfile.TemporaryDirectory(prefix="kabucast-bench-demo-") as store:
        started = time.perf_counter()
        done = subprocess.run([KABUCAST, "demo", "--store", store], capture_output=True, text=True)
        seconds = time.perf_counter() - started
    if done.returncode:
        raise SystemExit(f"kabucast demo failed:\n{done.stderr[-3000:]}")
    return seconds


def main() -> None:
    medians = {}
    for load in ("idle", "loaded"):
        runs = []
        for _ in range(REPEATS):
            hog = mp.Process(target=busy, args=(time.monotonic() + 3600,)) if load == "loaded" else None
            if hog is not None:
                hog.start()
            try:
                runs.append(demo_seconds())
            finally:
                if hog is not None:
                    hog.terminate()
                    hog.join()
        medians[load] = statistics.median(runs)
        shown = ", ".join(f"{r:.0f} s" for r in runs)
        print(f"kabucast demo, empty store, {load:<6}: median {medians[load]:.0f} s  (runs: {shown})", flush=True)
    print(f"loaded / idle = {medians['loaded'] / medians['idle']:.2f}x; targets: idle <= 120 s, loaded <= 300 s")


if __name__ == "__main__":
    main()

"""Daily job and fine-tune figures on the sample market (prints figures; asserts nothing about time).

Sets up a LocalStore with 5 years of sample prices for the Core30 universe and a champion trained
for one short epoch with the default (~658K parameter) config, then measures, each in a fresh
process as Lambda would run it:
- the daily job (`kabucast daily --skip-fetch`, and with the sample-market fetch): wall time, peak RSS;
- the monthly fine-tune (1,800 samples, 3 epochs, with ONNX export): wall time, samples/s, peak RSS.
Targets (issue 3): daily < 2 s and < 300 MB; fine-tune < 60 s on 2 cores.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from kabucast.config import SectorSettings, TrainSettings, UniverseSettings, load_settings, resolve_config_path
from kabucast.data.calendar import calendar_for
from kabucast.data.enrich import enrich
from kabucast.data.ingest import backfill
from kabucast.data.sources.sample_market import SampleMarketSource
from kabucast.storage import LocalStore

AS_OF = "2026-11-20"


MEASURE = """
import resource, subprocess, sys, time
t = time.perf_counter()
done = subprocess.run(sys.argv[1:], capture_output=True, text=True)
wall = time.perf_counter() - t
sys.stderr.write(done.stderr[-2000:] if done.returncode else "")
print(done.returncode, wall, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)
print(done.stdout)
"""


def timed(argv: list[str]) -> tuple[float, float, str]:
    """Wall seconds, peak RSS (MB) and stdout of ``argv``, run from a small launcher process.

    The launcher matters: a child forked straight from this (large) process would report this
    process's memory as its own peak.
    """
    done = subprocess.run([sys.executable, "-c", MEASURE, *argv], capture_output=True, text=True, check=False)
    head, _, out = done.stdout.partition("\n")
    code, wall, rss = head.split()
    if code != "0":
        raise SystemExit(f"{' '.join(argv)} failed:\n{done.stderr}")
    return float(wall), float(rss), out


def setup(root: Path) -> None:
    from kabucast.forecast.dataset import ForecastData
    from kabucast.forecast.train import train

    universe = load_settings(UniverseSettings, resolve_config_path("universes/topix_core30.yaml"))
    sectors = load_settings(SectorSettings, resolve_config_path("sectors.yaml"))
    store, calendar = LocalStore(root), calendar_for()
    source = SampleMarketSource.from_universe(universe)
    backfill(store, source, universe.tickers, calendar, pd.Timestamp(AS_OF), "10y")
    enrich(store, source, universe.tickers, {m.ticker: m.sector for m in universe.members}, pd.Timestamp(AS_OF))
    base = load_settings(TrainSettings, resolve_config_path("train_bilstm.yaml"))
    quick = dataclasses.replace(
        base,
        data=dataclasses.replace(base.data, max_train_samples=512, max_val_samples=256),
        training={**base.training, "max_epochs": 1},
    )
    train(quick, ForecastData(store, universe, sectors, calendar), pd.Timestamp(AS_OF), root / "work", progress=False)


FINETUNE = """
import sys, time, tempfile, pathlib, pandas as pd
from kabucast.config import FinetuneSettings, SectorSettings, UniverseSettings, load_settings, resolve_config_path
from kabucast.data.calendar import calendar_for
from kabucast.forecast.dataset import ForecastData
from kabucast.forecast.train import finetune
from kabucast.storage import LocalStore
u = load_settings(UniverseSettings, resolve_config_path("universes/topix_core30.yaml"))
s = load_settings(SectorSettings, resolve_config_path("sectors.yaml"))
cfg = load_settings(FinetuneSettings, resolve_config_path("finetune.yaml"))
t = time.perf_counter()
data = ForecastData(LocalStore(sys.argv[1]), u, s, calendar_for())
run = finetune(cfg, data, pd.Timestamp(sys.argv[2]), pathlib.Path(tempfile.mkdtemp()), progress=False)
print(f"{time.perf_counter() - t:.1f} {run.meta['run']['n_samples']} {run.fit.epochs_run}")
"""


def main() -> None:
    kabucast = str(Path(sys.executable).parent / "kabucast")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "store"
        t = time.perf_counter()
        setup(root)
        print(f"setup (10y sample backfill + 1-epoch champion)     {time.perf_counter() - t:6.1f} s")
        for label, extra in (("daily --skip-fetch", ["--skip-fetch"]), ("daily with sample fetch", [])):
            wall, rss, _ = timed(
                [kabucast, "daily", "--store", str(root), "--as-of", AS_OF, "--source", "sample", *extra]
            )
            print(f"{label:<50} {wall:6.2f} s   peak RSS {rss:6.0f} MB (30 tickers, fresh process)")
        wall, rss, out = timed([sys.executable, "-c", FINETUNE, str(root), AS_OF])
        secs, n, epochs = out.split()[-3:]  # its last line; the fine-tune prints its own lines first
        rate = int(n) * int(epochs) / float(secs)
        print(
            f"fine-tune {n} samples x {epochs} epochs + export     {float(secs):6.1f} s   "
            f"({wall:.1f} s with imports)   {rate:,.0f} samples/s   peak RSS {rss:6.0f} MB"
        )


if __name__ == "__main__":
    main()

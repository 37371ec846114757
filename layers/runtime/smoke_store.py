"""A store for the smoke run to serve: the Core30 sample market and a small cross-sectional champion.

    .venv/bin/python layers/runtime/smoke_store.py .aws-sam/smoke-store

Runs with the project's own Python (torch, to train); layers/runtime/smoke.py then serves the champion from the
BUILT function + layer with the Lambda's Python, through ONNX Runtime and no torch. The cross-sectional kind is
the one whose graph has a dynamic number of stocks per date (docs/FORECASTER.md), so the smoke run exercises it.
8 years of the seeded sample market (no network), trained with config/train_cross_sectional_cpu.yaml cut to one
epoch on a few thousand samples: a serving check, not a model worth anything. A folder that already holds a
champion is kept (``make package`` reruns are quick); delete it to rebuild.
"""

from __future__ import annotations

import dataclasses
import sys
import tempfile
from pathlib import Path

import pandas as pd

from kabucast.config import SectorSettings, TrainSettings, load_settings, load_universe, resolve_config_path
from kabucast.data.calendar import calendar_for
from kabucast.data.ingest import backfill
from kabucast.data.sources.sample_market import SampleMarketSource
from kabucast.forecast.dataset import ForecastData
from kabucast.forecast.registry import champion_version
from kabucast.forecast.train import train
from kabucast.storage import LocalStore

AS_OF = pd.Timestamp("2026-11-20")  # a Friday session: the smoke run's event asks for it
RECIPE = "train_cross_sectional_cpu.yaml"


def build(root: Path) -> str:
    """The store in ``root``: prices backfilled, the champion trained; returns the champion's version."""
    store = LocalStore(root)
    if (version := champion_version(store)) is not None:
        return version
    recipe = load_settings(TrainSettings, resolve_config_path(RECIPE))
    universe = load_universe(resolve_config_path(recipe.universe))
    sectors = load_settings(SectorSettings, resolve_config_path(recipe.sectors))
    calendar = calendar_for(universe.exchange)
    source = SampleMarketSource.from_universe(universe, calendar=calendar)
    backfill(store, source, universe.tickers, calendar, AS_OF, "8y")
    small = dataclasses.replace(recipe.data, max_train_samples=3000, max_val_samples=1000)
    settings = dataclasses.replace(recipe, data=small, training={**recipe.training, "max_epochs": 1})
    with tempfile.TemporaryDirectory(prefix="kabucast-smoke-") as work:
        run = train(settings, ForecastData(store, universe, sectors, calendar), AS_OF, Path(work), progress=False)
    if not run.champion:
        raise SystemExit(f"smoke store: the trained model {run.version} did not become the champion")
    return run.version


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    print(f"smoke store {sys.argv[1]}: champion {build(Path(sys.argv[1]))} (cross_sectional)")

"""Acceptance of the planted-signal issue: the forecaster learns the sample market's planted signal.

300 synthetic stocks x 20 years on the PLANTED preset of the sample market (docs/SAMPLE_MARKET.md:
a moving drift that volumes reveal), config/train_planted.yaml (a ~7K-parameter BiLSTM), trained once
on real labels and once with ``data.shuffle_labels``. Held out: the last 20 % of as-of dates (about
three years), after the 252-session purge. bench/bench_planted_signal.py runs the same over other
seeds. SYNTHETIC data only.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from kabucast.config import (
    SectorSettings,
    TrainSettings,
    UniverseMember,
    UniverseSettings,
    load_settings,
    resolve_config_path,
)
from kabucast.data.calendar import TradingCalendar
from kabucast.data.enrich import enrich
from kabucast.data.ingest import backfill
from kabucast.data.sources.sample_market import PLANTED, SampleMarketSource
from kabucast.forecast.dataset import ForecastData
from kabucast.forecast.train import TrainRun, train
from kabucast.storage import LocalStore

pytestmark = pytest.mark.slow

AS_OF = pd.Timestamp("2026-11-20")
N_STOCKS = 300
ORIGIN = "2006-01-04"


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    """Two busy shared cores: one torch thread is faster than two fighting, and the figures do not depend on them."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> tuple[LocalStore, UniverseSettings]:
    """The PLANTED market's bars (20 years) and one fundamentals snapshot in a LocalStore, and its universe."""
    calendar = TradingCalendar()
    source = SampleMarketSource.synthetic(N_STOCKS, calendar=calendar, origin=ORIGIN, params=PLANTED)
    members = tuple(UniverseMember(t, t, source.sectors[t]) for t in source.tickers)
    universe = UniverseSettings("local", "sample_planted_300", "SYNTHETIC planted market", "2026-11-20", members)
    store = LocalStore(tmp_path_factory.mktemp("planted"))
    backfill(store, source, universe.tickers, calendar, AS_OF, "20y")
    enrich(store, source, universe.tickers, dict(source.sectors), AS_OF)
    return store, universe


def run(planted, sectors: SectorSettings, work: Path, shuffle_labels: bool) -> TrainRun:
    store, universe = planted
    settings = load_settings(TrainSettings, resolve_config_path("train_planted.yaml"))
    settings = dataclasses.replace(settings, data=dataclasses.replace(settings.data, shuffle_labels=shuffle_labels))
    return train(settings, ForecastData(store, universe, sectors, TradingCalendar()), AS_OF, work, progress=False)


def test_the_planted_signal_is_learned_at_one_month_and_shuffled_labels_learn_nothing(
    planted, sectors: SectorSettings, tmp_path: Path
) -> None:
    # GIVEN the planted market WHEN the same training runs on real labels and on shuffled labels
    real = run(planted, sectors, tmp_path / "real", shuffle_labels=False)
    shuffled = run(planted, sectors, tmp_path / "shuffled", shuffle_labels=True)
    model, control = real.meta["validation"]["model"], shuffled.meta["validation"]["model"]
    figures = {"real": _rounded(model["rankic"]), "shuffled": _rounded(control["rankic"])}
    # THEN the real-label model ranks the held-out 1-month returns (mean over held-out dates of the per-date RankIC)
    assert model["rankic"][0] >= 0.10, figures
    # AND it has not collapsed: its predictions spread at every horizon
    assert len(model["pred_std"]) == 12 and min(model["pred_std"]) > 0, model["pred_std"]
    # AND the control (labels permuted across every training sample) ranks nothing, at 1 month and on average
    assert shuffled.meta["run"]["shuffled_labels"] and not real.meta["run"]["shuffled_labels"]
    assert abs(control["rankic"][0]) < 0.05, figures
    assert abs(np.mean(control["rankic"])) < 0.05, figures
    # AND both were judged on the same held-out dates, after the purge gap
    assert real.meta["run"]["val_range"] == shuffled.meta["run"]["val_range"]
    assert real.meta["run"]["train_range"][1] < real.meta["run"]["val_range"][0]


def _rounded(values: list[float]) -> list[float]:
    return [round(v, 3) for v in values]

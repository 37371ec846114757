"""The jobs and every command on a store work on the store's synced copy of the universe (universe/<name>.yaml) when
there is one, the image's file otherwise; the monthly job's optional sync writes that copy, and a failed sync leaves
it as it was."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

from kabucast.cli.main import main
from kabucast.config import CONFIG_DIR, PredictSettings, TrainSettings
from kabucast.data.calendar import calendar_for
from kabucast.data.sources.jquants_key import ENV_KEY, ENV_KEY_PARAMETER
from kabucast.data.stored_universe import put_universe, stored_forecast_settings, stored_universe, universe_key
from kabucast.errors import ConfigError, KabucastError
from kabucast.forecast.dataset import ForecastData, forecast_data
from kabucast.jobs.wiring import FinetuneStep, build_daily_job, build_monthly_job
from kabucast.storage import LocalStore

TODAY = pd.Timestamp("2026-11-20")


@pytest.fixture
def synced() -> dict:
    """The Core30 file as a sync after the 2026 review would write it: Seven & i left, Fujitsu joined."""
    data = yaml.safe_load((CONFIG_DIR / "universes" / "topix_core30.yaml").read_text(encoding="utf-8"))
    for m in data["members"]:
        if m["ticker"] == "3382.T":
            m["until"] = "2026-10-29"
    data["members"].append({"ticker": "6702.T", "name": "Fujitsu", "sector": "Technology", "since": "2026-10-30"})
    return {**data, "reviewed": "2026-10-30"}


def test_the_daily_job_adopts_the_stores_copy(tmp_path: Path, synced: dict) -> None:
    # GIVEN the daily job built from the image's file, and a store without a copy
    store = LocalStore(tmp_path)
    job = build_daily_job(source="sample")
    shipped = job.universe
    job.adopt(store)
    assert job.universe is shipped
    # WHEN the store holds a synced copy
    put_universe(store, synced)
    job.adopt(store)
    # THEN the job's members, source and forecast step are the copy's
    assert job.universe.reviewed == "2026-10-30" and job.universe == stored_universe(store, shipped)
    assert "6702.T" in job.universe.members_on(TODAY) and "3382.T" not in job.universe.members_on(TODAY)
    assert job.predictor.universe == job.universe  # type: ignore[attr-defined]
    assert "6702.T" in job.source.fetch_prices(["6702.T"], TODAY - pd.Timedelta(days=10), TODAY).frames


def test_a_copy_of_another_universe_is_refused(tmp_path: Path, synced: dict) -> None:
    store = LocalStore(tmp_path)
    store.put_bytes(universe_key("topix_core30"), yaml.safe_dump({**synced, "exchange": "XNYS"}).encode())
    with pytest.raises(ConfigError, match="not topix_core30 on XTKS"):
        build_daily_job(source="sample").adopt(store)


def test_the_monthly_job_reads_the_copy_and_a_failed_sync_keeps_it(tmp_path: Path, synced: dict, monkeypatch) -> None:
    # GIVEN a store with a synced copy
    store = LocalStore(tmp_path / "store")
    put_universe(store, synced)
    # WHEN the monthly job runs without a sync: it works on the copy
    report, universe = build_monthly_job(source="sample").universe_for(store, TODAY)
    assert report is None and "6702.T" in universe.members_on(TODAY)
    # WHEN it is configured to sync (enrich config: sync_universe: true) but J-Quants has no key
    config = tmp_path / "enrich.yaml"
    shipped = (CONFIG_DIR / "enrich_universe.yaml").read_text(encoding="utf-8")
    config.write_text(shipped.replace("sync_universe: false", "sync_universe: true"), encoding="utf-8")
    monkeypatch.delenv(ENV_KEY, raising=False)
    monkeypatch.delenv(ENV_KEY_PARAMETER, raising=False)
    before = store.get_bytes(universe_key("topix_core30"))
    report, universe = build_monthly_job(str(config), source="sample").universe_for(store, TODAY)
    # THEN the run goes on with the copy as it was, and says why the sync failed
    assert report is not None and report["status"] == "failed" and ENV_KEY in report["reason"]
    assert "6702.T" in universe.members_on(TODAY)
    assert store.get_bytes(universe_key("topix_core30")) == before


def test_the_fine_tune_trains_on_the_copy_and_the_stale_warning_names_the_sync(tmp_path: Path, synced: dict) -> None:
    store = LocalStore(tmp_path)
    put_universe(store, synced)
    _, data = FinetuneStep()._load(store)
    assert data.universe.reviewed == "2026-10-30" and "6702.T" in data.universe.every_ticker
    shipped = build_daily_job(source="sample").universe
    warning = shipped.review_warning("2026-11-30", pd.Timestamp("2026-10-30"))
    assert warning and "kabucast universe sync --source jquants --write" in warning


class Stop(KabucastError):
    """Raised by a stand-in of training or walk-forward once it has seen the data it was given."""


def test_train_and_evaluate_read_the_copy(tmp_path: Path, synced: dict, monkeypatch) -> None:
    # GIVEN a store whose synced copy adds Fujitsu to the universe the recipes name
    store = LocalStore(tmp_path / "store")
    put_universe(store, synced)
    seen: list[ForecastData] = []

    def stop(*args, **kwargs):
        seen.append(next(a for a in args if isinstance(a, ForecastData)))
        raise Stop("seen")

    monkeypatch.setattr("kabucast.forecast.train.train_in_tempdir", stop)
    monkeypatch.setattr("kabucast.experiments.walkforward.walk_forward_recipe", stop)
    # WHEN `kabucast train` and `kabucast evaluate` run against it
    for argv in (["train", "--config", "train_quick.yaml"], ["evaluate", "--config", "evaluate_quick.yaml"]):
        assert main([*argv, "--store", str(tmp_path / "store"), "--as-of", str(TODAY.date())]) == 2
    # THEN both train on the copy's members
    assert len(seen) == 2
    assert all(d.universe.reviewed == "2026-10-30" and "6702.T" in d.universe.every_ticker for d in seen)


def test_every_command_on_a_store_reads_the_copy(tmp_path: Path, synced: dict) -> None:
    # GIVEN a store with a synced copy, and one without
    store = LocalStore(tmp_path / "store")
    put_universe(store, synced)
    # THEN the settings the store commands read (predict, scorecard, backtest, site, select --train) name the copy
    _, universe, _ = stored_forecast_settings(store, "predict.yaml", PredictSettings)
    assert "6702.T" in universe.members_on(TODAY) and "3382.T" not in universe.members_on(TODAY)
    _, shipped, _ = stored_forecast_settings(LocalStore(tmp_path / "empty"), "predict.yaml", PredictSettings)
    assert "6702.T" not in shipped.every_ticker
    # AND the data training, walk-forward and select build from the image's file is the copy's
    recipe, _, sectors = stored_forecast_settings(store, "train_quick.yaml", TrainSettings)
    assert forecast_data(store, calendar_for("XTKS"), recipe, shipped, sectors).universe == universe

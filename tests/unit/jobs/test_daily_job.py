"""The daily pipeline's orchestration: holidays are skipped, fetch can be skipped, the predictor is called."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
from tests.sources import TableSource, walk

from kabucast.data.prices import prices_key
from kabucast.jobs.daily import DailyOptions, PredictRequest, run_daily
from kabucast.storage import LocalStore


def test_holiday_is_skipped_without_touching_the_store(tmp_path: Path, calendar) -> None:
    store = LocalStore(tmp_path)
    out = run_daily(store, TableSource({}), calendar, pd.Timestamp("2025-11-24"), ["7203.T"], DailyOptions())
    assert out["status"] == "skipped" and "last: 2025-11-21" in out["reason"]
    assert store.list() == []


def test_trading_day_fetches_then_predicts(tmp_path: Path, calendar) -> None:
    store = LocalStore(tmp_path)
    calls = []
    source = TableSource({"7203.T": walk(calendar, 1)})
    out = run_daily(
        store,
        source,
        calendar,
        pd.Timestamp("2025-11-21"),
        ["7203.T"],
        DailyOptions(period="1y"),
        predict=lambda s, day, tickers, request: calls.append((day, list(tickers), request)) or {"n": len(tickers)},
    )
    assert out["fetch"]["updated"] == ["7203.T"] and store.exists(prices_key("7203.T"))
    assert calls == [(pd.Timestamp("2025-11-21"), ["7203.T"], PredictRequest())] and out["predict"] == {"n": 1}


def test_fetch_failures_and_force_reach_the_prediction_step(tmp_path: Path, calendar) -> None:
    # GIVEN a source that fails one of two tickers, and a forced run
    requests = []
    source = TableSource({"7203.T": walk(calendar, 1), "6758.T": walk(calendar, 2)}, broken=["6758.T"])
    run_daily(
        LocalStore(tmp_path),
        source,
        calendar,
        pd.Timestamp("2025-11-21"),
        ["7203.T", "6758.T"],
        DailyOptions(period="1y", force=True),
        predict=lambda s, day, tickers, request: requests.append(request) or {},
    )
    # THEN the prediction step is told why 6758.T has no new bar, and that the run is forced
    assert requests == [PredictRequest({"6758.T": "no data for 6758.T"}, force=True)]


def test_skip_fetch_does_not_call_the_source(tmp_path: Path, calendar) -> None:
    source = TableSource({})
    out = run_daily(
        LocalStore(tmp_path), source, calendar, pd.Timestamp("2025-11-21"), ["7203.T"], DailyOptions(skip_fetch=True)
    )
    assert out["fetch"] == "skipped" and source.requests == []


def test_daily_path_does_not_import_torch() -> None:
    # GIVEN a fresh interpreter in which importing torch or lightning fails loudly
    code = (
        "import sys\n"
        "for m in ('torch', 'lightning', 'pytorch_lightning'): sys.modules[m] = None\n"
        "import kabucast.jobs.daily, kabucast.cli\n"
    )
    # WHEN the daily pipeline is imported THEN it succeeds: the daily Lambda never loads torch
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


def test_default_as_of_is_the_last_closed_session_day() -> None:
    from kabucast.data.calendar import calendar_for

    closed = calendar_for("XTKS").last_closed_day
    assert closed(pd.Timestamp("2026-11-24 05:45", tz="Asia/Tokyo")) == pd.Timestamp("2026-11-23")
    assert closed(pd.Timestamp("2026-11-24 23:00", tz="Asia/Tokyo")) == pd.Timestamp("2026-11-24")
    assert closed(pd.Timestamp("2026-11-24 14:00", tz="UTC")) == pd.Timestamp("2026-11-24")  # 23:00 JST
    # before 2024-11-05 the TSE closed at 15:00: 15:10 JST was after the close
    assert closed(pd.Timestamp("2024-10-01 15:10", tz="Asia/Tokyo")) == pd.Timestamp("2024-10-01")
    assert closed(pd.Timestamp("2025-10-01 15:10", tz="Asia/Tokyo")) == pd.Timestamp("2025-09-30")


def test_the_daily_job_fetches_and_forecasts_the_members_of_its_day(tmp_path: Path, calendar) -> None:
    # GIVEN a universe in which B left on 2025-11-19 and C joined on 2025-11-20
    from kabucast.config import UniverseMember, UniverseSettings
    from kabucast.jobs.wiring import DailyJob

    members = (
        UniverseMember("A.T", "a", "Energy"),
        UniverseMember("B.T", "b", "Energy", until="2025-11-19"),
        UniverseMember("C.T", "c", "Energy", since="2025-11-20"),
    )
    universe = UniverseSettings("local", "u", "", "2025-10-31", members)
    source = TableSource({t: walk(calendar, i) for i, t in enumerate(("A.T", "B.T", "C.T"))})
    calls = []

    def predict(store, day, tickers, request) -> dict:
        calls.append(list(tickers))
        return {}

    job = DailyJob(universe, source, predict, calendar, DailyOptions(period="1y"))
    # WHEN it runs on 2025-11-21 and, back-dated, on 2025-11-18
    out = job.run(LocalStore(tmp_path), pd.Timestamp("2025-11-21"))
    job.run(LocalStore(tmp_path / "old"), pd.Timestamp("2025-11-18"))
    # THEN the name that left is neither fetched nor forecast and nothing fails; the back-dated run has B, not C
    assert calls == [["A.T", "C.T"], ["A.T", "B.T"]]
    assert out["status"] == "ok" and out["fetch"]["failures"] == [] and "B.T" not in str(source.requests[0])

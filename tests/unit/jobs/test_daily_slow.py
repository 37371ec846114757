"""The daily job fetches the slow data of the champion's feature groups (kabucast.jobs.daily), and only then."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator

import pandas as pd
import pytest
from tests.jquants_standin import bars_rows
from tests.jquants_standin_slow import SlowStandIn, margin_row
from tests.sources import TableSource, walk
from tests.template import load_template

from kabucast.config import RetrySettings
from kabucast.data.slow_store import load_slow
from kabucast.data.sources.jquants_key import ApiKey
from kabucast.data.sources.jquants_source import JQuantsSource
from kabucast.errors import StoreError
from kabucast.features.registry import feature_contract
from kabucast.forecast.registry import model_key, set_champion
from kabucast.jobs.daily import DailyOptions, run_daily
from kabucast.storage import LocalStore

KEY = "jq-daily-slow-key"
TICKERS = ["7203.T", "6758.T"]
TODAY = pd.Timestamp("2025-11-21")


@pytest.fixture
def frames(calendar) -> dict[str, pd.DataFrame]:
    return {t: walk(calendar, i, "2024-11-01", str(TODAY.date())) for i, t in enumerate(TICKERS)}


@pytest.fixture
def standin(frames) -> Iterator[SlowStandIn]:
    """Bars and weekly margin rows (published each Tuesday) of both names."""
    fridays = [f"{d:%Y-%m-%d}" for d in pd.date_range("2025-09-05", "2025-11-14", freq="W-FRI")]
    margin = {t[:4] + "0": [margin_row(t[:4] + "0", d, 1e6, 2e5) for d in fridays] for t in TICKERS}
    server = SlowStandIn(KEY, margin)
    server.bars = {t[:4] + "0": bars_rows(t[:4] + "0", f) for t, f in frames.items()}
    yield server.start()
    server.stop()


def champion_with(store: LocalStore, groups: tuple[str, ...]) -> None:
    store.put_json(model_key("0123456789abcdef", "model.json"), {"features": feature_contract(groups)})
    set_champion(store, "0123456789abcdef", "test")


def jquants_grants(function: str = "DailyPipelineFunction") -> tuple[list[str], list[str]]:
    """template.yaml: the keys ``function`` may write always, and those it may write when a J-Quants key is set."""
    policies = load_template()["Resources"][function]["Properties"]["Policies"]
    always = [r for p in policies if "Statement" in p for s in p["Statement"] if s["Action"] == "s3:PutObject"
              for r in s["Resource"]]  # fmt: skip
    keyed = [p["Fn::If"][1] for p in policies if "Fn::If" in p and p["Fn::If"][0] == "HasJQuantsKey"]
    with_key = [s["Resource"] for p in keyed for s in p["Statement"] if s["Action"] == "s3:PutObject"]
    pattern = [r["Fn::Sub"].split("}/", 1)[1] for r in (*always, *with_key)]
    return pattern[: len(always)], pattern[len(always) :]


def test_a_champion_with_a_group_gets_its_slow_data_fetched(standin, calendar, tmp_path) -> None:
    store = LocalStore(tmp_path)
    champion_with(store, ("margin",))
    written: list[str] = []
    put = store.put_bytes
    store.put_bytes = lambda key, *args, **kwargs: (written.append(key), put(key, *args, **kwargs))[1]  # type: ignore[method-assign]
    source = JQuantsSource(ApiKey(KEY), standin.base_url, RetrySettings(2, 0.0), sleep=lambda _s: None)
    summary = run_daily(store, source, calendar, TODAY, TICKERS, DailyOptions(period="1y"))
    assert summary["slow_data"]["added"] == {"margin": 2 * 11}
    assert set(load_slow(store, "margin").ticker) == set(TICKERS)
    # AND on AWS the daily function may write that slow data only when a J-Quants key is configured
    always, with_key = jquants_grants()
    slow = [k for k in written if k.startswith("data/jquants/")]
    assert slow and all(any(fnmatch.fnmatchcase(k, p) for p in with_key) for k in slow), (slow, with_key)
    assert not any(fnmatch.fnmatchcase(k, p) for k in slow for p in always), always


def test_a_store_that_refuses_the_write_is_reported_not_fatal(standin, calendar, tmp_path, monkeypatch) -> None:
    # GIVEN a store that refuses writes under data/jquants/ (the daily function without a J-Quants key set)
    store = LocalStore(tmp_path)
    champion_with(store, ("margin",))
    put = store.put_bytes

    def refuse(key: str, data: bytes, *args: object, **kwargs: object) -> None:
        if key.startswith("data/jquants/"):
            raise StoreError(f"S3 AccessDenied: cannot write {key}")
        put(key, data, *args, **kwargs)

    monkeypatch.setattr(store, "put_bytes", refuse)
    source = JQuantsSource(ApiKey(KEY), standin.base_url, RetrySettings(2, 0.0), sleep=lambda _s: None)
    # WHEN the daily job runs  THEN the fetch of the bars stands and the slow data reports the refusal
    summary = run_daily(store, source, calendar, TODAY, TICKERS, DailyOptions(period="1y"))
    assert "AccessDenied" in summary["slow_data"]["error"] and summary["status"] == "ok"


def test_no_group_no_slow_fetch_and_another_source_skips_it(frames, calendar, tmp_path) -> None:
    store = LocalStore(tmp_path)
    assert "slow_data" not in run_daily(store, TableSource(frames), calendar, TODAY, TICKERS, DailyOptions())
    champion_with(store, ())
    assert "slow_data" not in run_daily(store, TableSource(frames), calendar, TODAY, TICKERS, DailyOptions())
    champion_with(store, ("margin",))
    summary = run_daily(store, TableSource(frames), calendar, TODAY, TICKERS, DailyOptions())
    assert "come from J-Quants" in summary["slow_data"]["skipped"]

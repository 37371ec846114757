"""Both Lambda handlers, in-process, against a real S3 endpoint on loopback (moto's server).

What is faked is only what the Lambda service provides (the context object and the environment
variables template.yaml sets): the handler files, the adapters, boto3 and the S3 protocol are real.
The bucket is created with template.yaml's own DataBucket properties. AWS itself and Yahoo cannot
be reached here, so prices come from the seeded sample market.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import boto3
import pytest
import yaml
from tests.faults import LoopbackProxy
from tests.template import create_bucket_like_template

from kabucast.config import CONFIG_DIR
from kabucast.data.stored_universe import put_universe
from kabucast.errors import StoreUnavailable
from kabucast.forecast.registry import champion_version
from kabucast.serverless import observability
from kabucast.serverless.readonly import NAMESPACE, run_read_only
from kabucast.serverless.runner import invoke, load_handler_module
from kabucast.storage import LocalStore, S3Store, s3

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "events"
UNREACHABLE = {"KABUCAST_STORE": "s3://no-such-bucket", "KABUCAST_S3_ENDPOINT_URL": "http://127.0.0.1:9"}


def event(name: str) -> dict:
    return json.loads((EVENTS / name).read_text())


@pytest.fixture(scope="module")
def bucket(s3_endpoint: str, trained) -> S3Store:
    """A template-shaped bucket holding the trained champion and the sample market's prices."""
    client = boto3.client("s3", endpoint_url=s3_endpoint)
    create_bucket_like_template(client, "kabucast-handlers")
    local: LocalStore = trained[0]
    s3 = S3Store("kabucast-handlers", endpoint_url=s3_endpoint)
    for prefix in ("data/", "models/"):
        for key in local.list(prefix):
            s3.put_bytes(key, local.get_bytes(key))
    return s3


@pytest.fixture
def env(bucket: S3Store, s3_endpoint: str) -> dict[str, str]:
    """The function environment template.yaml sets (source: the sample market, offline)."""
    return {
        "KABUCAST_STORE": f"s3://{bucket.bucket}",
        "KABUCAST_S3_ENDPOINT_URL": s3_endpoint,
        "KABUCAST_SOURCE": "sample",
    }


def keys(store: S3Store) -> dict[str, bytes]:
    return {k: store.get_bytes(k) for k in store.list("")}


def test_daily_schedule_event_publishes_and_is_idempotent(bucket: S3Store, env: dict) -> None:
    # GIVEN a warm container (one handler module) and the schedule's event for Friday 2026-11-20
    module = load_handler_module("daily")
    out = invoke("daily", event("daily_schedule.json"), env, module)
    assert out["status"] == "ok" and out["request"]["trigger"] == "schedule"
    assert out["predict"]["key"] == "predictions/2026-11-20.json" and out["predict"]["predicted"] == 30
    first = keys(bucket)
    assert first["predictions/latest.json"] == first["predictions/2026-11-20.json"]
    # WHEN the scheduler delivers it again to the same container
    again = invoke("daily", event("daily_schedule.json"), env, module)
    # THEN every object is byte-identical and the ONNX session was reused
    assert again["status"] == "ok" and keys(bucket) == first
    assert len(module.RUNTIME.daily().predictor._cache) == 1


def test_daily_manual_and_skip_fetch_events(bucket: S3Store, env: dict) -> None:
    out = invoke("daily", event("daily_manual.json"), env)
    assert out["status"] == "ok" and out["predict"]["key"] == "predictions/2026-11-19.json"
    assert out["fetch"]["failures"] == []
    latest = bucket.get_bytes("predictions/latest.json")
    # a subset run publishes to its own key, never to the dated file or the pointer
    skip = invoke("daily", event("daily_skip_fetch.json"), env)
    assert skip["fetch"] == "skipped" and skip["predict"]["predicted"] == 3
    assert skip["predict"]["key"] == "predictions/adhoc/2026-11-20/6758.T+7203.T+8306.T.json"
    adhoc = bucket.get_json(skip["predict"]["key"])
    assert sorted(p["ticker"] for p in adhoc["predictions"]) == ["6758.T", "7203.T", "8306.T"]
    assert bucket.get_bytes("predictions/latest.json") == latest


def test_an_operator_forces_a_publication_from_an_event(bucket: S3Store, env: dict, monkeypatch) -> None:
    # GIVEN the function's log lines collected as CloudWatch would receive them
    lines = io.StringIO()
    monkeypatch.setattr(observability.logger.registered_handler, "stream", lines)
    # WHEN an operator with invoke rights sends the manual event with "force": true
    out = invoke("daily", event("daily_force.json"), env)
    # THEN the run's summary, both published documents and the function's log lines say it was forced
    assert out["status"] == "ok" and out["request"]["force"] is True and out["predict"]["forced"] is True
    latest = bucket.get_json("predictions/latest.json")
    assert latest["forced"] is True and latest["data_as_of"] == "2026-11-20"
    assert bucket.get_json("portfolio/latest.json")["forced"] is True
    logs = [json.loads(line) for line in lines.getvalue().splitlines()]
    warning = next(x for x in logs if x["message"] == "forced publication requested")
    assert warning["level"] == "WARNING" and warning["request"]["force"] is True
    assert next(x for x in logs if x["message"] == "run finished")["forced"] is True
    # AND a scheduled run of the same day replaces it with the same forecasts, unforced
    again = invoke("daily", event("daily_schedule.json"), env)
    assert "forced" not in again["predict"] and "forced" not in bucket.get_json("predictions/latest.json")


def test_holiday_is_a_no_op_with_a_clear_summary(bucket: S3Store, env: dict) -> None:
    before = keys(bucket)
    out = invoke("daily", event("daily_holiday.json"), env)
    assert out["status"] == "skipped" and "not a trading session on XTKS (last: 2026-11-20)" in out["reason"]
    assert keys(bucket) == before


@pytest.mark.parametrize(
    "payload",
    [
        event("malformed.json"),
        {"as_of_date": "../../etc"},
    ],
)
def test_bad_events_are_rejected_before_any_io(payload: dict, bucket: S3Store, env: dict) -> None:
    # the store points at a closed port: any S3 request would fail, so an error summary proves none was made
    out = invoke("daily", payload, UNREACHABLE)
    assert out["status"] == "error" and out["error"] == "InvalidEvent"
    before = keys(bucket)
    assert invoke("daily", payload, env)["status"] == "error"
    assert keys(bucket) == before


def test_requested_tickers_are_bounded_by_the_universe_the_job_reads(s3_endpoint: str) -> None:
    # GIVEN an empty template-shaped bucket: the daily job reads the image's universe file
    create_bucket_like_template(boto3.client("s3", endpoint_url=s3_endpoint), "kabucast-handlers-synced")
    store = S3Store("kabucast-handlers-synced", endpoint_url=s3_endpoint)
    env = {"KABUCAST_STORE": f"s3://{store.bucket}", "KABUCAST_S3_ENDPOINT_URL": s3_endpoint}
    holiday = {**event("daily_holiday.json"), "tickers": ["7203.T", "6702.T"]}
    # WHEN a well-formed symbol outside it is requested: rejected as an event, nothing written
    out = invoke("daily", holiday, env)
    assert out["status"] == "error" and out["error"] == "InvalidEvent" and "6702.T" in out["message"]
    assert keys(store) == {}
    # WHEN the store holds a synced copy that adds it (kabucast universe sync --write)
    synced = yaml.safe_load((CONFIG_DIR / "universes" / "topix_core30.yaml").read_text(encoding="utf-8"))
    synced["members"].append({"ticker": "6702.T", "name": "Fujitsu", "sector": "Technology", "since": "2026-10-30"})
    put_universe(store, synced)
    # THEN the same request passes the check (the holiday then skips the run)
    out = invoke("daily", holiday, env)
    assert out["status"] == "skipped", out


def test_monthly_handler_fine_tunes_and_the_gate_decides(bucket: S3Store, env: dict) -> None:
    champion = champion_version(bucket)
    out = invoke("monthly", event("monthly_skip_enrich.json"), env)
    assert out["status"] == "ok" and out["enrich"] == "skipped"
    version = out["finetune"]["version"]
    assert version != champion and bucket.exists(f"models/{version}/model.onnx")
    gate = bucket.get_json(f"models/{version}/gate.json")
    assert gate["promoted"] == out["finetune"]["promoted"] and gate["reasons"]
    assert champion_version(bucket) == (version if gate["promoted"] else champion)


def test_a_monthly_run_stopped_by_a_usage_error_is_answered_not_retried_and_counted_as_failed(
    bucket: S3Store, env: dict, monkeypatch, capsys
) -> None:
    # GIVEN the function's log lines collected as CloudWatch would receive them, and the bucket as it is
    lines = io.StringIO()
    monkeypatch.setattr(observability.logger.registered_handler, "stream", lines)
    before = keys(bucket)
    capsys.readouterr()
    # WHEN a manual monthly event (enrich not skipped) asks for an as-of before any stored price
    out = invoke("monthly", {"as_of_date": "1999-12-31"}, env)
    # THEN it is answered as an invalid event is (a retry would fail the same way), by the error's name
    assert out["status"] == "error" and out["error"] == "TooEarlyToFineTune"
    assert out["message"].startswith("as of 1999-12-31 there is no labelled sample to fine-tune on")
    # AND nothing was fetched or written: the check ran before enrich
    assert keys(bucket) == before
    # AND it is a failed run in the logs and metrics (RunFailedAlarm sums RunFailed), marked as not raised
    logs = [json.loads(line) for line in lines.getvalue().splitlines()]
    failed = next(x for x in logs if x["message"] == "run failed")
    assert failed["level"] == "ERROR" and failed["error"] == "TooEarlyToFineTune" and failed["raised"] is False
    blob = next(json.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith('{"_aws"'))
    assert blob["job"] == "monthly" and blob["RunFailed"] == [1.0]


def test_handler_files_import_without_torch() -> None:
    code = (
        "import sys\n"
        "for m in ('torch', 'lightning', 'matplotlib'): sys.modules[m] = None\n"
        "from kabucast.serverless.runner import load_handler_module\n"
        "m = load_handler_module('daily')\n"
        "assert m.RUNTIME._store is None and m.RUNTIME._daily is None  # nothing built at import\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


def test_a_hanging_store_fails_the_handler_after_one_read(monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN a store endpoint that accepts connections and never answers (a short read timeout keeps this fast)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setattr(s3, "READ_TIMEOUT_S", 0.3)
    proxy = LoopbackProxy(0, mode="hang")  # forwards nothing
    env = {"KABUCAST_STORE": "s3://hanging", "KABUCAST_S3_ENDPOINT_URL": proxy.url, "KABUCAST_SOURCE": "sample"}
    # WHEN the daily handler runs
    with pytest.raises(StoreUnavailable, match="did not answer"):
        invoke("daily", event("daily_skip_fetch.json"), env)
    # THEN it failed on the run's first read, as the CLI does: no second read (for the lag metric) waited it out again
    assert len(proxy._open) == s3.MAX_ATTEMPTS  # one connection per attempt
    proxy.kill()


COLD_START = """
import json, sys
from kabucast.serverless.runner import invoke
print(json.dumps(invoke(sys.argv[1], json.loads(sys.argv[2]), {})))
"""
"""One invocation in a fresh process: the handler file imported and called as Lambda does."""


@pytest.mark.parametrize(("job", "name"), [("daily", "daily_schedule.json"), ("monthly", "monthly_skip_enrich.json")])
def test_handlers_write_nothing_outside_the_temp_dir(job: str, name: str, bucket: S3Store, env: dict) -> None:
    # GIVEN Lambda's kind of file system: everything read-only (HOME and this checkout too) but the temp dir
    aws = {k: os.environ[k] for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")}
    # WHEN a cold start of the handler runs the event there
    run = run_read_only([sys.executable, "-c", COLD_START, job, json.dumps(event(name))], {**env, **aws}, cwd=ROOT)
    # THEN it did its job, tried no write outside the temp dir (ONNX Runtime's telemetry, matplotlib's cache)
    # and left nothing in it but kabucast's scratch folder
    assert run.returncode == 0, f"{run.report()}\n{run.stderr[-3000:]}"
    assert json.loads(run.stdout.splitlines()[-1])["status"] == "ok"
    assert run.clean, run.report()
    if run.mode != NAMESPACE:  # the kernel forbids mount namespaces here: HOME was unwritable, the rest was not
        warnings.warn(f"read-only run without a read-only file system: {run.mode}", stacklevel=1)

"""Fault injection: the published forecast never goes backwards, shrinks or lies, whatever happens.

Real processes (the kabucast CLI), a real S3 endpoint on loopback (moto's server) and real
SIGKILLs. What cannot happen for real here is provoked on loopback only: an endpoint that dies or
hangs (tests/faults.py's proxy) and the instants between two requests of a run
(tests/fault_runner.py prints a marker and pauses around each read and write of the store).

Every scenario checks the same invariants on what is stored: ``latest.json`` parses, is the
complete dated document of its own date, never moves back in time or shrinks on the same date;
price files and models are byte-identical unless the run was meant to change them; a run that did
not publish says why (a named error) and exits non-zero. A day that meets ``min_coverage`` of its
members publishes, however many the previous day had, and lists what is missing.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import boto3
import numpy as np
import onnx
import pandas as pd
import pytest
from tests.faults import COUNTS, MARKER, LoopbackProxy
from tests.template import create_bucket_like_template

from kabucast.data.ingest import backfill
from kabucast.data.prices import prices_key
from kabucast.data.sources.sample_market import SampleMarketSource
from kabucast.forecast.document import forecast_document
from kabucast.forecast.registry import champion_version, model_key
from kabucast.jobs.publish import FORECASTS, LATEST_KEY, PORTFOLIOS, SCORECARDS, DocumentKind, prediction_key
from kabucast.jobs.site_step import SITE_KEY
from kabucast.storage import LocalStore, S3Store

ROOT = Path(__file__).resolve().parents[2]
RUNNER = ROOT / "tests" / "fault_runner.py"
DATES = ("2026-11-16", "2026-11-17", "2026-11-18", "2026-11-19", "2026-11-20")
MIN_FORECASTS = 28  # min_coverage 0.9 of the 31 members (config/predict.yaml)
SEED = int(os.environ.get("KABUCAST_FAULT_SEED", "20261130"))
ROUNDS = int(os.environ.get("KABUCAST_FAULT_ROUNDS", "1"))  # times every kill point is visited (a longer soak: 3+)
KILL_POINTS = 20  # markers of a publish after an earlier one: 5 reads and writes x 2 documents x before/after


@pytest.fixture(scope="module")
def seeded(s3_endpoint: str, trained) -> dict[str, bytes]:
    """The trained champion and the sample market's prices (no predictions), as bytes by key."""
    local: LocalStore = trained[0]
    return {k: local.get_bytes(k) for p in ("data/", "models/") for k in local.list(p)}


@pytest.fixture
def bucket(s3_endpoint: str, seeded: dict[str, bytes], request) -> S3Store:
    name = f"kabucast-fault-{abs(hash(request.node.name)) % 10**10}"
    client = boto3.client("s3", endpoint_url=s3_endpoint)
    create_bucket_like_template(client, name)
    store = S3Store(name, endpoint_url=s3_endpoint)
    for key, data in seeded.items():
        store.put_bytes(key, data)
    return store


def cli(bucket: S3Store, endpoint: str, *args: str, pause: float = 0.0) -> subprocess.Popen:
    """A kabucast CLI process on ``bucket`` through ``endpoint``, with fault markers on stdout."""
    argv = [sys.executable, str(RUNNER), str(pause), *args, "--store", f"s3://{bucket.bucket}"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [*argv, "--endpoint-url", endpoint],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )


def finish(proc: subprocess.Popen, timeout: float = 120) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def predict(day: str) -> list[str]:
    return ["predict", "--as-of", day]


def check_published(
    store: S3Store, floor: dict | None = None, kind: DocumentKind = FORECASTS, least: int = MIN_FORECASTS
) -> dict | None:
    """``kind``'s latest.json parses and is its date's dated document, complete (a count of ``least`` or more);
    it is not behind ``floor``."""
    seen = store.get_versioned(kind.latest_key)
    if seen is None:
        assert floor is None, f"{kind.latest_key} disappeared"
        return None
    latest = json.loads(seen.data)
    assert store.get_bytes(kind.dated_key(latest["data_as_of"])) == seen.data, "latest.json names another document"
    assert latest[kind.count] >= least
    if floor is not None:
        assert latest["data_as_of"] >= floor["data_as_of"], f"{kind.latest_key} moved back in time"
        if latest["data_as_of"] == floor["data_as_of"]:
            assert latest[kind.count] >= floor[kind.count], f"{kind.latest_key} shrank"
    return latest


def check_both(store: S3Store, floors: dict[DocumentKind, dict | None]) -> dict[DocumentKind, dict | None]:
    """:func:`check_published` of the forecast and of the portfolio built from it; the live page, when there is
    one, is whole (a killed run never leaves half a page)."""
    page = store.get_versioned(SITE_KEY)
    assert page is None or page.data.endswith(b"</html>\n"), "site/index.html is cut off"
    return {kind: check_published(store, floor, kind) for kind, floor in floors.items()}


def inputs(store: S3Store) -> dict[str, bytes]:
    """Everything but the published documents (forecasts, books, scorecards, the page): prices, fundamentals, models."""
    published = (f"{FORECASTS.prefix}/", f"{PORTFOLIOS.prefix}/", f"{SCORECARDS.prefix}/", "site/")
    return {k: store.get_bytes(k) for k in store.list("") if not k.startswith(published)}


def test_a_sigkill_at_every_instant_of_publishing_never_corrupts_or_regresses_latest(
    bucket: S3Store, s3_endpoint: str, calendar
) -> None:
    """Each instant between two requests of a publish (the k-th marker, k = 1..KILL_POINTS, in a shuffled
    order, KABUCAST_FAULT_ROUNDS times over) is killed at least once, each on a day not yet published
    (a publish that follows an earlier one, so it makes every request); every third run also goes back
    to a random earlier day and runs to the end."""
    rng = random.Random(SEED)
    before = inputs(bucket)
    points = [k for _ in range(ROUNDS) for k in rng.sample(range(1, KILL_POINTS + 1), KILL_POINTS)]
    days = iter(str(d.date()) for d in calendar.sessions("2026-01-05", DATES[-1])[-4 * len(points) :])
    floors, seen, killed, completed = {FORECASTS: None, PORTFOLIOS: None}, [next(days)], [], 0
    code, _, err = finish(cli(bucket, s3_endpoint, *predict(seen[0])))  # an earlier publish to follow
    assert code == 0, err
    while points:
        seen.append(next(days))  # StopIteration: runs keep ending before their marker; does a publish still make it?
        kill_at, markers = points[0], 0
        proc = cli(bucket, s3_endpoint, *predict(seen[-1]), pause=0.05)
        for line in proc.stdout:
            if line.startswith(MARKER):
                markers += 1
                if markers == kill_at:
                    proc.send_signal(signal.SIGKILL)
                    killed.append(points.pop(0))
                    break
        runs = [finish(proc)]  # a run with fewer markers than kill_at completes; that point waits its turn
        if len(seen) % 3 == 0:
            runs.append(finish(cli(bucket, s3_endpoint, *predict(rng.choice(seen[:-1])))))
        for code, _, err in runs:
            assert code in (0, -signal.SIGKILL) or "PublicationRefused" in err, err
            completed += code == 0
        floors = check_both(bucket, floors)
    assert sorted(set(killed)) == list(range(1, KILL_POINTS + 1)) and completed >= 3 and None not in floors.values()
    assert inputs(bucket) == before
    COUNTS["SIGKILLs during a publish (every instant)"] += len(killed)
    COUNTS["uninterrupted publishes between them"] += completed


def test_overlapping_runs_never_interleave(bucket: S3Store, s3_endpoint: str) -> None:
    rng = random.Random(SEED + 1)
    floors, outcomes = {FORECASTS: None, PORTFOLIOS: None}, {"ok": 0, "ConcurrentUpdate": 0}
    for i in range(10):
        a_day, b_day = DATES[i % 4], DATES[i % 4 + rng.randint(0, 1)]
        a = cli(bucket, s3_endpoint, *predict(a_day), pause=0.1)
        b = cli(bucket, s3_endpoint, *predict(b_day), pause=0.1)
        results = [finish(a), finish(b)]
        for code, _, err in results:
            assert code in (0, 1), err
            if code == 1:
                assert "ConcurrentUpdate" in err and "nothing written" in err, err
            outcomes["ok" if code == 0 else "ConcurrentUpdate"] += 1
        assert any(code == 0 for code, _, _ in results)
        floors = check_both(bucket, floors)
    assert outcomes["ConcurrentUpdate"] >= 1, "no two runs overlapped: widen the pause"
    COUNTS["forced overlaps"] += 10
    COUNTS["overlapping runs that failed with ConcurrentUpdate"] += outcomes["ConcurrentUpdate"]


def test_an_endpoint_that_hangs_fails_the_run_within_a_minute(bucket: S3Store, s3_endpoint: str) -> None:
    proxy = LoopbackProxy(int(s3_endpoint.rsplit(":", 1)[1]), mode="hang")
    started = time.monotonic()
    code, _, err = finish(cli(bucket, proxy.url, *predict(DATES[-1])))
    elapsed = time.monotonic() - started
    proxy.kill()
    assert code == 1 and "StoreUnavailable" in err and "did not answer" in err, err
    assert elapsed < 60
    assert bucket.get_versioned(LATEST_KEY) is None
    COUNTS[f"hanging endpoint: failed in {elapsed:.0f} s"] += 1


def test_an_endpoint_killed_mid_run_fails_it_and_changes_nothing(bucket: S3Store, s3_endpoint: str) -> None:
    assert finish(cli(bucket, s3_endpoint, *predict(DATES[-2])))[0] == 0
    before = {k: bucket.get_bytes(k) for k in bucket.list("")}
    proxy = LoopbackProxy(int(s3_endpoint.rsplit(":", 1)[1]))
    proc = cli(bucket, proxy.url, *predict(DATES[-1]), pause=0.2)
    for line in proc.stdout:
        if line.startswith(f"{MARKER} after-get_versioned {LATEST_KEY}"):
            proxy.kill()
            break
    code, _, err = finish(proc)
    assert code == 1 and "StoreUnavailable" in err, err
    assert {k: bucket.get_bytes(k) for k in bucket.list("")} == before
    COUNTS["endpoint killed mid-run"] += 1


def swapped_onnx(data: bytes) -> bytes:
    """Another valid ONNX model: the same graph with one weight changed."""
    model = onnx.load_from_string(data)
    weight = next(t for t in model.graph.initializer if t.data_type == onnx.TensorProto.FLOAT and t.raw_data)
    raw = bytearray(weight.raw_data)
    raw[:4] = b"\x00\x00\x80\x3f"  # 1.0f
    weight.raw_data = bytes(raw)
    return model.SerializeToString()


def test_corrupt_inputs_fail_what_depends_on_them_only(bucket: S3Store, s3_endpoint: str, tmp_path: Path) -> None:
    # a truncated price file fails that ticker; the others are forecast and published
    good = bucket.get_bytes(prices_key("7203.T"))
    bucket.put_bytes(prices_key("7203.T"), good[: len(good) // 2])
    code, _, err = finish(cli(bucket, s3_endpoint, *predict(DATES[-1]), "--json"))
    assert code == 0, err
    latest = check_published(bucket)
    assert latest["num_predictions"] == 29  # the 31 members less 9984.T (short history) and 7203.T (truncated)
    assert any(f["ticker"] == "7203.T" and "unreadable" in f["reason"] for f in latest["failures"])
    bucket.put_bytes(prices_key("7203.T"), good)
    published = bucket.get_bytes(LATEST_KEY)
    # another valid ONNX file under the champion's version: an integrity error, nothing published
    version = champion_version(bucket)
    onnx_key = model_key(version, "model.onnx")
    original = bucket.get_bytes(onnx_key)
    bucket.put_bytes(onnx_key, swapped_onnx(original))
    code, _, err = finish(cli(bucket, s3_endpoint, *predict(DATES[-1])))
    assert code == 1 and "ModelIntegrityError" in err and "changed after it was saved" in err, err
    bucket.put_bytes(onnx_key, original)
    # a champion.json of the wrong shape: a named error
    champion = bucket.get_bytes("models/champion.json")
    for malformed in (b'{"version": 7}', b"[]", b'{"vers'):
        bucket.put_bytes("models/champion.json", malformed)
        code, _, err = finish(cli(bucket, s3_endpoint, *predict(DATES[-1])))
        assert code == 2 and "champion.json" in err and "kabucast models promote" in err, err
    bucket.put_bytes("models/champion.json", champion)
    assert bucket.get_bytes(LATEST_KEY) == published
    COUNTS["corrupt inputs (truncated parquet, swapped ONNX, 3 malformed champions)"] += 5


def invoke(bucket: S3Store, endpoint: str, tmp_path: Path, event: dict) -> tuple[int, str, str]:
    path = tmp_path / "event.json"
    path.write_text(json.dumps(event))
    return finish(cli(bucket, endpoint, "invoke", "daily", "--event", str(path), "--source", "sample"))


def test_stale_subset_older_and_future_runs_never_touch_latest(
    bucket: S3Store, s3_endpoint: str, tmp_path: Path
) -> None:
    assert finish(cli(bucket, s3_endpoint, *predict(DATES[-1])))[0] == 0
    published = bucket.get_bytes(LATEST_KEY)
    dated = bucket.get_bytes(prediction_key(DATES[-1]))
    # stale source: no bar for the as-of session yet -> nothing forecast, nothing published, exit 1
    code, _, err = finish(
        cli(bucket, s3_endpoint, "daily", "--skip-fetch", "--source", "sample", "--as-of", "2026-11-24")
    )
    assert code == 1 and "PublicationRefused" in err and "no ticker was forecast" in err, err
    # a one-ticker manual event: its own key only
    code, out, err = invoke(
        bucket, s3_endpoint, tmp_path, {"as_of_date": DATES[-1], "skip_fetch": True, "tickers": ["7203.T"]}
    )
    assert code == 0, err
    assert bucket.exists(f"predictions/adhoc/{DATES[-1]}/7203.T.json")
    # an older date fills its own dated file; the pointer stays
    code, out, err = invoke(bucket, s3_endpoint, tmp_path, {"as_of_date": DATES[0], "skip_fetch": True})
    assert code == 0 and bucket.exists(prediction_key(DATES[0])), err
    # a schedule event from the future, and one from year 1: rejected before any I/O
    for when in ("2030-01-01T14:00:00Z", "0001-01-01T00:00:00Z"):
        event = {"source": "kabucast.scheduler", "job": "daily", "scheduled_time": when}
        code, out, err = invoke(bucket, s3_endpoint, tmp_path, event)
        assert code == 1 and "rejected the event" in out + err, out + err
    assert bucket.get_bytes(LATEST_KEY) == published and bucket.get_bytes(prediction_key(DATES[-1])) == dated
    assert not any(k.startswith("data/static/0") or k > "data/static/2027" for k in bucket.list("data/static/"))
    COUNTS["stale / subset / older / future runs"] += 5


def test_a_short_file_that_looks_like_a_split_never_cuts_history(
    bucket: S3Store, s3_endpoint: str, tmp_path: Path
) -> None:
    stored = bucket.get_bytes(prices_key("7203.T"))
    frame = bucket.get_parquet(prices_key("7203.T")).iloc[-2:]
    rows = [
        f"{d.date()},7203.T,{r.open * 10},{r.high * 10},{r.low * 10},{r.close * 10},{r.volume}"
        for d, r in frame.iterrows()
    ]
    csv = tmp_path / "short.csv"
    csv.write_text("date,ticker,open,high,low,close,volume\n" + "\n".join(rows) + "\n")
    code, _, err = finish(
        cli(bucket, s3_endpoint, "fetch", "--source", f"file:{csv}", "--tickers", "7203.T", "--as-of", DATES[-1])
    )
    assert code == 1 and "stored data kept" in err, err
    assert bucket.get_bytes(prices_key("7203.T")) == stored
    COUNTS["short rescaled file refused"] += 1


DEGRADED = ("2026-11-17", "2026-11-18", "2026-11-19")


def test_a_member_missing_on_later_days_degrades_publication_and_never_halts_it(
    bucket: S3Store, s3_endpoint: str, tmp_path: Path, universe, calendar
) -> None:
    # GIVEN all 31 members forecast on 2026-11-16 (9984.T's whole history restored)
    backfill(bucket, SampleMarketSource.from_universe(universe), ["9984.T"], calendar, DATES[-1], "8y")
    code, _, err = finish(cli(bucket, s3_endpoint, *predict(DATES[0])))
    assert code == 0 and bucket.get_json(LATEST_KEY)["num_predictions"] == 31, err
    first = {row["ticker"]: row for row in bucket.get_json(LATEST_KEY)["predictions"]}
    version = bucket.get_json(LATEST_KEY)["model_version"]
    # AND a source that serves the other 30 members but has nothing for 7203.T, whose last stored bar is the 16th
    held = bucket.get_parquet(prices_key("7203.T"))
    bucket.put_parquet(prices_key("7203.T"), held.loc[: DATES[0]])
    others = [t for t in universe.members_on(DATES[-1]) if t != "7203.T"]
    frames = [bucket.get_parquet(prices_key(t)).iloc[-30:].assign(ticker=t) for t in others]
    source = tmp_path / "without_7203.csv"
    pd.concat(frames).rename_axis("date").reset_index().to_csv(source, index=False)
    prices = {t: bucket.get_bytes(prices_key(t)) for t in others}
    floors = check_both(bucket, {FORECASTS: None, PORTFOLIOS: None})
    for k, day in enumerate(DEGRADED, 1):
        daily = ("daily", "--source", f"file:{source}", "--as-of", day)
        if k == 2:  # killed after the dated file, before the pointer: the pointer stays, a rerun completes
            proc = cli(bucket, s3_endpoint, *daily, pause=0.05)
            for line in proc.stdout:
                if line.startswith(f"{MARKER} after-put_if {prediction_key(day)}"):
                    proc.send_signal(signal.SIGKILL)
                    break
            assert finish(proc)[0] == -signal.SIGKILL
            floors = check_both(bucket, floors)
            assert floors[FORECASTS]["data_as_of"] == DEGRADED[0]
        # WHEN the daily job runs on a later day with 30 of 31 members fresh
        code, out, err = finish(cli(bucket, s3_endpoint, *daily))
        # THEN it publishes that day's file and moves latest.json (and the portfolio) forward to it
        assert code == 0, err
        floors = check_both(bucket, floors)
        latest = floors[FORECASTS]
        assert latest["data_as_of"] == day and latest["num_predictions"] == 30
        assert floors[PORTFOLIOS]["data_as_of"] == day and floors[PORTFOLIOS]["num_scored"] == 30
        dated = bucket.get_bytes(prediction_key(day))
        assert floors[PORTFOLIOS]["forecast"]["sha256"] == hashlib.sha256(dated).hexdigest()
        # AND lists 7203.T as missing, with the fetch failure and its count of sessions
        (missing,) = latest["missing"]
        assert missing["ticker"] == "7203.T" and missing["sessions_missing"] == k
        assert missing["reason"].startswith(f"fetch failed: 7203.T is not in {source}")
        assert f"last bar {DATES[0]}" in missing["reason"] and missing["last_forecast"] == DATES[0]
        # AND keeps its forecast of the 16th, as published then, in the stale section
        assert latest["stale"] == [{**first["7203.T"], "forecast_as_of": DATES[0], "model_version": version}]
        assert "missing: 7203.T" in out
    assert {t: bucket.get_bytes(prices_key(t)) for t in others} == prices  # the file's bars were already stored
    COUNTS["degraded days published (30 of 31 members, one killed mid-publish)"] += len(DEGRADED)


SCORECARD_POINTS = 8  # markers of the scorecard's publish: 2 reads and 2 writes x before/after


def test_a_sigkill_at_every_instant_of_the_scorecard_publish_never_corrupts_or_regresses_it(
    bucket: S3Store, s3_endpoint: str, calendar, universe
) -> None:
    """25 banded forecasts planted on consecutive sessions; `kabucast scorecard` run for later and later sessions
    (more matured each time), each killed at one instant of its publish (the k-th marker on a scorecard/ key, in
    a shuffled order), every other one followed by a complete run of the session before it."""
    rng, draws = random.Random(SEED), np.random.default_rng(SEED)
    sessions = calendar.sessions("2026-01-05", DATES[-1])
    issued = sessions[-70:-45]
    for day in issued:
        members = universe.members_on(day)
        log_returns = draws.normal(0.0, 0.05, (len(members), 12))
        document = forecast_document(
            members, log_returns, {t: day for t in members}, {t: 1.0 for t in members}, {}, {}, "v1", day,
            quantiles=log_returns[..., None] + np.array([-0.1, 0.0, 0.1]), levels=(0.1, 0.5, 0.9),
        )  # fmt: skip
        bucket.put_json(prediction_key(day), document)
    before = inputs(bucket)
    points = rng.sample(range(1, SCORECARD_POINTS + 1), SCORECARD_POINTS)
    days = iter(str(d.date()) for d in sessions[-45:])
    floor, killed, completed, seen = None, [], 0, []
    while points:
        seen.append(next(days))
        proc, markers = cli(bucket, s3_endpoint, "scorecard", "--as-of", seen[-1], pause=0.01), 0
        for line in proc.stdout:
            if line.startswith(MARKER) and f" {SCORECARDS.prefix}/" in line:
                markers += 1
                if markers == points[0]:
                    proc.send_signal(signal.SIGKILL)
                    killed.append(points.pop(0))
                    break
        runs = [finish(proc)]
        if len(seen) % 2 == 0:
            runs.append(finish(cli(bucket, s3_endpoint, "scorecard", "--as-of", seen[-2])))
        for code, _, err in runs:
            assert code in (0, -signal.SIGKILL), err
            completed += code == 0
        floor = check_published(bucket, floor, SCORECARDS, least=1)
    assert sorted(killed) == list(range(1, SCORECARD_POINTS + 1)) and completed >= 3 and floor is not None
    assert inputs(bucket) == before  # forecasts, prices and models untouched
    COUNTS["SIGKILLs during a scorecard publish (every instant)"] += len(killed)

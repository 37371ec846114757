"""The CLI end to end on the sample market: a LocalStore and an S3 endpoint on loopback give identical objects.

The S3 endpoint is moto in server mode (AWS itself cannot be reached here), driven through boto3.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import boto3

from kabucast.cli import main
from kabucast.config import resolve_config_path
from kabucast.storage import LocalStore, open_store

TICKERS = "7203.T,6758.T,8306.T,9984.T"
AS_OF = "2025-11-21"


def run(capsys, *argv: str) -> dict:
    code = main([*argv, "--json"])
    out, err = capsys.readouterr()
    assert code == 0, f"{out}\n{err[-3000:]}"
    return json.loads(out)


def ingest(capsys, store: str, *extra: str) -> None:
    common = ["--store", store, "--source", "sample", "--tickers", TICKERS, *extra]
    run(capsys, "backfill", "--period", "3y", "--as-of", "2025-11-14", *common)
    run(capsys, "fetch", "--as-of", AS_OF, *common)


def test_local_and_s3_stores_get_identical_objects(tmp_path: Path, s3_endpoint: str, s3_bucket: str, capsys) -> None:
    # GIVEN the same backfill + fetch into a folder and into an S3 bucket (prefix "kc")
    ingest(capsys, str(tmp_path / "local"))
    ingest(capsys, f"s3://{s3_bucket}/kc", "--endpoint-url", s3_endpoint)
    # THEN both hold the same keys with the same bytes
    local = LocalStore(tmp_path / "local")
    s3 = open_store(f"s3://{s3_bucket}/kc", endpoint_url=s3_endpoint)
    keys = local.list()
    assert keys == s3.list() and len(keys) == 4
    assert all(local.get_bytes(k) == s3.get_bytes(k) for k in keys)
    raw = boto3.client("s3", endpoint_url=s3_endpoint).list_objects_v2(Bucket=s3_bucket)["Contents"]
    assert sorted(o["Key"] for o in raw) == [f"kc/{k}" for k in keys]


def test_fetch_twice_is_a_no_op(tmp_path: Path, capsys) -> None:
    store = str(tmp_path / "s")
    ingest(capsys, store)
    before = {k: LocalStore(store).get_bytes(k) for k in LocalStore(store).list()}
    report = run(capsys, "fetch", "--as-of", AS_OF, "--store", store, "--source", "sample", "--tickers", TICKERS)
    assert report["updated"] == [] and len(report["unchanged"]) == 4
    assert {k: LocalStore(store).get_bytes(k) for k in LocalStore(store).list()} == before


def test_unknown_ticker_fails_alone_and_exit_codes(tmp_path: Path, capsys) -> None:
    store = str(tmp_path / "s")
    report = run(
        capsys,
        "backfill",
        "--store",
        store,
        "--source",
        "sample",
        "--tickers",
        "7203.T,0000.T",
        "--period",
        "1y",
        "--as-of",
        AS_OF,
    )
    assert report["updated"] == ["7203.T"] and report["failures"][0]["ticker"] == "0000.T"
    # every ticker failing is exit 1; a configuration error is exit 2 with the reason on stderr
    assert main(["fetch", "--store", store, "--source", "sample", "--tickers", "0000.T", "--as-of", AS_OF]) == 1
    assert main(["fetch", "--store", store, "--source", "nasdaq", "--as-of", AS_OF]) == 2
    assert "unknown source 'nasdaq'" in capsys.readouterr().err


def test_cli_train_daily_and_demo_reuse(tmp_path: Path, capsys) -> None:
    # GIVEN a store with sample prices and a small training config
    store = str(tmp_path / "s")
    text = resolve_config_path("train_demo.yaml").read_text()
    small = text.replace("hidden: 128", "hidden: 16").replace("max_epochs: 3", "max_epochs: 1")
    small = small.replace("max_train_samples: 2000", "max_train_samples: 1000").replace("mlp: [256, 128]", "mlp: [32]")
    (tmp_path / "train_small.yaml").write_text(small)
    run(capsys, "backfill", "--store", store, "--source", "sample", "--period", "8y", "--as-of", AS_OF)
    features = run(capsys, "features", "--store", store, "--as-of", AS_OF)
    assert features["shapes"] == {"weekly": [31, 156, 23], "static": [31, 6], "position": [31, 2]}  # the members
    # WHEN the CLI trains, then runs the daily job without fetching
    trained = run(capsys, "train", "--store", store, "--config", str(tmp_path / "train_small.yaml"), "--as-of", AS_OF)
    daily = run(capsys, "daily", "--store", store, "--skip-fetch", "--source", "sample", "--as-of", AS_OF)
    # THEN the first model is champion and the forecasts cover the universe
    assert trained["champion"] is True
    assert daily["fetch"] == "skipped" and daily["predict"]["predicted"] == 31
    # AND the demo on the same store reuses the champion instead of retraining, and serves it
    demo = run(capsys, "demo", "--store", store, "--as-of", "2025-11-24")  # a holiday: serves the 21st
    assert "train" not in demo and demo["daily"]["predict"]["model_version"] == trained["version"]
    latest = json.loads((tmp_path / "s" / "predictions" / "latest.json").read_text())
    assert latest["num_predictions"] == 31 and latest["failures"] == [] and latest["data_as_of"] == AS_OF
    # with an 80 % interval per month: the demo recipe's quantile head, calibrated at training
    assert latest["quantile_levels"] == [0.1, 0.5, 0.9]
    assert all(m["interval"]["low"] < m["interval"]["high"] for r in latest["predictions"] for m in r["predictions"])
    # AND the daily job published the portfolio of that forecast
    book = json.loads((tmp_path / "s" / "portfolio" / "latest.json").read_text())
    weights = [p["weight"] for p in book["positions"]]
    assert abs(sum(w for w in weights if w > 0) - 1.0) < 1e-12 and abs(sum(weights)) < 1e-12  # +1 long, -1 short
    assert book["gross"] == {"long": 1.0, "short": -1.0, "net": 0.0, "exposure": 2.0} and book["num_scored"] == 31
    assert demo["daily"]["predict"]["portfolio"]["key"]
    # AND names the forecast it was built from, as README.md tells a reader to check it
    forecast = (tmp_path / "s" / "predictions" / f"{AS_OF}.json").read_bytes()
    assert book["forecast"] == {
        "key": f"predictions/{AS_OF}.json",
        "data_as_of": AS_OF,
        "model_version": trained["version"],
        "sha256": hashlib.sha256(forecast).hexdigest(),
    }
    # a holiday is skipped with exit 0
    assert run(capsys, "daily", "--store", store, "--skip-fetch", "--as-of", "2025-11-24")["status"] == "skipped"

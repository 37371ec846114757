"""What the daily job really touches in the store, against what template.yaml lets the daily function do.

The store records every key a run reads (GetObject, and HeadObject, which S3 allows with s3:GetObject), writes
(PutObject) and lists (ListBucket with a prefix). The run is the daily job end to end (fetch from the sample
market, the ONNX forecast, the target book, the adaptive bands, the scorecard, the live page) on sessions that
mature forecasts, so every step takes its full path. Each recorded access must be allowed by the function's
statements (a key by a resource pattern, a listed prefix by the ListBucket condition), and each pattern must be
used by some access (nothing granted that the job does not need). AWS itself cannot be reached: the policy is
evaluated here, for the S3 actions only, as IAM's StringLike / resource wildcards match.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import shutil

import pandas as pd
import pytest
from tests.functional.conftest import AS_OF, SMALL_MODEL, small_settings
from tests.template import load_template

from kabucast.forecast.dataset import ForecastData
from kabucast.forecast.train import train
from kabucast.jobs.wiring import build_daily_job
from kabucast.storage import LocalStore


class RecordingStore(LocalStore):
    """A LocalStore that records the S3 action each call would be: (action, key or prefix)."""

    def __init__(self, root) -> None:
        super().__init__(root)
        self.accesses: set[tuple[str, str]] = set()

    def get_bytes(self, key: str) -> bytes:
        self.accesses.add(("s3:GetObject", key))
        return super().get_bytes(key)

    def get_versioned(self, key: str):
        self.accesses.add(("s3:GetObject", key))
        return super().get_versioned(key)

    def exists(self, key: str) -> bool:
        self.accesses.add(("s3:GetObject", key))  # HeadObject needs s3:GetObject
        return super().exists(key)

    def list(self, prefix: str = "") -> list[str]:
        self.accesses.add(("s3:ListBucket", prefix))
        return super().list(prefix)

    def put_bytes(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        self.accesses.add(("s3:PutObject", key))
        super().put_bytes(key, data, content_type)

    def put_if(self, key: str, data: bytes, etag: str | None, content_type: str = "application/json") -> None:
        self.accesses.add(("s3:PutObject", key))
        super().put_if(key, data, etag, content_type)


def granted(function: str) -> dict[str, list[str]]:
    """S3 action -> the key patterns (ListBucket: the s3:prefix patterns) the function's statements allow."""
    policies = load_template()["Resources"][function]["Properties"]["Policies"]
    statements = [s for p in policies if "Statement" in p for s in p["Statement"]]  # the J-Quants key's is not S3
    out: dict[str, list[str]] = {}
    for s in statements:
        assert s["Effect"] == "Allow" and isinstance(s["Action"], str)
        if s["Action"] == "s3:ListBucket":
            out[s["Action"]] = list(s["Condition"]["StringLike"]["s3:prefix"])
        else:
            out[s["Action"]] = [r["Fn::Sub"].split("}/", 1)[1] for r in s["Resource"]]
    return out


@pytest.fixture(scope="module")
def daily_accesses(trained, universe, sectors, tmp_path_factory) -> set[tuple[str, str]]:
    """Every access of the daily job on 25 sessions up to AS_OF (the first ones' month 1 matures on the last),
    serving a small model with quantiles (so the adaptive band step runs too)."""
    store, calendar = trained
    root = tmp_path_factory.mktemp("iam")
    published = ("models", "predictions", "portfolio", "scorecard", "site")
    shutil.copytree(store.root, root / "store", ignore=shutil.ignore_patterns(*published))
    settings = dataclasses.replace(small_settings(), model={**SMALL_MODEL, "quantiles": [0.1, 0.5, 0.9]})
    train(settings, ForecastData(LocalStore(root / "store"), universe, sectors, calendar), AS_OF, root / "w", False)
    days = calendar.sessions(AS_OF - pd.Timedelta(days=50), AS_OF)[-25:]
    for key in LocalStore(root / "store").list("data/prices/"):  # each run's fetch brings that session's bars
        frame = LocalStore(root / "store").get_parquet(key)
        LocalStore(root / "store").put_parquet(key, frame.loc[: days[0] - pd.Timedelta(days=1)])
    recording = RecordingStore(root / "store")
    job = build_daily_job(source="sample")
    for day in days:
        summary = job.run(recording, day)
        assert summary["status"] == "ok", summary
    predict = summary["predict"]
    assert predict["scorecard"]["status"] == "ok" and predict["scorecard"]["published"], predict["scorecard"]
    assert predict["site"]["written"] and "bands" in predict, predict
    return recording.accesses


def test_the_daily_function_may_do_what_the_daily_job_does(daily_accesses) -> None:
    allowed = granted("DailyPipelineFunction")
    refused = sorted(
        (action, key)
        for action, key in daily_accesses
        if not any(fnmatch.fnmatchcase(key, pattern) for pattern in allowed.get(action, []))
    )
    assert refused == [], f"template.yaml refuses the daily function: {refused}"


def test_the_daily_function_may_do_nothing_more(daily_accesses) -> None:
    # reads and writes only: ListBucket covers the prefixes read (S3 answers a missing key 404 only to a principal
    # that may list it, 403 otherwise), whether or not the job lists them
    allowed = granted("DailyPipelineFunction")
    assert sorted(allowed["s3:ListBucket"]) == sorted(p.split("/")[0] + "/*" for p in allowed["s3:GetObject"])
    unused = sorted(
        (action, pattern)
        for action, patterns in allowed.items()
        if action != "s3:ListBucket"
        for pattern in patterns
        if not any(a == action and fnmatch.fnmatchcase(key, pattern) for a, key in daily_accesses)
    )
    assert unused == [], f"template.yaml grants the daily function more than the job uses: {unused}"

"""Functional fixtures: a small champion trained once on the sample market, in a LocalStore; moto's Batch."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import boto3
import pandas as pd
import pytest
from moto import mock_aws

from kabucast.config import TrainSettings, load_settings, resolve_config_path
from kabucast.data.calendar import TradingCalendar
from kabucast.data.enrich import enrich
from kabucast.data.ingest import backfill
from kabucast.data.prices import prices_key
from kabucast.data.sources.sample_market import SampleMarketSource
from kabucast.forecast.dataset import ForecastData
from kabucast.forecast.registry import champion_version
from kabucast.forecast.train import train
from kabucast.storage import LocalStore

BATCH_REGION = "ap-northeast-1"

AS_OF = pd.Timestamp("2026-11-20")
SMALL_MODEL = {"sector_dim": 4, "hidden": 16, "lstm_layers": 1, "dropout": 0.0, "mlp": [32]}


def small_settings(**data: object) -> TrainSettings:
    base = load_settings(TrainSettings, resolve_config_path("train_demo.yaml"))
    training = {**base.training, "max_epochs": 2, "batch_size": 128}
    return dataclasses.replace(
        base,
        model=SMALL_MODEL,
        training=training,
        data=dataclasses.replace(base.data, **{"max_train_samples": 1500, "max_val_samples": 600, **data}),
    )


@pytest.fixture(scope="session")
def trained(tmp_path_factory, universe, sectors) -> tuple[LocalStore, TradingCalendar]:
    root = tmp_path_factory.mktemp("store")
    store, calendar = LocalStore(root), TradingCalendar()
    source = SampleMarketSource.from_universe(universe)
    backfill(store, source, universe.tickers, calendar, AS_OF, "8y")
    enrich(store, source, universe.tickers, {m.ticker: m.sector for m in universe.members}, AS_OF)
    # a ticker with too little history: only the last 2 years
    short = store.get_parquet(prices_key("9984.T"))
    store.put_parquet(prices_key("9984.T"), short.loc["2024-11-20":])
    data = ForecastData(store, universe, sectors, calendar)
    run = train(small_settings(), data, AS_OF, root / "work", progress=False)
    assert run.champion and champion_version(store) == run.version
    return store, calendar


@pytest.fixture
def batch(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, str, str]]:
    """moto Batch (jobs are recorded, not run in Docker) with a compute environment, queue and job definition."""
    for name, value in {
        "AWS_DEFAULT_REGION": BATCH_REGION,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws(config={"batch": {"use_docker": False}}):
        iam, client = boto3.client("iam"), boto3.client("batch")
        role = iam.create_role(RoleName="batch", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        env = client.create_compute_environment(
            computeEnvironmentName="kabucast-ce", type="UNMANAGED", serviceRole=role
        )
        queue = client.create_job_queue(
            jobQueueName="kabucast-jobs",
            state="ENABLED",
            priority=1,
            computeEnvironmentOrder=[{"order": 1, "computeEnvironment": env["computeEnvironmentArn"]}],
        )["jobQueueArn"]
        definition = client.register_job_definition(  # template.yaml's BatchJobDefinition, trimmed
            jobDefinitionName="kabucast-job",
            type="container",
            containerProperties={
                "image": "kabucast-jobs:latest",
                "command": ["--help"],
                "resourceRequirements": [{"type": "VCPU", "value": "4"}, {"type": "MEMORY", "value": "15000"}],
            },
        )["jobDefinitionArn"]
        yield client, queue, definition

"""A fine-tune as of a date that leaves no labelled sample fails with a named error (exit 2), not an IndexError,
and the monthly job fails with it before it enriches: nothing is fetched or written."""

from __future__ import annotations

import pandas as pd
import pytest

from kabucast.cli.main import main
from kabucast.config import FinetuneSettings, load_settings, resolve_config_path
from kabucast.data.ingest import backfill
from kabucast.data.sources.sample_market import SampleMarketSource
from kabucast.errors import InvalidDate
from kabucast.forecast.dataset import ForecastData
from kabucast.forecast.registry import list_versions, save_model, set_champion
from kabucast.forecast.train import TooEarlyToFineTune, finetune
from kabucast.jobs.monthly import run_monthly
from kabucast.jobs.wiring import FinetuneStep
from kabucast.storage import LocalStore

TICKERS = ["7203.T", "6758.T", "8306.T"]


@pytest.fixture
def store(tmp_path, universe, calendar) -> LocalStore:
    """Four years of the sample market up to 2026-11-20 (first bar 2022-11) and a champion to fine-tune."""
    store = LocalStore(tmp_path / "store")
    backfill(store, SampleMarketSource.from_universe(universe), TICKERS, calendar, pd.Timestamp("2026-11-20"), "4y")
    set_champion(store, save_model(store, b"onnx", b"ckpt", {"static_mode": "none"}), "a stand-in champion")
    return store


@pytest.mark.parametrize(
    ("as_of", "why"),
    [
        ("2025-06-02", "the stored prices start on 2022-11-2"),  # 2.5 years of prices: no sample has 156 weeks
        ("1999-12-30", "the store holds no prices on or before it"),
    ],
)
def test_finetune_as_of_too_early_names_the_reason(store, universe, sectors, calendar, tmp_path, as_of, why) -> None:
    settings = load_settings(FinetuneSettings, resolve_config_path("finetune.yaml"))
    data = ForecastData(store, universe, sectors, calendar)
    before = list_versions(store)
    with pytest.raises(TooEarlyToFineTune, match=f"as of {as_of} there is no labelled sample") as raised:
        finetune(settings, data, pd.Timestamp(as_of), tmp_path / "work", progress=False)
    assert why in str(raised.value) and "pass a later --as-of" in str(raised.value)
    assert isinstance(raised.value, InvalidDate)  # a usage error: the CLI exits 2, nothing was written
    assert list_versions(store) == before


def test_monthly_job_as_of_too_early_fails_before_it_enriches(store, universe) -> None:
    # GIVEN a source that serves fundamentals for every ticker (enrich would write data/static/2018-06-01.parquet)
    source = SampleMarketSource.from_universe(universe)
    before = store.list()
    # WHEN the monthly job runs as of a date before the stored prices
    with pytest.raises(TooEarlyToFineTune, match="as of 2018-06-01 there is no labelled sample"):
        run_monthly(store, source, pd.Timestamp("2018-06-01"), TICKERS, universe.sectors_of, FinetuneStep())
    # THEN the fine-tune's check stopped it before enrich: nothing was written
    assert store.list() == before


@pytest.mark.parametrize(
    "args",
    [
        ["--as-of", "2025-06-02", "--skip-enrich"],
        ["--as-of", "2018-06-01", "--source", "sample"],  # enriching first would write a snapshot (or wait on Yahoo)
    ],
)
def test_monthly_cli_as_of_too_early_exits_2_and_writes_nothing(store, capsys, args) -> None:
    before = store.list()
    code = main(["monthly", "--store", str(store.root), *args])
    err = capsys.readouterr().err
    assert code == 2, err
    assert (
        f"kabucast monthly: error: TooEarlyToFineTune: as of {args[1]} there is no labelled sample to fine-tune on"
        in err
    )
    assert "Traceback" not in err
    assert store.list() == before

"""Train broad, serve narrow: a recipe's training universe supplies the training samples (point-in-time),
the served or evaluation universe the scored ones; the listing tool builds a broad universe file."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from kabucast.config import TrainSettings, UniverseMember, load_settings, load_universe, resolve_config_path
from kabucast.data.ingest import backfill
from kabucast.data.sources.sample_market import SampleMarketSource
from kabucast.errors import ConfigError
from kabucast.forecast.dataset import ForecastData, forecast_data
from kabucast.forecast.train import train
from kabucast.storage import LocalStore
from kabucast.universe_listing import universe_from_listing, write_universe

SERVED = ["7203.T", "6758.T"]
BROAD = ["8306.T", "9984.T", "4063.T"]
JOINS = "2023-03-01"  # 4063.T enters the training universe on this date


@pytest.fixture(scope="module")
def store(tmp_path_factory, calendar) -> LocalStore:
    """Six years of the sample market for the five names."""
    store = LocalStore(tmp_path_factory.mktemp("broad") / "store")
    source = SampleMarketSource(SERVED + BROAD, ["Technology"] * 5, seed=11)
    backfill(store, source, SERVED + BROAD, calendar, pd.Timestamp("2024-12-27"), "6y")
    return store


def universe_file(tmp_path, name: str, members: list[dict]) -> str:
    path = tmp_path / f"{name}.yaml"
    head = {"env": "local", "name": name, "description": "", "reviewed": "2024-12-27", "members": members}
    path.write_text(yaml.safe_dump(head, sort_keys=False))
    return str(path)


@pytest.fixture
def recipe(tmp_path) -> TrainSettings:
    served = universe_file(tmp_path, "served", [{"ticker": t, "name": t, "sector": "Technology"} for t in SERVED])
    broad = [{"ticker": t, "name": t, "sector": "Financial Services"} for t in BROAD[:2]]
    broad.append({"ticker": "4063.T", "name": "late", "sector": "Basic Materials", "since": JOINS})
    cfg = load_settings(TrainSettings, resolve_config_path("train_ridge.yaml"))
    return dataclasses.replace(cfg, universe=served, training_universe=universe_file(tmp_path, "broad", broad))


def test_training_draws_from_the_training_universe_point_in_time(store, recipe, sectors, calendar) -> None:
    # GIVEN a recipe serving two names and training on three others, one of which joins on JOINS
    data = forecast_data(store, calendar, recipe, load_universe(recipe.universe), sectors)
    samples = data.samples(pd.Timestamp("2024-12-27"), "none")
    pool = samples.training_pool()
    # THEN training draws only from the training universe's names, 4063.T only from the day it joined ...
    trained = set(samples.tickers[pool])
    assert trained == set(BROAD)
    late = pool[samples.tickers[pool] == "4063.T"]
    assert samples.dates[late].min() >= pd.Timestamp(JOINS)
    assert (samples.tickers == "4063.T").sum() > len(late)  # it had samples before: they are not trained on
    # ... while scoring (members) follows the served universe
    scored = samples.members_only(np.arange(len(samples)))
    assert set(samples.tickers[scored]) == set(SERVED)
    # and each name keeps its own sector id (the training file's for the broad names)
    assert set(samples.sector_id[samples.tickers == "8306.T"]) == {sectors.id_of("Financial Services")}
    assert set(samples.sector_id[samples.tickers == "7203.T"]) == {sectors.id_of("Technology")}


def test_a_train_run_fits_on_the_broad_names_and_records_the_universes(store, recipe, sectors, calendar, tmp_path):
    data = forecast_data(store, calendar, recipe, load_universe(recipe.universe), sectors)
    run = train(recipe, data, pd.Timestamp("2024-12-27"), tmp_path / "work", progress=False)
    assert run.meta["run"]["universes"] == {"served": "served", "trained_on": "broad", "scored_on": "served"}
    narrow = ForecastData(store, load_universe(recipe.universe), sectors, calendar)
    alone = train(dataclasses.replace(recipe, training_universe=None), narrow, pd.Timestamp("2024-12-27"),
                  tmp_path / "narrow", progress=False)  # fmt: skip
    # the broad run fitted on two names and validated on three (4063.T joined between), the narrow one on the served two
    assert run.meta["run"]["n_train"] == alone.meta["run"]["n_train"]  # two names each, the same dates
    assert run.meta["run"]["n_val"] == alone.meta["run"]["n_val"] * 3 // 2
    assert alone.meta["run"]["universes"]["trained_on"] == "served"


def test_universes_must_share_the_exchange_and_the_sector_map(store, recipe, sectors, calendar, tmp_path) -> None:
    served = load_universe(recipe.universe)
    other = universe_file(tmp_path, "nyse", [{"ticker": "IBM", "name": "IBM", "sector": "Technology"}])
    text = yaml.safe_load(Path(other).read_text())
    text["exchange"] = "XNYS"
    other_path = tmp_path / "nyse.yaml"
    other_path.write_text(yaml.safe_dump(text))
    with pytest.raises(ConfigError, match="share one exchange calendar"):
        forecast_data(store, calendar, dataclasses.replace(recipe, training_universe=str(other_path)), served, sectors)
    odd = universe_file(tmp_path, "odd", [{"ticker": "8306.T", "name": "x", "sector": "Banks"}])
    with pytest.raises(ConfigError, match="sectors the sector map does not know: Banks"):
        forecast_data(store, calendar, dataclasses.replace(recipe, training_universe=odd), served, sectors)
    # a listing without sectors says so on purpose: its names share the unknown sector's embedding
    plain = universe_file(tmp_path, "plain", [{"ticker": "8306.T", "name": "x", "sector": "Unknown"}])
    data = forecast_data(store, calendar, dataclasses.replace(recipe, training_universe=plain), served, sectors)
    samples = data.samples(pd.Timestamp("2024-12-27"), "none")
    assert set(samples.sector_id[samples.tickers == "8306.T"]) == {sectors.unknown_id}


def test_universe_from_listing_maps_tse33_codes_to_the_sector_map(tmp_path, sectors) -> None:
    rows = [
        {"ticker": "6702.T", "sector33_code": "3650", "company_name": "Fujitsu"},
        {"ticker": "8591.T", "sector33_code": 7200, "company_name": "ORIX"},
        {"ticker": "1332.T", "sector33_code": "50", "company_name": "Nissui"},
        {"ticker": "7203.T", "sector33_code": "3700", "company_name": "Toyota"},
    ]
    mapping = universe_from_listing(rows, "broad", "test", "2018-11-16", sectors.tse33, exclude=["7203.T"])
    universe = load_universe(str(write_universe(tmp_path / "broad.yaml", mapping)))
    assert universe.members == (
        UniverseMember("6702.T", "Fujitsu", "Technology"),
        UniverseMember("8591.T", "ORIX", "Financial Services"),
        UniverseMember("1332.T", "Nissui", "Consumer Defensive"),
    )
    # the shipped sector file maps all 33 codes (loading it checks each maps onto a name of the sector map)
    assert len(sectors.tse33) == 33
    with pytest.raises(ConfigError, match=r"unknown TSE 33-sector code '9999': add it to config/sectors\.yaml"):
        universe_from_listing([{"ticker": "1.T", "sector33_code": "9999"}], "x", "", "2018-11-16", sectors.tse33)


def test_without_a_training_universe_the_served_names_train_on_all_their_dates(store, sectors, calendar, tmp_path):
    # GIVEN a served universe where 6758.T joins late, scored on another universe (walk-forward's evaluation_universe)
    spells = [{"ticker": "7203.T", "name": "a", "sector": "Technology"},
              {"ticker": "6758.T", "name": "b", "sector": "Technology", "since": JOINS}]  # fmt: skip
    served = load_universe(universe_file(tmp_path, "served", spells))
    scored = load_universe(
        universe_file(tmp_path, "scored", [{"ticker": "8306.T", "name": "c", "sector": "Technology"}])
    )
    samples = ForecastData(store, served, sectors, calendar, evaluation_universe=scored).samples(
        pd.Timestamp("2024-12-27"), "none"
    )
    pool = samples.training_pool()
    # THEN training draws from every served name on all its dates, as without an evaluation universe ...
    assert set(samples.tickers[pool]) == {"7203.T", "6758.T"}
    late = pool[samples.tickers[pool] == "6758.T"]
    assert samples.dates[late].min() < pd.Timestamp(JOINS)
    # ... and scores the evaluation universe's members
    assert set(samples.tickers[samples.members_only(np.arange(len(samples)))]) == {"8306.T"}

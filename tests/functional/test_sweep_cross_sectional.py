"""Sweeps over the cross-sectional kind on the sample market: a 2-trial Optuna search and a 2-point grid of its CPU
recipe (made tiny: seconds a trial) train that kind, with the values the search suggested or the grid named."""

from __future__ import annotations

import io
from typing import Any

import pandas as pd
import pytest
from tests.functional.conftest import AS_OF

from kabucast.cli import main
from kabucast.config import load_settings, resolve_config_path
from kabucast.forecast.interface import TrainableModel
from kabucast.sweeps.objective import ForecasterObjective
from kabucast.sweeps.optuna_search import FINISHED, OptunaSettings, SearchRequest, open_study, trial_prefix

OPTUNA = "sweep/cross_sectional_optuna_test.yaml"
GRID = "sweep/cross_sectional_grid_test.yaml"


@pytest.fixture
def built(monkeypatch: pytest.MonkeyPatch) -> list[tuple[dict[str, Any], TrainableModel]]:
    """Every (parameters, model) a sweep trial builds, recorded around the objective's own build."""
    models: list[tuple[dict[str, Any], TrainableModel]] = []
    build = ForecasterObjective.build

    def recorded(self: ForecasterObjective, params: dict[str, Any], max_epochs: int) -> tuple[TrainableModel, bool]:
        model, collapse_output = build(self, params, max_epochs)
        models.append((dict(params), model))
        return model, collapse_output

    monkeypatch.setattr(ForecasterObjective, "build", recorded)
    return models


def test_an_optuna_search_trains_the_kind_with_its_suggestions(trained, built, tmp_path) -> None:
    # GIVEN the sample market and a 2-trial search over the cross-sectional recipe's model and training keys
    store, _ = trained
    storage = f"journal://{tmp_path / 'study.log'}"
    argv = ["sweep", "optuna", "--store", store.url, "--as-of", str(AS_OF.date()), "--config", OPTUNA]
    argv += ["--n-trials", "2", "--max-epochs", "1", "--study-name", "xs", "--storage", storage]
    # WHEN it runs in this process
    assert main(argv) == 0
    # THEN both trials finished, each a cross-sectional model trained with the values the study suggested
    settings = load_settings(OptunaSettings, resolve_config_path(OPTUNA))
    trials = [t for t in open_study(settings, SearchRequest("xs", storage, 2, 1)).get_trials() if t.state in FINISHED]
    assert len(trials) == 2 == len(built)
    for trial, (params, model) in zip(sorted(trials, key=lambda t: t.number), built, strict=True):
        described = model.describe()
        assert params == trial.params and described["model_kind"] == "cross_sectional"
        config = described["model_config"]
        searched = ("hidden", "peers", "peer_k")
        assert {k: config[k] for k in searched} == {k: params[k] for k in searched}
        assert described["train_config"]["lr"] == params["lr"] and config["recent_weeks"] == 8  # the override
        stored = store.get_json(f"{trial_prefix('xs', trial.number)}metrics.json")
        assert stored["params"] == params and stored["metrics"]["epochs_run"] == 1
        # AND the collapse monitor watched its GRU encoder and its spread, epoch by epoch
        assert len(stored["history"]["pred_std"][0]) == 12 and stored["history"]["grad_norm_encoder"][0] > 0


def test_a_grid_trains_the_kind_at_each_point(trained, built) -> None:
    # GIVEN a grid of two peer graphs over the cross-sectional recipe
    store, _ = trained
    argv = ["sweep", "grid", "--config", GRID, "--store", store.url, "--as-of", str(AS_OF.date())]
    # WHEN it runs and is evaluated
    assert main(argv) == 0
    # THEN each point trained a cross-sectional model with its peer graph and the grid's fixed values
    results = pd.read_csv(io.BytesIO(store.get_bytes("sweeps/cross_sectional_grid_test/all_results.csv")))
    assert sorted(results["param_peers"]) == ["knn", "sector"]
    configs = [model.describe()["model_config"] for _, model in built]
    assert sorted(c["peers"] for c in configs) == ["knn", "sector"]
    assert all(c["peer_k"] == 3 and c["hidden"] == 8 for c in configs)
    assert all(m.describe()["model_kind"] == "cross_sectional" for _, m in built)

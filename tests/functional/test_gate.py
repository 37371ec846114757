"""The promotion gate and the champion pointer, on the sample market with real models.

The champion is the session's small model trained on real labels (tests/functional/conftest.py).
Challengers: the same training on shuffled labels, and a collapsed copy of the champion (its output
layer's weights zeroed, so every stock gets the same forecast). Scoring is ONNX Runtime on stored
prices; nothing is mocked.
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from tests.functional.conftest import AS_OF, small_settings

from kabucast.cli import main
from kabucast.config import FinetuneSettings, load_settings, resolve_config_path
from kabucast.forecast.dataset import ForecastData, load_samples
from kabucast.forecast.export import export_onnx
from kabucast.forecast.forecaster_module import load_forecaster
from kabucast.forecast.gate import gate_and_promote
from kabucast.forecast.registry import champion_record, champion_version, load_model, model_key, save_model
from kabucast.forecast.train import finetune, train
from kabucast.jobs.forecast_step import LATEST_KEY, OnnxPredictor
from kabucast.storage import LocalStore

GATE = load_settings(FinetuneSettings, resolve_config_path("finetune.yaml")).gate


@pytest.fixture(scope="module")
def registry(trained, tmp_path_factory, universe, sectors):
    """A copy of the trained store holding the real champion, a shuffled-label and a collapsed challenger."""
    root = tmp_path_factory.mktemp("gate")
    shutil.copytree(trained[0].root, root, dirs_exist_ok=True, ignore=shutil.ignore_patterns("work", "predictions"))
    store, calendar = LocalStore(root), trained[1]
    real = champion_version(store)
    data = ForecastData(store, universe, sectors, calendar)
    shuffled = train(small_settings(shuffle_labels=True), data, AS_OF, root / "w")
    collapsed = _collapsed_copy(store, real, universe, sectors, calendar, root / "c")
    assert champion_version(store) == real and len({real, shuffled.version, collapsed}) == 3
    return store, calendar, {"real": real, "shuffled": shuffled.version, "collapsed": collapsed}


def _collapsed_copy(store, version, universe, sectors, calendar, work: Path) -> str:
    """The champion with its last layer's weights zeroed: the bias alone, the same forecast for all."""
    work.mkdir(parents=True)
    (work / "model.ckpt").write_bytes(store.get_bytes(model_key(version, "model.ckpt")))
    model = load_forecaster(work / "model.ckpt")
    with torch.no_grad():
        model.head[-1].weight.zero_()
    samples = load_samples(store, universe, sectors, calendar, AS_OF, "snapshot")
    export_onnx(model, work / "model.onnx", samples.take(np.arange(64)))
    meta = {k: v for k, v in load_model(store, version).meta.items() if k != "version"}
    meta["run"] = {**meta["run"], "kind": "collapsed-on-purpose"}
    return save_model(store, (work / "model.onnx").read_bytes(), (work / "model.ckpt").read_bytes(), meta)


def gate(registry, name: str, universe, sectors):
    store, calendar, versions = registry
    return gate_and_promote(versions[name], GATE, ForecastData(store, universe, sectors, calendar), AS_OF)


def test_gate_rejects_a_collapsed_challenger(registry, universe, sectors) -> None:
    store, _, versions = registry
    decision = gate(registry, "collapsed", universe, sectors)
    assert not decision.promoted and any(r.startswith("collapsed") for r in decision.reasons)
    assert max(decision.figures["challenger"]["pred_xs_std"]) < 1e-6
    assert champion_version(store) == versions["real"]
    assert store.get_json(model_key(versions["collapsed"], "gate.json"))["promoted"] is False


def test_gate_rejects_a_challenger_trained_on_shuffled_labels(registry, universe, sectors) -> None:
    store, _, versions = registry
    decision = gate(registry, "shuffled", universe, sectors)
    assert not decision.promoted, decision.figures
    assert champion_version(store) == versions["real"]
    # the window holds only days after every training day of both models, with known outcomes
    assert decision.window["first"] > decision.window["after_training_end"]
    assert pd.Timestamp(decision.window["last"]) + pd.offsets.BDay(21) <= AS_OF  # its 1-month outcome is known


def test_gate_promotes_a_better_model_and_rollback_restores_the_previous(registry, universe, sectors, capsys) -> None:
    store, calendar, versions = registry
    # GIVEN the shuffled model forced in as champion (a manual promotion over the gate's rejection)
    assert main(["models", "promote", versions["shuffled"], "--store", str(store.root)]) == 2
    assert "--force" in capsys.readouterr().err
    assert main(["models", "promote", versions["shuffled"], "--force", "--store", str(store.root)]) == 0
    # WHEN the model trained on real labels is gated against it
    decision = gate(registry, "real", universe, sectors)
    # THEN it is promoted, and the decision names the figures
    assert decision.promoted and decision.champion == versions["shuffled"]
    f = decision.figures
    assert f["challenger"]["mean_rankic"] > f["champion"]["mean_rankic"] - GATE.tolerance
    recorded = store.get_json(model_key(versions["real"], "gate.json"))["figures"]["paired_difference"]
    assert not recorded["significantly_negative"] and recorded["method"] == "Newey-West, lag 42"
    assert recorded["n"] == decision.window["days"] and "paired difference" in decision.reasons[0]
    # AND it beats the free momentum ranking on the same days (rule 5), recorded with its interval
    momentum = f["versus_momentum"]
    assert momentum["value"] > GATE.momentum_margin and momentum["n"] == decision.window["days"]
    assert momentum["ci_low"] < momentum["value"] < momentum["ci_high"] and "minus momentum" in decision.reasons[0]
    # AND the 1-month reversal baseline is recorded beside momentum, without a rule of its own
    assert len(f["reversal_1m"]["rankic"]) == 12 and not any("reversal" in r for r in decision.reasons)
    assert champion_version(store) == versions["real"]
    assert champion_record(store)["history"][0] == versions["shuffled"]
    # WHEN the champion is rolled back THEN the daily job serves the previous one again
    assert main(["models", "rollback", "--store", str(store.root)]) == 0
    assert champion_version(store) == versions["shuffled"]
    OnnxPredictor(universe, sectors, calendar)(store, AS_OF, universe.tickers)
    assert store.get_json(LATEST_KEY)["model_version"] == versions["shuffled"]
    assert main(["models", "list", "--store", str(store.root)]) == 0
    listing = capsys.readouterr().out
    assert f"* {versions['shuffled']}" in listing and "rejected" in listing


def test_rollback_without_history_is_a_clear_error(tmp_path: Path, registry, capsys) -> None:
    store, _, versions = registry
    fresh = LocalStore(tmp_path)
    for key in store.list(f"models/{versions['real']}/"):
        fresh.put_bytes(key, store.get_bytes(key))
    assert main(["models", "rollback", "--store", str(tmp_path)]) == 2
    assert "no earlier champion" in capsys.readouterr().err


def test_a_second_kind_of_model_trains_is_gated_served_and_fine_tuned(trained, tmp_path, universe, sectors) -> None:
    # GIVEN a copy of the trained store and a recipe naming the ridge baseline instead of the BiLSTM
    root = tmp_path / "ridge"
    shutil.copytree(trained[0].root, root, ignore=shutil.ignore_patterns("work", "predictions"))
    store, calendar = LocalStore(root), trained[1]
    data = ForecastData(store, universe, sectors, calendar)
    settings = dataclasses.replace(small_settings(), model={"kind": "ridge"})
    # WHEN `kabucast train`'s code path trains it THEN it is published like any version (ONNX, parity, kind)
    evidence = {"selection": "select-test", "recipe": "train_ridge.yaml", "chosen": True}  # as select --train passes
    run = train(settings, data, AS_OF, root / "w", walk_forward=evidence)
    meta = load_model(store, run.version).meta
    assert meta["model_kind"] == "ridge" and meta["onnx_parity_max_abs_diff"] < 1e-4 and not run.champion
    assert meta["walk_forward"] == evidence
    # AND the gate judges it like any challenger, with the paired evidence
    decision = gate_and_promote(run.version, GATE, data, AS_OF)
    assert "paired_difference" in decision.figures and decision.window["days"] > 100
    # AND once champion, the daily job serves it through ONNX Runtime, and the monthly fine-tune refits it
    assert main(["models", "promote", run.version, "--force", "--store", str(root)]) == 0
    OnnxPredictor(universe, sectors, calendar)(store, AS_OF, universe.tickers)
    doc = store.get_json(LATEST_KEY)
    assert doc["model_version"] == run.version and doc["num_predictions"] >= 25
    finetuned = finetune(load_settings(FinetuneSettings, resolve_config_path("finetune.yaml")), data, AS_OF, root / "f")
    child = load_model(store, finetuned.version).meta
    assert child["model_kind"] == "ridge" and child["run"]["parent"] == run.version
    assert child["walk_forward"] == {**evidence, "inherited_from": run.version}  # the recipe's evidence carries over

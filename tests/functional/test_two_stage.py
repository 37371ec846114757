"""``kabucast train --from-sweep DIR``: the sweep winner trained in two stages into one ONNX ensemble, then gated.

Runs on a copy of the session's trained store (which has a champion), so the gate judges the new
version; a hidden-8 model, 1 + 4 epochs and 1 torch thread keep it to well under a minute of training.
"""

from __future__ import annotations

import json
import shutil
import time

import numpy as np
import pytest
import torch
from tests.functional.conftest import AS_OF

from kabucast.cli import main
from kabucast.forecast.model import BiLSTMForecaster, ForecasterConfig
from kabucast.forecast.onnx_model import OnnxForecaster
from kabucast.forecast.registry import champion_version, load_model, model_key, set_champion
from kabucast.storage import LocalStore
from kabucast.sweeps.evaluate import EvaluateSettings, evaluate_sweep

TWO_STAGE_TEST = "sweep/two_stage_test.yaml"
SWEEP = "sweeps/tiny"
WINNER = {"pred_var_weight": 0.5, "rankic_weight": 0.3, "output_noise_std": 0.02, "turnover_weight": 0.025}


@pytest.fixture
def store(trained, tmp_path) -> LocalStore:
    """A copy of the session's trained store (a champion, 8 years of prices) with an evaluated 3-config sweep."""
    root = tmp_path / "store"
    shutil.copytree(trained[0].root, root, ignore=shutil.ignore_patterns("work"))
    store = LocalStore(root)
    configs = {
        "c0": (WINNER, {"val_pred_std": 0.03, "val_sharpe": 0.8, "val_rankic": 0.06}),
        "c1": ({**WINNER, "rankic_weight": 0.0}, {"val_pred_std": 0.02, "val_sharpe": 0.1, "val_rankic": 0.03}),
        "c2": ({"collapse_output": True}, {"val_pred_std": 0.0, "val_sharpe": None, "val_rankic": 0.0}),
    }
    for cid, (params, metrics) in configs.items():
        doc = {"config_id": cid, "params": params, "metrics": {**metrics, "test_rankic": 0.0, "epochs_run": 2}}
        store.put_json(f"{SWEEP}/configs/{cid}/metrics.json", {**doc, "collapsed": None})
    evaluate_sweep(store, SWEEP, EvaluateSettings())  # all_results.csv, top_configs.csv, top_config_ids.txt
    return store


def test_train_from_sweep_publishes_an_onnx_ensemble_and_gates_it(store, capsys) -> None:
    torch.set_num_threads(1)
    champion = champion_version(store)
    assert store.get_bytes(f"{SWEEP}/top_config_ids.txt").decode().split()[0] == "c0"
    # WHEN the winner of the sweep is trained in two stages through the CLI
    started = time.monotonic()
    argv = ["train", "--from-sweep", SWEEP, "--two-stage-config", TWO_STAGE_TEST]
    assert main([*argv, "--store", store.url, "--as-of", str(AS_OF.date()), "--json"]) == 0
    elapsed = time.monotonic() - started
    details = json.loads(capsys.readouterr().out)
    version = details["version"]
    meta = store.get_json(model_key(version, "model.json"))
    run = meta["run"]

    # THEN one version holds an ensemble of K = 2 snapshots + the SWA average, exported with parity
    assert run["kind"] == "two_stage" and run["sweep"]["winner"] == "c0" and run["sweep"]["params"] == WINNER
    members = run["ensemble"]["members"]
    assert len(members) == 3 and members[-1].startswith("swa")
    assert meta["onnx_parity_max_abs_diff"] <= 1e-4
    assert meta["parameters"] == 3 * run["ensemble"]["parameters_per_member"]
    assert meta["train_config"]["rankic_weight"] == 0.3  # stage 2 trains with the winner's weights
    # ... and records both stages per epoch
    s1, s2 = run["stages"]["stage1"], run["stages"]["stage2"]
    assert s1["changed"]["pred_var_weight"] == 1.0 and s1["changed"]["turnover_weight"] == 0.0
    assert len(s1["val_rankic"]) == len(s1["pred_std"]) == 1 and len(s1["pred_std"][0]) == 12
    assert len(s2["val_rankic"]) == len(s2["pred_std_mean"]) == 4
    assert s2["snapshot_epochs"] == [1, 3] and s2["swa_epochs"] == [2, 3]
    assert len(s2["lr"]) == 4 and len({round(lr, 8) for lr in s2["lr"]}) > 1  # the cosine cycles

    # the ONNX model's forecast is the mean of the members' (rebuilt from the checkpoint) and serves unchanged
    onnx = OnnxForecaster(load_model(store, version).onnx)
    ckpt = torch.load(store.root / model_key(version, "model.ckpt"), map_location="cpu", weights_only=True)
    inputs = _random_inputs(ForecasterConfig.from_dict(ckpt["hyper_parameters"]["model"]), n=16)
    outs = []
    for state in ckpt["ensemble"]["state_dicts"]:
        member = BiLSTMForecaster(ForecasterConfig.from_dict(ckpt["hyper_parameters"]["model"]))
        member.load_state_dict(state)
        with torch.no_grad():
            outs.append(member.eval()(*(torch.as_tensor(a) for a in inputs)).numpy())
    snapshot, swa = ckpt["ensemble"]["state_dicts"][-2:]
    assert any(not torch.equal(snapshot[k], swa[k]) for k in swa)  # SWA averaged epochs 2 and 3
    got = onnx.predict(*inputs)
    assert got.shape == (16, 12)
    assert np.max(np.abs(got - np.mean(outs, axis=0))) <= 1e-4
    assert min(np.max(np.abs(got - o)) for o in outs) > 1e-5  # not just one member

    # the gate judged it against the existing champion and recorded its decision
    gate = store.get_json(model_key(version, "gate.json"))
    assert gate["challenger"] == version and gate["champion"] == champion
    assert details["gate"]["promoted"] == gate["promoted"] and gate["reasons"]
    assert champion_version(store) == (version if gate["promoted"] else champion)
    # and the report shows the stages and the decision
    page = store.get_bytes(f"reports/two-stage-{version}/report.html").decode()
    assert "stage2 val RankIC per epoch" in page and "gate:" in page and page.count("<img") == 2

    # the daily predict step serves it like any model
    set_champion(store, version, "test: serve the ensemble")
    assert main(["predict", "--store", store.url, "--as-of", str(AS_OF.date())]) == 0
    assert store.get_json("predictions/latest.json")["model_version"] == version
    print(
        f"\ntwo-stage {elapsed:.0f} s; parity {meta['onnx_parity_max_abs_diff']:.1e}; stage1 pred std "
        f"{s1['pred_std_mean']} RankIC {s1['val_rankic']}; stage2 pred std {s2['pred_std_mean']} RankIC "
        f"{s2['val_rankic']}; members {run['ensemble']['member_val_rankic_mean']} -> ensemble "
        f"{run['ensemble']['val_rankic_mean']:+.4f}; gate {'promoted' if gate['promoted'] else 'rejected'}: "
        f"{gate['reasons']}"
    )


def _random_inputs(cfg: ForecasterConfig, n: int) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(0)
    weekly = rng.normal(size=(n, cfg.seq_len, cfg.n_weekly)).astype(np.float32)
    static = rng.normal(size=(n, cfg.n_static)).astype(np.float32)
    position = rng.uniform(size=(n, cfg.n_position)).astype(np.float32)
    return weekly, static, position, rng.integers(0, cfg.n_sectors, size=n).astype(np.int64)

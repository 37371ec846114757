"""The ranker as a sweep objective: two tiny Optuna trials through ``kabucast sweep optuna --model ranker``.

120 synthetic stocks x 2 years (the planted sample market), a d_model-16 encoder, 2 epochs, 1 torch thread.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator

import pytest
import torch

from kabucast.cli import main
from kabucast.config import load_settings, resolve_config_path
from kabucast.storage import LocalStore
from kabucast.sweeps.optuna_search import FINISHED, OptunaSettings, SearchRequest, open_study, trial_prefix

RANKER_TEST = "sweep/ranker_optuna_test.yaml"


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_two_ranker_trials_run_and_are_scored(tmp_path, capsys) -> None:
    # GIVEN an empty store (the sample panel is built on first use) and a journal-file study
    store, storage = LocalStore(tmp_path / "store"), f"journal://{tmp_path / 'ranker.log'}"
    argv = ["sweep", "optuna", "--model", "ranker", "--config", RANKER_TEST, "--store", store.url]
    argv += ["--n-trials", "2", "--max-epochs", "2", "--study-name", "rk", "--storage", storage]
    # WHEN two trials run in this process
    started = time.monotonic()
    assert main(argv) == 0
    elapsed = time.monotonic() - started
    # THEN both finished, each with its scores and per-epoch history in the store
    settings = load_settings(OptunaSettings, resolve_config_path(RANKER_TEST))
    trials = open_study(settings, SearchRequest("rk", storage, 2, 2)).get_trials()
    assert sum(t.state in FINISHED for t in trials) == 2
    scores = []
    for t in trials:
        doc = store.get_json(f"{trial_prefix('rk', t.number)}metrics.json")
        assert set(doc["params"]) == {"listnet", "rankic", "mse", "variance", "lr", "d_model", "depth"}
        m = doc["metrics"]
        scores.append((t.state.name, round(m["val_rankic"], 4), round(m["val_sharpe"], 2), round(m["val_pred_std"], 3)))
        for key in ("val_rankic", "val_sharpe", "val_pred_std", "test_rankic", "test_sharpe", "test_pred_std"):
            assert math.isfinite(m[key]), (key, m)
        assert m["val_pred_std"] > 0 and 1 <= m["epochs_run"] <= 2
        assert 1 <= len(doc["history"]["val_score"]) <= 2 and len(doc["history"]["pred_std"][0]) == 4
        if t.state.name == "COMPLETE":
            assert t.value == pytest.approx(m["val_rankic"])
        assert "val RankIC" in store.get_bytes(f"{trial_prefix('rk', t.number)}report.md").decode()
    print(f"\n2 ranker trials in {elapsed:.0f} s (state, val RankIC@5, val Sharpe, val pred std): {scores}")

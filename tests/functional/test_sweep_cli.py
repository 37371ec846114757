"""Sweeps end to end on the sample market: two Optuna workers (one killed and replaced), and the grid + gate.

Trials are tiny (hidden 8, a few hundred samples, 2 epochs, 1 torch thread) so the whole file runs
in about a minute on 2 busy cores.
"""

from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
from tests.functional.conftest import AS_OF

from kabucast.cli import main
from kabucast.config import load_settings, resolve_config_path
from kabucast.data.calendar import TradingCalendar
from kabucast.data.enrich import enrich
from kabucast.data.ingest import backfill
from kabucast.data.sources.sample_market import SampleMarketSource
from kabucast.storage import LocalStore
from kabucast.sweeps.optuna_search import FINISHED, OptunaSettings, SearchRequest, open_study, trial_prefix

OPTUNA_TEST = "sweep/forecaster_optuna_test.yaml"
GRID_TEST = "sweep/stability_grid_test.yaml"


@pytest.fixture(scope="module")
def market(tmp_path_factory, universe) -> LocalStore:
    """8 years of the sample market with its static snapshot, in a store of this module's own."""
    store, calendar = LocalStore(tmp_path_factory.mktemp("sweep-store")), TradingCalendar()
    source = SampleMarketSource.from_universe(universe)
    backfill(store, source, universe.tickers, calendar, AS_OF, "8y")
    enrich(store, source, universe.tickers, {m.ticker: m.sector for m in universe.members}, AS_OF)
    return store


def _worker(store: LocalStore, storage: str, n_trials: int, log_path: str = os.devnull) -> subprocess.Popen:
    argv = ["sweep", "optuna", "--store", store.url, "--as-of", str(AS_OF.date()), "--config", OPTUNA_TEST]
    argv += ["--n-trials", str(n_trials), "--max-epochs", "2", "--study-name", "t", "--storage", storage]
    log = open(log_path, "w")  # noqa: SIM115 - the child owns it until it exits
    return subprocess.Popen([sys.executable, "-m", "kabucast.cli", *argv], stdout=log, stderr=log)


def _wait_until(predicate, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


@pytest.mark.slow
def test_two_workers_one_killed_finish_exactly_n_trials(market, tmp_path) -> None:
    # GIVEN two worker processes on one journal-file study of 6 trials
    storage, n = f"journal://{tmp_path / 'study.log'}", 6
    settings = load_settings(OptunaSettings, resolve_config_path(OPTUNA_TEST))
    study = open_study(settings, SearchRequest("t", storage, n, 2))
    first, second = _worker(market, storage, n), _worker(market, storage, n, str(tmp_path / "second.log"))
    started = time.monotonic()
    # WHEN both are inside a trial, the first is killed (SIGKILL), and a replacement worker starts
    _wait_until(lambda: sum(t.state.name == "RUNNING" for t in study.get_trials()) == 2, timeout=60)
    first.send_signal(signal.SIGKILL)
    first.wait()
    replacement = _worker(market, storage, n)
    assert second.wait(timeout=80) == 0 and replacement.wait(timeout=80) == 0
    # THEN exactly 6 trials finished, each once and each with its metrics in the store; the killed one failed
    trials = study.get_trials()
    finished = [t.number for t in trials if t.state in FINISHED]
    print(f"\n{len(trials)} trials {[t.state.name for t in trials]} in {time.monotonic() - started:.0f} s")
    assert len(finished) == n == len(set(finished))
    assert any(t.state.name == "FAIL" for t in trials)
    for number in finished:
        assert market.exists(f"{trial_prefix('t', number)}metrics.json")
    # AND a worker's stderr (not a terminal) has one progress line per trial it ran, counting the study's
    lines = [ln for ln in (tmp_path / "second.log").read_text().splitlines() if ln.startswith("[optuna t] ")]
    assert lines and all(re.search(r"\] [1-6]/6 trials, \d+ s: trial \d+ (COMPLETE|PRUNED)", ln) for ln in lines), lines


@pytest.mark.slow
def test_grid_gates_out_the_collapsed_config_and_writes_the_three_files(market, capsys) -> None:
    # GIVEN a 4-config grid and one config whose output layer is frozen at zero
    argv = ["sweep", "grid", "--config", GRID_TEST, "--store", market.url, "--as-of", str(AS_OF.date())]
    # WHEN the grid runs and is evaluated
    assert main(argv) == 0
    # THEN the three files exist and the collapsed config is stopped early and gated out
    prefix = "sweeps/stability_grid_test/"
    results = pd.read_csv(io.BytesIO(market.get_bytes(f"{prefix}all_results.csv")))
    assert market.exists(f"{prefix}top_configs.csv") and market.exists(f"{prefix}top_config_ids.txt")
    collapsed = results[results["param_collapse_output"].eq(True)].iloc[0]
    assert not collapsed["passed"] and "collapsed" in collapsed["reasons"] and collapsed["epochs_run"] == 1
    report = market.get_bytes(f"{prefix}configs/{collapsed['config_id']}/report.md").decode()
    assert "COLLAPSED" in report and "grad encoder" in report
    healthy = results[results["param_collapse_output"].ne(True)]
    top = results.iloc[0]
    print(
        f"\npassed {int(results['passed'].sum())}/{len(results)}; top {top['config_id']} held-out RankIC "
        f"{top['test_rankic']:+.4f} vs median {healthy['test_rankic'].median():+.4f}"
    )
    print(results[["config_id", "passed", "score", "val_rankic", "val_sharpe", "val_pred_std", "test_rankic"]])


def test_evaluate_says_clearly_when_nothing_passes(market, tmp_path, capsys) -> None:
    # GIVEN a sweep folder whose only config collapsed
    market.put_json("sweeps/empty/configs/c0/metrics.json", _collapsed_doc())
    # WHEN it is evaluated THEN the summary says nothing passed, and the files are still written
    assert main(["sweep", "evaluate", "sweeps/empty", "--store", market.url, "--config", GRID_TEST]) == 0
    assert "NO config passed the gate" in capsys.readouterr().out
    assert market.get_bytes("sweeps/empty/top_config_ids.txt") == b""


def _collapsed_doc() -> dict:
    metrics = {"val_pred_std": 0.0, "val_sharpe": None, "val_rankic": 0.0, "test_rankic": 0.0, "epochs_run": 1}
    return {"config_id": "c0", "params": {"collapse_output": True}, "metrics": metrics, "collapsed": "flat"}

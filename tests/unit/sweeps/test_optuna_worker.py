"""An Optuna worker whose running trial another worker fails as stale (its heartbeat came late) carries on.

The objective is a stand-in (no training: the worker's bookkeeping is under test); the study, the
journal storage, its heartbeats and the other worker's ``fail_stale_trials`` are the real ones.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from kabucast.storage import LocalStore
from kabucast.sweeps.objective import TrialOutcome, TrialSettings
from kabucast.sweeps.optuna_search import FINISHED, OptunaSettings, SearchRequest, open_study, run_worker, trial_prefix
from kabucast.sweeps.space import ParamSpec
from kabucast.sweeps.storage import HEARTBEAT_ATTR, HeartbeatSettings

SETTINGS = OptunaSettings(
    trial=TrialSettings(),
    space={"lr": ParamSpec(low=0.001, high=0.01, log=True)},
    heartbeat=HeartbeatSettings(interval=1, grace_period=60, max_retry=2),
    poll_seconds=0.05,
)


def reap_running_trial(request: SearchRequest) -> int:
    """What another worker does to a trial whose heartbeat is older than the grace period: fail it and
    queue a copy (its own handle on the study, as a separate process would have)."""
    other = open_study(SETTINGS, request)
    (running,) = other.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    other._storage.set_trial_system_attr(running._trial_id, HEARTBEAT_ATTR, 0.0)  # its last beat: long ago
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(other)
    return running.number


class ReapedOnce:
    """A stand-in objective; its first trial is reaped by "another worker" at ``when``."""

    def __init__(self, request: SearchRequest, when: str) -> None:
        self.request, self.when = request, when
        self.reaped: list[int] = []
        self.calls = 0

    def run(self, params, max_epochs, work_dir: Path, report=None) -> TrialOutcome:
        self.calls += 1
        if self.calls == 1 and self.when == "during the trial":
            self.reaped.append(reap_running_trial(self.request))
        return TrialOutcome(dict(params), {"val_rankic": params["lr"]}, {"val_score": [params["lr"]]})


class ReapingStore(LocalStore):
    """Reaps the running trial just before its metrics are written: after the worker last looked at it."""

    objective: ReapedOnce

    def put_json(self, key, obj):
        if self.objective.when == "before its tell" and not self.objective.reaped:
            self.objective.reaped.append(reap_running_trial(self.objective.request))
        return super().put_json(key, obj)


@pytest.mark.parametrize("when", ["during the trial", "before its tell"])
def test_a_worker_whose_trial_is_reaped_under_it_carries_on_to_n_trials(tmp_path, when) -> None:
    # GIVEN a study of 3 trials and a worker whose first trial another worker fails as stale, at `when`
    request = SearchRequest("t", f"journal://{tmp_path / 'study.log'}", n_trials=3, max_epochs=1)
    objective = ReapedOnce(request, when)
    store = ReapingStore(tmp_path / "store")
    store.objective = objective
    lines: list[str] = []
    # WHEN the worker runs
    study = run_worker(SETTINGS, request, objective, store, tmp_path / "work", log=lines.append)
    # THEN it does not crash: 3 trials finish, the reaped one stays FAIL and its queued copy ran
    trials = study.get_trials()
    (reaped,) = objective.reaped
    finished = [t for t in trials if t.state in FINISHED]
    assert len(finished) == 3 and trials[reaped].state == TrialState.FAIL
    assert any(t.params == trials[reaped].params for t in finished), "the reaped trial's copy did not run"
    # AND it says so on its log; a trial reaped before its result was known leaves no metrics behind
    assert len(lines) == 1 and f"trial {reaped} was failed as stale by another worker" in lines[0]
    assert store.exists(f"{trial_prefix('t', reaped)}metrics.json") == (when == "before its tell")
    for t in finished:
        assert store.exists(f"{trial_prefix('t', t.number)}metrics.json")


class Broken:
    """An objective with a bug: it raises ValueError (as a bad input array would)."""

    def run(self, params, max_epochs, work_dir: Path, report=None) -> TrialOutcome:
        raise ValueError("a bug in the objective")


def test_an_objective_that_raises_is_not_mistaken_for_a_reaped_trial(tmp_path) -> None:
    # GIVEN an objective whose trials fail with their own error (their state is FAIL, like a reaped one)
    request = SearchRequest("t", f"journal://{tmp_path / 'study.log'}", n_trials=3, max_epochs=1)
    lines: list[str] = []
    # THEN the worker stops with that error instead of carrying on to the next trial
    with pytest.raises(ValueError, match="a bug in the objective"):
        run_worker(SETTINGS, request, Broken(), LocalStore(tmp_path / "store"), tmp_path / "work", log=lines.append)
    assert lines == []

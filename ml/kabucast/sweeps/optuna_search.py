"""``kabucast sweep optuna``: an Optuna study that any number of workers share, finishing exactly N trials.

Each worker opens the study in the shared storage (kabucast.sweeps.storage), asks for trials and
runs them with the model's :class:`~kabucast.sweeps.objective.Objective`; every validation epoch is
reported to Optuna and the MedianPruner may stop the trial. Each trial writes
``sweeps/<study>/trials/<number>/metrics.json`` and ``report.md`` in the store.

Exactly N trials end COMPLETE or PRUNED, however many workers run: a trial first waits until the
finished trials plus the running ones numbered before it leave room (:func:`wait_for_slot`); a
trial that finds the study full ends FAIL as surplus and its worker stops. Stale trials of killed
workers are failed by heartbeat and re-queued, so a restarted worker carries the study on to N.
"""

from __future__ import annotations

import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.study import MaxTrialsCallback
from optuna.trial import TrialState

from kabucast.progress import Counter
from kabucast.storage.base import Store
from kabucast.sweeps.objective import Objective, TrialSettings
from kabucast.sweeps.report import write_trial
from kabucast.sweeps.space import ParamSpec, suggest_params
from kabucast.sweeps.storage import HeartbeatSettings, open_storage

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


@dataclass(frozen=True)
class PrunerSettings:
    """MedianPruner: no pruning during the first ``n_startup_trials`` trials nor before ``n_warmup_steps`` epochs."""

    n_startup_trials: int = 3
    n_warmup_steps: int = 1


@dataclass(frozen=True)
class OptunaSettings:
    """``config/sweep/*_optuna.yaml``: what a trial trains, the search space, pruning and heartbeats."""

    trial: TrialSettings
    space: dict[str, ParamSpec]
    pruner: PrunerSettings = field(default_factory=PrunerSettings)
    heartbeat: HeartbeatSettings = field(default_factory=HeartbeatSettings)
    poll_seconds: float = 2.0  # how often a trial waiting for a slot looks at the study again


@dataclass(frozen=True)
class SearchRequest:
    """One worker's job: the study, its storage URL, the total N trials and the epoch budget per trial."""

    study_name: str
    storage: str
    n_trials: int
    max_epochs: int


class SurplusTrial(Exception):
    """The study already has its N trials finished or under way: this one ends FAIL without training."""


class ReapedTrial(Exception):
    """Another worker failed this trial as stale while it ran (its heartbeat came late): Optuna will not
    take its result, and the retry callback has queued a copy with the same parameters."""


def trial_prefix(study_name: str, number: int) -> str:
    """Where a trial's files go in the store."""
    return f"sweeps/{study_name}/trials/{number}/"


def open_study(settings: OptunaSettings, request: SearchRequest) -> optuna.Study:
    """The shared study, created by whichever worker comes first (maximising validation RankIC)."""
    pruner = optuna.pruners.MedianPruner(settings.pruner.n_startup_trials, settings.pruner.n_warmup_steps)
    return optuna.create_study(
        study_name=request.study_name,
        storage=open_storage(request.storage, settings.heartbeat),
        direction="maximize",
        pruner=pruner,
        load_if_exists=True,
    )


def wait_for_slot(study: optuna.Study, number: int, n_trials: int, poll_seconds: float) -> bool:
    """True once trial ``number`` may run, False when the study has no room left (module docstring)."""
    while True:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.fail_stale_trials(study)
        trials = study.get_trials(deepcopy=False)
        done = sum(t.state in FINISHED for t in trials)
        ahead = sum(t.state == TrialState.RUNNING and t.number < number for t in trials)
        if done >= n_trials:
            return False
        if done + ahead < n_trials:
            return True
        time.sleep(poll_seconds)


def run_worker(
    settings: OptunaSettings,
    request: SearchRequest,
    objective: Objective,
    store: Store,
    work_dir: Path,
    log: Callable[[str], None] | None = None,
) -> optuna.Study:
    """Run trials of the shared study until N have finished (by this worker or others).

    A trial that another worker fails as stale while this one still runs it (a heartbeat later than
    the grace period, e.g. on a starved machine) is given up, not recorded: its metrics are not
    written, the retry callback has queued a copy with the same parameters, and this worker goes on.
    """
    log = log or (lambda line: print(line, file=sys.stderr, flush=True))
    study = open_study(settings, request)
    current: list[int] = []  # the storage id of the trial this worker runs now
    ran: list[int] = []  # ... and of the last one whose objective returned (a reaped trial's did)

    def reaped(trial: optuna.Trial) -> bool:
        return study._storage.get_trial(trial._trial_id).state != TrialState.RUNNING

    def run_trial(trial: optuna.Trial) -> float:
        current[:] = [trial._trial_id]
        if not wait_for_slot(study, trial.number, request.n_trials, settings.poll_seconds):
            study.stop()
            trial.set_user_attr("surplus", True)
            raise SurplusTrial(f"trial {trial.number}: the study already has {request.n_trials} trials")
        params = suggest_params(trial, settings.space)

        def report(epoch: int, score: float) -> bool:
            trial.report(score, epoch)
            return trial.should_prune()

        outcome = objective.run(params, request.max_epochs, work_dir / str(trial.number), report)
        ran[:] = [trial._trial_id]
        if reaped(trial):
            raise ReapedTrial(f"trial {trial.number}")
        extra = {
            "study": request.study_name,
            "number": trial.number,
            "state": "PRUNED" if outcome.pruned else "COMPLETE",
        }
        write_trial(store, trial_prefix(request.study_name, trial.number), outcome, extra)
        if outcome.pruned:
            raise optuna.TrialPruned(f"pruned after {len(outcome.history['val_score'])} epochs")
        return outcome.score

    counter = Counter(f"optuna {request.study_name}", "trials", request.n_trials)
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # our line per trial replaces Optuna's INFO line
    try:
        while True:
            try:
                study.optimize(
                    run_trial,
                    callbacks=[MaxTrialsCallback(request.n_trials, states=FINISHED), TrialLines(counter)],
                    catch=(SurplusTrial,),
                    gc_after_trial=True,
                )
                break
            # Optuna cannot tell a trial that is already FAIL: it raises from its tell (ValueError, or an
            # AssertionError when the trial was reaped between our check and the tell)
            except (ReapedTrial, ValueError, AssertionError):
                trial = study._storage.get_trial(current[0]) if current else None
                reaped_here = trial is not None and ran == current and trial.state == TrialState.FAIL
                if not reaped_here or trial.user_attrs.get("surplus"):  # an objective's own error is not a reaping
                    raise
                log(
                    f"study {request.study_name}: trial {trial.number} was failed as stale by another worker "
                    f"while this one ran it (heartbeat later than {settings.heartbeat.grace_period} s); its "
                    "result is dropped, a copy with the same parameters is queued; carrying on"
                )
    finally:
        counter.close()
    return study


class TrialLines:
    """After each trial: how many of the study's N are finished (by every worker), and this trial's outcome."""

    def __init__(self, counter: Counter) -> None:
        self.counter = counter

    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        if trial.state == TrialState.FAIL and trial.user_attrs.get("surplus"):
            return
        finished = study.get_trials(deepcopy=False, states=FINISHED)
        self.counter.update(len(finished), trial_note(trial, finished))


def trial_note(trial: optuna.trial.FrozenTrial, finished: Sequence[optuna.trial.FrozenTrial]) -> str:
    """``trial 4 COMPLETE +0.0312 (best +0.0455, trial 2) lr=0.001 hidden=64`` for one progress line."""
    outcome = f"{trial.value:+.4f}" if trial.value is not None else ""
    complete = [t for t in finished if t.state == TrialState.COMPLETE and t.value is not None]
    best = max(complete, key=lambda t: t.value, default=None)  # the studies maximise (open_study)
    best_text = f"(best {best.value:+.4f}, trial {best.number})" if best is not None else ""
    params = " ".join(f"{k}={_short(v)}" for k, v in sorted(trial.params.items()))
    return " ".join(p for p in (f"trial {trial.number} {trial.state.name}", outcome, best_text, params) if p)


def _short(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def study_summary(study: optuna.Study) -> dict[str, Any]:
    """Counts per state, the trial numbers that finished, and the best trial."""
    trials = study.get_trials(deepcopy=False)
    states = {s.name: sum(t.state == s for t in trials) for s in TrialState}
    finished = sorted(t.number for t in trials if t.state in FINISHED)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    best = max(complete, key=lambda t: t.value or 0.0) if complete else None
    return {
        "study": study.study_name,
        "states": {k: v for k, v in states.items() if v},
        "finished": finished,
        "best": None if best is None else {"number": best.number, "value": best.value, "params": best.params},
    }


def launch_workers(worker_argv: Sequence[str], workers: int) -> list[int]:
    """Run ``kabucast <worker_argv>`` in ``workers`` processes on this machine; their exit codes."""
    procs = [subprocess.Popen([sys.executable, "-m", "kabucast.cli", *worker_argv]) for _ in range(workers)]
    return [p.wait() for p in procs]

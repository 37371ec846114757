"""Optuna storage that several workers share, with heartbeats so a killed worker's trial is retried.

- ``journal:///abs/path/study.log`` (or ``journal://relative.log``): Optuna's journal file storage
  (append-only, file-locked; on a shared file system such as EFS for cloud workers). Optuna 5's
  JournalStorage has no heartbeat, so :class:`HeartbeatJournalStorage` adds one: each running trial
  stores the time of its last beat as a system attribute.
- any SQLAlchemy URL (``sqlite:///study.db``, ``postgresql://...``): Optuna's RDBStorage, which has
  heartbeats of its own.

Either way a RUNNING trial whose heartbeat is older than ``grace_period`` seconds is failed the next
time a worker starts a trial, and RetryHeartbeatStaleTrialCallback queues a copy of it with the same
parameters, so a crashed study continues to its N trials.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import optuna
from optuna.storages import JournalStorage, RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.storages._heartbeat import BaseHeartbeat  # the documented base of heartbeat-capable storages
from optuna.storages.journal import JournalFileBackend
from optuna.trial import FrozenTrial, TrialState

from kabucast.errors import ConfigError

HEARTBEAT_ATTR = "kabucast:heartbeat"
JOURNAL = "journal://"

StaleCallback = Callable[[optuna.Study, FrozenTrial], None]


@dataclass(frozen=True)
class HeartbeatSettings:
    """How often a running trial beats and how long silence is tolerated (seconds)."""

    interval: int = 30
    grace_period: int = 120
    max_retry: int = 2  # times a crashed trial is re-queued

    def __post_init__(self) -> None:
        if not 0 < self.interval < self.grace_period:
            raise ConfigError(f"heartbeat needs 0 < interval < grace_period, got {self.interval}, {self.grace_period}")


class HeartbeatJournalStorage(JournalStorage, BaseHeartbeat):
    """JournalStorage with heartbeats kept as a trial system attribute (time.time() of the last beat)."""

    def __init__(self, path: str, heartbeat: HeartbeatSettings, on_stale: StaleCallback | None) -> None:
        super().__init__(JournalFileBackend(path))
        self._heartbeat = heartbeat
        self._on_stale = on_stale

    def record_heartbeat(self, trial_id: int) -> None:
        self.set_trial_system_attr(trial_id, HEARTBEAT_ATTR, time.time())

    def _get_stale_trial_ids(self, study_id: int) -> list[int]:
        cutoff = time.time() - self._heartbeat.grace_period
        running = self.get_all_trials(study_id, deepcopy=False, states=(TrialState.RUNNING,))
        return [t._trial_id for t in running if _last_beat(t) < cutoff]

    def get_heartbeat_interval(self) -> int | None:
        return self._heartbeat.interval

    def get_heartbeat_stale_trial_callback(self) -> StaleCallback | None:
        return self._on_stale


def open_storage(url: str, heartbeat: HeartbeatSettings) -> optuna.storages.BaseStorage:
    """The shared storage named by ``url`` (module docstring), retrying stale trials up to ``max_retry`` times."""
    with warnings.catch_warnings():  # experimental in Optuna 5; its predecessor RetryFailedTrialCallback is deprecated
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        retry = RetryHeartbeatStaleTrialCallback(max_retry=heartbeat.max_retry)
    if url.startswith(JOURNAL):
        path = url.removeprefix(JOURNAL)
        if not path:
            raise ConfigError(f"storage {url!r}: give a file, e.g. journal:///tmp/study.log")
        return HeartbeatJournalStorage(path, heartbeat, retry)
    if "://" not in url:
        raise ConfigError(f"storage {url!r}: use journal:///path/file.log or an RDB URL such as sqlite:///study.db")
    return RDBStorage(
        url,
        heartbeat_interval=heartbeat.interval,
        grace_period=heartbeat.grace_period,
        heartbeat_stale_trial_callback=retry,
    )


def _last_beat(trial: FrozenTrial) -> float:
    """The trial's last heartbeat (its start when it died before the first one), in seconds since the epoch."""
    start = trial.datetime_start.timestamp() if trial.datetime_start else 0.0
    return float(trial.system_attrs.get(HEARTBEAT_ATTR, start))

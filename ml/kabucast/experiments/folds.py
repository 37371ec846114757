"""The layout of a walk-forward evaluation: purged time folds and an untouched holdout, as sample indices.

The stored samples (kabucast.forecast.dataset, one per ticker and as-of session with all 12 labels
known) are laid out by as-of date, oldest first::

    | fold 1 train | purge | test 1 | test 2 | ... | test K | purge | holdout |
    | fold 2 train (expanding: from the start) | purge | test 2 |

- the **holdout** is the last ``holdout_fraction`` of the dates. No fold trains or tests on it, and
  every fold's test ends ``purge_sessions`` before it, so no test label reaches into it either. It is
  scored once, at the end, by the last fold's model or by a refit on every date up to the purge.
- fold k tests on ``test_sessions`` dates; it trains on every date at least ``purge_sessions``
  sessions before its first test date (``expanding``), or on the ``train_sessions`` dates before that
  (``rolling``). With ``purge_sessions`` >= 252 (the longest label) no training label window overlaps
  a test day.

What each fold trains and scores is kabucast.experiments.walkforward's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kabucast.config import EvaluateSettings
from kabucast.errors import ConfigError
from kabucast.forecast.dataset import LONGEST_LABEL, NotEnoughData

HOLDOUT = "holdout"
PERIODS = ("folds", HOLDOUT)
"""The two periods a run is scored and reported over: its folds pooled, and the holdout."""


@dataclass(frozen=True)
class Fold:
    """One scored period: training sample indices, test sample indices, and whether it reuses the last model."""

    name: str
    train: np.ndarray
    test: np.ndarray
    reuse_model: bool = False


def check_layout(settings: EvaluateSettings) -> None:
    """Raise ConfigError for a walk-forward layout that cannot be honest or cannot be built."""
    problems = []
    if settings.purge_sessions < LONGEST_LABEL:
        problems.append(f"purge_sessions {settings.purge_sessions} is shorter than the longest label ({LONGEST_LABEL})")
    if settings.folds < 1:
        problems.append("folds must be >= 1")
    if not 0 < settings.holdout_fraction < 0.5:
        problems.append(f"holdout_fraction must be in (0, 0.5), got {settings.holdout_fraction}")
    if settings.window == "rolling" and not settings.train_sessions:
        problems.append("a rolling window needs train_sessions")
    if (settings.test_sessions is not None and settings.test_sessions < 1) or not 1 <= settings.report_month <= 12:
        problems.append("test_sessions must be >= 1 and report_month in 1..12")
    if problems:
        raise ConfigError(f"evaluate settings: {'; '.join(problems)}")


def plan_folds(date_pos: np.ndarray, settings: EvaluateSettings) -> list[Fold]:
    """The folds and the holdout over samples dated at session rows ``date_pos`` (S,), oldest first.

    Returns ``settings.folds`` folds then the holdout (its ``train`` is the refit's, or the last
    fold's with ``reuse_model``). Raises NotEnoughData when a fold would have nothing to train on.
    """
    check_layout(settings)
    rows = np.unique(date_pos)
    purge = settings.purge_sessions
    holdout_first = rows[-max(1, round(len(rows) * settings.holdout_fraction))]
    usable = rows[rows < holdout_first - purge]
    size = settings.test_sessions or _even_test_size(len(usable), settings)
    if size < 1 or size * settings.folds >= len(usable):
        raise NotEnoughData(_too_short(len(rows), len(usable), settings))
    starts = [usable[len(usable) - (settings.folds - k) * size] for k in range(settings.folds)]
    ends = [*starts[1:], usable[-1] + 1]  # exclusive
    folds = [
        Fold(f"fold-{k + 1}", _train_before(date_pos, start, settings), _between(date_pos, start, end))
        for k, (start, end) in enumerate(zip(starts, ends, strict=True))
    ]
    holdout = np.flatnonzero(date_pos >= holdout_first)
    if settings.holdout_model == "refit":
        folds.append(Fold(HOLDOUT, _train_before(date_pos, holdout_first, settings), holdout))
    else:
        folds.append(Fold(HOLDOUT, folds[-1].train, holdout, reuse_model=True))
    if any(len(f.train) == 0 for f in folds):
        raise NotEnoughData(_too_short(len(rows), len(usable), settings))
    return folds


def _even_test_size(n_usable: int, settings: EvaluateSettings) -> int:
    """Dates per test fold when not configured: the first training window gets the same share as a fold."""
    first_train = settings.train_sessions if settings.window == "rolling" else None
    if first_train:
        return (n_usable - settings.purge_sessions - first_train) // settings.folds
    return (n_usable - settings.purge_sessions) // (settings.folds + 1)


def _train_before(date_pos: np.ndarray, first_test_row: int, settings: EvaluateSettings) -> np.ndarray:
    """Samples dated purge_sessions or more before first_test_row (rolling: only the last train_sessions dates)."""
    end = first_test_row - settings.purge_sessions
    keep = date_pos < end
    if settings.window == "rolling" and settings.train_sessions:
        dates = np.unique(date_pos[keep])
        if len(dates):
            keep &= date_pos >= dates[-min(settings.train_sessions, len(dates))]
    return np.flatnonzero(keep)


def _between(date_pos: np.ndarray, first: int, end: int) -> np.ndarray:
    return np.flatnonzero((date_pos >= first) & (date_pos < end))


def _too_short(n_dates: int, n_usable: int, settings: EvaluateSettings) -> str:
    return (
        f"{n_dates} labelled dates: after the holdout ({settings.holdout_fraction:.0%}) and its purge "
        f"({settings.purge_sessions} sessions) {max(n_usable, 0)} are left, too few for {settings.folds} folds "
        "each with a purge; backfill more history (`kabucast backfill --period 10y`) or use fewer folds"
    )

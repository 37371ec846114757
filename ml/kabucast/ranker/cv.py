"""Cross-validation folds over consecutive sessions: purged k-fold with an embargo, walk-forward, a held-out tail.

Positions count sessions: position p is the p-th of ``n_dates`` consecutive usable sessions (the caller
maps positions to date rows). The sample of session t is scored at the close of t and its label (the
longest target, ``h_max`` sessions) covers the sessions [t + 1, t + h_max] (docs/RANKER.md, "Point in
time").

A test fold is the block of sessions [a, b]; its samples' labels reach session b + h_max, so the fold's
information spans [a, b + h_max]. A training session t is **purged** when its label window [t + 1, t + h_max]
touches that span, or its own session falls in it; that keeps t only when

    t + h_max < a              (its label ends before the first test session), or
    t >= b + h_max + embargo   (after the test labels' last session, plus ``embargo`` more sessions).

The **embargo** (Lopez de Prado, *Advances in Financial Machine Learning*, 7.4) drops the sessions just
after the test span as well: their features (trailing windows) are built from the test period's prices,
and serially correlated signals would leak the test labels back into training.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np


@dataclass(frozen=True)
class CVSettings:
    """How the development period is split (``cv:`` in config/ranker/model.yaml).

    ``kind``: ``purged_kfold`` (k contiguous test blocks, training on both sides) or ``walk_forward``
    (k expanding-window folds, each testing the block after its training data). ``embargo_days`` in
    sessions. ``holdout_fraction``: the last share of sessions, never seen by training or early
    stopping, on which the models are finally scored (purged and embargoed from the development period).
    ``max_folds`` > 0 trains only the first folds (quick runs and tests); 0 trains them all.
    """

    kind: Literal["purged_kfold", "walk_forward"] = "purged_kfold"
    n_splits: int = 5
    embargo_days: int = 5
    holdout_fraction: float = 0.2
    max_folds: int = 0


@dataclass(frozen=True, eq=False)
class Fold:
    """Training and test positions (sorted int64 arrays) of one fold."""

    train: np.ndarray
    test: np.ndarray


def purged_train(candidates: np.ndarray, test_start: int, test_end: int, h_max: int, embargo: int) -> np.ndarray:
    """The ``candidates`` positions that survive purging and embargo around the test block [test_start, test_end]."""
    keep = (candidates + h_max < test_start) | (candidates >= test_end + h_max + embargo)
    return candidates[keep]


def purged_kfold(n_dates: int, n_splits: int, h_max: int, embargo: int) -> list[Fold]:
    """``n_splits`` contiguous test blocks of (nearly) equal length; each trains on every purged other session."""
    _check(n_dates, n_splits, h_max, embargo)
    positions = np.arange(n_dates, dtype=np.int64)
    folds = []
    for test in np.array_split(positions, n_splits):
        train = purged_train(positions, int(test[0]), int(test[-1]), h_max, embargo)
        folds.append(Fold(train, test))
    return folds


def walk_forward(n_dates: int, n_splits: int, h_max: int, embargo: int) -> list[Fold]:
    """``n_splits`` folds over ``n_splits + 1`` blocks: fold k trains on blocks 0..k (purged), tests on block k + 1."""
    _check(n_dates, n_splits + 1, h_max, embargo)
    positions = np.arange(n_dates, dtype=np.int64)
    blocks = np.array_split(positions, n_splits + 1)
    folds = []
    for k in range(1, n_splits + 1):
        test = blocks[k]
        train = purged_train(positions[: test[0]], int(test[0]), int(test[-1]), h_max, embargo)
        folds.append(Fold(train, test))
    return folds


def make_folds(n_dates: int, settings: CVSettings, h_max: int) -> list[Fold]:
    """The folds ``settings`` asks for over ``n_dates`` development sessions; each fold has training sessions."""
    split = purged_kfold if settings.kind == "purged_kfold" else walk_forward
    folds = split(n_dates, settings.n_splits, h_max, settings.embargo_days)
    folds = folds[: settings.max_folds or None]
    if any(len(f.train) == 0 for f in folds):
        raise ValueError(
            f"{n_dates} sessions are too few for {settings.n_splits} {settings.kind} folds with a {h_max}-session "
            f"label and a {settings.embargo_days}-session embargo: use fewer splits or more history"
        )
    return folds


def holdout_split(n_dates: int, fraction: float, h_max: int, embargo: int) -> tuple[np.ndarray, np.ndarray]:
    """(development, held-out) positions: the last ``fraction`` of sessions held out, the development purged.

    The last development session is ``h_max + embargo + 1`` sessions before the first held-out one: no
    development label reaches into the held-out period, and ``embargo`` more sessions separate them.
    """
    if not 0 < fraction < 1:
        raise ValueError(f"holdout_fraction must lie in (0, 1), got {fraction}")
    positions = np.arange(n_dates, dtype=np.int64)
    start = n_dates - max(1, round(n_dates * fraction))
    return positions[: max(0, start - h_max - embargo)], positions[start:]


def _check(n_dates: int, n_blocks: int, h_max: int, embargo: int) -> None:
    if n_blocks < 2 or n_dates < n_blocks:
        raise ValueError(f"cannot cut {n_dates} sessions into {n_blocks} blocks (at least 2, at most one per session)")
    if h_max < 1 or embargo < 0:
        raise ValueError(f"h_max must be >= 1 and embargo >= 0, got {h_max} and {embargo}")

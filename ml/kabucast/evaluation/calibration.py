"""Calibration of quantile forecasts, per horizon: interval coverage and the pinball loss against a baseline.

Arrays: ``quantiles`` (N, H, Q) ascending at ``levels`` (Q,), ``target`` (N, H) realised values (NaN
where unknown, left out). The unconditional baseline forecasts every sample with the same quantiles
per horizon, the training targets' empirical ones (:func:`unconditional_quantiles`): a model whose
pinball loss is not below it has learnt nothing about the spread or the location of the outcomes.
Pure numpy.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def pinball(quantiles: np.ndarray, target: np.ndarray, levels: Sequence[float]) -> np.ndarray:
    """(H,) mean pinball loss per horizon over the samples with a target and the ``levels``."""
    tau = np.asarray(levels, dtype=np.float64)
    diff = np.asarray(target, dtype=np.float64)[..., None] - np.asarray(quantiles, dtype=np.float64)  # (N, H, Q)
    loss = np.maximum(tau * diff, (tau - 1.0) * diff).mean(axis=-1)  # (N, H)
    return _nanmean(loss)


def coverage(low: np.ndarray, high: np.ndarray, target: np.ndarray) -> np.ndarray:
    """(H,) share of the samples with a target whose value lies in [low, high] (each (N, H))."""
    target = np.asarray(target, dtype=np.float64)
    inside = np.where(np.isfinite(target), (target >= low) & (target <= high), np.nan)
    return _nanmean(inside)


def unconditional_quantiles(train_target: np.ndarray, levels: Sequence[float]) -> np.ndarray:
    """(H, Q) empirical quantiles per horizon of the training targets (N, H): the baseline's forecast."""
    return np.nanquantile(np.asarray(train_target, dtype=np.float64), list(levels), axis=0).T


def baseline_pinball(train_target: np.ndarray, target: np.ndarray, levels: Sequence[float]) -> np.ndarray:
    """(H,) pinball loss of :func:`unconditional_quantiles` of ``train_target`` on ``target``."""
    fixed = unconditional_quantiles(train_target, levels)  # (H, Q)
    return pinball(np.broadcast_to(fixed, (len(target), *fixed.shape)), target, levels)


def _nanmean(values: np.ndarray) -> np.ndarray:
    finite = np.isfinite(values)
    count = finite.sum(axis=0)
    total = np.where(finite, values, 0.0).sum(axis=0)
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)

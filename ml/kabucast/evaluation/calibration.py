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


def daily_coverage(low: np.ndarray, high: np.ndarray, target: np.ndarray, dates: np.ndarray) -> np.ndarray:
    """(D, H) per date (sorted) the share of its samples with a target inside [low, high]: the series a
    coverage's error bar comes from (a date's outcomes share one market move, so dates, not samples,
    are the units; NaN where a date has no known outcome)."""
    codes, uniques = np.unique(np.asarray(dates), return_inverse=True)
    target = np.asarray(target, dtype=np.float64)
    known = np.isfinite(target)
    inside = known & (target >= low) & (target <= high)
    out = np.full((len(codes), target.shape[1]), np.nan)
    for h in range(target.shape[1]):
        count = np.bincount(uniques, known[:, h], len(codes))
        out[:, h] = np.where(count > 0, np.bincount(uniques, inside[:, h], len(codes)) / np.maximum(count, 1), np.nan)
    return out


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


# --- conformal rescaling -------------------------------------------------------------------------


def median_index(levels: Sequence[float]) -> int:
    """Position of the 0.5 level in ``levels``: the median the intervals are rescaled around."""
    levels = [float(x) for x in levels]
    if 0.5 not in levels:
        raise ValueError(f"quantile levels {levels} have no 0.5: the intervals are calibrated around the median")
    return levels.index(0.5)


def conformal_scale(quantiles: np.ndarray, target: np.ndarray, levels: Sequence[float]) -> np.ndarray:
    """(H, Q) factors that stretch each quantile's distance from the median so that, on these samples
    (a held-out calibration block), the share of outcomes below the quantile is its level.

    Level tau below the median: ``q' = m - k (m - q)`` with k the (1 - tau) empirical quantile of
    ``(m - y) / (m - q)``; above it: ``q' = m + k (q - m)`` with k the tau quantile of
    ``(y - m) / (q - m)`` (the side of the outcome is what the score measures, so the tails are
    calibrated one by one). The median's factor is 1: the rescaling widens or narrows, it never moves
    the centre. Order statistics are taken on the wide side (``method="higher"``) and nudged out by
    1e-6 (relative) so the outcome on the boundary stays inside after rounding; k >= 0. Horizons
    whose samples have no target keep 1.
    """
    q = np.asarray(quantiles, dtype=np.float64)  # (N, H, Q)
    y = np.asarray(target, dtype=np.float64)  # (N, H)
    c = median_index(levels)
    median = q[..., c]
    scale = np.ones(q.shape[1:], dtype=np.float64)
    for j, tau in enumerate(levels):
        if j == c:
            continue
        distance = np.abs(q[..., j] - median)  # > 0: the head's steps are softplus
        outward = (median - y) if j < c else (y - median)
        score = np.where(distance > 0, outward / np.maximum(distance, 1e-12), np.nan)
        level = 1.0 - tau if j < c else tau
        for h in range(q.shape[1]):
            s = score[:, h][np.isfinite(score[:, h])]
            if len(s):
                scale[h, j] = max(float(np.quantile(s, level, method="higher")) * (1 + 1e-6) + 1e-12, 0.0)
    return scale


def rescale_quantiles(quantiles: np.ndarray, scale: np.ndarray, levels: Sequence[float]) -> np.ndarray:
    """(N, H, Q) quantiles stretched around the median by (H, Q) ``scale``, kept ascending outward from
    the median (a level whose factor pulls it inside its inner neighbour takes the neighbour's value).
    The numpy twin of :class:`kabucast.forecast.model.QuantileCalibration`."""
    q = np.asarray(quantiles, dtype=np.float64)
    c = median_index(levels)
    median = q[..., c : c + 1]
    out = median + np.asarray(scale, dtype=np.float64) * (q - median)
    for j in range(c + 1, q.shape[-1]):
        out[..., j] = np.maximum(out[..., j], out[..., j - 1])
    for j in range(c - 1, -1, -1):
        out[..., j] = np.minimum(out[..., j], out[..., j + 1])
    return out


def calibration_record(
    raw: np.ndarray, target: np.ndarray, levels: Sequence[float], scale: np.ndarray
) -> dict[str, object]:
    """What model.json keeps of a calibration: the factors, and the outermost interval's coverage per
    horizon on the calibration block before (raw) and after (calibrated) them."""
    calibrated = rescale_quantiles(raw, scale, levels)
    finite = np.isfinite(np.asarray(target, dtype=np.float64)).any(axis=1)
    return {
        "method": "conformal rescaling around the median (kabucast.evaluation.calibration.conformal_scale)",
        "levels": [float(x) for x in levels],
        "scale": np.round(scale, 6).tolist(),
        "n_samples": int(finite.sum()),
        "interval": [float(levels[0]), float(levels[-1])],
        "coverage_raw": np.round(coverage(raw[..., 0], raw[..., -1], target), 4).tolist(),
        "coverage_calibrated": np.round(coverage(calibrated[..., 0], calibrated[..., -1], target), 4).tolist(),
    }

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
    """Position of the 0.5 level in ``levels``, which must be symmetric around it (0.1, 0.5, 0.9): the
    median the central intervals are rescaled around."""
    problem = symmetry_problem(levels)
    if problem:
        raise ValueError(problem)
    return [float(x) for x in levels].index(0.5)


def symmetry_problem(levels: Sequence[float]) -> str | None:
    """Why ``levels`` cannot form central intervals around a median (None when they can)."""
    values = [float(x) for x in levels]
    if 0.5 not in values or any(abs(a + b - 1.0) > 1e-9 for a, b in zip(values, reversed(values), strict=True)):
        return f"quantile levels {values} must include 0.5 and pair up around it (0.1 with 0.9, ...)"
    return None


def conformal_scale(quantiles: np.ndarray, target: np.ndarray, levels: Sequence[float]) -> np.ndarray:
    """(H, Q) factors that stretch each central interval around the median so that, on these samples (a
    held-out calibration block), it holds its nominal share of the outcomes, all horizons together.

    For the interval of levels ``tau`` and ``1 - tau`` (quantiles ``lo <= m <= hi``), an outcome's
    score is how far out it lies in units of the interval's own half-widths,
    ``max((m - y) / (m - lo), (y - m) / (hi - m))``: it is inside the interval stretched by k when its
    score is <= k. k is the ``1 - 2 tau`` empirical quantile of the scores (CQR's rule on a ratio scale:
    Romano et al. 2019), both sides by the same factor and the median's factor 1, so the rescaling
    widens or narrows, never moves or tilts the interval. Why both sides and every horizon at once: a
    block's outcomes share their dates' market moves, so a side-by-side or horizon-by-horizon factor
    follows the one or two market moves a block of months holds at long horizons (on the planted
    market it over-corrected into 63-66 % coverage on new days); the scores of all horizons estimate the
    head's overconfidence, which is what calibration can fix. Order statistic on the wide side
    (``method="higher"``), nudged out by 1e-6 (relative) so the outcome on the boundary stays inside
    after rounding; k >= 0. Without a single known outcome every factor is 1.
    """
    q = np.asarray(quantiles, dtype=np.float64)  # (N, H, Q)
    y = np.asarray(target, dtype=np.float64)  # (N, H)
    c = median_index(levels)
    median = q[..., c]
    scale = np.ones(q.shape[1:], dtype=np.float64)
    for j in range(c):
        upper = q.shape[-1] - 1 - j
        below = (median - y) / np.maximum(median - q[..., j], 1e-12)
        above = (y - median) / np.maximum(q[..., upper] - median, 1e-12)
        score = np.maximum(below, above)
        score = score[np.isfinite(score)]
        if len(score):
            nominal = float(levels[upper]) - float(levels[j])
            k = float(np.quantile(score, nominal, method="higher")) * (1 + 1e-6) + 1e-12
            scale[:, j] = scale[:, upper] = max(k, 0.0)
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
        "method": "conformal: one factor per central interval, both sides and all horizons "
        "(kabucast.evaluation.calibration.conformal_scale)",
        "levels": [float(x) for x in levels],
        "scale": np.round(scale, 6).tolist(),
        "n_samples": int(finite.sum()),
        "interval": [float(levels[0]), float(levels[-1])],
        "coverage_raw": np.round(coverage(raw[..., 0], raw[..., -1], target), 4).tolist(),
        "coverage_calibrated": np.round(coverage(calibrated[..., 0], calibrated[..., -1], target), 4).tolist(),
    }


ADAPTIVE_GAMMA = 0.01
"""Step of the adaptive factor's log per matured date: a 10-point coverage miss moves it by 0.1 %. Chosen on the
walk-forward folds of real Tokyo prices (momentum's bands; docs/FORECASTER.md): 0.05 lifted the folds' coverage
most but its bands overshot after crashes (pinball up to 5.3x the unconditional quantiles' at month 10), 0.01
kept the pinball ratio within 0.03 of the static bands' at months 1-5."""


def adaptive_update(
    log_scale: np.ndarray,
    issued: np.ndarray,
    outcome: np.ndarray,
    horizon: int,
    levels: Sequence[float],
    gamma: float = ADAPTIVE_GAMMA,
) -> np.ndarray:
    """(H, Q) log stretch factors after one date's month-``horizon`` outcomes have matured (adaptive conformal
    inference, Gibbs and Candès 2021): the step walk-forward simulates and the daily job takes in production.

    ``issued`` (N, Q) are the quantiles as issued that date (already stretched by the factors then in force),
    ``outcome`` (N,) the realised values on the same scale (log returns; NaN: not known, not counted) and
    ``horizon`` the row of ``log_scale`` (0-based). For each central interval (levels ``tau`` and
    ``1 - tau``), ``log f += gamma * (miss - (1 - nominal))`` on both its sides, ``miss`` the share of the
    known outcomes outside it: too many misses widen the band, too few narrow it. The median's factor and
    every other horizon stay as they are; without a known outcome nothing moves. Returns a new array.
    """
    out = np.array(log_scale, dtype=np.float64)
    q = np.asarray(issued, dtype=np.float64)
    y = np.asarray(outcome, dtype=np.float64)
    known = np.isfinite(y)
    if not known.any():
        return out
    for j in range(median_index(levels)):
        upper = q.shape[-1] - 1 - j
        inside = (q[:, j] <= y) & (y <= q[:, upper])
        miss = 1.0 - inside[known].mean()
        step = gamma * (miss - (1.0 - (float(levels[upper]) - float(levels[j]))))
        out[horizon, j] += step
        out[horizon, upper] += step
    return out


def adaptive_quantiles(
    quantiles: np.ndarray,
    target: np.ndarray,
    date_pos: np.ndarray,
    levels: Sequence[float],
    sessions_per_month: int,
    gamma: float = ADAPTIVE_GAMMA,
) -> tuple[np.ndarray, np.ndarray]:
    """Quantiles whose central intervals adapt as outcomes mature (adaptive conformal inference, Gibbs and
    Candès 2021, on the log of a stretch factor): ``(N, H, Q)`` quantiles as issued, and the ``(D, H, Q)``
    factors in force on each of the D dates (sorted ``date_pos``, sessions).

    Date by date in time order, each interval of month h is issued stretched around the median by its
    factor (:func:`rescale_quantiles`); then every date whose month-h outcomes have just become known
    (``sessions_per_month * h`` sessions earlier) updates it (:func:`adaptive_update`). Too many misses widen
    the band, too few narrow it, so coverage returns to nominal after a change of regime, with the lag the
    labels impose. Factors start at 1 (the static calibration's intervals); a NaN outcome is not counted.
    """
    q = np.asarray(quantiles, dtype=np.float64)
    y = np.asarray(target, dtype=np.float64)
    rows, codes = np.unique(np.asarray(date_pos), return_inverse=True)
    log_scale = np.zeros(q.shape[1:])
    factors = np.ones((len(rows), *q.shape[1:]))
    out = np.empty_like(q)
    by_date = [np.flatnonzero(codes == d) for d in range(len(rows))]
    lag = sessions_per_month * np.arange(1, q.shape[1] + 1)
    for d, idx in enumerate(by_date):
        factors[d] = np.exp(log_scale)
        out[idx] = rescale_quantiles(q[idx], factors[d], levels)
        matured = np.searchsorted(rows, rows[d] - lag)  # per horizon: the date whose outcomes are known now
        for h, m in enumerate(matured):
            if m < len(rows) and rows[m] == rows[d] - lag[h]:
                log_scale = adaptive_update(log_scale, out[by_date[m], h], y[by_date[m], h], h, levels, gamma)
    return out, factors

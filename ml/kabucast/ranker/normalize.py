"""Cross-sectional normalisation of the ranker's arrays: the ONE place it happens.

Per date and per column, over the stocks with a finite value that date:

- ``zscore``: (x - mean) / std (ddof=0), clipped to +-``clip``; 0 where the cross-section is constant;
- ``rank``: the average rank mapped linearly onto [-0.5, 0.5] (ties share their rank; 0 for a lone stock).

NaN stays NaN (the loader fills it with 0, the cross-sectional centre, when it writes its arrays). The
result's ``normalization`` names the method, and :func:`normalize` refuses an array that already has
one: the APEX-Ranker seeds normalised twice without noticing (SEEDS_DIGEST.md, section 2).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from kabucast.evaluation.metrics import row_ranks
from kabucast.ranker.arrays import PanelArray
from kabucast.ranker.errors import AlreadyNormalized
from kabucast.ranker.settings import NormalizationSettings


def normalize(array: PanelArray, settings: NormalizationSettings) -> PanelArray:
    """``array`` normalised across tickers, per date and column; :class:`AlreadyNormalized` the second time."""
    if array.normalization is not None:
        raise AlreadyNormalized(
            f"these {len(array.names)} columns ({array.names[0]}, ...) are already {array.normalization}-normalised; "
            "normalise raw features exactly once (kabucast.ranker.normalize)"
        )
    values = np.empty(array.values.shape, dtype=np.float32)  # (T, N, K), one column at a time bounds memory
    for k in range(len(array.names)):
        column = array.values[:, :, k]
        if settings.method == "zscore":
            values[:, :, k] = cross_sectional_zscore(column, settings.clip)
        else:
            values[:, :, k] = cross_sectional_rank(column)
    return dataclasses.replace(array, values=values, normalization=settings.method)


def cross_sectional_zscore(values: np.ndarray, clip: float) -> np.ndarray:
    """(T, N) z-scores across each row of ``values`` (T, N), clipped to +-``clip``; NaN kept."""
    x = values.astype(np.float64)
    valid = np.isfinite(x)
    count = valid.sum(axis=1, keepdims=True)  # (T, 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(valid, x, 0.0).sum(axis=1, keepdims=True) / count
        centred = np.where(valid, x - mean, 0.0)
        std = np.sqrt((centred**2).sum(axis=1, keepdims=True) / count)
        z = np.where(std > 0, centred / std, 0.0)
    return np.where(valid, np.clip(z, -clip, clip), np.nan)


def cross_sectional_rank(values: np.ndarray) -> np.ndarray:
    """(T, N) average ranks across each row of ``values`` (T, N) mapped onto [-0.5, 0.5]; NaN kept."""
    ranks = row_ranks(values.astype(np.float64))
    n = np.isfinite(ranks).sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 1, (ranks - 1) / (n - 1) - 0.5, 0.0 * ranks)

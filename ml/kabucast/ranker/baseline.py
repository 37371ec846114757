"""The LightGBM baseline: the neural ranker must beat it (and a random ranking) on the same features and folds.

One LightGBM regression (``objective=regression``, native API) per horizon, on the features of date t
(the last row of the neural model's window, cross-sectionally z-scored, NaN as 0: the loader's arrays),
fitted to the target's cross-sectional rank mapped onto [-0.5, 0.5] (normalize.cross_sectional_rank).
Regression on ranks rather than ``LGBMRanker`` (lambdarank): lambdarank needs integer relevance grades
(the returns would be
binned into a few levels) and its NDCG gain focuses on the top of each list, whereas the metrics here
(RankIC, spread, JPX score) weigh both ends of the cross-section; a rank target also makes the model
deaf to the return outliers that dominate a squared error on raw returns, and it fits in one pass over
all dates with no per-date groups.

:func:`permutation_importance` measures what each feature is worth to a fitted model: shuffle that
feature across stocks within each date (the cross-section's distribution is kept, its link to the
stock is broken) and record how much the mean RankIC falls.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from kabucast.compute import default_threads
from kabucast.ranker.metrics import mean_rank_ic
from kabucast.ranker.normalize import cross_sectional_rank


@dataclass(frozen=True)
class BaselineSettings:
    """LightGBM's parameters (``baseline:`` in config/ranker/model.yaml); ``enabled`` runs it beside ``train``."""

    enabled: bool = True
    n_estimators: int = 300
    learning_rate: float = 0.05
    num_leaves: int = 31
    min_child_samples: int = 200
    subsample: float = 0.8
    colsample_bytree: float = 0.8
    n_jobs: int | None = None
    """LightGBM's threads; None: kabucast.compute's policy (half the cores). On 2 cores beside a busy
    process, 2 threads boosted 10x slower than 1 (14 vs 144 rounds/s: OpenMP threads spin-waiting for
    each other; bench/bench_threads.py lightgbm)."""
    seed: int = 0
    importance_horizon: int = 5  # permutation importance is measured on this horizon's RankIC


def tabular(features: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows (M, F) of ``features`` (D, N, F) and their rank targets (M,) where ``target`` (D, N) is known."""
    ranked = cross_sectional_rank(target)  # (D, N), NaN kept
    known = np.isfinite(ranked)
    return features[known], ranked[known].astype(np.float32)


def fit_baseline(features: np.ndarray, targets: np.ndarray, settings: BaselineSettings) -> list[Any]:
    """One fitted LightGBM ``Booster`` per horizon, from ``features`` (D, N, F) and ``targets`` (D, N, H)."""
    import lightgbm

    params = {
        "objective": "regression",
        "learning_rate": settings.learning_rate,
        "num_leaves": settings.num_leaves,
        "min_data_in_leaf": settings.min_child_samples,
        "bagging_fraction": settings.subsample,
        "bagging_freq": 1,
        "feature_fraction": settings.colsample_bytree,
        "num_threads": settings.n_jobs or default_threads(),
        "seed": settings.seed,
        "deterministic": True,
        "force_row_wise": True,
        "verbose": -1,
    }
    models = []
    for j in range(targets.shape[2]):
        x, y = tabular(features, targets[:, :, j])
        models.append(lightgbm.train(params, lightgbm.Dataset(x, y), num_boost_round=settings.n_estimators))
    return models


def predict_baseline(models: Sequence[Any], features: np.ndarray) -> np.ndarray:
    """(D, N, H) scores of ``features`` (D, N, F), one fitted model per horizon."""
    d, n, f = features.shape
    flat = features.reshape(d * n, f)
    return np.stack([m.predict(flat).reshape(d, n) for m in models], axis=2).astype(np.float32)


def permutation_importance(
    predict: Callable[[np.ndarray], np.ndarray],
    features: np.ndarray,
    target: np.ndarray,
    names: Sequence[str],
    seed: int = 0,
) -> pd.DataFrame:
    """Mean RankIC drop when each feature is shuffled across stocks within each date, most important first.

    ``predict`` maps features (D, N, F) to scores (D, N); ``target`` (D, N) is the realised return.
    Columns: ``rankic`` (with the feature shuffled) and ``drop`` (the unshuffled RankIC minus it).
    """
    rng = np.random.default_rng(seed)
    base = mean_rank_ic(predict(features), target)
    rows = {}
    for k, name in enumerate(names):
        shuffled = features.copy()
        order = np.argsort(rng.random(features.shape[:2]), axis=1)  # (D, N) a permutation per date
        shuffled[:, :, k] = np.take_along_axis(features[:, :, k], order, axis=1)
        score = mean_rank_ic(predict(shuffled), target)
        rows[name] = {"rankic": score, "drop": base - score}
    table = pd.DataFrame.from_dict(rows, orient="index").rename_axis("feature")
    return table.sort_values("drop", ascending=False)

"""The ranker's run settings and records, apart from the code that trains (kabucast.ranker.train, .lit).

``RankerTrainSettings`` is ``config/ranker/model.yaml``; ``Splits`` and ``ModelRun`` are what a run
plans and produces; the helpers score and combine fold models. Both the training loop
(kabucast.ranker.neural) and the orchestration (kabucast.ranker.train) import from here, so neither
imports the other's settings: the modules form no cycle.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from kabucast.errors import ConfigError
from kabucast.evaluation.metrics import sharpe_ratio, top_bottom_spread
from kabucast.ranker.baseline import BaselineSettings
from kabucast.ranker.cv import CVSettings, Fold
from kabucast.ranker.loader import WindowArrays
from kabucast.ranker.losses import LossWeights
from kabucast.ranker.metrics import mean_rank_ic
from kabucast.ranker.model import PatchModelSettings
from kabucast.ranker.normalize import cross_sectional_zscore

MODELS = ("neural", "lightgbm")


@dataclass(frozen=True)
class FitSettings:
    """Optimiser and loop (``training:`` in config/ranker/model.yaml)."""

    lr: float = 1e-3
    weight_decay: float = 1e-2
    max_epochs: int = 20
    patience: int = 4  # validations without a better val_score before stopping
    seed: int = 0
    gradient_clip: float = 1.0  # max gradient norm; 0 disables clipping
    accumulate_dates: int = 1  # dates (cross-sections) per optimiser step
    num_workers: int = 0  # loader workers (kabucast.ranker.loader.make_loader); 0 loads in-process
    monitor_horizon: int = 5  # early stopping on the mean RankIC at this horizon


@dataclass(frozen=True)
class EvaluationSettings:
    """Held-out metrics: ``k`` of P@K and the top / bottom ``quantile`` of the spread.

    ``feature_rankings``: name prefixes of features whose plain ranking is scored beside the models
    (the first feature matching each prefix): P@K rewards ranking volatile names first, since they
    fill both ends of the realised ranking, so a model's P@K only means something beside them.
    ``risk_feature``: name prefix of the raw volatility feature (the first match) by which the
    **vol-neutral P@K** divides each realised return before taking the realised top K: volatile names
    no longer fill the top by their variance alone, so ranking by volatility scores about K / N there
    (None: not reported).
    """

    k: int = 100
    quantile: float = 0.1
    feature_rankings: tuple[str, ...] = ("vol_",)
    risk_feature: str | None = "vol_"


@dataclass(frozen=True)
class RankerTrainSettings:
    """The model side of the ranker (``config/ranker/model.yaml``); the data side is RankerDataSettings."""

    lookback: int = 64  # sessions per window, a multiple of model.patch_len
    model: PatchModelSettings = field(default_factory=PatchModelSettings)
    loss: LossWeights = field(default_factory=LossWeights)
    training: FitSettings = field(default_factory=FitSettings)
    cv: CVSettings = field(default_factory=CVSettings)
    evaluation: EvaluationSettings = field(default_factory=EvaluationSettings)
    baseline: BaselineSettings = field(default_factory=BaselineSettings)


@dataclass(frozen=True, eq=False)
class Splits:
    """``rows`` (D,): the consecutive usable date rows; development / held-out / fold sessions are positions into it."""

    rows: np.ndarray
    development: np.ndarray
    holdout: np.ndarray
    folds: list[Fold]


@dataclass(frozen=True, eq=False)
class ModelRun:
    """One model family's held-out scores (D, N, H), CV RankIC per fold and horizon, and stored artefacts."""

    name: str
    holdout_scores: np.ndarray
    cv_rankic: list[dict[int, float]]
    artifacts: list[str] = field(default_factory=list)
    importance: pd.DataFrame | None = None


@dataclass(frozen=True, eq=False)
class RankerRunResult:
    """Held-out metrics of every model: per day (long frame) and per horizon (summary), and the report keys."""

    daily: dict[str, pd.DataFrame]
    summary: dict[str, pd.DataFrame]
    runs: dict[str, ModelRun]
    keys: list[str]

    def line(self) -> str:
        """One line: held-out RankIC at 5 sessions (or the first horizon) and P@K vs random, per model."""
        parts = []
        for name, table in self.summary.items():
            h = 5 if 5 in table.index else table.index[0]
            row = table.loc[h]
            parts.append(
                f"{name}: RankIC@{h} {row['rankic_mean']:+.4f} "
                f"[{row['rankic_ci_low']:+.4f}, {row['rankic_ci_high']:+.4f}] (95 %, Newey-West), "
                f"P@K {row['p_at_k']:.3f} vs random {row['random_p_at_k']:.3f} "
                f"(vol-neutral {row['p_at_k_vol_neutral']:.3f}), JPX {row['jpx_score']:+.3f}"
            )
        return "; ".join(parts)


def horizon_list(arrays: WindowArrays) -> list[int]:
    """The horizons of the arrays' target columns ``fwd_<h>``, in order."""
    return [int(name.removeprefix("fwd_")) for name in arrays.target_names]


def fold_rankic(scores: np.ndarray, targets: np.ndarray, horizons: Sequence[int]) -> dict[int, float]:
    """Mean RankIC per horizon of (D, N, H) scores and targets."""
    return {h: mean_rank_ic(scores[:, :, j], targets[:, :, j]) for j, h in enumerate(horizons)}


def average_scores(scores: Sequence[np.ndarray]) -> np.ndarray:
    """(D, N, H) mean of the fold models' (D, N, H) scores, each z-scored per date and horizon first."""
    out = np.zeros(scores[0].shape, dtype=np.float64)
    for s in scores:
        for j in range(s.shape[2]):
            out[:, :, j] += cross_sectional_zscore(s[:, :, j], clip=np.inf)
    return out / len(scores)


TUNABLE: dict[str, type] = {"loss": LossWeights, "training": FitSettings, "model": PatchModelSettings}
"""The sections a sweep parameter may name a key of (the keys are distinct across them)."""


def with_params(settings: RankerTrainSettings, params: Mapping[str, Any]) -> RankerTrainSettings:
    """``settings`` with each parameter set in its section: a LossWeights, FitSettings or PatchModelSettings key."""
    sections: dict[str, dict[str, Any]] = {name: {} for name in TUNABLE}
    for key, value in params.items():
        owner = [name for name, cls in TUNABLE.items() if key in cls.__dataclass_fields__]
        if not owner:
            allowed = sorted(k for cls in TUNABLE.values() for k in cls.__dataclass_fields__)
            raise ConfigError(f"ranker sweep parameter '{key}' is not a loss, training or model key ({allowed})")
        sections[owner[0]][key] = value
    changed = {name: dataclasses.replace(getattr(settings, name), **v) for name, v in sections.items() if v}
    return dataclasses.replace(settings, **changed)


def trial_scores(
    scores: np.ndarray, targets: np.ndarray, horizons: Sequence[int], monitor_horizon: int, quantile: float
) -> dict[str, float]:
    """A sweep trial's scores of (D, N, H) ``scores`` against the realised (D, N, H) ``targets``.

    - ``rankic``: mean per-date RankIC at ``monitor_horizon`` (RankIC@5);
    - ``sharpe``: the daily long-short spread, long the top ``quantile`` of the ``monitor_horizon``
      scores and short the bottom one, held for one session (the first horizon's realised returns,
      ``fwd_1`` in the default data), annualised: mean / std (ddof 1) x sqrt(252), no costs;
    - ``pred_std``: mean over dates and horizons of the cross-sectional std of the scores;
    - ``rankic_mean``: mean RankIC over the horizons.
    """
    j = list(horizons).index(monitor_horizon)
    spread = top_bottom_spread(pd.DataFrame(scores[:, :, j]), pd.DataFrame(targets[:, :, 0]), quantile)
    rankics = [mean_rank_ic(scores[:, :, k], targets[:, :, k]) for k in range(len(horizons))]
    finite = [r for r in rankics if math.isfinite(r)]
    return {
        "rankic": rankics[j],
        "sharpe": sharpe_ratio(spread.dropna()),
        "pred_std": float(np.nanmean(np.nanstd(scores, axis=1))),
        "rankic_mean": float(np.mean(finite)) if finite else math.nan,
    }

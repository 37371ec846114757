"""The selection rule of `kabucast select` on per-date scores with a known truth: the best baseline, Holm's
correction (more candidates need stronger evidence), the baseline served when nothing wins, and never a
candidate that is worse."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from kabucast.config import SelectSettings
from kabucast.errors import ConfigError
from kabucast.evaluation.uncertainty import mean_estimate
from kabucast.experiments.select import Entry, decide, holm, one_sided_p

AS_OF = pd.Timestamp("2018-11-16")
N = 800  # test dates over the folds


def settings(n_candidates: int, alpha: float = 0.05) -> SelectSettings:
    return SelectSettings(
        env="local",
        evaluate="evaluate.yaml",
        candidates=tuple(f"c{k}.yaml" for k in range(n_candidates)),
        baselines=("momentum.yaml", "reversal.yaml"),
        alpha=alpha,
    )


def entry(recipe: str, role: str, scores: np.ndarray, holdout: np.ndarray | None = None) -> Entry:
    hold = scores[:200] if holdout is None else holdout
    return Entry(recipe, "ridge", role, {"folds": scores, "holdout": hold}, f"evaluate-{recipe}")


def market(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two baselines' per-date scores: reversal is better (mean 0.03 vs 0.01), noise 0.15 a date."""
    rng = np.random.default_rng(seed)
    common = rng.normal(0.0, 0.15, N)
    return 0.01 + common, 0.03 + common + rng.normal(0.0, 0.05, N)


def test_the_best_baseline_is_served_when_no_candidate_beats_it() -> None:
    momentum, reversal = market(0)
    rng = np.random.default_rng(1)
    same = reversal + rng.normal(0.0, 0.05, N)  # no better than reversal
    worse = reversal - 0.04 + rng.normal(0.0, 0.05, N)  # significantly worse
    picked = decide(
        settings(2),
        AS_OF,
        [
            entry("momentum.yaml", "baseline", momentum),
            entry("reversal.yaml", "baseline", reversal),
            entry("c0.yaml", "candidate", same),
            entry("c1.yaml", "candidate", worse),
        ],
    )
    assert picked.best_baseline == "reversal.yaml"
    assert picked.winner == "reversal.yaml" and "the baseline itself is served" in picked.reason
    assert not picked.tests["c0.yaml"]["passed"] and not picked.tests["c1.yaml"]["passed"]
    assert picked.tests["c1.yaml"]["difference"]["ci_high"] < 0  # the worse one is significantly worse ...
    assert picked.to_dict()["winner_role"] == "baseline"  # ... and never served


def test_a_candidate_with_evidence_wins_and_more_candidates_need_stronger_evidence() -> None:
    momentum, reversal = market(2)
    rng = np.random.default_rng(3)
    noise = rng.normal(0.0, 0.05, N)
    edge = reversal + 0.0045 + noise - noise.mean()  # a small true edge: t about 2.25
    diff = mean_estimate(edge - reversal, 0)
    p = one_sided_p(diff)
    assert 0.05 / 20 < p < 0.05  # passes alone, fails among 20 candidates
    alone = decide(
        settings(1),
        AS_OF,
        [entry("momentum.yaml", "baseline", momentum), entry("reversal.yaml", "baseline", reversal),
         entry("c0.yaml", "candidate", edge)],
    )  # fmt: skip
    assert alone.winner == "c0.yaml" and alone.tests["c0.yaml"]["passed"]
    assert "beats the best baseline reversal.yaml" in alone.reason
    # the same candidate among 19 others that have no edge: Holm's threshold for it is now alpha / 20
    crowd = [entry(f"c{k}.yaml", "candidate", reversal + rng.normal(0.0, 0.05, N)) for k in range(1, 20)]
    many = decide(
        settings(20),
        AS_OF,
        [entry("momentum.yaml", "baseline", momentum), entry("reversal.yaml", "baseline", reversal),
         entry("c0.yaml", "candidate", edge), *crowd],
    )  # fmt: skip
    assert not many.tests["c0.yaml"]["passed"]
    assert many.tests["c0.yaml"]["holm_threshold"] == pytest.approx(0.05 / 20)
    assert many.winner == "reversal.yaml"


def test_holm_is_step_down_and_stops_at_the_first_failure() -> None:
    out = holm({"a": 0.001, "b": 0.02, "c": 0.03, "d": 0.2}, alpha=0.05)
    assert out["a"] == (pytest.approx(0.0125), True)
    assert out["b"] == (pytest.approx(0.05 / 3), False)  # 0.02 > 0.0167: b fails ...
    assert out["c"][1] is False  # ... and every larger p with it, although 0.03 <= 0.05 / 2
    assert out["d"][1] is False
    assert one_sided_p(mean_estimate(np.zeros(10), 0)) == 1.0  # no error: never evidence
    assert math.isclose(one_sided_p(mean_estimate(np.array([1.0, 3.0] * 50), 0)), 0.0, abs_tol=1e-12)


def test_select_settings_are_checked() -> None:
    with pytest.raises(ConfigError, match="baselines must name at least one recipe"):
        SelectSettings(env="local", evaluate="e.yaml", candidates=("a.yaml",), baselines=())
    with pytest.raises(ConfigError, match=r"months must be in 1\.\.12"):
        SelectSettings(env="local", evaluate="e.yaml", candidates=("a.yaml",), months=(0, 1))
    with pytest.raises(ConfigError, match="listed twice"):
        SelectSettings(env="local", evaluate="e.yaml", candidates=("train_momentum.yaml",))

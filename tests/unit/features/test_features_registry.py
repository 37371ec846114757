"""The registry: counts, names, units, and docs/FEATURES.md kept equal to it."""

from __future__ import annotations

from pathlib import Path

import pytest

from kabucast.features.registry import (
    POSITION_FEATURES,
    STATIC_FEATURES,
    WEEKLY_FEATURES,
    FeatureSpec,
    feature_table,
)

DOC = Path(__file__).resolve().parents[3] / "docs" / "FEATURES.md"


def test_the_model_contract_counts() -> None:
    # GIVEN the registry WHEN counted THEN it is 23 weekly, 6 static, 2 position features, all distinct
    assert (len(WEEKLY_FEATURES), len(STATIC_FEATURES), len(POSITION_FEATURES)) == (23, 6, 2)
    names = [s.name for s in (*WEEKLY_FEATURES, *STATIC_FEATURES, *POSITION_FEATURES)]
    assert len(set(names)) == len(names)
    assert [s.name for s in POSITION_FEATURES] == ["day_of_week", "week_progress"]


@pytest.mark.parametrize("spec", WEEKLY_FEATURES, ids=lambda s: s.name)
def test_every_weekly_feature_is_described(spec: FeatureSpec) -> None:
    # GIVEN a weekly feature WHEN its entry is read THEN it has a formula, a unit and a lookback <= 53 weeks
    assert spec.formula and spec.unit
    assert 1 <= spec.lookback_weeks <= 53
    assert spec.neutral is not None


def test_static_features_have_a_neutral_value_and_position_features_need_none() -> None:
    # GIVEN the static and position entries WHEN read THEN only static ones carry a fill value
    assert all(s.neutral is not None and s.lookback_weeks == 0 for s in STATIC_FEATURES)
    assert all(s.neutral is None for s in POSITION_FEATURES)


@pytest.mark.parametrize("specs", [WEEKLY_FEATURES, STATIC_FEATURES, POSITION_FEATURES])
def test_the_docs_show_the_registry(specs: tuple[FeatureSpec, ...]) -> None:
    # GIVEN docs/FEATURES.md WHEN read THEN it contains the registry's own table, unchanged
    assert feature_table(specs) in DOC.read_text(encoding="utf-8")

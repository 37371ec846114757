"""Pure feature functions: daily prices, fundamentals and sectors in, float32 arrays out (no I/O).

docs/FEATURES.md lists every feature; kabucast.features.registry is its source of truth.
"""

from __future__ import annotations

from kabucast.features.build import FeatureSet, build_features, sector_ids
from kabucast.features.panel import PricePanel
from kabucast.features.position import position_features
from kabucast.features.registry import (
    POSITION_FEATURES,
    SEQ_WEEKS,
    STATIC_FEATURES,
    WEEKLY_FEATURES,
    FeatureSpec,
)
from kabucast.features.sequences import (
    WeeklyBatch,
    WeeklyFeatureHistory,
    weekly_feature_history,
    weekly_features_at,
    weekly_features_checked,
)
from kabucast.features.static import static_features

__all__ = [
    "POSITION_FEATURES",
    "SEQ_WEEKS",
    "STATIC_FEATURES",
    "WEEKLY_FEATURES",
    "FeatureSet",
    "FeatureSpec",
    "PricePanel",
    "WeeklyBatch",
    "WeeklyFeatureHistory",
    "build_features",
    "position_features",
    "sector_ids",
    "static_features",
    "weekly_feature_history",
    "weekly_features_at",
    "weekly_features_checked",
]

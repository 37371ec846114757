"""Assembly: every model input of a universe as of one date, from prices, fundamentals and sectors.

This is the one place the daily inference path gets features from; training uses the same pieces
for many dates (kabucast.features.sequences.weekly_feature_history with position_features).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from kabucast.config import SectorSettings
from kabucast.data.calendar import TradingCalendar
from kabucast.features.panel import PricePanel
from kabucast.features.position import position_features
from kabucast.features.registry import POSITION_FEATURES, SEQ_WEEKS, STATIC_FEATURES, weekly_specs
from kabucast.features.sequences import weekly_features_checked
from kabucast.features.slow import SlowInputs
from kabucast.features.static import static_features


@dataclass(frozen=True, eq=False)
class FeatureSet:
    """The model inputs of N tickers as of one JST date; row i of every array is ``tickers[i]``."""

    tickers: tuple[str, ...]  # (N,) tickers with features, in the requested order
    as_of: pd.Timestamp  # JST date (tz-naive midnight)
    weekly: np.ndarray  # (N, 156, 23 + G) float32; G: the columns of ``feature_groups``
    static: np.ndarray  # (N, 6) float32
    position: np.ndarray  # (N, 2) float32
    sector_id: np.ndarray  # (N,) int64 ids of config/sectors.yaml
    failures: dict[str, str]  # ticker -> why it has no features
    feature_groups: tuple[str, ...] = ()  # the slow-data groups appended to ``weekly`` (none by default)

    def __post_init__(self) -> None:
        n = len(self.tickers)
        expected = {
            "weekly": (n, SEQ_WEEKS, len(weekly_specs(self.feature_groups))),
            "static": (n, len(STATIC_FEATURES)),
            "position": (n, len(POSITION_FEATURES)),
            "sector_id": (n,),
        }
        for name, shape in expected.items():
            if getattr(self, name).shape != shape:
                raise ValueError(f"FeatureSet.{name} has shape {getattr(self, name).shape}, expected {shape}")


def build_features(
    panel: PricePanel,
    static_frame: pd.DataFrame,
    sectors_of: Mapping[str, str],
    sector_settings: SectorSettings,
    calendar: TradingCalendar,
    as_of: object,
    tickers: Sequence[str],
    slow: SlowInputs | None = None,
) -> FeatureSet:
    """Features of ``tickers`` as of ``as_of`` (JST date), from bars dated on or before it.

    ``static_frame`` is the fundamentals snapshot to use (index ticker, columns STATIC_INFO_KEYS);
    ``sectors_of`` maps ticker -> sector name; ``slow`` the slow-data groups to append (kabucast.features.slow,
    off by default). A ticker short of price history goes to ``failures``.
    """
    day = pd.Timestamp(as_of).normalize()  # type: ignore[arg-type]
    batch = weekly_features_checked(panel, day, tickers, slow)
    n = len(batch.tickers)
    return FeatureSet(
        tickers=batch.tickers,
        as_of=day,
        weekly=batch.features,
        static=static_features(static_frame, batch.tickers),
        position=np.repeat(position_features([day], calendar), n, axis=0),
        sector_id=sector_ids(batch.tickers, sectors_of, sector_settings),
        failures={t: str(error) for t, error in batch.failures.items()},
        feature_groups=slow.groups if slow else (),
    )


def sector_ids(tickers: Sequence[str], sectors_of: Mapping[str, str], settings: SectorSettings) -> np.ndarray:
    """(N,) int64 sector embedding ids; a ticker without a sector, or with an unknown one, gets ``unknown_id``."""
    return np.array([settings.id_of(sectors_of.get(t, "")) for t in tickers], dtype=np.int64)

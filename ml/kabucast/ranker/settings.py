"""Typed settings of the ranker's data layer (``config/ranker/features.yaml``).

Loaded with :func:`kabucast.config.load_settings`, so a missing, unknown or mistyped key is a
ConfigError naming the file and the dotted key. Windows and horizons count JPX sessions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from kabucast.config import StorageSettings

FEATURE_GROUPS: tuple[str, ...] = (
    "returns",
    "volatility",
    "liquidity",
    "volume",
    "beta",
    "peer_corr",
    "sector_relative",
)
"""Every feature group :mod:`kabucast.ranker.features` knows, in the order features are laid out."""


@dataclass(frozen=True)
class PlantSettings:
    """The planted cross-sectional signal of a synthetic panel (docs/RANKER.md, "The planted signal").

    A per-stock state q(t), an AR(1) with unit variance and a half-life of ``half_life`` sessions, adds
    ``return_per_sd`` (log return per session per unit of q) to the stock's expected return on the
    next session, and ``volume_loading`` x q(t) to its log volume on the same session, so volume
    features see today what returns show over the following days.
    """

    half_life: float = 10.0
    return_per_sd: float = 0.001
    volume_loading: float = 0.5


@dataclass(frozen=True)
class PanelSettings:
    """Where the (date, ticker) panel comes from and the name it is stored under (``ranker/panel/<name>/``).

    ``source``: ``sample[:SEED]`` (a synthetic universe of ``n_stocks`` with ``n_sectors`` sectors),
    ``file:PATH`` or ``yfinance`` (the tickers of ``universe``), or ``store`` (the per-ticker prices
    already in the store, ``data/prices/daily/<ticker>.parquet``, for the tickers of ``universe``).
    ``start`` and ``end`` are JST dates, both inclusive. ``plant`` applies to the sample market only.
    """

    name: str
    source: str
    start: str
    end: str
    n_stocks: int = 4000
    n_sectors: int = 11
    universe: str | None = None
    plant: PlantSettings | None = field(default_factory=PlantSettings)


@dataclass(frozen=True)
class FeatureSettings:
    """Which feature groups are built, and their windows in sessions (docs/RANKER.md lists every feature)."""

    groups: tuple[str, ...] = FEATURE_GROUPS
    return_windows: tuple[int, ...] = (1, 5, 10, 20, 60)
    vol_windows: tuple[int, ...] = (20, 60)
    volvol_window: int = 60
    amihud_windows: tuple[int, ...] = (20,)
    volume_windows: tuple[int, ...] = (1, 5, 20)
    volume_baseline: int = 60
    beta_window: int = 60
    corr_window: int = 60
    sector_relative: tuple[str, ...] = ("ret_5", "ret_20", "ret_60", "vol_yz_20", "volume_z_5", "amihud_20")


@dataclass(frozen=True)
class NormalizationSettings:
    """Cross-sectional normalisation, applied once (kabucast.ranker.normalize): per date, per feature."""

    method: Literal["zscore", "rank"] = "zscore"
    clip: float = 5.0


@dataclass(frozen=True)
class ValidationSettings:
    """Thresholds of ``kabucast ranker validate`` (docs/RANKER.md, "Validation").

    A group fails when the share of NULL (NaN) values over its features, after the warm-up, is above
    ``max_group_null_rate``. The lookahead probe flags a feature whose mean RankIC with a target
    (any horizon) starting at t is above ``leak_rankic`` in absolute value, or above ``leak_min_rankic``
    and more than ``leak_ratio`` times its RankIC with the same target one session later.
    ``probe_stride`` evaluates every k-th date (1: all).
    """

    max_group_null_rate: float = 0.30
    leak_rankic: float = 0.30
    leak_min_rankic: float = 0.10
    leak_ratio: float = 3.0
    probe_stride: int = 1


@dataclass(frozen=True)
class RankerDataSettings:
    """The ranker's data: panel, features, normalisation, target horizons and validation thresholds."""

    env: Literal["local", "s3"]
    panel: PanelSettings
    features: FeatureSettings = field(default_factory=FeatureSettings)
    normalization: NormalizationSettings = field(default_factory=NormalizationSettings)
    horizons: tuple[int, ...] = (1, 5, 10, 20)
    validation: ValidationSettings = field(default_factory=ValidationSettings)
    storage: StorageSettings = field(default_factory=StorageSettings)

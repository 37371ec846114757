"""The ranker's dataset from its settings: the stored (or freshly built) panel, raw features and targets."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from kabucast.config import RetrySettings, UniverseSettings
from kabucast.data.calendar import TradingCalendar
from kabucast.errors import ConfigError
from kabucast.ranker.arrays import PanelArray
from kabucast.ranker.features import build_features
from kabucast.ranker.panel import (
    RankerPanel,
    panel_from_source,
    panel_from_store,
    panel_prefix,
    read_panel,
    write_panel,
)
from kabucast.ranker.sample import sample_panel
from kabucast.ranker.settings import PanelSettings, RankerDataSettings
from kabucast.ranker.targets import build_targets
from kabucast.storage import Store

_BATCH = 50  # tickers per yfinance request


@dataclass(frozen=True, eq=False)
class RankerDataset:
    """A panel with its raw (un-normalised) features (T, N, F) and targets (T, N, H)."""

    panel: RankerPanel
    features: PanelArray
    targets: PanelArray


def build_dataset(panel: RankerPanel, settings: RankerDataSettings) -> RankerDataset:
    """Raw features and forward-return targets of ``panel`` as configured."""
    return RankerDataset(panel, build_features(panel, settings.features), build_targets(panel, settings.horizons))


def load_panel(store: Store, settings: PanelSettings, calendar: TradingCalendar, rebuild: bool = False) -> RankerPanel:
    """The stored panel ``ranker/panel/<name>/``, built from its source and stored first if absent or ``rebuild``."""
    if not rebuild and store.exists(f"{panel_prefix(settings.name)}meta.json"):
        return read_panel(store, settings.name)
    panel, origin = build_panel(store, settings, calendar)
    write_panel(store, settings.name, panel, origin)
    return panel


def build_panel(store: Store, settings: PanelSettings, calendar: TradingCalendar) -> tuple[RankerPanel, dict[str, Any]]:
    """The panel from ``settings.source`` and a record of how it was made (stored in ``meta.json``)."""
    kind, _, arg = settings.source.partition(":")
    origin: dict[str, Any] = {"source": settings.source, "start": settings.start, "end": settings.end}
    if kind == "sample":
        seed = _seed(arg, settings.source) if arg else 7
        plant = settings.plant
        sample = sample_panel(
            settings.n_stocks, settings.start, settings.end, seed, settings.n_sectors, plant, calendar
        )
        origin["synthetic"] = {
            "n_stocks": settings.n_stocks,
            "n_sectors": settings.n_sectors,
            "seed": seed,
            "plant": dataclasses.asdict(plant) if plant else None,
        }
        return sample.panel, origin
    universe = _universe(store, settings)
    sectors = {m.ticker: m.sector for m in universe.members}
    if kind == "store":
        return panel_from_store(store, sectors, settings.start, settings.end, calendar), origin
    from kabucast.data.sources.factory import make_source

    source = make_source(settings.source, universe, RetrySettings(), _BATCH)
    return panel_from_source(source, sectors, settings.start, settings.end, calendar), origin


def _universe(store: Store, settings: PanelSettings) -> UniverseSettings:
    """The configured universe, the store's synced copy when there is one (required by every source but the sample
    market)."""
    if not settings.universe:
        example = "e.g. universes/topix_core30.yaml"
        raise ConfigError(f"panel.universe is required with panel.source {settings.source!r} ({example})")
    from kabucast.config import load_universe
    from kabucast.data.stored_universe import stored_universe

    return stored_universe(store, load_universe(settings.universe))


def _seed(arg: str, spec: str) -> int:
    try:
        return int(arg)
    except ValueError:
        raise ConfigError(f"panel.source {spec!r}: the sample market's seed must be an integer") from None

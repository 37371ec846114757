"""The store's copy of a universe file: ``universe/<name>.yaml``, written by ``kabucast universe sync --write``
(kabucast.data.universe_sync) and read in place of the file shipped in the image by the jobs and by every command
that works against a store (:func:`stored_forecast_settings`; kabucast.forecast.dataset.forecast_data for training,
walk-forward and select).

The image's file (config/universes/*.yaml) is what a release knew; the store's copy is what the exchange's master
said at the last sync, so it wins when there is one. It must describe the same universe (its ``name`` and
``exchange``): a copy of another universe under that key is a :class:`~kabucast.errors.ConfigError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

import yaml

from kabucast.config import SectorSettings, forecast_settings
from kabucast.errors import ConfigError
from kabucast.settings_files import build_section
from kabucast.storage.base import Store
from kabucast.universe import UniverseSettings
from kabucast.universe_listing import universe_yaml

PREFIX = "universe/"
T = TypeVar("T")


def universe_key(name: str) -> str:
    """The store key of universe ``name``'s synced copy."""
    return f"{PREFIX}{name}.yaml"


def stored_universe(store: Store, shipped: UniverseSettings) -> UniverseSettings:
    """The store's copy of ``shipped`` (the image's file of that name) when there is one, else ``shipped``."""
    key = universe_key(shipped.name)
    found = store.get_versioned(key)
    if found is None:
        return shipped
    where = f"{store.url}/{key}"
    try:
        data = yaml.safe_load(found.data.decode("utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError, ValueError) as exc:
        raise ConfigError(f"{where}: not valid YAML: {exc}; sync it again (kabucast universe sync --write)") from None
    copy = build_section(UniverseSettings, data, where, "")
    if (copy.name, copy.exchange) != (shipped.name, shipped.exchange):
        raise ConfigError(
            f"{where} is universe {copy.name} on {copy.exchange}, not {shipped.name} on {shipped.exchange}: "
            "delete it or sync it again"
        )
    return copy


def stored_forecast_settings(store: Store, config: str, cls: type[T]) -> tuple[T, UniverseSettings, SectorSettings]:
    """kabucast.config.forecast_settings with the store's copy of the universe the file names (when there is one):
    what every command that works against a store serves, forecasts, scores and renders."""
    cfg, shipped, sectors = forecast_settings(config, cls)
    return cfg, stored_universe(store, shipped), sectors


def put_universe(store: Store, universe: Mapping[str, Any]) -> str:
    """Write ``universe`` (a mapping that :class:`UniverseSettings` accepts) as the store's copy; its key."""
    key = universe_key(str(universe["name"]))
    store.put_bytes(key, universe_yaml(universe).encode("utf-8"), content_type="application/yaml")
    return key

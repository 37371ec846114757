"""Load what the features need from the store and build the model's input arrays for one as-of date."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from kabucast.config import SectorSettings, UniverseSettings
from kabucast.data.calendar import JPXCalendar
from kabucast.data.enrich import latest_static
from kabucast.data.ingest import load_prices
from kabucast.data.sources.base import STATIC_INFO_KEYS
from kabucast.features import FeatureSet, PricePanel, build_features
from kabucast.storage.base import Store


def load_feature_set(
    store: Store,
    universe: UniverseSettings,
    sectors: SectorSettings,
    calendar: JPXCalendar,
    as_of: pd.Timestamp,
    tickers: Sequence[str],
) -> FeatureSet:
    """Features as of the last session on or before ``as_of``, from stored prices and static snapshot.

    The static snapshot is the newest one dated on or before ``as_of`` (point in time); without
    one, every static value is missing and kabucast.features.static's fill policy applies.
    """
    day = calendar.previous_session(as_of)
    missing: dict[str, str] = {}
    frames = load_prices(store, tickers, on_missing=missing.__setitem__)
    static = latest_static(store, before=day + pd.Timedelta(days=1))
    if static is None:
        static = pd.DataFrame(
            index=pd.Index(list(tickers), name="ticker"), columns=list(STATIC_INFO_KEYS), dtype="float64"
        )
    panel = PricePanel.from_frames(frames, [t for t in tickers if t in frames])
    sectors_of = {m.ticker: m.sector for m in universe.members}
    fs = build_features(panel, static, sectors_of, sectors, calendar, day, [t for t in tickers if t in frames])
    fs.failures.update(missing)
    return fs

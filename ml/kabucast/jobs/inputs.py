"""Load what the features need from the store and build the model's input arrays for one as-of date."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from kabucast.config import SectorSettings, UniverseSettings
from kabucast.data.calendar import TradingCalendar
from kabucast.data.enrich import latest_static
from kabucast.data.ingest import load_prices
from kabucast.data.slow_store import load_slow_groups
from kabucast.data.sources.base import STATIC_INFO_KEYS
from kabucast.features import FeatureSet, PricePanel, build_features
from kabucast.features.slow import slow_inputs
from kabucast.storage.base import Store


@dataclass(frozen=True)
class ModelInputs:
    """Features as of one session, plus each ticker's latest bar (the price a forecast starts from) and
    the price panel up to that session (what the portfolio step measures liquidity on)."""

    features: FeatureSet
    last_date: dict[str, pd.Timestamp]
    last_close: dict[str, float]
    panel: PricePanel


def load_model_inputs(
    store: Store,
    universe: UniverseSettings,
    sectors: SectorSettings,
    calendar: TradingCalendar,
    as_of: pd.Timestamp,
    tickers: Sequence[str],
    feature_groups: Sequence[str] = (),
) -> ModelInputs:
    """Inputs as of the last session on or before ``as_of``, from stored prices and static snapshot, and the stored
    slow data of ``feature_groups`` (none by default: kabucast.features.slow; a group never fetched is all neutral).

    The static snapshot is the newest one dated on or before ``as_of`` (point in time); without
    one, every static value is missing and kabucast.features.static's fill policy applies. A ticker
    whose latest bar is older than that session is stale: it goes to ``failures``, not to a forecast.
    """
    day = calendar.previous_session(as_of)
    failures: dict[str, str] = {}
    frames = load_prices(store, tickers, on_missing=failures.__setitem__)
    last_date = {t: f.index[f.index <= day].max() for t, f in frames.items() if (f.index <= day).any()}
    for t in frames:
        if last_date.get(t) != day:
            seen = last_date[t].date() if t in last_date else "none"
            failures[t] = f"stale prices: last bar {seen}, expected {day.date()}; run `kabucast fetch`"
    fresh = [t for t in tickers if t in frames and t not in failures]
    static = latest_static(store, before=day + pd.Timedelta(days=1))
    if static is None:
        static = pd.DataFrame(index=pd.Index(fresh, name="ticker"), columns=list(STATIC_INFO_KEYS), dtype="float64")
    panel = PricePanel.from_frames(frames, list(frames)).until(day)
    sectors_of = {m.ticker: m.sector for m in universe.members}
    stored = load_slow_groups(store, feature_groups)
    slow = slow_inputs(stored, calendar, sectors_of, sectors) if feature_groups else None
    fs = build_features(panel, static, sectors_of, sectors, calendar, day, fresh, slow)
    fs.failures.update(failures)
    close = {t: float(frames[t].at[day, "close"]) for t in fs.tickers}
    return ModelInputs(features=fs, last_date={t: last_date[t] for t in fs.tickers}, last_close=close, panel=panel)

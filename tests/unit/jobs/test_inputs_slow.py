"""The daily inputs with slow-data groups (kabucast.jobs.inputs): read from the store, appended after the 23."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from tests.sources import walk

from kabucast.config import SectorSettings, load_settings, resolve_config_path
from kabucast.data.prices import prices_key
from kabucast.data.slow_store import slow_key
from kabucast.features.registry import WEEKLY_FEATURES
from kabucast.jobs.inputs import load_model_inputs
from kabucast.storage import LocalStore

TICKERS = ("7203.T", "6758.T")
AS_OF = pd.Timestamp("2025-11-21")


def test_the_groups_come_from_the_store_and_only_when_asked(tmp_path: Path, calendar, universe) -> None:
    # GIVEN stored prices and one stored margin row of 7203, published on Thursday 2025-11-20
    store = LocalStore(tmp_path)
    for i, ticker in enumerate(TICKERS):
        store.put_parquet(prices_key(ticker), walk(calendar, i))
    margin = pd.DataFrame(
        {"ticker": ["7203.T"], "date": [pd.Timestamp("2025-11-14")], "published": [pd.Timestamp("2025-11-20")],
         "long_vol": [3e6], "short_vol": [1e6]}
    )  # fmt: skip
    store.put_parquet(slow_key("margin"), margin)
    sectors = load_settings(SectorSettings, resolve_config_path("sectors.yaml"))
    # WHEN the inputs are built without groups, then with margin and flows (flows never fetched)
    plain = load_model_inputs(store, universe, sectors, calendar, AS_OF, TICKERS).features
    slow = load_model_inputs(store, universe, sectors, calendar, AS_OF, TICKERS, ("margin", "flows")).features
    # THEN the plain arrays have the 23 features; with groups 4 more, the price features unchanged
    assert plain.weekly.shape == (2, 156, 23) and plain.feature_groups == ()
    assert slow.weekly.shape == (2, 156, 27) and slow.feature_groups == ("margin", "flows")
    np.testing.assert_array_equal(slow.weekly[..., :23], plain.weekly)
    n = len(WEEKLY_FEATURES)
    assert slow.weekly[0, -1, n] == np.float32(np.log1p(3e6) - np.log1p(1e6))  # visible on Friday 21st
    assert slow.weekly[0, -2, n] == 0.0 and slow.weekly[1, -1, n] == 0.0  # not the week before; not 6758
    assert (slow.weekly[..., n + 2 :] == 0.0).all()  # flows: neutral

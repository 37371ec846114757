"""Every model kind takes the weekly width from its samples: with slow-data groups (kabucast.features.slow) the
samples have 23 + G columns, and each kind fits, exports an ONNX graph whose ``weekly`` input is that wide, serves
it with parity, and reloads from its checkpoint."""

from __future__ import annotations

import numpy as np
import onnx
import pandas as pd
import pytest
from tests.unit.forecast.conftest import SECTORS, TICKERS, in_time, served_and_reloaded

from kabucast.data.sources.sample_market import SampleMarketSource
from kabucast.features import PricePanel, weekly_feature_history
from kabucast.features.registry import WEEKLY_FEATURES
from kabucast.features.slow import slow_inputs
from kabucast.forecast.dataset import ForecastSamples, build_samples
from kabucast.forecast.kinds import build_model

KINDS = {
    "bilstm": ({"hidden": 8, "lstm_layers": 1, "mlp": [16], "sector_dim": 2}, 1),
    "ridge": ({"kind": "ridge"}, 0),
    "momentum": ({"kind": "momentum"}, 0),
    "lightgbm": ({"kind": "lightgbm", "n_estimators": 5, "n_jobs": 1}, 0),
    "cross_sectional": ({"kind": "cross_sectional", "hidden": 8, "heads": 2, "mlp": [8], "market_hidden": 4}, 1),
}
"""Each kind's smallest settings, and whether it trains with torch (1: one epoch)."""


@pytest.fixture(scope="module")
def wide(calendar, sectors) -> ForecastSamples:
    """The four-ticker sample market with the margin and flows groups: weekly (B, 156, 27)."""
    source = SampleMarketSource(TICKERS, ["Consumer Cyclical", "Technology", "Financial Services", "x"], seed=3)
    fetched = source.fetch_prices(TICKERS, pd.Timestamp("2016-01-04"), pd.Timestamp("2021-06-30"))
    panel = PricePanel.from_frames(dict(fetched.frames), TICKERS)
    fridays = pd.date_range("2016-01-08", "2021-06-25", freq="W-FRI")
    rng = np.random.default_rng(0)
    margin = pd.DataFrame(
        [{"ticker": t, "date": d, "published": d + pd.Timedelta(days=4), "long_vol": float(rng.integers(1e5, 1e7)),
          "short_vol": float(rng.integers(1e4, 1e6))} for d in fridays for t in TICKERS]
    )  # fmt: skip
    flows = pd.DataFrame(
        [{"section": "TSEPrime", "start": d - pd.Timedelta(days=4), "end": d, "published": d + pd.Timedelta(days=6),
          "total_va": 5e12, "foreign_bal_va": rng.normal(0, 1e11), "individual_bal_va": rng.normal(0, 1e11)}
         for d in fridays]
    )  # fmt: skip
    inputs = slow_inputs({"margin": margin, "flows": flows}, calendar, SECTORS, sectors)
    history = weekly_feature_history(panel, panel.dates, slow=inputs)
    return build_samples(panel, history, {}, SECTORS, sectors, calendar, "none")


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_fits_exports_and_serves_the_wider_input(kind: str, wide: ForecastSamples, sectors, tmp_path):
    settings, torch_epochs = KINDS[kind]
    training = {"seed": 0, **({"max_epochs": 1, "batch_size": 64, "patience": 1} if torch_epochs else {})}
    model = build_model(settings, training, sectors.n_ids)
    train, val = in_time(wide)
    parity, served, reloaded, _ = served_and_reloaded(model, wide, train, val, tmp_path, kind)
    graph = onnx.load(str(tmp_path / "model.onnx")).graph
    weekly = next(i for i in graph.input if i.name == "weekly")
    assert wide.history.width == len(WEEKLY_FEATURES) + 4
    assert [d.dim_value for d in weekly.type.tensor_type.shape.dim][1:] == [156, 27]
    assert parity < 1e-4
    np.testing.assert_allclose(served.predict(wide, val[:8]), model.predict(wide, val[:8]), atol=1e-4)
    np.testing.assert_allclose(reloaded.predict(wide, val[:8]), model.predict(wide, val[:8]), atol=1e-5)

"""The cross-sectional network's peer graph of the k most correlated stocks (``peers: knn`` / ``sector_knn``):
it finds a planted factor's groups, reads only the inputs of the date, exports with any number of stocks, and the
collapse guard still watches the model that uses it."""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import replace

import numpy as np
import pytest
import torch
from tests.unit.forecast.conftest import MODEL_INPUTS, as_tensors, in_time, random_batch

from kabucast.errors import ConfigError
from kabucast.forecast.cross_sectional_model import CollapseWarning, CrossSectionalForecaster, OneDate
from kabucast.forecast.cross_sectional_net import RET_1W, CrossSectionalConfig, CrossSectionalNet, knn_peers
from kabucast.forecast.dataset import ForecastSamples
from kabucast.forecast.export import export_onnx
from kabucast.forecast.forecaster_module import TrainConfig
from kabucast.forecast.interface import SampleSplit
from kabucast.forecast.onnx_model import OnnxModel
from kabucast.sweeps.objective import FreezeOutputAtZero

KNN = CrossSectionalConfig(
    hidden=8, heads=2, mlp=(8,), recent_weeks=8, market_hidden=4, peers="knn", peer_k=3, peer_weeks=26, dropout=0.0
)


def _planted(n: int, seed: int = 0) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Random inputs whose ``ret_1w`` column is one of two weekly return factors plus small noise per stock."""
    rng = np.random.default_rng(seed)
    batch = random_batch(n, seed)
    group = np.arange(n) % 2  # (n,) which factor a stock follows
    factors = rng.normal(0.0, 0.03, (2, 156))  # (2, T) weekly log returns
    batch["weekly"][:, :, RET_1W] = factors[group] + rng.normal(0.0, 0.005, (n, 156))
    return batch, group


def test_the_mask_of_a_planted_factor_panel_keeps_each_stock_within_its_group() -> None:
    # GIVEN 12 stocks, the even ones following one return factor and the odd ones another, sectors at random
    batch, group = _planted(12)
    net = CrossSectionalNet(KNN).eval()
    weekly, _, _, sector_id = as_tensors(batch)
    same = torch.ones(12, 12)
    # WHEN the network builds its knn graph of the date
    mask = net.peer_mask(weekly, sector_id, same).numpy()
    # THEN each stock sees itself and its 3 peers, all of its own group
    assert (mask.sum(axis=1) == KNN.peer_k + 1).all()
    assert (np.diag(mask) == 1).all()
    assert (mask * (group[:, None] != group[None, :])).sum() == 0
    # AND sector_knn adds the stocks of its sector to them
    union = CrossSectionalNet(replace(KNN, peers="sector_knn")).eval().peer_mask(weekly, sector_id, same).numpy()
    sector = batch["sector_id"][:, None] == batch["sector_id"][None, :]
    np.testing.assert_array_equal(union, np.maximum(mask, sector))


def test_knn_keeps_every_stock_of_a_small_date_and_never_crosses_dates() -> None:
    returns = torch.as_tensor(np.random.default_rng(1).normal(size=(5, 26)), dtype=torch.float32)
    date = torch.tensor([0, 0, 0, 1, 1])
    same = (date[:, None] == date[None, :]).float()
    # WHEN k exceeds a date's other stocks THEN the date's stocks are all kept, and no other date's
    np.testing.assert_array_equal(knn_peers(returns, same, k=5).numpy(), same.numpy())
    # AND a constant return series (no variance) correlates 0 with every stock: tied, they are all kept
    flat = torch.cat([torch.zeros(1, 26), returns[1:]])
    assert knn_peers(flat, torch.ones(5, 5), k=2)[0].tolist() == [1.0] * 5


@pytest.mark.parametrize(("key", "value"), [("peers", "corr"), ("peer_k", 0), ("peer_weeks", 2), ("peer_weeks", 157)])
def test_bad_peer_settings_are_named(key: str, value: object) -> None:
    with pytest.raises(ConfigError, match=key):
        replace(KNN, **{key: value})


def _future_changed(samples: ForecastSamples, date_pos: int) -> ForecastSamples:
    """``samples`` with every label and every weekly feature row from the week of ``date_pos`` on redrawn at
    random (the complete weeks from the one holding that date, the partial weeks of later dates)."""
    rng = np.random.default_rng(7)
    history = samples.history
    complete, partial = history.complete.copy(), history.partial.copy()
    complete[history.week[date_pos] :] = rng.normal(size=complete[history.week[date_pos] :].shape)
    partial[date_pos + 1 :] = rng.normal(size=partial[date_pos + 1 :].shape)
    changed = dataclasses.replace(history, complete=complete, partial=partial)
    target = rng.normal(size=samples.target.shape).astype(np.float32)
    return dataclasses.replace(samples, history=changed, target=target)


def test_no_future_enters_the_graph(samples) -> None:
    # GIVEN the four tickers' samples, and a copy whose labels and features after one date are all redrawn
    date_pos = int(np.median(samples.date_pos))
    rows = np.flatnonzero(samples.date_pos == date_pos)
    after = _future_changed(samples, date_pos)
    assert np.abs(samples.target[rows] - after.target[rows]).max() > 0.01
    # WHEN a knn network builds that date's graph and forecasts from each
    net = CrossSectionalNet(replace(KNN, peer_k=1, n_weekly=samples.history.width)).eval()
    batches = [as_tensors(s.take(rows)) for s in (samples, after)]
    ones = torch.ones(len(rows), len(rows))
    graphs = [net.peer_mask(b[0], b[3], ones) for b in batches]
    # THEN neither the graph nor the forecasts change: they read the date's own inputs only
    torch.testing.assert_close(graphs[0], graphs[1], rtol=0, atol=0)
    assert graphs[0].sum() < ones.sum()  # a real selection: 1 peer each of 4 stocks
    with torch.no_grad():
        torch.testing.assert_close(net(*batches[0]), net(*batches[1]), rtol=0, atol=0)


# the kNN graph, and the direct peer path with no sector embedding (peer_return_weeks, sector_dim 0)
SERVED = {
    "sector_knn": replace(KNN, peers="sector_knn"),
    "peer_path": replace(KNN, peers="sector", peer_return_weeks=4, sector_dim=0),
}


@pytest.mark.parametrize("config", SERVED.values(), ids=SERVED.keys())
def test_onnx_serves_it_for_any_number_of_stocks(tmp_path, config: CrossSectionalConfig) -> None:
    # GIVEN a network exported on a date of 7 stocks
    torch.manual_seed(0)
    net = CrossSectionalNet(config).eval()
    parity = export_onnx(OneDate(net), tmp_path / "m.onnx", random_batch(7, seed=1))
    served = OnnxModel((tmp_path / "m.onnx").read_bytes(), "xs")
    # THEN ONNX Runtime, through the serving class, gives torch's forecasts for dates of 7 and 31 stocks
    assert parity <= 1e-4
    for n in (7, 31):
        batch, _ = _planted(n, seed=n)
        with torch.no_grad():
            expected = net(*as_tensors(batch)).numpy()
        np.testing.assert_allclose(served.predict_arrays(*(batch[k] for k in MODEL_INPUTS)), expected, atol=1e-4)


def test_the_collapse_guard_still_watches_a_knn_model(samples, sectors, tmp_path) -> None:
    # GIVEN a knn model fitted on four tickers for one epoch
    train, val = in_time(samples)
    split = SampleSplit(samples, train, val)
    training = TrainConfig(batch_size=64, max_epochs=1, seed=0, num_workers=0)
    model = CrossSectionalForecaster(replace(KNN, peer_k=1, n_sectors=sectors.n_ids), training)
    model.fit(split, tmp_path / "fit", progress=False)
    # WHEN its output layer is frozen at zero (a constant forecast) and it trains again
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.finetune(split, tmp_path / "zero", progress=False, callbacks=[FreezeOutputAtZero()])
    # THEN the guard names every horizon, as it does for the other peer graphs
    assert any(issubclass(w.category, CollapseWarning) for w in caught)
    assert model.collapsed_months == list(range(1, 13))
    assert model.describe()["model_config"]["peers"] == "knn"

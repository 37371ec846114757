"""The cross-sectional network's direct peer path (``peer_return_weeks``) and its optional sector embedding
(``sector_dim: 0``): the path reads a stock's own and its peers' recent weekly returns and nothing else, and lets
the network learn a lead-lag it is planted with (a shuffled-label control learns nothing). Its ONNX export for any
number of stocks: test_cross_sectional_peers.py."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr
from tests.unit.forecast.conftest import as_tensors, random_batch

from kabucast.errors import ConfigError
from kabucast.forecast.cross_sectional_model import date_excess
from kabucast.forecast.cross_sectional_net import RET_1W, CrossSectionalConfig, CrossSectionalNet

PEER = CrossSectionalConfig(
    hidden=8, heads=2, mlp=(16,), recent_weeks=4, market_hidden=4, peers="sector", peer_return_weeks=4,
    sector_dim=0, dropout=0.0,
)  # fmt: skip


def test_the_path_holds_own_returns_then_the_peers_mean() -> None:
    # GIVEN one date of 6 stocks in two sectors
    batch = random_batch(6, seed=3)
    batch["sector_id"] = np.array([0, 0, 0, 5, 5, 5])
    weekly, _, _, sector_id = as_tensors(batch)
    net = CrossSectionalNet(PEER)
    same = torch.ones(6, 6)
    # WHEN the path is read under the sector mask
    path = net.peer_returns(weekly, net.peer_mask(weekly, sector_id, same))
    # THEN its first 4 columns are each stock's last 4 weekly returns, the next 4 its sector's mean of them
    own = weekly[:, -4:, RET_1W]
    torch.testing.assert_close(path[:, :4], own)
    torch.testing.assert_close(path[:3, 4:], own[:3].mean(dim=0).expand(3, 4))
    torch.testing.assert_close(path[3:, 4:], own[3:].mean(dim=0).expand(3, 4))
    # AND another sector's returns, or an older week of its own sector, leave it unchanged
    changed = weekly.clone()
    changed[3:, -1, RET_1W] += 5.0
    changed[:3, -5, RET_1W] += 5.0
    again = net.peer_returns(changed, net.peer_mask(changed, sector_id, same))
    torch.testing.assert_close(again[:3], path[:3], rtol=0, atol=0)
    assert not torch.allclose(again[3:, 4:], path[3:, 4:])


def test_without_it_and_without_the_embedding_the_network_still_builds() -> None:
    plain = CrossSectionalNet(replace(PEER, peer_return_weeks=0, sector_dim=0)).eval()
    embedded = CrossSectionalNet(replace(PEER, sector_dim=4)).eval()
    batch = as_tensors(random_batch(5, seed=1))
    assert plain.sector is None and embedded.sector is not None
    with torch.no_grad():
        assert plain(*batch).shape == embedded(*batch).shape == (5, 12)


@pytest.mark.parametrize(("key", "value"), [("peer_return_weeks", -1), ("peer_return_weeks", 157), ("sector_dim", -1)])
def test_bad_settings_are_named(key: str, value: int) -> None:
    with pytest.raises(ConfigError, match=key):
        replace(PEER, **{key: value})


def _lead_lag_dates(n_dates: int, seed: int) -> list[dict[str, np.ndarray]]:
    """Dates of 24 stocks in 4 sectors: each sector's first 2 stocks lead (their last two weekly returns carry a
    sector factor), the others follow (next month's return is the factor's last two weeks plus noise twice as
    large). A stock alone shows nothing of its next month: a follower's own past returns are noise."""
    rng = np.random.default_rng(seed)
    dates = []
    for _ in range(n_dates):
        batch = random_batch(24, seed=int(rng.integers(1 << 31)))
        sector = np.repeat(np.arange(4), 6)
        leader = np.tile(np.arange(6) < 2, 4)
        factor = rng.normal(0.0, 1.0, (4, 2))  # (sectors, weeks)
        returns = rng.normal(0.0, 1.0, (24, 4))
        returns[leader, -2:] += 2.0 * factor[sector[leader]]
        batch["weekly"][:, -4:, RET_1W] = returns
        target = np.where(leader, 0.0, factor[sector].sum(axis=1)) + rng.normal(0.0, 2.0, 24)
        batch["sector_id"], batch["target"] = sector, np.repeat(target[:, None], 12, axis=1).astype(np.float32) * 0.02
        dates.append(batch)
    return dates


def _fit_and_score(train: list[dict[str, np.ndarray]], test: list[dict[str, np.ndarray]]) -> float:
    """Test RankIC at month 1 of the network trained on ``train`` (4 epochs, 4 whole dates a step)."""
    torch.manual_seed(0)
    net = CrossSectionalNet(PEER)
    opt = torch.optim.AdamW(net.parameters(), lr=3e-3)
    steps = [{k: np.concatenate([b[k] for b in train[i : i + 4]]) for k in train[0]} for i in range(0, len(train), 4)]
    dates = torch.arange(4).repeat_interleave(24)
    for _ in range(4):
        for batch in steps:
            pred, target = net(*as_tensors(batch), dates), torch.as_tensor(batch["target"])
            loss = torch.nn.functional.mse_loss(date_excess(pred, dates), date_excess(target, dates))
            opt.zero_grad()
            loss.backward()
            opt.step()
    net.eval()
    with torch.no_grad():
        return float(np.mean([spearmanr(net(*as_tensors(b))[:, 0].numpy(), b["target"][:, 0])[0] for b in test]))


def test_it_learns_a_planted_lead_lag_and_a_shuffled_control_does_not() -> None:
    # GIVEN 200 training dates of a planted lead-lag between sector peers, and 100 later test dates
    train, test = _lead_lag_dates(200, seed=1), _lead_lag_dates(100, seed=2)
    shuffled = [{**b, "target": b["target"][np.random.default_rng(k).permutation(24)]} for k, b in enumerate(train)]
    # WHEN the network trains on them, and on the same dates with each date's labels shuffled
    found, control = _fit_and_score(train, test), _fit_and_score(shuffled, test)
    # THEN its test RankIC is well above the control's, which stays near 0
    # (the oracle, the sector leaders' last two weeks, scores about 0.3 here over all 24 stocks)
    assert found > 0.15, found
    assert abs(control) < 0.08, control

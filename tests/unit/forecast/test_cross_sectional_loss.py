"""The cross-sectional kind's ``training.date_excess``: its loss reads each date's rows less their date's mean."""

from __future__ import annotations

import torch

from kabucast.forecast.cross_sectional_model import CrossSectionalModule, date_excess
from kabucast.forecast.cross_sectional_net import CrossSectionalConfig, CrossSectionalNet
from kabucast.forecast.forecaster_module import TrainConfig


def test_date_excess_removes_each_dates_mean_and_nothing_else() -> None:
    values = torch.tensor([[1.0, 2.0], [3.0, 6.0], [10.0, 0.0], [5.0, 5.0], [7.0, 1.0]])
    dates = torch.tensor([40, 40, 7, 7, 7])
    out = date_excess(values, dates)
    expected = torch.tensor([[-1.0, -2.0], [1.0, 2.0], [2.6667, -2.0], [-2.3333, 3.0], [-0.3333, -1.0]])
    assert torch.allclose(out, expected, atol=1e-4)


def test_with_date_excess_a_dates_common_move_costs_the_loss_nothing() -> None:
    # GIVEN forecasts and labels of two dates, and the same labels with each date's common move shifted
    torch.manual_seed(0)
    pred, target = torch.randn(6, 12) * 0.05, torch.randn(6, 12) * 0.05
    dates = torch.tensor([3, 3, 3, 9, 9, 9])
    shifted = target + torch.tensor([0.2, 0.2, 0.2, -0.3, -0.3, -0.3])[:, None]
    net = CrossSectionalNet(CrossSectionalConfig(hidden=8, heads=2))

    def loss(cfg: TrainConfig, labels: torch.Tensor) -> float:
        module = CrossSectionalModule(net, cfg)
        return float(module.loss(*module.fit_pair(pred, labels, {"date_index": dates})))

    # THEN the date-excess loss is the same for both, and the plain loss is not
    assert abs(loss(TrainConfig(date_excess=True), target) - loss(TrainConfig(date_excess=True), shifted)) < 1e-7
    assert loss(TrainConfig(), shifted) > loss(TrainConfig(), target) + 1e-3

"""A snapshot ensemble of forecasters that exports as ONE ONNX model with the forecaster's inputs and output.

:class:`SnapshotEnsemble` holds K :class:`BiLSTMForecaster` copies (same config, same normalizer
statistics, different weights) and returns the mean of their (B, 12) forecasts. It exposes the
``config`` and ``normalizer`` of its members, so :func:`kabucast.forecast.export.export_onnx`, the
model metadata and :class:`kabucast.forecast.onnx_model.OnnxForecaster` treat it as one forecaster:
the graph has the same four inputs and the same ``log_returns`` output, only K LSTMs inside.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence

import torch
from torch import nn

from kabucast.forecast.model import BiLSTMForecaster, ForecasterConfig, QuantileCalibration
from kabucast.forecast.normalize import Normalizer


class SnapshotEnsemble(nn.Module):
    """The mean forecast of K forecasters sharing one :class:`ForecasterConfig`."""

    def __init__(self, members: Sequence[BiLSTMForecaster]) -> None:
        super().__init__()
        if not members:
            raise ValueError("an ensemble needs at least one member")
        configs = {m.config for m in members}
        if len(configs) != 1:
            raise ValueError(f"ensemble members must share one config, got {len(configs)}")
        self.members = nn.ModuleList(members)
        cfg = self.config
        self.calibration = QuantileCalibration(cfg.horizons, cfg.quantiles) if cfg.quantiles else None

    @classmethod
    def from_state_dicts(
        cls, template: BiLSTMForecaster, states: Sequence[Mapping[str, torch.Tensor]]
    ) -> SnapshotEnsemble:
        """K copies of ``template`` loaded with ``states`` (each a ``BiLSTMForecaster.state_dict()``)."""
        members = []
        for state in states:
            member = copy.deepcopy(template)
            member.load_state_dict(state)
            members.append(member.eval())
        return cls(members)

    @property
    def config(self) -> ForecasterConfig:
        return self.members[0].config  # type: ignore[return-value]

    @property
    def normalizer(self) -> Normalizer:
        return self.members[0].normalizer  # type: ignore[return-value]

    def __len__(self) -> int:
        return len(self.members)

    def forward(
        self, weekly: torch.Tensor, static: torch.Tensor, position: torch.Tensor, sector_id: torch.Tensor
    ) -> torch.Tensor:
        """The members' (B, 12) forecasts averaged (same inputs and output as BiLSTMForecaster.forward)."""
        outs = [member(weekly, static, position, sector_id) for member in self.members]
        return torch.stack(outs).mean(dim=0)

    def forward_with_quantiles(
        self,
        weekly: torch.Tensor,
        static: torch.Tensor,
        position: torch.Tensor,
        sector_id: torch.Tensor,
        calibrated: bool = True,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The members' forecasts and raw quantiles averaged (the mean of ascending quantiles stays
        ascending), the quantiles then calibrated by the ensemble's own factors (``calibrated``)."""
        if self.calibration is None:
            raise ValueError("this ensemble has no quantile head (model.quantiles is empty)")
        outs = [member.forward_with_quantiles(weekly, static, position, sector_id, False) for member in self.members]
        mean, quantiles = torch.stack([o[0] for o in outs]).mean(dim=0), torch.stack([o[1] for o in outs]).mean(dim=0)
        return mean, self.calibration(quantiles) if calibrated else quantiles

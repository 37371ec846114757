"""The Core30 forecaster: sector embedding + BiLSTM over 156 weeks + MLP head -> 12 monthly log returns.

Output ``m`` (1..12) is the log return from the as-of close to the close ``21 * m`` trading days later.
The module standardises its raw inputs itself (:class:`~kabucast.forecast.normalize.Normalizer`), so
training, the checkpoint and the exported ONNX graph all take the same raw features.

With ``quantiles`` (e.g. 0.1, 0.5, 0.9: 0.5 and pairs around it) a second linear layer on the head's last
hidden layer gives, per horizon, those quantiles of the log return
(:meth:`BiLSTMForecaster.forward_with_quantiles`). They cannot cross: the lowest is a free output and
each next one adds a softplus (> 0) step to it. A :class:`QuantileCalibration` then stretches each
central interval around the median by a factor set after training on a held-out later block
(kabucast.forecast.interface.calibrate_quantiles); the factors start at 1 and are part of the
exported graph.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from kabucast.evaluation.calibration import symmetry_problem
from kabucast.forecast.normalize import Normalizer


@dataclass(frozen=True)
class ForecasterConfig:
    """Shapes and sizes of :class:`BiLSTMForecaster`; the defaults give 658,508 parameters (~664K target)."""

    n_weekly: int = 23  # weekly features per week
    seq_len: int = 156  # weeks per sample (3 years)
    n_static: int = 6  # static (fundamental) features
    n_position: int = 2  # day_of_week, week_progress
    n_sectors: int = 12  # embedding rows: kabucast.config.SectorSettings.n_ids (the unknown id included)
    sector_dim: int = 16
    hidden: int = 128  # LSTM units per direction
    lstm_layers: int = 2
    dropout: float = 0.1  # between LSTM layers and after each MLP layer
    mlp: tuple[int, ...] = (256, 128)
    horizons: int = 12  # months ahead
    quantiles: tuple[float, ...] = ()  # levels of the quantile head, ascending in (0, 1); () = no quantile head

    def __post_init__(self) -> None:
        q = self.quantiles
        if any(not 0 < x < 1 for x in q) or list(q) != sorted(set(q)):
            raise ValueError(f"quantiles must be distinct, ascending and inside (0, 1), got {list(q)}")
        problem = symmetry_problem(q) if q else None
        if problem:
            raise ValueError(f"{problem}: the central intervals are calibrated around the median")

    def to_dict(self) -> dict[str, Any]:
        """JSON/YAML-safe values (``mlp`` and ``quantiles`` as lists)."""
        return config_dict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ForecasterConfig:
        """The inverse of :meth:`to_dict`; missing keys take their defaults, unknown keys raise ValueError."""
        return config_from_dict(cls, values, "forecaster")


C = TypeVar("C")


def config_dict(config: Any) -> dict[str, Any]:
    """A network config dataclass as JSON/YAML-safe values (its ``mlp`` and ``quantiles`` tuples as lists)."""
    return {**asdict(config), "mlp": list(config.mlp), "quantiles": list(config.quantiles)}


def config_from_dict(cls: type[C], values: dict[str, Any], what: str) -> C:
    """The inverse of :func:`config_dict`; missing keys take their defaults, unknown keys raise ValueError."""
    unknown = set(values) - set(cls.__dataclass_fields__)  # type: ignore[attr-defined]
    if unknown:
        raise ValueError(f"unknown {what} config keys {sorted(unknown)}")
    tuples = {k: tuple(values[k]) for k in ("mlp", "quantiles") if k in values}
    return cls(**{**values, **tuples})


class BiLSTMForecaster(nn.Module):
    """Raw features in, 12 log returns out.

    The sequence summary is the top layer's final hidden state of each direction (``h_n``): the
    forward one has read the weeks oldest -> newest, the backward one newest -> oldest, so each
    has seen all 156 weeks, with its most recent memory at opposite ends of the window.
    """

    def __init__(self, config: ForecasterConfig | None = None, normalizer: Normalizer | None = None) -> None:
        super().__init__()
        self.config = cfg = config or ForecasterConfig()
        self.normalizer = normalizer or Normalizer(cfg.n_weekly, cfg.n_static)
        self.sector = nn.Embedding(cfg.n_sectors, cfg.sector_dim)
        self.lstm = nn.LSTM(
            input_size=cfg.n_weekly,
            hidden_size=cfg.hidden,
            num_layers=cfg.lstm_layers,
            batch_first=True,
            dropout=cfg.dropout if cfg.lstm_layers > 1 else 0.0,
            bidirectional=True,
        )
        layers: list[nn.Module] = []
        width = 2 * cfg.hidden + cfg.n_static + cfg.n_position + cfg.sector_dim
        for size in cfg.mlp:
            layers += [nn.Linear(width, size), nn.GELU(), nn.Dropout(cfg.dropout)]
            width = size
        layers.append(nn.Linear(width, cfg.horizons))
        self.head = nn.Sequential(*layers)
        self.quantile_head = QuantileHead(width, cfg.horizons, len(cfg.quantiles)) if cfg.quantiles else None
        self.calibration = QuantileCalibration(cfg.horizons, cfg.quantiles) if cfg.quantiles else None

    def forward(
        self, weekly: torch.Tensor, static: torch.Tensor, position: torch.Tensor, sector_id: torch.Tensor
    ) -> torch.Tensor:
        """weekly (B, T, 23), static (B, 6), position (B, 2) float32; sector_id (B,) int64 -> (B, 12) log returns."""
        return self.head[-1](self._hidden(weekly, static, position, sector_id))  # (B, 12)

    def forward_with_quantiles(
        self,
        weekly: torch.Tensor,
        static: torch.Tensor,
        position: torch.Tensor,
        sector_id: torch.Tensor,
        calibrated: bool = True,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, 12) log returns and (B, 12, Q) their quantiles at ``config.quantiles`` (ascending in Q):
        calibrated (what is served), or the head's raw output (what the pinball loss trains)."""
        if self.quantile_head is None or self.calibration is None:
            raise ValueError("this forecaster has no quantile head (model.quantiles is empty)")
        hidden = self._hidden(weekly, static, position, sector_id)
        quantiles = self.quantile_head(hidden)
        return self.head[-1](hidden), self.calibration(quantiles) if calibrated else quantiles

    def _hidden(
        self, weekly: torch.Tensor, static: torch.Tensor, position: torch.Tensor, sector_id: torch.Tensor
    ) -> torch.Tensor:
        """The head's last hidden layer (B, mlp[-1]), what the mean and the quantiles are read from."""
        weekly, static = self.normalizer(weekly, static)  # (B, T, 23), (B, 6)
        sector = self.sector(sector_id)  # (B, E)
        _, (h_n, _) = self.lstm(weekly)  # h_n: (layers * 2, B, H)
        summary = torch.cat([h_n[-2], h_n[-1]], dim=-1)  # (B, 2H) top layer: forward, backward
        x = torch.cat([summary, static, position, sector], dim=-1)  # (B, 2H + 6 + 2 + E)
        return self.head[:-1](x)


class QuantileHead(nn.Module):
    """(B, width) -> (B, horizons, Q) ascending quantiles: the lowest, then cumulative softplus steps."""

    INITIAL_STEP = 0.05  # log-return units between neighbouring quantiles at initialisation

    def __init__(self, width: int, horizons: int, levels: int) -> None:
        super().__init__()
        self.horizons, self.levels = horizons, levels
        self.linear = nn.Linear(width, horizons * levels)
        with torch.no_grad():  # start with narrow, centred intervals instead of softplus(0) = 0.69 steps
            bias = self.linear.bias.view(horizons, levels)
            step = math.log(math.expm1(self.INITIAL_STEP))
            bias[:, 1:] = step
            bias[:, 0] = -self.INITIAL_STEP * (levels - 1) / 2

    @torch.no_grad()
    def start_at(self, quantiles: np.ndarray, weight_scale: float = 0.1) -> None:
        """Start from given (horizons, Q) ascending quantiles (the training targets' unconditional ones):
        the biases reproduce them and the weights shrink by ``weight_scale``, so training begins at the
        unconditional baseline and learns how each sample departs from it."""
        q = np.asarray(quantiles, dtype=np.float64)
        steps = np.maximum(np.diff(q, axis=1), 1e-4)
        bias = self.linear.bias.view(self.horizons, self.levels)
        bias[:, 0] = torch.as_tensor(q[:, 0], dtype=bias.dtype)
        bias[:, 1:] = torch.as_tensor(np.log(np.expm1(steps)), dtype=bias.dtype)  # softplus^-1
        self.linear.weight.mul_(weight_scale)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        raw = self.linear(hidden).view(-1, self.horizons, self.levels)
        steps = torch.cat([raw[..., :1], F.softplus(raw[..., 1:])], dim=-1)
        return torch.cumsum(steps, dim=-1)


class QuantileCalibration(nn.Module):
    """(B, H, Q) quantiles -> the same stretched around the median by per-(horizon, level) factors.

    ``q' = m + scale * (q - m)``, then kept ascending outward from the median, as
    :func:`kabucast.evaluation.calibration.rescale_quantiles` (its numpy twin). ``scale`` is a buffer
    (not trained, not in the checkpoint: model.json records it) that starts at 1, the identity.
    """

    def __init__(self, horizons: int, levels: tuple[float, ...]) -> None:
        super().__init__()
        self.center = levels.index(0.5)
        self.register_buffer("scale", torch.ones(horizons, len(levels)), persistent=False)

    def set_scale(self, scale: np.ndarray | None) -> None:
        """Use (H, Q) ``scale`` (None: back to the identity)."""
        value = torch.ones_like(self.scale)
        if scale is not None:
            value = torch.as_tensor(np.asarray(scale), dtype=self.scale.dtype)
        if value.shape != self.scale.shape:
            raise ValueError(f"calibration scale of shape {tuple(value.shape)}, expected {tuple(self.scale.shape)}")
        self.scale.copy_(value)

    def forward(self, quantiles: torch.Tensor) -> torch.Tensor:
        c = self.center
        median = quantiles[..., c : c + 1]
        out = median + self.scale * (quantiles - median)
        levels = list(out.unbind(dim=-1))
        for j in range(c + 1, len(levels)):  # Q is small and static: unrolled into Max / Min nodes in ONNX
            levels[j] = torch.maximum(levels[j], levels[j - 1])
        for j in range(c - 1, -1, -1):
            levels[j] = torch.minimum(levels[j], levels[j + 1])
        return torch.stack(levels, dim=-1)


def count_parameters(model: nn.Module) -> int:
    """Trainable parameters (normalizer buffers are not parameters)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)

"""The cross-sectional forecaster's network: each stock's weeks, then the stocks of its date and the market's state.

The seeds' graph model (ATFT-GAT-FAN) collapsed to a constant forecast; the published model of the same idea is
MASTER (Li et al., AAAI 2024): attention within each stock over time, attention across the day's stocks, and a
gate driven by market-level features. This network has those three parts, small enough for a CPU:

1. **per stock**: the normalised weekly features of its last ``recent_weeks`` weeks through a GRU; its final
   state, with its own and its peers' mean weekly returns of the last ``peer_return_weeks`` weeks (the direct path
   of a lead-lag between peers: learnt through the attention alone it was not found), the static, position and
   (``sector_dim`` > 0) sector-embedding inputs, is the stock's vector ``x`` (B, H). ``sector_dim: 0`` leaves the
   embedding out: with it, a model of a few sectors memorised each sector's returns of each training period
   (training loss down, test RankIC down after the first epoch);
2. **across the stocks of a date**: multi-head attention over the stocks that share the row's ``group`` (its
   date), added to ``x`` (a residual: a stock always keeps its own information, so the attention cannot average
   the cross-section into one forecast). ``peers`` masks whom a stock sees among them: ``all``; ``sector``, its
   sector; ``knn``, itself and its ``peer_k`` most correlated stocks (:func:`knn_peers`: the correlation of their
   weekly ``ret_1w`` inputs over the last ``peer_weeks`` weeks, so the graph reads the row's own inputs and
   nothing after its date); ``sector_knn``, either;
3. **the market's state**: the mean over the date's stocks of their latest and last-4-week normalised features
   through a small MLP gives a sigmoid gate (H,) that scales the features the head reads, per date;
4. a head MLP -> 12 log returns.

``group`` (B,) int64 names each row's date; rows of different groups never see each other. Without it (the
exported ONNX graph, the daily job's one date) the whole batch is one cross-section. Every operation is plain
tensor algebra (masks as additive -1e9 terms), so the TorchScript ONNX exporter maps it with a dynamic number
of stocks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import nn

from kabucast.errors import ConfigError
from kabucast.features.registry import WEEKLY_FEATURES
from kabucast.forecast.model import config_dict, config_from_dict
from kabucast.forecast.normalize import Normalizer

_MASKED = -1e9
RET_1W = [spec.name for spec in WEEKLY_FEATURES].index("ret_1w")
PEERS = ("all", "sector", "knn", "sector_knn")


@dataclass(frozen=True)
class CrossSectionalConfig:
    """Shapes and sizes of :class:`CrossSectionalNet`; the defaults are a CPU-sized model (47,820 parameters)."""

    n_weekly: int = 23
    seq_len: int = 156
    n_static: int = 6
    n_position: int = 2
    n_sectors: int = 12
    sector_dim: int = 8
    recent_weeks: int = 52  # the weeks the GRU reads (the last ones of the 156)
    hidden: int = 64
    heads: int = 4
    peers: Literal["all", "sector", "knn", "sector_knn"] = "all"  # whom a stock attends to among its date's stocks
    peer_k: int = 5  # knn / sector_knn: the most correlated stocks each one sees (besides itself)
    peer_weeks: int = 26  # knn / sector_knn: the trailing weeks of ret_1w the correlation reads
    peer_return_weeks: int = 0  # the last weeks' ret_1w, its own and its peers' mean, beside the GRU's state
    market_hidden: int = 32
    mlp: tuple[int, ...] = (64,)
    dropout: float = 0.1
    horizons: int = 12
    quantiles: tuple[float, ...] = ()  # a quantile head is not built: `quantiles` wraps it in risk-scaled bands
    cross_sectional: bool = True  # stamped into the ONNX metadata: the server runs one date per call

    def __post_init__(self) -> None:
        """Checks across keys, named (a sweep that searches hidden and heads meets the first)."""
        if self.hidden % self.heads:
            raise ConfigError(f"hidden ({self.hidden}) must be a multiple of heads ({self.heads})")
        if not 1 <= self.recent_weeks <= self.seq_len:
            raise ConfigError(f"recent_weeks must be in 1..{self.seq_len}, got {self.recent_weeks}")
        if self.peers not in PEERS:
            raise ConfigError(f"peers must be one of {', '.join(PEERS)}; got {self.peers!r}")
        if self.peer_k < 1:
            raise ConfigError(f"peer_k must be at least 1 (the peers each stock sees), got {self.peer_k}")
        if not 0 <= self.peer_return_weeks <= self.seq_len:
            raise ConfigError(f"peer_return_weeks must be in 0..{self.seq_len}, got {self.peer_return_weeks}")
        if self.sector_dim < 0:
            raise ConfigError(f"sector_dim must be 0 (no sector embedding) or more, got {self.sector_dim}")
        if not 3 <= self.peer_weeks <= self.seq_len:
            raise ConfigError(f"peer_weeks must be in 3..{self.seq_len} (weeks of ret_1w), got {self.peer_weeks}")
        if self.quantiles:
            raise ConfigError("the cross-sectional network has no quantile head (bands wrap it: model.quantiles)")

    def to_dict(self) -> dict[str, Any]:
        return config_dict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> CrossSectionalConfig:
        return config_from_dict(cls, values, "cross-sectional")


class CrossSectionalNet(nn.Module):
    """Raw features of stocks in, 12 log returns each out (module docstring)."""

    def __init__(self, config: CrossSectionalConfig | None = None, normalizer: Normalizer | None = None) -> None:
        super().__init__()
        self.config = cfg = config or CrossSectionalConfig()
        self.normalizer = normalizer or Normalizer(cfg.n_weekly, cfg.n_static)
        self.sector = nn.Embedding(cfg.n_sectors, cfg.sector_dim) if cfg.sector_dim else None
        self.gru = nn.GRU(cfg.n_weekly, cfg.hidden, batch_first=True)
        width = cfg.hidden + 2 * cfg.peer_return_weeks + cfg.n_static + cfg.n_position + cfg.sector_dim
        self.stock = nn.Sequential(nn.Linear(width, cfg.hidden), nn.GELU(), nn.LayerNorm(cfg.hidden))
        self.query, self.key, self.value = (nn.Linear(cfg.hidden, cfg.hidden) for _ in range(3))
        self.mix = nn.Linear(cfg.hidden, cfg.hidden)
        self.norm = nn.LayerNorm(cfg.hidden)
        self.market = nn.Sequential(
            nn.Linear(2 * cfg.n_weekly, cfg.market_hidden), nn.GELU(), nn.Linear(cfg.market_hidden, cfg.hidden)
        )
        layers: list[nn.Module] = []
        width = cfg.hidden
        for size in cfg.mlp:
            layers += [nn.Linear(width, size), nn.GELU(), nn.Dropout(cfg.dropout)]
            width = size
        layers.append(nn.Linear(width, cfg.horizons))
        self.head = nn.Sequential(*layers)
        self.dropout = nn.Dropout(cfg.dropout)

    def forward(
        self,
        weekly: torch.Tensor,
        static: torch.Tensor,
        position: torch.Tensor,
        sector_id: torch.Tensor,
        group: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """weekly (B, T, 23), static (B, 6), position (B, 2) float32; sector_id (B,), group (B,) int64 (None: one
        date) -> (B, 12) log returns."""
        cfg = self.config
        same = self._same_date(sector_id if group is None else group, group is None)  # (B, B) 1 = same date
        peers = self.peer_mask(weekly, sector_id, same)  # (B, B) 1 = row i attends to row j
        weekly, static = self.normalizer(weekly, static)
        _, h_n = self.gru(weekly[:, -cfg.recent_weeks :, :])  # (1, B, H)
        stock = [h_n[-1], self.peer_returns(weekly, peers), static, position]
        if self.sector is not None:
            stock.append(self.sector(sector_id))
        x = self.stock(torch.cat(stock, dim=-1))  # (B, H)
        x = self.norm(x + self.dropout(self._attend(x, peers)))
        market = torch.cat([weekly[:, -1, :], weekly[:, -4:, :].mean(dim=1)], dim=-1)  # (B, 2 * 23)
        gate = torch.sigmoid(self.market(same @ market / same.sum(dim=1, keepdim=True)))  # (B, H) per date
        return self.head(x * gate)

    def peer_returns(self, weekly: torch.Tensor, peers: torch.Tensor) -> torch.Tensor:
        """(B, 2 W): each row's last W = ``peer_return_weeks`` normalised weekly returns (``ret_1w``), then their
        mean over the rows ``peers`` (B, B) lets it see (itself included); (B, 0) when W is 0."""
        recent = weekly[:, weekly.shape[1] - self.config.peer_return_weeks :, RET_1W]  # (B, W)
        return torch.cat([recent, peers @ recent / peers.sum(dim=1, keepdim=True)], dim=-1)

    def peer_mask(self, weekly: torch.Tensor, sector_id: torch.Tensor, same: torch.Tensor) -> torch.Tensor:
        """(B, B) float: 1 where ``peers`` lets row i see row j; ``weekly`` (B, T, F) the raw inputs, ``same`` (B, B)
        1 where two rows share a date."""
        cfg = self.config
        if cfg.peers == "all":
            return same
        sector = same * (sector_id[:, None] == sector_id[None, :]).to(same.dtype)
        if cfg.peers == "sector":
            return sector
        knn = knn_peers(weekly[:, -cfg.peer_weeks :, RET_1W], same, cfg.peer_k)
        return knn if cfg.peers == "knn" else torch.maximum(sector, knn)

    @staticmethod
    def _same_date(group: torch.Tensor, one_date: bool) -> torch.Tensor:
        """(B, B) float: 1 where two rows share a date (all ones for a single date)."""
        if one_date:
            group = torch.zeros_like(group)
        return (group[:, None] == group[None, :]).to(torch.float32)

    def _attend(self, x: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
        """Multi-head scaled dot-product attention of each row over the rows ``allowed`` (B, B) lets it see."""
        b, heads = x.shape[0], self.config.heads
        d = self.config.hidden // heads
        q, k, v = (f(x).view(b, heads, d).transpose(0, 1) for f in (self.query, self.key, self.value))  # (h, B, d)
        scores = q @ k.transpose(1, 2) / math.sqrt(d) + (1.0 - allowed) * _MASKED  # (h, B, B)
        out = torch.softmax(scores, dim=-1) @ v  # (h, B, d)
        return self.mix(out.transpose(0, 1).reshape(b, heads * d))


def knn_peers(returns: torch.Tensor, same: torch.Tensor, k: int) -> torch.Tensor:
    """(B, B) float: 1 where row j is row i itself or one of its ``k`` most correlated rows of the same date.

    ``returns`` (B, W) is each row's weekly log returns (``ret_1w``) over the trailing window of its own input
    sequence: the graph of a date is built from that date's inputs only, never from targets. The k-th largest
    correlation of each row is found by TopK with a constant k over the row padded with ``k + 1`` entries below
    any correlation, so a date of fewer than ``k + 1`` stocks keeps them all and the ONNX graph takes any number
    of stocks. Ties at the k-th value keep every tied row.
    """
    centred = returns - returns.mean(dim=1, keepdim=True)  # (B, W)
    unit = centred / (centred.norm(dim=1, keepdim=True) + 1e-8)  # a constant series correlates 0 with all
    corr = unit @ unit.T  # (B, B) in [-1, 1]
    eye = torch.eye(corr.shape[0], dtype=corr.dtype, device=corr.device)
    corr = torch.where(eye > 0, torch.full_like(corr, 2.0), corr)  # itself first
    corr = torch.where(same > 0, corr, torch.full_like(corr, -2.0))  # other dates last
    padded = torch.cat([corr, torch.full_like(corr[:, :1], -3.0).expand(-1, k + 1)], dim=1)  # (B, B + k + 1)
    kth = torch.topk(padded, k + 1, dim=1).values[:, -1:]  # (B, 1) the (k + 1)-th largest, itself included
    return (corr >= kth).to(same.dtype) * same

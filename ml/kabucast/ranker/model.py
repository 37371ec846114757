"""A patch-based temporal encoder over each stock's lookback window, with one head per horizon.

The window (L, F) of one stock is cut into P = L / patch_len non-overlapping patches of ``patch_len``
sessions (as in PatchTST, Nie et al., 2023); each patch (patch_len x F values) is projected to
``d_model``, a learned position is added, and a pre-norm Transformer encoder of ``depth`` layers mixes
the patches. The most recent patch's output and the mean over patches feed one small MLP head per
horizon, which emits that horizon's score. Stocks are encoded independently: the cross-section only
meets in the loss (kabucast.ranker.losses).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class PatchModelSettings:
    """Encoder size (``model:`` in config/ranker/model.yaml); ``lookback`` must be a multiple of ``patch_len``."""

    patch_len: int = 16
    d_model: int = 192
    depth: int = 3
    heads: int = 4
    ff_mult: int = 2  # feed-forward width = ff_mult x d_model
    dropout: float = 0.1


@dataclass(frozen=True)
class PatchRankerConfig:
    """Everything needed to rebuild a :class:`PatchRanker` (saved in its checkpoints)."""

    n_features: int
    lookback: int
    horizons: tuple[int, ...]
    settings: PatchModelSettings

    def __post_init__(self) -> None:
        if self.lookback % self.settings.patch_len:
            raise ValueError(
                f"lookback {self.lookback} is not a multiple of patch_len {self.settings.patch_len}: "
                "change one of them in config/ranker/model.yaml"
            )
        if self.settings.d_model % self.settings.heads:
            raise ValueError(f"d_model {self.settings.d_model} is not divisible by heads {self.settings.heads}")

    def to_dict(self) -> dict:
        return {**asdict(self), "horizons": list(self.horizons)}

    @classmethod
    def from_dict(cls, data: dict) -> PatchRankerConfig:
        return cls(
            data["n_features"], data["lookback"], tuple(data["horizons"]), PatchModelSettings(**data["settings"])
        )


class PatchRanker(nn.Module):
    """Scores (B, H) for windows (B, L, F): one score per stock and horizon, higher = expected to do better."""

    def __init__(self, config: PatchRankerConfig) -> None:
        super().__init__()
        s = config.settings
        self.config = config
        self.n_patches = config.lookback // s.patch_len
        self.embed = nn.Linear(s.patch_len * config.n_features, s.d_model)
        self.position = nn.Parameter(torch.zeros(1, self.n_patches, s.d_model))
        layer = nn.TransformerEncoderLayer(
            s.d_model, s.heads, s.ff_mult * s.d_model, s.dropout, activation="gelu", batch_first=True, norm_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, s.depth, norm=nn.LayerNorm(s.d_model), enable_nested_tensor=False)
        self.heads = nn.ModuleList([_head(2 * s.d_model, s.d_model, s.dropout) for _ in config.horizons])
        nn.init.normal_(self.position, std=0.02)

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        b, length, f = windows.shape  # (B, L, F)
        patches = windows.reshape(b, self.n_patches, length // self.n_patches * f)  # (B, P, patch_len * F)
        tokens = self.encoder(self.embed(patches) + self.position)  # (B, P, D)
        pooled = torch.cat([tokens[:, -1], tokens.mean(dim=1)], dim=1)  # (B, 2D): latest patch, all patches
        return torch.cat([head(pooled) for head in self.heads], dim=1)  # (B, H)


def build_model(n_features: int, lookback: int, horizons: Sequence[int], settings: PatchModelSettings) -> PatchRanker:
    """A freshly initialised :class:`PatchRanker` (seed torch first for repeatable weights)."""
    return PatchRanker(PatchRankerConfig(n_features, lookback, tuple(horizons), settings))


def _head(d_in: int, hidden: int, dropout: float) -> nn.Sequential:
    """One horizon's head: (B, d_in) -> (B, 1)."""
    return nn.Sequential(nn.Linear(d_in, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, 1))

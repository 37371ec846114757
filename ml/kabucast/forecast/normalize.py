"""Feature standardisation that travels inside the model, so the exported ONNX graph takes raw features.

The statistics come from training arrays only (never validation or holdout) and are stored as
buffers: they are saved in the checkpoint, baked into the ONNX graph, and written to model.json
via :meth:`Normalizer.to_dict` for the record.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

STD_EPS = 1e-6
"""A feature whose training std is below this is treated as constant: its std is set to 1 (no scaling)."""


def weighted_moments(rows: np.ndarray, weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature mean and std (ddof=0, float64) of ``rows`` (..., F) over every leading axis.

    ``weights`` (...,) counts how often each row occurs (e.g. how many training windows cover a
    week); rows of weight 0 do not count. A std below :data:`STD_EPS` becomes 1 so that a constant
    feature maps to 0 instead of dividing by zero.
    """
    flat = np.asarray(rows, dtype=np.float64).reshape(-1, rows.shape[-1])  # (R, F)
    w = np.ones(len(flat)) if weights is None else np.asarray(weights, dtype=np.float64).reshape(-1)  # (R,)
    used = w > 0
    if not used.any():
        raise ValueError("cannot fit a normalizer on zero rows")
    if not np.isfinite(flat[used]).all():
        bad = np.flatnonzero(~np.isfinite(flat[used]).all(axis=0)).tolist()
        raise ValueError(f"training features contain NaN or inf (feature columns {bad}); fix the feature build first")
    total = w[used].sum()
    mean = (w[used, None] * flat[used]).sum(axis=0) / total  # (F,)
    var = (w[used, None] * (flat[used] - mean) ** 2).sum(axis=0) / total  # (F,)
    std = np.sqrt(var)
    return mean, np.where(std < STD_EPS, 1.0, std)


class Normalizer(nn.Module):
    """z-scores weekly (B, T, 23) and static (B, 6) features with fixed training statistics."""

    def __init__(self, n_weekly: int, n_static: int) -> None:
        super().__init__()
        self.register_buffer("weekly_mean", torch.zeros(n_weekly))
        self.register_buffer("weekly_std", torch.ones(n_weekly))
        self.register_buffer("static_mean", torch.zeros(n_static))
        self.register_buffer("static_std", torch.ones(n_static))

    @classmethod
    def fit(cls, weekly: np.ndarray, static: np.ndarray, weekly_weights: np.ndarray | None = None) -> Normalizer:
        """Statistics from training arrays only: ``weekly`` (..., 23) over all weeks and samples, ``static`` (N, 6).

        ``weekly`` may be the materialised samples (N, 156, 23) or, with ``weekly_weights``, the distinct
        week rows with the number of samples that contain each (see ``WindowedArrays.weekly_rows``).
        """
        weekly_mean, weekly_std = weighted_moments(weekly, weekly_weights)
        static_mean, static_std = weighted_moments(static)
        return cls.from_dict(
            {"weekly_mean": weekly_mean, "weekly_std": weekly_std, "static_mean": static_mean, "static_std": static_std}
        )

    def forward(self, weekly: torch.Tensor, static: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Raw (B, T, 23) and (B, 6) features -> standardised ones, same shapes."""
        return (weekly - self.weekly_mean) / self.weekly_std, (static - self.static_mean) / self.static_std

    def to_dict(self) -> dict[str, list[float]]:
        """JSON-safe statistics (for model.json)."""
        return {name: buf.detach().cpu().double().tolist() for name, buf in self.named_buffers()}

    @classmethod
    def from_dict(cls, stats: dict[str, Any]) -> Normalizer:
        """The inverse of :meth:`to_dict`; raises ValueError on missing keys or mismatched lengths."""
        names = ("weekly_mean", "weekly_std", "static_mean", "static_std")
        missing = [name for name in names if name not in stats]
        if missing:
            raise ValueError(f"normalizer statistics lack {missing}")
        arrays = {name: np.asarray(stats[name], dtype=np.float32) for name in names}
        if arrays["weekly_mean"].shape != arrays["weekly_std"].shape:
            raise ValueError("normalizer weekly mean and std lengths differ")
        if arrays["static_mean"].shape != arrays["static_std"].shape:
            raise ValueError("normalizer static mean and std lengths differ")
        norm = cls(len(arrays["weekly_mean"]), len(arrays["static_mean"]))
        for name, value in arrays.items():
            getattr(norm, name).copy_(torch.from_numpy(value))
        return norm

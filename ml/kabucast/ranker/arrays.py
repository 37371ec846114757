"""Named (date, ticker, column) arrays: the ranker's features and targets.

A :class:`PanelArray` is a dense float32 array (T, N, K) on ascending JST sessions x tickers x named
columns. NaN means "no value" (before a window fills, a ticker without a bar). ``normalization``
records whether and how the values were cross-sectionally normalised, so
:mod:`kabucast.ranker.normalize` can refuse to do it twice.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd

from kabucast.evaluation.metrics import rank_ic_series


@dataclass(frozen=True, eq=False)
class PanelArray:
    """``values`` (T, N, K) float32 on ``dates`` x ``tickers`` x ``names``; ``groups`` names each column's group.

    ``normalization`` is None for raw values, else the method applied once ("zscore" or "rank").
    """

    dates: pd.DatetimeIndex
    tickers: tuple[str, ...]
    names: tuple[str, ...]
    groups: tuple[str, ...]
    values: np.ndarray  # (T, N, K) float32
    normalization: str | None = None

    def __post_init__(self) -> None:
        shape = (len(self.dates), len(self.tickers), len(self.names))
        if self.values.shape != shape:
            raise ValueError(f"PanelArray.values has shape {self.values.shape}, expected {shape}")
        if len(self.groups) != len(self.names):
            raise ValueError(f"{len(self.names)} names but {len(self.groups)} groups")
        if len(set(self.names)) != len(self.names):
            raise ValueError("PanelArray names must be unique")

    def column(self, name: str) -> np.ndarray:
        """The (T, N) values of one column (a view)."""
        try:
            return self.values[:, :, self.names.index(name)]
        except ValueError:
            raise KeyError(f"{name!r} is not a column (have {', '.join(self.names)})") from None

    def group_columns(self, group: str) -> list[str]:
        """The names of the columns of ``group``, in order."""
        return [n for n, g in zip(self.names, self.groups, strict=True) if g == group]

    def with_columns(self, columns: dict[str, np.ndarray], group: str) -> PanelArray:
        """A new array with (T, N) ``columns`` appended under ``group`` (only for raw values)."""
        if self.normalization is not None:
            raise ValueError("append columns before normalising, so every column is normalised the same way")
        extra = np.stack([np.asarray(v, dtype=np.float32) for v in columns.values()], axis=2)  # (T, N, k)
        return dataclasses.replace(
            self,
            names=self.names + tuple(columns),
            groups=self.groups + (group,) * len(columns),
            values=np.concatenate([self.values, extra], axis=2),
        )


def rank_ic_by_date(scores: np.ndarray, realised: np.ndarray) -> np.ndarray:
    """(T,) per-date cross-sectional Spearman correlation of two (T, N) arrays (kabucast.evaluation.metrics)."""
    return rank_ic_series(pd.DataFrame(scores), pd.DataFrame(realised)).to_numpy()

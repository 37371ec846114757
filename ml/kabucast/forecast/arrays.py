"""The forecaster's samples in memory: weekly sequences stored once per ticker, a Dataset, the normaliser fit.

A sample of :class:`ArrayDataset` is a dict: ``weekly`` (156, 23), ``static`` (6,), ``position`` (2,)
float32; ``sector_id`` int64; ``target`` (12,) float32 log returns (month m = 21*m trading days ahead);
``date_index`` int64 naming the as-of date, used to group the cross-sectional metrics.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from torch.utils.data import Dataset

from kabucast.forecast.normalize import Normalizer

if TYPE_CHECKING:
    from kabucast.features import WeeklyFeatureHistory
    from kabucast.forecast.dataset import ForecastSamples
    from kabucast.forecast.interface import SampleSplit


@dataclass(frozen=True, eq=False)
class WindowedArrays:
    """Weekly sequences stored once per ticker instead of once per sample (40,000 x 156 x 23 floats = 570 MB).

    ``weeks`` (n_tickers, n_weeks, 23) float32 holds each ticker's complete weeks. Sample i is
    ``weeks[ticker_idx[i], week_end_idx[i] - 155 : week_end_idx[i]]`` (the 155 complete weeks before
    the as-of week) followed by ``last_row[i]`` (23,), the as-of date's partial week: the layout of
    kabucast.features' ``WeeklyFeatureHistory`` (see :meth:`from_history`).
    """

    weeks: np.ndarray  # (n_tickers, n_weeks, F) float32
    ticker_idx: np.ndarray  # (N,) int64
    week_end_idx: np.ndarray  # (N,) int64, exclusive end of the complete weeks
    last_row: np.ndarray  # (N, F) float32
    seq_len: int = 156

    def __post_init__(self) -> None:
        n = len(self.ticker_idx)
        if len(self.week_end_idx) != n or self.last_row.shape != (n, self.weeks.shape[2]):
            raise ValueError("ticker_idx, week_end_idx and last_row must describe the same samples")
        if n and (self.week_end_idx.min() < self.seq_len - 1 or self.week_end_idx.max() > self.weeks.shape[1]):
            raise ValueError(f"week_end_idx must lie in [{self.seq_len - 1}, {self.weeks.shape[1]}]")

    @classmethod
    def from_history(
        cls, history: WeeklyFeatureHistory, date_pos: np.ndarray, ticker_pos: np.ndarray
    ) -> WindowedArrays:
        """Samples (as-of row ``date_pos``, ticker column ``ticker_pos``), each (S,), of a feature history.

        Gives the same sequences as ``history.windows(date_pos, ticker_pos)`` without materialising them.
        """
        date_pos, ticker_pos = np.asarray(date_pos, dtype=np.int64), np.asarray(ticker_pos, dtype=np.int64)
        return cls(
            weeks=np.ascontiguousarray(history.complete.transpose(1, 0, 2)),  # (W, N, F) -> (N, W, F)
            ticker_idx=ticker_pos,
            week_end_idx=history.week[date_pos],
            last_row=history.partial[date_pos, ticker_pos],
        )

    def __len__(self) -> int:
        return len(self.ticker_idx)

    def __getitem__(self, i: int) -> np.ndarray:
        """(seq_len, F) float32 sequence of sample ``i``, as a (N, seq_len, F) array would give it."""
        return self.windows(np.array([i]))[0]

    def windows(self, index: np.ndarray) -> np.ndarray:
        """(B, seq_len, F) float32 sequences of samples ``index`` (B,)."""
        index = np.asarray(index)
        rows = self.week_end_idx[index, None] + np.arange(1 - self.seq_len, 0)  # (B, seq_len - 1)
        before = self.weeks[self.ticker_idx[index, None], rows]  # (B, seq_len - 1, F)
        return np.concatenate([before, self.last_row[index, None]], axis=1)

    def weekly_rows(self) -> tuple[np.ndarray, np.ndarray]:
        """Distinct week rows (R, F) and how many samples contain each (R,): the data of ``Normalizer.fit``.

        Weeks no sample reaches (e.g. the validation period) get weight 0.
        """
        n_tickers, n_weeks, n_features = self.weeks.shape
        starts = np.zeros((n_tickers, n_weeks + 1))
        np.add.at(starts, (self.ticker_idx, self.week_end_idx - (self.seq_len - 1)), 1.0)
        np.add.at(starts, (self.ticker_idx, self.week_end_idx), -1.0)
        counts = starts.cumsum(axis=1)[:, :n_weeks]  # (n_tickers, n_weeks)
        rows = np.concatenate([self.weeks.reshape(-1, n_features), self.last_row])
        return rows, np.concatenate([counts.reshape(-1), np.ones(len(self))])


class ArrayDataset(Dataset[dict[str, np.ndarray]]):
    """Samples held in memory; ``weekly`` is either (N, 156, 23) or a :class:`WindowedArrays`."""

    def __init__(
        self,
        weekly: np.ndarray | WindowedArrays,
        static: np.ndarray,
        position: np.ndarray,
        sector_id: np.ndarray,
        target: np.ndarray,
        date_index: np.ndarray,
    ) -> None:
        self.weekly = weekly
        self.static = np.asarray(static, dtype=np.float32)  # (N, 6)
        self.position = np.asarray(position, dtype=np.float32)  # (N, 2)
        self.sector_id = np.asarray(sector_id, dtype=np.int64)  # (N,)
        self.target = np.asarray(target, dtype=np.float32)  # (N, 12)
        self.date_index = np.asarray(date_index, dtype=np.int64)  # (N,)
        lengths = {len(a) for a in (weekly, self.static, self.position, self.sector_id, self.target, self.date_index)}
        if len(lengths) != 1:
            raise ValueError(f"every array needs the same number of samples; got lengths {sorted(lengths)}")

    def __len__(self) -> int:
        return len(self.static)

    def __getitem__(self, i: int) -> dict[str, np.ndarray]:
        return {
            "weekly": np.asarray(self.weekly[i], dtype=np.float32),  # (156, 23)
            "static": self.static[i],
            "position": self.position[i],
            "sector_id": self.sector_id[i],
            "target": self.target[i],
            "date_index": self.date_index[i],
        }


def fit_normalizer(train: ArrayDataset) -> Normalizer:
    """Normalizer statistics from the training set only, weighting each week by the samples that contain it."""
    if isinstance(train.weekly, WindowedArrays):
        rows, weights = train.weekly.weekly_rows()
        return Normalizer.fit(rows, train.static, weights)
    return Normalizer.fit(np.asarray(train.weekly), train.static)


def split_datasets(split: SampleSplit) -> tuple[ArrayDataset, ArrayDataset]:
    """The training and validation datasets of ``split`` (labels in ``label_order`` / ``val_order``)."""
    train, val = dataset(split.samples, split.train), dataset(split.samples, split.val)
    train.target, val.target = split.train_target(), split.val_target()
    return train, val


def dataset(samples: ForecastSamples, idx: np.ndarray) -> ArrayDataset:
    """Samples ``idx`` of ``samples`` as an :class:`ArrayDataset` (sequences as :class:`WindowedArrays`)."""
    weekly = WindowedArrays.from_history(samples.history, samples.date_pos[idx], samples.ticker_pos[idx])
    return ArrayDataset(
        weekly,
        samples.static[idx],
        samples.position[idx],
        samples.sector_id[idx],
        samples.target[idx],
        date_index=samples.date_pos[idx],
    )

"""Shared fixtures: a tiny model config, seeded synthetic samples, one exported default-size model, and the
forecast samples of a seeded four-ticker sample market."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from kabucast.data.sources.sample_market import SampleMarketSource
from kabucast.features import PricePanel, weekly_feature_history
from kabucast.forecast.arrays import ArrayDataset
from kabucast.forecast.dataset import ForecastSamples, build_samples
from kabucast.forecast.export import export_onnx
from kabucast.forecast.interface import FitResult, SampleSplit, TrainableModel
from kabucast.forecast.kinds import load_trainable
from kabucast.forecast.model import BiLSTMForecaster, ForecasterConfig
from kabucast.forecast.normalize import Normalizer
from kabucast.forecast.onnx_model import OnnxModel

TICKERS = ["7203.T", "6758.T", "8306.T", "9984.T"]
SECTORS = {"7203.T": "Consumer Cyclical", "6758.T": "Technology", "8306.T": "Financial Services"}
TINY = ForecasterConfig(hidden=16, lstm_layers=1, mlp=(32,), sector_dim=4)
"""Small enough to train in about a second on CPU; same inputs and outputs as the default."""


MODEL_INPUTS = ("weekly", "static", "position", "sector_id")
"""The four inputs every model takes, in their order."""


def as_tensors(batch: dict[str, np.ndarray]) -> tuple[torch.Tensor, ...]:
    """A batch's four model inputs as tensors, in :data:`MODEL_INPUTS` order."""
    return tuple(torch.as_tensor(np.asarray(batch[k])) for k in MODEL_INPUTS)


def random_batch(n: int, seed: int = 0, seq_len: int = 156) -> dict[str, np.ndarray]:
    """Raw-looking model inputs: weekly features off-centre and off-scale, so normalisation matters."""
    rng = np.random.default_rng(seed)
    return {
        "weekly": (rng.normal(size=(n, seq_len, 23)) * 2.0 + 1.0).astype(np.float32),
        "static": (rng.normal(size=(n, 6)) * 5.0 - 3.0).astype(np.float32),
        "position": rng.uniform(size=(n, 2)).astype(np.float32),
        "sector_id": rng.integers(0, 12, n).astype(np.int64),
    }


def planted_dataset(n_dates: int, n_tickers: int, seed: int, shuffle_target: bool = False) -> ArrayDataset:
    """Samples whose 12 targets are all 0.05 x (standardised last-week feature 0) + N(0, 0.02) noise (log returns).

    With ``shuffle_target`` the targets are permuted across samples: same distribution, no signal.
    """
    n = n_dates * n_tickers
    batch = random_batch(n, seed)
    rng = np.random.default_rng(seed + 1)
    signal = 0.05 * (batch["weekly"][:, -1, 0] - 1.0) / 2.0  # (N,)
    target = signal[:, None] + rng.normal(0.0, 0.02, (n, 12))  # (N, 12)
    if shuffle_target:
        target = target[rng.permutation(n)]
    dates = np.repeat(np.arange(n_dates), n_tickers)
    return ArrayDataset(
        batch["weekly"], batch["static"], batch["position"], batch["sector_id"], target.astype(np.float32), dates
    )


@dataclass(frozen=True)
class Exported:
    path: Path
    model: BiLSTMForecaster
    max_diff: float


@pytest.fixture(scope="session")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Exported:
    """A default-size model (random weights, fitted normalizer) exported once for the whole session."""
    torch.manual_seed(0)
    fit_on = random_batch(64, seed=1)
    model = BiLSTMForecaster(normalizer=Normalizer.fit(fit_on["weekly"], fit_on["static"])).eval()
    path = tmp_path_factory.mktemp("onnx") / "model.onnx"
    max_diff = export_onnx(model, path, random_batch(4, seed=2))
    return Exported(path, model, max_diff)


@pytest.fixture(scope="session")
def samples(calendar, sectors) -> ForecastSamples:
    """Four sample-market tickers, 2016-01 to 2021-06, one static snapshot: about 1,400 labelled samples."""
    source = SampleMarketSource(TICKERS, ["Consumer Cyclical", "Technology", "Financial Services", "x"], seed=3)
    fetched = source.fetch_prices(TICKERS, pd.Timestamp("2016-01-04"), pd.Timestamp("2021-06-30"))
    panel = PricePanel.from_frames(dict(fetched.frames), TICKERS)
    snapshot = pd.DataFrame(
        [[12.0, 1.5, 0.02, 0.1, 50.0, 1e12]] * len(TICKERS),
        index=TICKERS,
        columns=["trailingPE", "priceToBook", "dividendYield", "returnOnEquity", "debtToEquity", "marketCap"],
    )
    history = weekly_feature_history(panel, panel.dates)
    return build_samples(panel, history, {panel.dates[0]: snapshot}, SECTORS, sectors, calendar)


def in_time(samples: ForecastSamples) -> tuple[np.ndarray, np.ndarray]:
    """Every sample, split at the middle date: the earlier half trains, the later validates."""
    idx = np.argsort(samples.date_pos, kind="stable")
    return idx[: len(idx) // 2], idx[len(idx) // 2 :]


def served_and_reloaded(
    model: TrainableModel, data: ForecastSamples, train: np.ndarray, val: np.ndarray, work: Path, name: str
) -> tuple[float, OnnxModel, TrainableModel, FitResult]:
    """Fit ``model`` (``train``, validated on ``val``), export it, serve the file as the daily path does and reload
    it from its checkpoint by the kind its model.json names, as a fine-tune does: (parity, served, reloaded, fit)."""
    fitted = model.fit(SampleSplit(data, train, val), work / "fit", progress=False)
    parity = model.export(work / "model.onnx", data, val[:64])
    served = OnnxModel((work / "model.onnx").read_bytes(), name)
    return parity, served, load_trainable(model.describe(), fitted.best_checkpoint, {"seed": 0}), fitted

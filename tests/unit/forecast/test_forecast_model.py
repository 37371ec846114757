"""The BiLSTM forecaster: size, shapes, config round trip, and normalisation inside forward."""

from __future__ import annotations

import torch

from kabucast.config import SectorSettings
from kabucast.forecast.model import BiLSTMForecaster, ForecasterConfig, count_parameters
from kabucast.forecast.normalize import Normalizer

from .conftest import TINY, as_tensors, random_batch


def test_default_config_has_about_664k_parameters() -> None:
    # GIVEN the default model WHEN its parameters are counted THEN it is within 5% of the documented 664K
    n = count_parameters(BiLSTMForecaster())
    assert n == 658_508
    assert abs(n - 664_000) / 664_000 < 0.05


def test_default_embedding_covers_the_shipped_sector_map(sectors: SectorSettings) -> None:
    assert ForecasterConfig().n_sectors == sectors.n_ids


def test_forward_maps_a_batch_to_12_log_returns() -> None:
    # GIVEN a batch of 5 raw samples WHEN the default model runs THEN it returns (5, 12) finite floats
    model = BiLSTMForecaster().eval()
    with torch.no_grad():
        out = model(*as_tensors(random_batch(5)))
    assert out.shape == (5, 12)
    assert out.dtype == torch.float32
    assert torch.isfinite(out).all()


def test_forward_standardises_raw_inputs_itself() -> None:
    # GIVEN a model with fitted statistics and an identity-statistics twin with the same weights
    batch = random_batch(6)
    torch.manual_seed(0)
    fitted = BiLSTMForecaster(TINY, Normalizer.fit(batch["weekly"], batch["static"])).eval()
    plain = BiLSTMForecaster(TINY).eval()
    plain.load_state_dict(
        {k: v for k, v in fitted.state_dict().items() if not k.startswith("normalizer.")}, strict=False
    )
    # WHEN the fitted model gets raw inputs and the twin gets inputs standardised by hand
    stats = fitted.normalizer
    weekly, static, position, sector = as_tensors(batch)
    with torch.no_grad():
        raw_out = fitted(weekly, static, position, sector)
        hand_out = plain(
            (weekly - stats.weekly_mean) / stats.weekly_std,
            (static - stats.static_mean) / stats.static_std,
            position,
            sector,
        )
    # THEN both give the same forecasts
    torch.testing.assert_close(raw_out, hand_out)


def test_config_round_trips_through_a_dict() -> None:
    cfg = ForecasterConfig(hidden=32, mlp=(64, 32, 16))
    assert ForecasterConfig.from_dict(cfg.to_dict()) == cfg
    assert isinstance(cfg.to_dict()["mlp"], list)

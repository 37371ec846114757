"""A forecaster sweep builds the kind its base recipe names, with the trial's parameters laid on its sections."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from kabucast.errors import ConfigError
from kabucast.forecast.cross_sectional_model import CrossSectionalForecaster
from kabucast.forecast.diagnostics import CollapseSettings
from kabucast.forecast.torch_model import TorchForecaster
from kabucast.sweeps.objective import ForecasterData, ForecasterObjective

CROSS_SECTIONAL = {"kind": "cross_sectional", "hidden": 16, "heads": 2, "peers": "sector", "recent_weeks": 26}


def _objective(model: dict[str, Any]) -> ForecasterObjective:
    """An objective over no samples: building a trial's model reads only the settings."""
    idx = np.arange(0)
    data = ForecasterData(None, idx, idx, idx, model, {"batch_size": 64, "seed": 1}, n_sectors=12)  # type: ignore[arg-type]
    return ForecasterObjective(data, CollapseSettings())


def test_a_cross_sectional_recipe_builds_that_kind_with_the_trial_values() -> None:
    # WHEN a trial of a cross-sectional recipe suggests model and training keys
    params = {"hidden": 8, "peers": "knn", "peer_k": 3, "lr": 0.002, "collapse_output": True}
    model, collapse_output = _objective(CROSS_SECTIONAL).build(params, max_epochs=2)
    # THEN the model is that kind, the suggestions over the recipe's values, the epoch budget the sweep's
    assert isinstance(model, CrossSectionalForecaster) and collapse_output
    assert (model.config.hidden, model.config.heads, model.config.peers, model.config.peer_k) == (8, 2, "knn", 3)
    assert (model.training.lr, model.training.batch_size, model.training.max_epochs) == (0.002, 64, 2)


def test_a_recipe_without_a_kind_still_builds_the_bilstm() -> None:
    model, _ = _objective({"hidden": 8, "lstm_layers": 1, "mlp": [8]}).build({"dropout": 0.2}, max_epochs=1)
    assert isinstance(model, TorchForecaster) and (model.config.hidden, model.config.dropout) == (8, 0.2)


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"lstm_layers": 2}, "model.lstm_layers"),  # a BiLSTM key: not the cross-sectional model's
        ({"hidden": 6, "heads": 4}, "multiple of heads"),  # a combination the kind refuses
        ({"peers": "nearest"}, "peers"),
        ({"kind": "bilstm"}, "one kind"),
    ],
)
def test_bad_parameters_are_named(params: dict[str, Any], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        _objective(CROSS_SECTIONAL).build(params, max_epochs=1)


def test_a_kind_without_epochs_is_refused_by_name() -> None:
    with pytest.raises(ConfigError, match="'ridge' has no epochs"):
        _objective({"kind": "ridge"})


def test_a_sweep_loads_its_recipes_slow_data_groups(monkeypatch, tmp_path) -> None:
    # GIVEN a base recipe whose weekly inputs gain the margin group
    import types

    import kabucast.sweeps.objective as objective
    from kabucast.config import TrainDataSettings, TrainSettings, load_sectors, load_universe
    from kabucast.storage import LocalStore

    data = TrainDataSettings(feature_groups=("margin",))
    recipe = TrainSettings("local", "u", "s", data, {"hidden": 8, "lstm_layers": 1, "mlp": [8]}, {"seed": 0})
    shipped = load_universe("universes/topix_core30.yaml")
    monkeypatch.setattr(objective, "trial_train_settings", lambda trial: (recipe, shipped, load_sectors()))
    asked: dict[str, Any] = {}

    def load_samples(*args: Any, **kwargs: Any) -> None:
        asked.update(kwargs)
        raise LookupError("enough: the samples asked for are what this test reads")

    monkeypatch.setattr(objective, "load_samples", load_samples)
    # WHEN a trial's objective loads its samples  THEN it asks for the recipe's groups, as kabucast train does
    trial = types.SimpleNamespace(train_config="train_with_margin.yaml")
    with pytest.raises(LookupError):
        objective._forecaster(trial, LocalStore(tmp_path), None, None)  # type: ignore[arg-type]
    assert asked["feature_groups"] == ("margin",)

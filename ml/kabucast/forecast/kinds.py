"""The kinds of forecaster a settings file can name, and how to make each: the plug-in point for new models.

A training settings file picks its model with ``model.kind`` (default ``bilstm``); ``model.json``
records it as ``model_kind``. Each kind is a :class:`ModelKind`: ``build`` makes a fresh
:class:`~kabucast.forecast.interface.TrainableModel` from the settings' ``model`` and ``training``
sections, ``load`` one from a stored checkpoint (and its ``model.json``) to fine-tune. Adding a model is one entry in
:data:`MODEL_KINDS` (docs/ARCHITECTURE.md, "Adding a model"). Implementations are imported when
called, so this module imports no torch (nor lightgbm).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kabucast.errors import ConfigError
from kabucast.forecast.interface import TrainableModel


@dataclass(frozen=True)
class ModelKind:
    """How to make a kind of trainable model: fresh from settings, or from a stored checkpoint to fine-tune."""

    build: Callable[[Mapping[str, Any], Mapping[str, Any], int, str], TrainableModel]  # model, training, n_sectors
    # checkpoint, its model.json, training section, where
    load: Callable[[Path, Mapping[str, Any], Mapping[str, Any], str], TrainableModel]
    quantile_head: bool = False  # reads model.quantiles itself; otherwise they wrap it in risk-scaled bands


def _build_bilstm(model: Mapping[str, Any], training: Mapping[str, Any], n_sectors: int, where: str) -> TrainableModel:
    from kabucast.forecast.torch_model import TorchForecaster

    return TorchForecaster.from_settings(model, training, n_sectors, where)


def _load_bilstm(checkpoint: Path, meta: Mapping[str, Any], training: Mapping[str, Any], where: str) -> TrainableModel:
    from kabucast.forecast.torch_model import TorchForecaster

    return TorchForecaster.from_checkpoint(checkpoint, training, where, meta.get("quantile_calibration"))


def _settings_kind(implementation: Callable[[], Any]) -> ModelKind:
    """The kind of a class with ``from_settings(model, training, n_sectors, where)`` and
    ``from_checkpoint(checkpoint, training, where)``, which ``implementation()`` imports when called."""

    def build(model: Mapping[str, Any], training: Mapping[str, Any], n_sectors: int, where: str) -> TrainableModel:
        return implementation().from_settings(model, training, n_sectors, where)

    def load(checkpoint: Path, meta: Mapping[str, Any], training: Mapping[str, Any], where: str) -> TrainableModel:
        return implementation().from_checkpoint(checkpoint, training, where)

    return ModelKind(build, load)


def _ridge() -> Any:
    from kabucast.forecast.ridge_model import RidgeForecaster

    return RidgeForecaster


def _momentum() -> Any:
    from kabucast.forecast.momentum_model import MomentumForecaster

    return MomentumForecaster


def _cross_sectional() -> Any:
    from kabucast.forecast.cross_sectional_model import CrossSectionalForecaster

    return CrossSectionalForecaster


def _lightgbm() -> Any:
    from kabucast.forecast.lightgbm_model import LightGBMForecaster

    return LightGBMForecaster


DEFAULT_KIND = "bilstm"
MODEL_KINDS: dict[str, ModelKind] = {
    DEFAULT_KIND: ModelKind(_build_bilstm, _load_bilstm, quantile_head=True),
    "ridge": _settings_kind(_ridge),  # the strong simple baseline (kabucast.forecast.ridge_model)
    "momentum": _settings_kind(_momentum),  # momentum / reversal (kabucast.forecast.momentum_model)
    "lightgbm": _settings_kind(_lightgbm),  # boosted trees (kabucast.forecast.lightgbm_model)
    # stocks that see each other and the market (kabucast.forecast.cross_sectional_model)
    "cross_sectional": _settings_kind(_cross_sectional),
}
"""``model.kind`` of a training settings file (``model_kind`` in model.json) -> how to make that model."""


def model_kind(kind: str, where: str) -> ModelKind:
    if kind not in MODEL_KINDS:
        raise ConfigError(f"{where}: model kind '{kind}' is not a known model (known: {', '.join(MODEL_KINDS)})")
    return MODEL_KINDS[kind]


def build_model(
    model: Mapping[str, Any], training: Mapping[str, Any], n_sectors: int, where: str = "train settings"
) -> TrainableModel:
    """The trainable model of a settings file's ``model`` and ``training`` sections (``model.kind``: bilstm).

    ``quantiles`` in the section of a kind without a quantile head (every kind but the BiLSTM) wraps it
    in risk-scaled bands (kabucast.forecast.vol_intervals)."""
    kind = model_kind(model.get("kind", DEFAULT_KIND), where)
    section = {k: v for k, v in model.items() if k != "kind"}
    if kind.quantile_head or "quantiles" not in section:
        return kind.build(section, training, n_sectors, where)
    from kabucast.forecast.vol_intervals import VolScaledIntervals, check_levels

    levels = check_levels(section.pop("quantiles"), where)
    return VolScaledIntervals(kind.build(section, training, n_sectors, where), levels)


def load_trainable(
    meta: Mapping[str, Any], checkpoint: Path, training: Mapping[str, Any], where: str = "finetune settings"
) -> TrainableModel:
    """A stored version's model (its ``model.json`` ``meta`` and checkpoint file), to fine-tune with ``training``."""
    kind = model_kind(stored_kind(meta), where)
    model = kind.load(checkpoint, meta, training, where)
    levels = (meta.get("model_config") or {}).get("quantiles")
    if kind.quantile_head or not levels:
        return model
    from kabucast.forecast.vol_intervals import VolScaledIntervals

    return VolScaledIntervals(model, levels, meta.get("quantile_calibration"))


def stored_kind(meta: Mapping[str, Any]) -> str:
    """The kind a stored version's ``model.json`` names; one written before kinds existed is a BiLSTM."""
    return str(meta.get("model_kind", DEFAULT_KIND))

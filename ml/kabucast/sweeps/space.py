"""Search spaces (Optuna) and grids (the stability sweep) over a trial's parameters.

A parameter is a key of the model's training config (``lr``, ``pred_var_weight``, ...) or model
config (``hidden``, ``dropout``, ...); the objective decides which (kabucast.sweeps.objective).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from kabucast.errors import ConfigError


class Suggester(Protocol):
    """The part of ``optuna.Trial`` a search space needs (so this module does not import optuna)."""

    def suggest_float(self, name: str, low: float, high: float, *, log: bool = False) -> float: ...

    def suggest_int(self, name: str, low: int, high: int, *, log: bool = False) -> int: ...

    def suggest_categorical(self, name: str, choices: Sequence[Any]) -> Any: ...


@dataclass(frozen=True)
class ParamSpec:
    """One searched parameter: a float or int range (``log`` for a log scale) or a list of ``choices``."""

    type: Literal["float", "int", "categorical"] = "float"
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: tuple[Any, ...] = ()

    def __post_init__(self) -> None:
        if self.type == "categorical":
            if not self.choices:
                raise ConfigError("a categorical parameter needs a non-empty 'choices' list")
        elif self.low is None or self.high is None or not self.low <= self.high:
            raise ConfigError(f"a {self.type} parameter needs low <= high, got low={self.low} high={self.high}")
        elif self.log and self.low <= 0:
            raise ConfigError(f"a log-scale parameter needs low > 0, got {self.low}")

    def suggest(self, trial: Suggester, name: str) -> Any:
        """The value ``trial`` picks for parameter ``name``."""
        if self.type == "categorical":
            return trial.suggest_categorical(name, list(self.choices))
        if self.type == "int":
            return trial.suggest_int(name, int(self.low), int(self.high), log=self.log)  # type: ignore[arg-type]
        return trial.suggest_float(name, float(self.low), float(self.high), log=self.log)  # type: ignore[arg-type]


def suggest_params(trial: Suggester, space: Mapping[str, ParamSpec]) -> dict[str, Any]:
    """One value per parameter of ``space``, in the space's order."""
    return {name: spec.suggest(trial, name) for name, spec in space.items()}


def grid_configs(axes: Mapping[str, Sequence[Any]], fixed: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """Every combination of the ``axes`` values (the first axis varies slowest), each merged over ``fixed``."""
    empty = [name for name, values in axes.items() if not values]
    if empty:
        raise ConfigError(f"grid axis '{empty[0]}' has no values")
    names = list(axes)
    return [{**(fixed or {}), **dict(zip(names, combo, strict=True))} for combo in itertools.product(*axes.values())]


def config_id(index: int, params: Mapping[str, Any]) -> str:
    """A readable, file-safe id of a grid config: ``c007_lr0.001_pred_var_weight0.5``."""
    parts = "_".join(f"{k}{v:g}" if isinstance(v, float) else f"{k}{v}" for k, v in params.items())
    return f"c{index:03d}_{parts}"[:120]

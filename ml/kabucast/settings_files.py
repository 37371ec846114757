"""Settings files: a YAML file read into a frozen dataclass, every key checked.

A missing key, an unknown key or a value of the wrong type is a :class:`ConfigError` that names the
file and the dotted key, so a typo never silently falls back to a default. The dataclasses
themselves are kabucast.config's (and kabucast.universe's).
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import re
import types
import typing
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml

from kabucast.errors import ConfigError

ENV_CONFIG_DIR = "KABUCAST_CONFIG_DIR"
CONFIG_DIR = Path(os.environ.get(ENV_CONFIG_DIR) or Path(__file__).resolve().parents[2] / "config")
"""The repository's ``config/`` folder (next to ``ml/``), or ``$KABUCAST_CONFIG_DIR`` (installed images)."""

T = TypeVar("T")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping, or raise :class:`ConfigError` naming the file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, ValueError) as exc:  # ValueError: a date YAML reads that does not exist (2024-02-30)
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping, got {type(data).__name__}")
    return data


def load_settings(cls: type[T], path: str | Path) -> T:
    """Load ``path`` into the frozen dataclass ``cls``; every key is checked against ``cls``."""
    return build_section(cls, load_yaml(path), str(path), "")


def resolve_config_path(name: str | Path, base: Path | None = None) -> Path:
    """A config path as given, else relative to ``base`` (default: the repository's ``config/``)."""
    p = Path(name)
    if p.is_absolute() or p.exists():
        return p
    return (base or CONFIG_DIR) / p


def build_section(cls: type[T], data: Any, file: str, prefix: str) -> T:
    """``data`` checked against the dataclass ``cls``; errors name ``file`` and the key under ``prefix``."""
    where = prefix.rstrip(".") or "top level"
    if not isinstance(data, dict):
        raise ConfigError(f"{file}: {where}: expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(f"{file}: unknown key '{prefix}{unknown[0]}' (allowed: {', '.join(sorted(fields))})")
    kwargs: dict[str, Any] = {}
    for name, f in fields.items():
        key = f"{prefix}{name}"
        if name not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ConfigError(f"{file}: missing key '{key}'")
            continue
        kwargs[name] = _coerce(hints[name], data[name], file, key)
    try:
        return cls(**kwargs)
    except ConfigError as exc:  # a check across keys (the dataclass's __post_init__): name the file too
        if str(exc).startswith(file):
            raise
        raise type(exc)(f"{file}: {exc}") from None


def _coerce(tp: Any, value: Any, file: str, key: str) -> Any:
    if tp is Any:
        return value  # checked later against the dataclass the section configures
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if dataclasses.is_dataclass(tp):
        return build_section(tp, value, file, f"{key}.")
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"{file}: '{key}' must be one of {list(args)}, got {value!r}")
        return value
    if origin is tuple:
        if not isinstance(value, list | tuple):  # a tuple: a section rebuilt from its dataclass (sweep overrides)
            raise ConfigError(f"{file}: '{key}' must be a list, got {type(value).__name__}")
        return tuple(_coerce(args[0], v, file, f"{key}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{file}: '{key}' must be a mapping, got {type(value).__name__}")
        return {_coerce(args[0], k, file, key): _coerce(args[1], v, file, f"{key}.{k}") for k, v in value.items()}
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        return _coerce(next(a for a in args if a is not type(None)), value, file, key)
    if tp is datetime.date:
        return _date(value, file, key)
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp is str and isinstance(value, datetime.date):
        return value.isoformat()  # YAML reads 2025-10-31 as a date; a string field takes its text
    if isinstance(tp, type) and (not isinstance(value, tp) or (tp is int and isinstance(value, bool))):
        raise ConfigError(f"{file}: '{key}' must be {tp.__name__}, got {type(value).__name__} {value!r}")
    return value


def _date(value: Any, file: str, key: str) -> datetime.date:
    """A calendar date: YAML's own (``2024-03-29``) or a quoted ``"2024-03-29"``; a time of day is refused."""
    if isinstance(value, datetime.date) and not isinstance(value, datetime.datetime):
        return value
    problem = ConfigError(f"{file}: '{key}' must be a date YYYY-MM-DD, got {value!r}")
    if not (isinstance(value, str) and _ISO_DATE.fullmatch(value)):
        raise problem
    try:
        return datetime.date.fromisoformat(value)
    except ValueError:  # 2024-02-30
        raise problem from None

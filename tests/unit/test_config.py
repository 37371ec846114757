"""Typed settings: every shipped config loads; a bad key is an error naming the file and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from kabucast.config import (
    CONFIG_DIR,
    BacktestSettings,
    EnrichSettings,
    EvaluateSettings,
    FetchSettings,
    FinetuneSettings,
    PredictSettings,
    SectorSettings,
    TrainSettings,
    UniverseSettings,
    load_settings,
)
from kabucast.errors import ConfigError

SHIPPED = [
    (FetchSettings, "fetch_daily_backfill.yaml"),
    (FetchSettings, "fetch_daily_universe.yaml"),
    (EnrichSettings, "enrich_universe.yaml"),
    (SectorSettings, "sectors.yaml"),
    (UniverseSettings, "universes/topix_core30.yaml"),
    (TrainSettings, "train.yaml"),
    (TrainSettings, "train_demo.yaml"),
    (FinetuneSettings, "finetune.yaml"),
    (PredictSettings, "predict.yaml"),
    (BacktestSettings, "backtest.yaml"),
    (EvaluateSettings, "evaluate.yaml"),
]


@pytest.mark.parametrize(("cls", "name"), SHIPPED)
def test_shipped_configs_load(cls: type, name: str) -> None:
    settings = load_settings(cls, CONFIG_DIR / name)
    assert settings.env in ("local", "s3")


def test_core30_universe_is_thirty_unique_tickers_with_known_sectors(
    universe: UniverseSettings, sectors: SectorSettings
) -> None:
    # GIVEN the shipped universe and sector map
    tickers = universe.tickers
    # THEN there are 30 unique Tokyo tickers, each with a sector the map knows
    assert len(tickers) == 30
    assert len(set(tickers)) == 30
    assert all(t.endswith(".T") and t[:4].isdigit() for t in tickers)
    unknown = [m.sector for m in universe.members if m.sector not in sectors.sectors]
    assert unknown == []
    assert sectors.unknown_id not in sectors.sectors.values()


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cfg.yaml"
    path.write_text(text)
    return path


def test_unknown_key_names_file_and_key(tmp_path: Path) -> None:
    # GIVEN a fetch config with a typo inside a nested section
    path = _write(
        tmp_path,
        "env: local\nuniverse: u.yaml\nsource: sample\nperiod: 5y\noverlap_sessions: 3\nbatch_size: 5\n"
        "retry: {max_attempts: 2, base_secnds: 1}\n",
    )
    # WHEN it is loaded THEN the error names the file and the dotted key
    with pytest.raises(ConfigError, match=r"cfg\.yaml: unknown key 'retry\.base_secnds'"):
        load_settings(FetchSettings, path)


def test_missing_key_names_file_and_key(tmp_path: Path) -> None:
    path = _write(tmp_path, "env: local\nuniverse: u.yaml\nsource: sample\nperiod: 5y\nbatch_size: 5\n")
    with pytest.raises(ConfigError, match=r"cfg\.yaml: missing key 'overlap_sessions'"):
        load_settings(FetchSettings, path)


def test_wrong_type_and_bad_env_are_errors(tmp_path: Path) -> None:
    body = "universe: u.yaml\nsource: sample\nperiod: 5y\noverlap_sessions: 3\n"
    with pytest.raises(ConfigError, match=r"'batch_size' must be int"):
        load_settings(FetchSettings, _write(tmp_path, f"env: local\n{body}batch_size: ten\n"))
    with pytest.raises(ConfigError, match=r"'env' must be one of \['local', 's3'\]"):
        load_settings(FetchSettings, _write(tmp_path, f"env: cloud\n{body}batch_size: 5\n"))


def test_settings_are_frozen(universe: UniverseSettings) -> None:
    with pytest.raises(AttributeError):
        universe.name = "other"  # type: ignore[misc]


def test_missing_file_and_bad_yaml_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_settings(SectorSettings, tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_settings(SectorSettings, _write(tmp_path, "env: [unclosed\n"))

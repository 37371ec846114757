"""Typed settings: every shipped config loads; a bad key is an error naming the file and the key."""

from __future__ import annotations

import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kabucast.config import (
    CONFIG_DIR,
    AcceptedLevelShift,
    BacktestSettings,
    EnrichSettings,
    EvaluateSettings,
    FetchSettings,
    FinetuneSettings,
    PredictSettings,
    SectorSettings,
    TrainSettings,
    UniverseSettings,
    UnmappedSector,
    load_settings,
)
from kabucast.errors import ConfigError
from kabucast.universe_listing import Tse33Sector

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
    (EvaluateSettings, "evaluate_quick.yaml"),
    (TrainSettings, "train_quick.yaml"),
]


@pytest.mark.parametrize(("cls", "name"), SHIPPED)
def test_shipped_configs_load(cls: type, name: str) -> None:
    settings = load_settings(cls, CONFIG_DIR / name)
    assert settings.env in ("local", "s3")


JPX_2026_04_30 = (
    "2914 3382 4063 4502 4568 6098 6367 6501 6503 6758 6857 6861 7011 7203 7267 7741 7974 8001 8031 8035 8058 8306 "
    "8316 8411 8729 8766 9432 9433 9434 9983 9984"
)
"""The Core30 flags of JPX's TOPIX weight file of 2026-04-30 (the source of truth this file must match)."""


def test_core30_today_is_jpxs_list_and_every_name_has_a_known_sector(
    universe: UniverseSettings, sectors: SectorSettings
) -> None:
    assert sorted(universe.tickers) == sorted(f"{code}.T" for code in JPX_2026_04_30.split())
    assert universe.members_on("2026-04-30") == universe.tickers
    unknown = [m.sector for m in universe.members if m.sector not in sectors.sectors]
    assert unknown == []
    assert sectors.unknown_id not in sectors.sectors.values()
    assert (universe.exchange, universe.currency, universe.review_month) == ("XTKS", "JPY", 10)


def test_core30_history_has_the_reviews_and_the_right_size_on_every_session(universe: UniverseSettings) -> None:
    from kabucast.data.calendar import calendar_for

    # the October 2024 review, as JPX announced it
    before, after = set(universe.members_on("2024-10-30")), set(universe.members_on("2024-10-31"))
    assert after - before == {"2914.T", "6503.T", "7011.T", "9983.T"}
    assert before - after == {"4503.T", "6273.T", "6594.T", "6954.T"}
    # 30 names on every session, except 29 between Docomo's delisting and the 2021 review, and 31 with 8729
    sessions = calendar_for("XTKS").sessions(universe.history_from, "2026-11-27")
    sizes = universe.membership(sessions, universe.every_ticker).sum(axis=1)
    expected = np.where(
        sessions >= "2025-09-29", 31, np.where((sessions > "2020-12-02") & (sessions < "2021-10-29"), 29, 30)
    )
    assert (sizes == expected).all(), sessions[sizes != expected][:5]
    # the matrix and the per-date list agree; before history_from its members stand in
    day = sessions[1000]
    row = universe.membership([day], universe.every_ticker)[0]
    assert {t for t, m in zip(universe.every_ticker, row, strict=True) if m} == set(universe.members_on(day))
    assert universe.members_on("2005-01-04") == universe.members_on(universe.history_from)


@pytest.mark.parametrize(
    ("members", "message"),
    [
        ([{"ticker": "A", "name": "a", "sector": "Energy", "since": "2020-01-01", "until": "2019-01-01"}], "leaves"),
        (
            [
                {"ticker": "A", "name": "a", "sector": "Energy", "until": "2020-06-01"},
                {"ticker": "A", "name": "a", "sector": "Energy", "since": "2020-06-01"},
            ],
            "overlapping spells",
        ),
        (
            [
                {"ticker": "A", "name": "a", "sector": "Energy", "until": "2020-01-01"},
                {"ticker": "A", "name": "a", "sector": "Utilities", "since": "2021-01-01"},
            ],
            "two sectors",
        ),
        ([{"ticker": "A", "name": "a", "sector": "Energy", "since": "2020-13-01"}], "must be a date"),
    ],
)
def test_a_universe_file_that_contradicts_itself_is_a_named_error(tmp_path, members: list, message: str) -> None:
    import yaml

    path = tmp_path / "u.yaml"
    path.write_text(
        yaml.safe_dump({"env": "local", "name": "u", "description": "", "reviewed": "2025-10-31", "members": members})
    )
    with pytest.raises(ConfigError, match=message):
        load_settings(UniverseSettings, path)


def test_a_file_behind_the_latest_review_is_warned_about(universe: UniverseSettings) -> None:
    import dataclasses

    from kabucast.data.calendar import calendar_for

    review = calendar_for("XTKS").latest_month_end_session(10, "2026-11-30")
    assert review == pd.Timestamp("2026-10-30")  # Saturday the 31st: the review takes effect on Friday
    assert calendar_for("XTKS").latest_month_end_session(10, "2026-09-30") == pd.Timestamp("2025-10-31")
    fresh = dataclasses.replace(universe, reviewed="2026-10-30")
    assert fresh.review_warning("2026-11-30", review) is None
    warning = universe.review_warning("2026-11-30", review)
    assert warning and "2025-10-31" in warning and "2026-10-30" in warning


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


def test_accepted_level_shifts_are_dated_and_checked(tmp_path: Path) -> None:
    body = "env: local\nuniverse: u.yaml\nsource: sample\nperiod: 5y\noverlap_sessions: 3\nbatch_size: 5\n"
    # GIVEN accepted level shifts with a YAML date and a quoted one
    shifts = (
        "accepted_level_shifts:\n  - {ticker: 7203.T, date: 2024-03-29}\n  - {ticker: 6758.T, date: '2024-04-01'}\n"
    )
    settings = load_settings(FetchSettings, _write(tmp_path, body + shifts))
    # THEN both are dates, and a config without the key accepts none
    assert settings.accepted_level_shifts == (
        AcceptedLevelShift("7203.T", datetime.date(2024, 3, 29)),
        AcceptedLevelShift("6758.T", datetime.date(2024, 4, 1)),
    )
    assert load_settings(FetchSettings, _write(tmp_path, body)).accepted_level_shifts == ()
    # AND a date that is no date, a time of day, a missing ticker or a bare mapping name the file and the key
    for entry, message in [
        ("- {ticker: 7203.T, date: '2024-02-30'}", r"cfg\.yaml: 'accepted_level_shifts\[0\]\.date' must be a date Y"),
        ("- {ticker: 7203.T, date: 2024-02-30}", r"cfg\.yaml: not valid YAML: day is out of range for month"),
        ("- {ticker: 7203.T, date: 2024-03-29 09:00:00}", r"'accepted_level_shifts\[0\]\.date' must be a date"),
        ("- {ticker: 7203.T, date: 29/03/2024}", r"'accepted_level_shifts\[0\]\.date' must be a date"),
        ("- {date: 2024-03-29}", r"cfg\.yaml: missing key 'accepted_level_shifts\[0\]\.ticker'"),
        ("{ticker: 7203.T, date: 2024-03-29}", r"cfg\.yaml: 'accepted_level_shifts' must be a list"),
    ]:
        with pytest.raises(ConfigError, match=message):
            load_settings(FetchSettings, _write(tmp_path, f"{body}accepted_level_shifts:\n  {entry}\n"))


def test_settings_are_frozen(universe: UniverseSettings) -> None:
    with pytest.raises(AttributeError):
        universe.name = "other"  # type: ignore[misc]


def test_missing_file_and_bad_yaml_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_settings(SectorSettings, tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_settings(SectorSettings, _write(tmp_path, "env: [unclosed\n"))


def sector_file(tmp_path: Path, tse33: str) -> Path:
    path = tmp_path / "sectors.yaml"
    head = "env: local\nunknown_id: 2\nsectors: {Technology: 0, Industrials: 1}\n"
    path.write_text(head + tse33, encoding="utf-8")
    return path


def test_the_tse33_map_is_config_and_each_code_names_a_sector_of_the_map(tmp_path: Path) -> None:
    # GIVEN a sector file whose tse33 maps two codes onto its sectors
    ok = sector_file(tmp_path, 'tse33:\n  "3650": {name: Electric Appliances, sector: Technology}\n')
    # THEN it loads into SectorSettings.tse33
    assert load_settings(SectorSettings, ok).tse33["3650"] == Tse33Sector("Electric Appliances", "Technology")
    # AND a code mapped onto a sector the embedding does not have is a named error at load
    bad = sector_file(tmp_path, 'tse33:\n  "7050": {name: Banks, sector: Financial Services}\n')
    with pytest.raises(UnmappedSector, match=r"sectors\.yaml: tse33.7050 \(Banks\): sector 'Financial Services'"):
        load_settings(SectorSettings, bad)


@pytest.mark.parametrize(
    ("tse33", "message"),
    [
        ("tse33:\n  3650: {name: x, sector: Technology}\n", "'tse33' must be str, got int 3650"),
        ('tse33:\n  "50": {name: x, sector: Technology}\n', "code '50' is not a 4-digit TSE 33-sector code"),
        ('tse33:\n  "3650": {name: x}\n', "missing key 'tse33.3650.sector'"),
        ('tse33:\n  "3650": {name: x, sector: Technology, id: 3}\n', "unknown key 'tse33.3650.id'"),
    ],
)
def test_a_malformed_tse33_entry_is_a_named_error(tmp_path: Path, tse33: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(SectorSettings, sector_file(tmp_path, tse33))

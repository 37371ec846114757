"""Dataset validation: the lookahead probe, NULL-heavy groups, infinite values, the report and the CLI."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from kabucast.cli.main import main
from kabucast.config import CONFIG_DIR, load_settings
from kabucast.ranker.arrays import PanelArray
from kabucast.ranker.errors import DatasetValidationError
from kabucast.ranker.features import build_features, warmup_sessions
from kabucast.ranker.panel import RankerPanel, write_panel
from kabucast.ranker.sample import SamplePanel
from kabucast.ranker.settings import FeatureSettings, RankerDataSettings, ValidationSettings
from kabucast.ranker.targets import build_targets
from kabucast.ranker.validate import markdown, validate_dataset, write_validation
from kabucast.storage import LocalStore

SETTINGS = ValidationSettings()
WARMUP = warmup_sessions(FeatureSettings())


@pytest.fixture(scope="module")
def dataset(small: SamplePanel) -> tuple[PanelArray, PanelArray]:
    return build_features(small.panel, FeatureSettings()), build_targets(small.panel, [1, 5])


def with_leak(features: PanelArray, targets: PanelArray, horizon: int = 1, noise: float = 1.0) -> PanelArray:
    """The features plus ``leak``: the forward return itself plus noise of ``noise`` times its own spread."""
    fwd = targets.column(f"fwd_{horizon}")
    rng = np.random.default_rng(0)
    return features.with_columns({"leak": fwd + noise * np.nanstd(fwd) * rng.standard_normal(fwd.shape)}, "leaky")


def test_a_clean_dataset_passes(dataset: tuple[PanelArray, PanelArray]) -> None:
    report = validate_dataset(*dataset, SETTINGS, WARMUP)
    assert report.ok, report.problems
    assert not any(f["lookahead"] for f in report.content["features"].values())
    assert report.content["targets"]["fwd_5"]["quantiles"]["0.5"] == pytest.approx(0.0, abs=0.02)


@pytest.mark.parametrize("horizon", [1, 5])
def test_a_leaked_feature_is_flagged_and_legit_ones_are_not(
    dataset: tuple[PanelArray, PanelArray], horizon: int
) -> None:
    # GIVEN the features plus the forward return (1 or 5 sessions) with noise
    features, targets = dataset
    report = validate_dataset(with_leak(features, targets, horizon), targets, SETTINGS, WARMUP)

    # THEN only the leak is flagged, and the report says why
    flagged = [name for name, f in report.content["features"].items() if f["lookahead"]]
    assert flagged == ["leak"]
    assert any("feature 'leak' looks like lookahead" in p for p in report.problems)
    leak = report.content["features"]["leak"]
    assert f"fwd_{horizon}" in leak["lookahead"]
    assert abs(leak["rankic_t"][f"fwd_{horizon}"]) > SETTINGS.leak_rankic


def test_a_group_seventy_percent_null_fails(dataset: tuple[PanelArray, PanelArray]) -> None:
    # GIVEN the beta group blanked on 70 % of its (date, ticker) cells after the warm-up
    features, targets = dataset
    values = features.values.copy()
    body = values[WARMUP:, :, features.names.index("beta_60")]  # (T - warm-up, N) view
    cells = np.random.default_rng(1).permutation(body.size)[: round(0.7 * body.size)]
    body.flat[cells] = np.nan
    blanked = dataclasses.replace(features, values=values)

    # THEN validation fails on that group, naming it, its NULL rate and the threshold
    report = validate_dataset(blanked, targets, SETTINGS, WARMUP)
    assert not report.ok
    assert len(report.problems) == 1
    assert "feature group 'beta' is 70.0% NULL" in report.problems[0] and "at most 30%" in report.problems[0]
    assert report.content["groups"]["beta"]["null_rate"] == pytest.approx(0.7, abs=1e-3)


def test_infinite_values_and_constant_columns(dataset: tuple[PanelArray, PanelArray]) -> None:
    features, targets = dataset
    values = features.values.copy()
    values[100, 0, 0] = np.inf
    odd = dataclasses.replace(features, values=values).with_columns({"flat": np.ones(values.shape[:2])}, "flat")
    report = validate_dataset(odd, targets, SETTINGS, WARMUP)
    assert any("'ret_1' has 1 infinite values" in p for p in report.problems)
    assert "feature 'flat' is constant" in report.warnings


def test_report_is_written_as_json_and_markdown(tmp_path: Path, dataset: tuple[PanelArray, PanelArray]) -> None:
    store = LocalStore(tmp_path)
    report = validate_dataset(*dataset, SETTINGS, WARMUP)
    keys = write_validation(store, "run-1", report)
    assert keys == ["reports/run-1/validation.json", "reports/run-1/validation.md"]
    doc = store.get_json(keys[0])
    assert doc["status"] == "ok" and doc["shape"]["features"] == len(dataset[0].names)
    assert len(doc["null_rate_by_date"]) == len(dataset[0].dates)
    assert "| volume_z_5 | volume |" in store.get_bytes(keys[1]).decode()


def test_tickers_rebased_for_a_corporate_action_are_named_in_a_warning(dataset: tuple[PanelArray, PanelArray]) -> None:
    # GIVEN a panel whose S0003.T was rebased for an unadjusted 10-to-1 consolidation, and one rejected bad tick
    rebased = {"ticker": "S0003.T", "date": "2020-06-01", "kind": "corporate_action", "action": "rebased"}
    spike = {"ticker": "S0004.T", "date": "2020-07-01", "kind": "reverting_spike", "action": "reject"}
    suspects = [{**rebased, "detail": "ratio 10 (a 10-to-1 consolidation)"}, {**spike, "detail": "x100"}]
    # WHEN the dataset is validated
    report = validate_dataset(*dataset, SETTINGS, WARMUP, suspects)
    # THEN the report counts it apart from the rejected bars, warns by name, and lists it in the markdown
    bars = report.content["bars"]
    assert (bars["rejected"], bars["rebased"], bars["by_kind"]["corporate_action"]) == (1, ["S0003.T"], 1)
    assert any(
        w.startswith("1 ticker rebased by a split ratio their source left unadjusted (S0003.T") for w in report.warnings
    )
    assert "| S0003.T | 2020-06-01 | corporate_action | rebased |" in markdown(report)


def small_config(tmp_path: Path, name: str) -> Path:
    """config/ranker/features.yaml shrunk to 30 stocks x 1 year under panel name ``name``."""
    doc = yaml.safe_load((CONFIG_DIR / "ranker" / "features.yaml").read_text())
    doc["panel"].update(name=name, n_stocks=30, start="2020-01-06", end="2020-12-30")
    path = tmp_path / "ranker.yaml"
    path.write_text(yaml.safe_dump(doc))
    load_settings(RankerDataSettings, path)  # the shipped file's keys are all valid
    return path


def test_cli_validates_a_fresh_panel(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = small_config(tmp_path, "cli30")
    store = tmp_path / "store"
    code = main(["ranker", "validate", "--config", str(config), "--store", str(store), "--run-id", "ok-run"])
    assert code == 0, capsys.readouterr().err
    assert "ranker dataset passed: 242 dates x 30 tickers" in capsys.readouterr().out
    assert (store / "ranker/panel/cli30/year=2020/part.parquet").is_file()
    assert json.loads((store / "reports/ok-run/validation.json").read_text())["status"] == "ok"


def test_cli_fails_a_null_heavy_group_with_exit_code_2(
    tmp_path: Path, small: SamplePanel, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a stored panel in which 70 % of the bars report no trades (volume 0)
    volume = small.panel.prices.volume.copy()
    volume[np.random.default_rng(2).random(volume.shape) < 0.7] = 0.0
    panel = RankerPanel(dataclasses.replace(small.panel.prices, volume=volume), small.panel.sectors)
    store = LocalStore(tmp_path / "store")
    write_panel(store, "dry", panel, {})

    # WHEN it is validated
    config = small_config(tmp_path, "dry")
    code = main(["ranker", "validate", "--config", str(config), "--store", store.url, "--run-id", "bad-run"])

    # THEN the command fails with exit code 2, names the group, and the report says why
    err = capsys.readouterr().err
    assert code == 2
    assert "failed validation" in err and "feature group 'volume'" in err and "reports/bad-run/validation.json" in err
    doc = store.get_json("reports/bad-run/validation.json")
    assert doc["status"] == "failed" and doc["groups"]["volume"]["null_rate"] > 0.7


def test_validation_error_lists_problems() -> None:
    err = DatasetValidationError(["a", "b"], "reports/x/validation.json")
    assert "  - a\n  - b" in str(err) and err.problems == ["a", "b"]

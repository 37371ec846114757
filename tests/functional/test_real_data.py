"""Real data end to end: 12 US large caps on the New York calendar, in USD, through every command.

The fixtures are slices of the CC0 real US market data (tests/fixtures/real_us/README.md): real
sessions of another exchange, real gaps, real bad ticks. Everything runs through the CLI as a user
would, on an XNYS / USD universe: backfill from the file, features, a tiny training, predict,
walk-forward evaluation, backtest, then the ranker's validation and LightGBM baseline on a 44-stock
panel. Nothing here is synthetic except one x100 print planted in a copy of the file.
"""

from __future__ import annotations

import gzip
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from kabucast.cli import main
from kabucast.config import UniverseSettings, load_settings
from kabucast.data.calendar import calendar_for
from kabucast.data.ingest import load_prices
from kabucast.data.prices import prices_key
from kabucast.features.panel import PricePanel
from kabucast.features.sequences import weekly_features_at
from kabucast.storage import LocalStore

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "real_us"
LARGE, PANEL = FIXTURES / "us_large12.csv.gz", FIXTURES / "us_panel44.csv.gz"
AS_OF = "2017-11-10"  # the data's last session (a Friday on XNYS)
PLANTED = ("ORCL", "2015-06-15")  # a Monday; x100 for one session in the copy the backfill reads


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict, str]:
    """Run ``kabucast argv --json``: exit code, the JSON report, stderr."""
    code = main([*argv, "--json"])
    captured = capsys.readouterr()
    report = json.loads(captured.out) if captured.out.strip().startswith("{") else {}
    return code, report, captured.err


def write_yaml(path: Path, data: dict) -> str:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return str(path)


@pytest.fixture(scope="module")
def configs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Settings files for the XNYS / USD universe: backfill from a copy of the file with a planted x100 print."""
    root = tmp_path_factory.mktemp("real-configs")
    frame = pd.read_csv(LARGE)
    row = (frame["ticker"] == PLANTED[0]) & (frame["date"] == PLANTED[1])
    assert row.sum() == 1
    frame.loc[row, ["open", "high", "low", "close"]] *= 100
    planted = root / "us_large12_planted.csv.gz"
    with gzip.open(planted, "wt") as f:
        frame.to_csv(f, index=False)
    universe = str(FIXTURES / "us_large12.yaml")
    storage = {"local_root": ".kabucast", "s3_bucket": "", "s3_prefix": ""}
    train = yaml.safe_load((Path(__file__).resolve().parents[2] / "config" / "train_demo.yaml").read_text())
    train.update(universe=universe)
    train["data"].update(max_train_samples=1500, max_val_samples=600, as_of_stride=3)
    train["model"].update(hidden=32, mlp=[64], lstm_layers=1)
    train["training"].update(max_epochs=1, batch_size=128)
    return {
        "fetch": write_yaml(
            root / "fetch.yaml",
            {
                "env": "local",
                "universe": universe,
                "source": f"file:{planted}",
                "period": "20y",
                "overlap_sessions": 3,
                "batch_size": 50,
                "storage": storage,
            },
        ),
        "enrich": write_yaml(
            root / "enrich.yaml",
            {"env": "local", "universe": universe, "source": f"file:{planted}", "batch_size": 50, "storage": storage},
        ),
        "train": write_yaml(root / "train.yaml", train),
        "predict": write_yaml(
            root / "predict.yaml",
            {"env": "local", "universe": universe, "sectors": "sectors.yaml", "min_coverage": 0.9, "storage": storage},
        ),
        "evaluate": write_yaml(
            root / "evaluate.yaml",
            {
                "env": "local",
                "train_config": str(root / "train.yaml"),
                "folds": 2,
                "test_sessions": 120,  # room in each fold to fit, purge and calibrate the quantile head on
                "holdout_fraction": 0.15,
                "compare_champion": False,
                "storage": storage,
            },
        ),
    }


@pytest.fixture(scope="module")
def store(configs: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> LocalStore:
    return LocalStore(tmp_path_factory.mktemp("real-store"))


@pytest.mark.slow
def test_backfill_on_new_york_sessions_rejects_the_planted_print_by_name_and_date(
    configs: dict[str, str], store: LocalStore, capsys: pytest.CaptureFixture[str]
) -> None:
    s = ["--store", str(store.root), "--as-of", AS_OF]
    code, report, err = cli(capsys, "backfill", "--config", configs["fetch"], *s)
    assert code == 0, err
    assert sorted(report["updated"]) == sorted(load_settings(UniverseSettings, FIXTURES / "us_large12.yaml").tickers)
    # the planted x100 print is rejected by ticker, date and reason; the bar is not stored
    (line,) = [x for x in report["rejected_bars"][PLANTED[0]] if x.startswith(PLANTED[1])]
    assert "reverting_spike" in line and "98.6x the close 42.645 on 2015-06-12" in line  # x100 on a real move
    orcl = store.get_parquet(prices_key("ORCL"))
    assert pd.Timestamp(PLANTED[1]) not in orcl.index and pd.Timestamp("2015-06-16") in orcl.index
    # every stored date is a New York session (2016-07-18 is a Tokyo holiday, a New York session)
    ny = calendar_for("XNYS")
    assert len(ny.off_calendar(orcl.index)) == 0 and pd.Timestamp("2016-07-18") in orcl.index
    assert pd.Timestamp("2016-07-04") not in orcl.index


@pytest.mark.slow
def test_features_are_finite_and_blind_to_the_future_on_real_data(store: LocalStore) -> None:
    frames = load_prices(store, ["ORCL", "AMGN", "COP", "SO"])
    day = pd.Timestamp("2014-03-12")
    features = weekly_features_at(PricePanel.from_frames(frames), day)
    assert features.shape == (4, 156, 23) and np.isfinite(features).all()
    # the future-perturbation test: every bar after the as-of date scrambled, features identical
    rng = np.random.default_rng(3)
    scrambled = {}
    for ticker, frame in frames.items():
        later = frame.index > day
        copy = frame.copy()
        factor = rng.uniform(0.5, 1.5, later.sum())[:, None]
        columns = ["open", "high", "low", "close", "adj_close"]
        copy.loc[later, columns] = copy.loc[later, columns].to_numpy() * factor
        scrambled[ticker] = copy
    np.testing.assert_array_equal(features, weekly_features_at(PricePanel.from_frames(scrambled), day))


@pytest.mark.slow
def test_train_predict_evaluate_backtest_complete_in_usd_without_nan(
    configs: dict[str, str], store: LocalStore, capsys: pytest.CaptureFixture[str]
) -> None:
    s = ["--store", str(store.root), "--as-of", AS_OF]
    code, _, err = cli(capsys, "enrich", "--config", configs["enrich"], *s)  # the file has no fundamentals
    assert code == 1 and "file source has no fundamentals" in err
    code, trained, err = cli(capsys, "train", "--config", configs["train"], "--threads", "1", *s)
    assert code == 0, err
    assert trained["champion"] and trained["run"]["n_train"] > 1000 and "Traceback" not in err
    model = json.loads((store.root / "models" / trained["version"] / "model.json").read_text())
    rankic = model["validation"]["model"]["rankic"]
    assert len(rankic) == 12 and all(math.isfinite(v) for v in rankic if v is not None)
    code, _, err = cli(capsys, "predict", "--config", configs["predict"], *s)
    assert code == 0, err
    doc = json.loads((store.root / "predictions" / f"{AS_OF}.json").read_text())
    assert doc["currency"] == "USD" and doc["timestamp"] == f"{AS_OF}T16:00:00"  # the New York close
    assert doc["num_predictions"] == 12 and all(
        math.isfinite(p["return"]) for row in doc["predictions"] for p in row["predictions"]
    )
    code, evaluated, err = cli(capsys, "evaluate", "--config", configs["evaluate"], "--threads", "1", *s)
    assert code == 0, err
    holdout = evaluated["holdout"]["metrics"]["model"]["rankic"]
    assert len(holdout) == 12 and all(v is None or math.isfinite(v) for v in holdout)
    code, backtest, err = cli(
        capsys, "backtest", "--predictions", "model", "--predict-config", configs["predict"], "--days", "250", *s
    )
    assert code == 0, err
    summary = backtest["summary"]
    assert summary["n_days"] == 250 and all(math.isfinite(v) for v in summary.values())
    assert "USD" in err or backtest.get("currency", "USD") == "USD"


@pytest.mark.slow
def test_ranker_validation_lists_the_real_bad_ticks_and_the_baseline_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = Path(__file__).resolve().parents[2] / "config" / "ranker"
    data = yaml.safe_load((root / "features_test.yaml").read_text())
    data["panel"] = {
        "name": "us44",
        "source": f"file:{PANEL}",
        "start": "2010-01-04",
        "end": AS_OF,
        "universe": str(FIXTURES / "us_panel44.yaml"),
    }
    config = write_yaml(tmp_path / "ranker.yaml", data)
    store = ["--store", str(tmp_path / "store"), "--as-of", AS_OF]
    code, _, err = cli(capsys, "ranker", "validate", "--config", config, *store)
    assert code in (0, 1), err  # 1: a check failed, the report still written
    validation = json.loads(next((tmp_path / "store" / "reports").glob("*/validation.json")).read_text())
    suspects = {(x["ticker"], x["date"]): (x["kind"], x["action"]) for x in validation["bars"]["suspects"]}
    assert suspects[("GVA", "2013-08-07")] == ("reverting_spike", "reject")  # a x0.1 close, below its own low
    assert suspects[("CRK", "2016-03-07")] == ("reverting_move", "flag")  # a real move of a distressed name
    assert validation["bars"]["rejected"] >= 1 and validation["bars"]["flagged"] >= 1
    # the tests' model settings (100 rounds of 15 leaves, model_test.yaml): the path on real data, not its skill
    code, _, err = cli(
        capsys, "ranker", "baseline", "--config", config, "--model-config", "ranker/model_test.yaml", *store
    )
    assert code == 0 and "Traceback" not in err, err
    metrics = json.loads(next((tmp_path / "store" / "reports").glob("ranker-baseline-*/metrics.json")).read_text())
    holdout = metrics["models"]["lightgbm"]["holdout"]
    assert sorted(holdout, key=int) == ["1", "5", "10", "20"]
    assert all(math.isfinite(row["rankic_mean"]) and row["days"] > 300 for row in holdout.values())

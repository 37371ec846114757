"""`kabucast evaluate`, `backtest` and `backtest-compare` on the sample market, against a copy of the trained store.

The walk-forward runs a tiny recipe (the small model of conftest, 1 epoch, a few hundred samples) so
the file stays quick; the numbers are not the point, the layout and the plumbing are.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import math
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from tests.functional.conftest import AS_OF, SMALL_MODEL

from kabucast.cli.main import main
from kabucast.config import (
    BacktestSettings,
    EvaluateSettings,
    TrainSettings,
    forecast_settings,
    load_settings,
    resolve_config_path,
)
from kabucast.data.ingest import load_prices
from kabucast.errors import ConfigError
from kabucast.evaluation.backtest import backtest_from_store, load_summary, next_day_returns
from kabucast.experiments.folds import HOLDOUT, plan_folds
from kabucast.experiments.predictions import load_prediction_history, model_prediction_frame
from kabucast.experiments.walkforward import run_id
from kabucast.forecast.dataset import LONGEST_LABEL, NotEnoughData
from kabucast.jobs.forecast_step import OnnxPredictor
from kabucast.storage import LocalStore

DAY = str(AS_OF.date())
RECIPE = {
    "env": "local",
    "universe": "universes/topix_core30.yaml",
    "sectors": "sectors.yaml",
    "data": {
        "static_mode": "snapshot",
        "as_of_stride": 3,
        "max_train_samples": 256,
        "max_val_samples": 64,
        "val_fraction": 0.1,  # a quantile recipe early-stops and calibrates on its fold's last dates, purged
        "purge_sessions": 252,
    },
    "model": {**SMALL_MODEL, "quantiles": [0.1, 0.5, 0.9]},
    "training": {"lr": 0.001, "batch_size": 64, "max_epochs": 1, "patience": 1, "seed": 7, "loss": "huber"},
}


def run(capsys, *argv: str) -> tuple[int, dict, str]:
    """Exit code, the --json report, and stderr of one command."""
    code = main([*argv, "--json"])
    captured = capsys.readouterr()
    return code, json.loads(captured.out) if captured.out.strip() else {}, captured.err


@pytest.fixture(scope="module")
def store_dir(trained, tmp_path_factory) -> str:
    """A private copy of the trained store without forecasts (these tests write reports and forecasts into it)."""
    store, _ = trained
    target = tmp_path_factory.mktemp("evaluate") / "store"
    shutil.copytree(store.root, target, ignore=shutil.ignore_patterns("work", "predictions"))  # forecasts: ours only
    return str(target)


@pytest.fixture(scope="module")
def evaluate_config(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("config")
    (folder / "train_tiny.yaml").write_text(yaml.safe_dump(RECIPE))
    settings = {
        "env": "local",
        "train_config": str(folder / "train_tiny.yaml"),
        "folds": 2,
        "test_sessions": 60,  # the 8-year store leaves ~1,000 labelled dates: room for 2 purges per fold
        "holdout_fraction": 0.05,
        "holdout_model": "last_fold",
    }
    (folder / "evaluate.yaml").write_text(yaml.safe_dump(settings))
    return folder / "evaluate.yaml"


@pytest.fixture(scope="module")
def evaluation(store_dir, evaluate_config) -> tuple[dict, str]:
    """One `kabucast evaluate` run: its JSON report and its stderr (module fixtures cannot use capsys)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["evaluate", "--store", store_dir, "--as-of", DAY, "--config", str(evaluate_config), "--json"])
    assert code == 0, err.getvalue()[-2000:]
    return json.loads(out.getvalue()), err.getvalue()


def sessions_between(calendar, first: str, last: str) -> int:
    """Sessions from ``first`` to ``last``: 1 for consecutive sessions."""
    return len(calendar.sessions(first, last)) - 1


def test_folds_are_purged_and_the_holdout_is_never_trained_or_tested_on(evaluation, trained) -> None:
    report, _ = evaluation
    _, calendar = trained
    folds, holdout = report["folds"], report["holdout"]
    assert [f["name"] for f in folds] == ["fold-1", "fold-2"]
    for fold in folds:
        # the purge: at least the longest label between the last training day and the first test day
        assert sessions_between(calendar, fold["train_range"][1], fold["test_range"][0]) >= LONGEST_LABEL
        assert fold["gap_sessions"] >= LONGEST_LABEL
        # the holdout starts after every fold's training and test days, a purge after the last test day
        assert sessions_between(calendar, fold["test_range"][1], holdout["test_range"][0]) >= LONGEST_LABEL
        assert fold["train_range"][1] < holdout["test_range"][0]
    assert folds[0]["test_range"][1] < folds[1]["test_range"][0]  # walk-forward: tests in time order
    assert folds[0]["train_range"][0] == folds[1]["train_range"][0]  # expanding window
    # the holdout is scored by the last fold's model (holdout_model: last_fold)
    assert holdout["reused_model"] and holdout["train_range"] == folds[-1]["train_range"]
    assert holdout["test_range"][1] <= DAY


def test_evaluate_writes_metrics_summary_and_report(evaluation, store_dir, evaluate_config) -> None:
    report, err = evaluation
    run_id = report["run_id"]
    assert run_id.startswith(f"evaluate-{DAY}-") and len(run_id) == len(f"evaluate-{DAY}-") + 8
    assert report["keys"]["report"] == f"reports/{run_id}/report.html"
    assert f"{store_dir}/reports/{run_id}/report.html" in err  # the summary line names the report
    assert "[1/3] fold-1" in err and "[3/3] holdout" in err  # progress per fold
    folder = Path(store_dir) / "reports" / run_id
    metrics = pd.read_csv(folder / "metrics.csv")
    assert list(metrics.columns) == ["fold", "horizon", "model", "metric", "value"]
    assert set(metrics["fold"]) == {"fold-1", "fold-2", HOLDOUT}
    assert set(metrics["model"]) == {"model", "ridge", "zero_return", "momentum_12m", "reversal_1m", "champion"}
    assert set(metrics["horizon"]) == set(range(1, 13))
    assert len(metrics) == 3 * 6 * 12 * 6
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["run_id"] == run_id and summary["champion"]["in_sample"]  # the champion trained on those days
    assert len(summary["mean_over_folds"]["model"]["rankic"]) == 12
    # every forecast's mean RankIC comes with its error bar, on the folds' test days and on the holdout
    intervals = summary["rankic_intervals"]
    assert set(intervals) == {"folds", HOLDOUT}
    assert set(intervals["folds"]) == {"model", "ridge", "momentum_12m", "reversal_1m", "champion"}
    month1 = intervals["folds"]["ridge"][0]
    assert month1["method"] == "Newey-West, lag 42" and month1["ci_low"] < month1["value"] < month1["ci_high"]
    assert month1["n"] == sum(f["test_dates"] for f in summary["folds"])
    assert "mean RankIC with 95 % intervals" in err and "folds month  1: model" in err
    # and the model is compared with every baseline on the same days, with the paired difference's error bar
    paired = summary["paired_differences"]
    assert set(paired["folds"]) == {"model - ridge", "model - momentum_12m", "model - reversal_1m", "model - champion"}
    diff = paired[HOLDOUT]["model - momentum_12m"][0]
    own, other = intervals[HOLDOUT]["model"][0], intervals[HOLDOUT]["momentum_12m"][0]
    assert diff["n"] == own["n"] == other["n"]  # every holdout day has both at month 1
    assert diff["value"] == pytest.approx(own["value"] - other["value"], abs=1e-12)
    assert diff["ci_low"] < diff["value"] < diff["ci_high"]
    assert "paired per date" in err and "model - ridge" in err
    page = (folder / "report.html").read_text()
    assert page.count("<img") == 5 and "champion" in page  # IC by horizon, over time, calibration, dispersion, coverage
    # the captions say the horizon and the return convention, and where the folds and the holdout begin
    assert "the 1-month log return from the close of the as-of session to the close 21 sessions later" in page
    assert "dotted lines: where each fold&#x27;s test and the holdout begin" in page
    assert "paired RankIC difference m1 (folds, 95 %)" in page and "model - ridge" in page
    assert "2 expanding folds, purge 252 sessions" in page  # the settings block
    assert "static features" in page  # the static mode it ran (snapshot here)


def test_a_quantile_model_is_judged_on_its_interval_coverage(evaluation, store_dir, trained) -> None:
    # GIVEN the recipe's model has a 0.1 / 0.5 / 0.9 quantile head
    report, err = evaluation
    folder = Path(store_dir) / "reports" / report["run_id"]
    calibration = json.loads((folder / "summary.json").read_text())["quantile_calibration"]
    # THEN each period reports, per month, the 80 % interval's coverage and the pinball loss beside the baseline's
    assert set(calibration) == {"folds", HOLDOUT}
    for figures in calibration.values():
        interval = figures["intervals"]["0.1-0.9"]
        assert interval["nominal"] == 0.8 and len(interval["coverage"]) == 12
        assert all(0.0 <= c <= 1.0 for c in interval["coverage"])
        # with a 95 % interval per month from the per-date shares (Newey-West), around the coverage
        assert len(interval["coverage_ci"]) == 12
        assert all(
            low <= c + 0.05 and c - 0.05 <= high
            for (low, high), c in zip(interval["coverage_ci"], interval["coverage"], strict=True)
        )
        ratio = np.array(figures["pinball_ratio"])
        assert ratio.shape == (12,) and np.all(ratio > 0)
        assert ratio == pytest.approx(np.array(figures["pinball"]) / np.array(figures["unconditional_pinball"]))
    # AND each fold's model was calibrated on its training period's last dates, a purge after those it fitted
    _, calendar = trained
    for fold in report["folds"]:
        block = fold["quantile_calibration"]["block"]
        assert sessions_between(calendar, fold["fit_range"][1], block[0]) >= LONGEST_LABEL
        assert fold["train_range"][0] <= fold["fit_range"][0] and block[1] <= fold["train_range"][1]
        assert np.mean(fold["quantile_calibration"]["coverage_calibrated"]) >= 0.8
    assert "fold-1: calibrated the 0.1-0.9 interval on" in err
    # AND stderr, the report's table and its coverage chart show them
    assert "the model's quantile intervals:" in err and "coverage of 0.1-0.9 (nominal 80%, folds): m1 " in err
    assert re.search(r"m12 \d+\.\d% \[\d+\.\d%, \d+\.\d%\]", err)  # the coverage and its interval
    page = (folder / "report.html").read_text()
    assert "Interval calibration: the share of the realised m-month log returns inside" in page
    assert "pinball / unconditional (holdout, &lt; 1 is better)" in page
    # the intervals adaptive conformal updating would have issued, beside the static calibration's
    assert re.search(r"adaptive coverage of 0\.1-0\.9 \(folds\): m1 \d+\.\d%", err)
    assert "adaptive pinball / unconditional (folds, &lt; 1 is better)" in page
    for figures in calibration.values():
        assert len(figures["intervals"]["0.1-0.9"]["adaptive_coverage"]) == 12 and figures["adaptive_gamma"] > 0


def test_evaluate_run_id_is_deterministic_and_bad_layouts_are_refused(evaluate_config) -> None:
    settings = load_settings(EvaluateSettings, evaluate_config)
    recipe = forecast_settings(settings.train_config, TrainSettings)[0]
    assert run_id(settings, recipe, AS_OF) == run_id(settings, recipe, AS_OF)
    assert run_id(dataclasses.replace(settings, folds=3), recipe, AS_OF) != run_id(settings, recipe, AS_OF)
    with pytest.raises(ConfigError, match="shorter than the longest label"):
        plan_folds(np.arange(2000), dataclasses.replace(settings, purge_sessions=100))
    with pytest.raises(NotEnoughData, match="too few for 2 folds"):
        plan_folds(np.arange(400), settings)


def test_rolling_windows_and_the_refit_holdout_respect_the_purge() -> None:
    settings = load_settings(EvaluateSettings, resolve_config_path("evaluate.yaml"))
    rolling = dataclasses.replace(settings, folds=3, window="rolling", train_sessions=200, test_sessions=100)
    date_pos = np.repeat(np.arange(1500), 3)  # 1500 sessions, 3 tickers
    folds = plan_folds(date_pos, rolling)
    assert [f.name for f in folds] == ["fold-1", "fold-2", "fold-3", HOLDOUT]
    holdout_first = date_pos[folds[-1].test].min()
    assert holdout_first == 1350  # the last 10 % of 1500 sessions
    for fold in folds[:-1]:
        train, test = date_pos[fold.train], date_pos[fold.test]
        assert len(np.unique(test)) == 100 and len(np.unique(train)) == 200  # rolling: a fixed window
        assert test.min() - train.max() >= LONGEST_LABEL and holdout_first - test.max() >= LONGEST_LABEL
    refit = folds[-1]
    assert not refit.reuse_model and holdout_first - date_pos[refit.train].max() >= LONGEST_LABEL


def test_backtest_oracle_through_the_model_path_has_a_large_sharpe(capsys, store_dir) -> None:
    common = ["--store", store_dir, "--as-of", DAY, "--predictions", "model", "--days", "120"]
    code, report, err = run(capsys, "backtest", *common, "--fast-mode", "--run-id", "oracle")
    assert code == 0, err
    s = report["summary"]
    assert s["n_days"] == 120 and s["mean_rankic"] == pytest.approx(1.0)
    assert s["gross_sharpe"] > 20 and s["net_sharpe"] > 5
    assert report["predictions"] == "model" and "in_sample_days" not in report  # the oracle uses no model
    assert load_summary(LocalStore(store_dir), "oracle")["gross_sharpe"] == pytest.approx(s["gross_sharpe"])
    assert (Path(store_dir) / "reports/oracle/report.html").is_file()


def test_position_and_sector_caps_from_the_command_line(capsys, store_dir) -> None:
    # GIVEN the oracle book of the sample market, uncapped and with caps on names and on sectors
    common = ["--store", store_dir, "--as-of", DAY, "--predictions", "model", "--days", "120", "--fast-mode"]
    code, plain, err = run(capsys, "backtest", *common, "--long-only", "--run-id", "uncapped")
    assert code == 0, err
    capped_args = ["--long-only", "--max-weight", "0.2", "--max-sector", "0.3", "--run-id", "capped"]
    code, capped, err = run(capsys, "backtest", *common, *capped_args)
    # THEN the caps are recorded and printed, and they change the book (the universe file gives the sectors)
    assert code == 0, err
    assert capped["settings"]["max_weight"] == 0.2 and capped["settings"]["max_sector"] == 0.3
    assert "a name <= 20% of a leg, a sector <= 30% of a leg" in err
    assert capped["summary"]["gross_sharpe"] != plain["summary"]["gross_sharpe"]


def test_a_shuffled_oracle_earns_nothing_before_costs(store_dir, universe) -> None:
    # GIVEN the oracle's scores (tomorrow's returns) shuffled across tickers within each day
    store = LocalStore(store_dir)
    settings = load_settings(BacktestSettings, resolve_config_path("backtest.yaml"))
    oracle = backtest_from_store(store, None, dataclasses.replace(settings, fast_mode=True), tickers=universe.tickers)
    frames = load_prices(store, universe.tickers)
    returns = next_day_returns(pd.DataFrame({t: f["adj_close"] for t, f in frames.items()}).sort_index())
    rng = np.random.default_rng(11)
    shuffled = returns.apply(lambda row: pd.Series(rng.permutation(row.to_numpy()), index=row.index), axis=1)
    # WHEN they are traded THEN the gross Sharpe and RankIC are near zero (n ~ 1,900 days: Sharpe s.e. ~ 0.37)
    control = backtest_from_store(store, shuffled, settings)
    assert control.summary["n_days"] > 1500
    assert abs(control.summary["gross_sharpe"]) < 1.5 and abs(control.summary["mean_rankic"]) < 0.02
    assert oracle.summary["gross_sharpe"] > 20 * max(abs(control.summary["gross_sharpe"]), 0.5)
    # AND their 95 % intervals say so: the control's cover 0, the oracle's do not
    c, o = control.summary, oracle.summary
    assert c["rankic_ci_low"] < 0 < c["rankic_ci_high"] and c["ic_ci_low"] < 0 < c["ic_ci_high"]
    assert o["rankic_ci_low"] > 0.9 and o["net_sharpe_ci_low"] > 0


def test_stored_forecasts_match_the_model_path_and_backtest_compare(capsys, store_dir, universe, sectors, trained):
    _, calendar = trained
    store = LocalStore(store_dir)
    days = calendar.sessions("2026-11-09", DAY)
    predictor = OnnxPredictor(universe, sectors, calendar)
    for day in days:  # what a week of daily runs would have stored
        predictor(store, day, universe.tickers)
    stored = load_prediction_history(store, 2, start=days[0])
    scored = model_prediction_frame(store, universe, sectors, calendar, days[0], DAY, horizon_month=2)
    # the batched model path gives the daily job's forecasts (documents keep 6 decimals)
    assert list(stored.index) == list(days) and list(scored.index) == list(days)
    pd.testing.assert_frame_equal(stored[scored.columns], scored, atol=2e-6, check_dtype=False, check_freq=False)
    # a backtest of the stored forecasts, then an A/B comparison with the oracle
    code, report, err = run(
        capsys, "backtest", "--store", store_dir, "--as-of", DAY, "--horizon-month", "2", "--run-id", "stored"
    )
    assert code == 0, err
    assert report["predictions"] == "stored" and report["summary"]["n_days"] == len(days) - 1
    # rebalanced at the forecast's horizon (month 2: 42 sessions), with a benchmark and a short-sample warning
    assert report["settings"]["rebalance_days"] == 42 and "rebalanced every 42 sessions" in err
    assert math.isfinite(report["summary"]["benchmark_sharpe"]) and "equal-weight universe Sharpe" in err
    assert any(w.startswith(f"only {len(days) - 1} sessions") for w in report["warnings"])
    page = (Path(store_dir) / "reports/stored/report.html").read_text()
    assert "rebalanced every 42 sessions" in page  # the settings head the table
    if not (Path(store_dir) / "reports/oracle").exists():
        run(capsys, "backtest", "--store", store_dir, "--as-of", DAY, "--fast-mode", "--run-id", "oracle")
    code = main(["backtest-compare", "--store", store_dir, "oracle", "stored"])
    out = capsys.readouterr().out
    assert code == 0 and "oracle" in out and "stored" in out and "net_sharpe" in out and "diff" in out
    code, compare, _ = run(capsys, "backtest-compare", "--store", store_dir, "oracle", "stored")
    assert compare["metrics"]["n_days"]["stored"] == len(days) - 1


def test_actionable_errors(capsys, tmp_path) -> None:
    empty = str(tmp_path / "empty")
    assert main(["backtest", "--store", empty, "--as-of", DAY]) == 2
    assert "run `kabucast daily`" in capsys.readouterr().err
    assert main(["backtest", "--store", empty, "--as-of", DAY, "--predictions", "model"]) == 2
    assert "train a model first" in capsys.readouterr().err
    assert main(["backtest-compare", "--store", empty, "a", "b"]) == 2
    assert "run `kabucast backtest --run-id a`" in capsys.readouterr().err

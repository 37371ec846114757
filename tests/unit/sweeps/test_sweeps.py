"""Sweeps without training: spaces and grids, the scores, the gate and composite, the Batch request."""

from __future__ import annotations

import math

import boto3
import numpy as np
import pandas as pd
import pytest
from botocore.stub import Stubber

from kabucast.errors import ConfigError
from kabucast.fitting import CollapseSettings, collapse_message
from kabucast.storage import LocalStore
from kabucast.sweeps.evaluate import EvaluateSettings, composite_score, evaluate_sweep, gate_reasons
from kabucast.sweeps.grid import GridSettings
from kabucast.sweeps.scoring import annualised_sharpe, monthly_spread, period_scores, rebalance_sessions
from kabucast.sweeps.space import ParamSpec, config_id, grid_configs
from kabucast.sweeps.submit import submit, submit_request


def test_the_default_grid_is_the_seeds_36_configs() -> None:
    configs = GridSettings().configs()
    assert len(configs) == 36 and len(set(map(str, configs.values()))) == 36
    assert {"turnover_weight", "pred_var_weight", "output_noise_std", "rankic_weight"} == set(
        next(iter(configs.values()))
    )


def test_grid_configs_merge_fixed_values_and_ids_are_readable() -> None:
    configs = grid_configs({"a": [1, 2], "b": [0.5]}, fixed={"c": True})
    assert configs == [{"c": True, "a": 1, "b": 0.5}, {"c": True, "a": 2, "b": 0.5}]
    assert config_id(7, {"lr": 0.001, "k": 2}) == "c007_lr0.001_k2"


def test_param_spec_refuses_an_empty_range() -> None:
    with pytest.raises(ConfigError, match="low <= high"):
        ParamSpec(low=1.0, high=0.0)
    with pytest.raises(ConfigError, match="log-scale"):
        ParamSpec(low=0.0, high=1.0, log=True)


def test_rebalancing_dates_are_21_sessions_apart() -> None:
    sessions = np.array([0, 2, 4, 20, 21, 22, 40, 42, 43])
    np.testing.assert_array_equal(rebalance_sessions(sessions), [0, 21, 42])


def test_monthly_spread_goes_long_the_top_quintile_and_short_the_bottom() -> None:
    # GIVEN 10 tickers on one date whose 1-month log return equals the forecast
    score = np.linspace(-0.1, 0.1, 10)
    spread = monthly_spread(score, score, np.zeros(10, dtype=int), np.arange(10))
    # THEN the spread is the mean simple return of the top 2 minus the bottom 2
    expected = np.expm1(score[-2:]).mean() - np.expm1(score[:2]).mean()
    assert spread.iloc[0] == pytest.approx(expected)


def test_annualised_sharpe_uses_sqrt_12_and_needs_two_months() -> None:
    monthly = np.array([0.01, 0.03, 0.02])
    assert annualised_sharpe(monthly) == pytest.approx(0.02 / 0.01 * math.sqrt(12))
    assert math.isnan(annualised_sharpe(np.array([0.01])))


def test_gate_and_composite_score() -> None:
    # GIVEN three configs: two pass, one collapsed
    frame = pd.DataFrame(
        {
            "val_pred_std": [0.02, 0.04, 0.0],
            "val_sharpe": [0.5, 1.0, 0.3],
            "val_rankic": [0.05, 0.03, 0.0],
            "collapsed": [None, None, "flat"],
        }
    )
    reasons = frame.apply(gate_reasons, axis=1, gate=EvaluateSettings().gate)
    assert list(reasons[:2]) == ["", ""] and reasons[2].startswith("collapsed")
    # THEN survivors are min-max normalised: 0.3*0 + 0.4*0 + 0.3*1 and 0.3*1 + 0.4*1 + 0.3*0
    score = composite_score(frame.iloc[:2], EvaluateSettings().weights)
    assert list(score.round(6)) == [0.3, 0.7]


def test_evaluate_writes_the_three_files(tmp_path) -> None:
    store = LocalStore(tmp_path)
    for i, rankic in enumerate([0.05, 0.01, 0.04]):
        metrics = {"val_pred_std": 0.02, "val_sharpe": 0.2 + i, "val_rankic": rankic, "test_rankic": 0.0}
        store.put_json(
            f"sweeps/g/configs/c{i}/metrics.json", {"config_id": f"c{i}", "params": {"x": i}, "metrics": metrics}
        )
    result = evaluate_sweep(store, "sweeps/g", EvaluateSettings())
    assert store.get_bytes("sweeps/g/top_config_ids.txt").decode().split() == ["c2", "c0"]
    assert len(result.frame) == 3 and "2/3 configs passed" in result.summary()
    assert "no interval recorded" in result.summary()  # results written before trials kept error bars


def test_evaluate_says_which_configs_the_best_is_distinguishable_from(tmp_path) -> None:
    # GIVEN three surviving configs with their validation RankIC intervals: the best's covers the second's
    store = LocalStore(tmp_path)
    for i, (rankic, half) in enumerate([(0.05, 0.02), (0.04, 0.03), (0.025, 0.03)]):
        metrics = {"val_pred_std": 0.02, "val_sharpe": 1.0, "val_rankic": rankic}
        metrics |= {"val_rankic_ci_low": rankic - half, "val_rankic_ci_high": rankic + half}
        store.put_json(f"sweeps/g/configs/c{i}/metrics.json", {"config_id": f"c{i}", "params": {}, "metrics": metrics})
    result = evaluate_sweep(store, "sweeps/g", EvaluateSettings())
    # THEN the summary gives the best's interval and how many survivors it cannot tell apart from it
    assert "val RankIC +0.0500 [+0.0300, +0.0700] (95 %; 1 of the other 2 survivors inside it" in result.summary()
    assert list(result.frame.sort_values("config_id")["val_rankic_excludes_zero"]) == [True, True, False]


def test_period_scores_carry_an_error_bar_that_covers_zero_for_noise() -> None:
    rng = np.random.default_rng(0)
    session, ticker = np.repeat(np.arange(300), 20), np.tile(np.arange(20), 300)
    target = rng.normal(0.0, 0.05, (len(session), 12))
    noise = period_scores(rng.normal(size=target.shape), target, session, ticker)
    signal = period_scores(target + rng.normal(0.0, 0.05, target.shape), target, session, ticker)
    assert noise["rankic_ci_low"] < 0 < noise["rankic_ci_high"] and noise["rankic_se"] > 0
    assert signal["rankic_ci_low"] > 0 and signal["rankic_ci_low"] < signal["rankic"] < signal["rankic_ci_high"]


def test_collapse_needs_patience_epochs_in_a_row() -> None:
    settings = CollapseSettings(threshold=1e-3, patience=2)
    assert collapse_message([[0.0] * 12], settings, 0) is None
    assert collapse_message([[0.1] * 12, [0.0] * 12], settings, 1) is None
    assert "collapsed" in collapse_message([[0.0] * 12, [0.0005] * 12], settings, 1)
    assert collapse_message([[math.nan] * 12, [math.nan] * 12], settings, 1) is None  # unknown is not collapse


def test_submit_sends_one_array_job_of_k_workers() -> None:
    # GIVEN the worker arguments after "--" and 4 workers
    request = submit_request("q", "d", 4, ["--", "optuna", "--n-trials", "40", "--storage", "sqlite:///x"], "s1")
    client = boto3.client("batch", region_name="ap-northeast-1", aws_access_key_id="x", aws_secret_access_key="x")
    expected = {
        "jobName": "s1",
        "jobQueue": "q",
        "jobDefinition": "d",
        "arrayProperties": {"size": 4},
        "containerOverrides": {
            "command": ["sweep", "optuna", "--n-trials", "40", "--storage", "sqlite:///x", "--workers", "1"]
        },
    }
    # WHEN it is submitted THEN Batch receives exactly that request
    with Stubber(client) as stub:
        stub.add_response("submit_job", {"jobName": "s1", "jobId": "j-1", "jobArn": "arn:j-1"}, expected)
        assert submit(client, request) == {"job_name": "s1", "job_id": "j-1", "workers": 4}
        stub.assert_no_pending_responses()


def test_submit_refuses_non_optuna_workers_and_a_workers_flag() -> None:
    with pytest.raises(ConfigError, match="optuna"):
        submit_request("q", "d", 2, ["grid"], "s")
    with pytest.raises(ConfigError, match="--workers"):
        submit_request("q", "d", 2, ["optuna", "--workers", "3"], "s")
    assert "arrayProperties" not in submit_request("q", "d", 1, ["optuna"], "s")

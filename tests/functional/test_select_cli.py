"""`kabucast select --train` on the sample market: every recipe's walk-forward on the same dates, the rule's
decision written to reports/, the chosen recipe trained and made the champion, then served by `predict`."""

from __future__ import annotations

import contextlib
import io
import json
import shutil

import pytest
import yaml
from tests.functional.conftest import AS_OF

from kabucast.cli.main import main
from kabucast.forecast.registry import champion_version, model_key
from kabucast.storage import LocalStore

DAY = str(AS_OF.date())


def run_cli(*argv: str) -> tuple[int, dict, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([*argv, "--json"])
    return code, json.loads(out.getvalue() or "{}"), err.getvalue()


def test_select_chooses_by_the_rule_trains_the_winner_and_the_daily_step_serves_it(trained, tmp_path) -> None:
    store, _ = trained
    root = tmp_path / "store"
    shutil.copytree(store.root, root, ignore=shutil.ignore_patterns("work", "predictions"))
    recipes = {}
    for name in ("train_momentum.yaml", "train_reversal.yaml", "train_ridge.yaml"):
        recipe = yaml.safe_load(open_config(name))
        recipe["data"].update({"max_train_samples": 3000, "max_val_samples": 1000, "as_of_stride": 3})
        del recipe["model"]["quantiles"]  # bands need a purged calibration block the 8-year market cannot spare
        recipes[name] = tmp_path / name
        recipes[name].write_text(yaml.safe_dump(recipe))
    evaluate = yaml.safe_load(open_config("evaluate_quick.yaml"))
    (tmp_path / "evaluate.yaml").write_text(yaml.safe_dump(evaluate))
    select = {
        "env": "local",
        "evaluate": str(tmp_path / "evaluate.yaml"),
        "baselines": [str(recipes["train_momentum.yaml"]), str(recipes["train_reversal.yaml"])],
        "candidates": [str(recipes["train_ridge.yaml"])],
        "months": [1, 2, 3],
        "alpha": 0.05,
    }
    (tmp_path / "select.yaml").write_text(yaml.safe_dump(select))
    before = champion_version(LocalStore(root))
    code, out, err = run_cli(
        "select", "--config", str(tmp_path / "select.yaml"), "--store", str(root), "--as-of", DAY, "--train"
    )
    assert code == 0, err
    # THEN three walk-forwards on the same test dates, the best baseline named, the candidate tested (Holm, k = 1)
    assert [e["role"] for e in out["entries"]] == ["baseline", "baseline", "candidate"]
    assert out["best_baseline"] in (str(recipes["train_momentum.yaml"]), str(recipes["train_reversal.yaml"]))
    test = out["tests"][str(recipes["train_ridge.yaml"])]
    assert test["holm_threshold"] == 0.05 and 0.0 <= test["p_one_sided"] <= 1.0
    expected = str(recipes["train_ridge.yaml"]) if test["passed"] else out["best_baseline"]
    assert out["winner"] == expected
    assert "chosen:" in err and "Holm" in err
    # the report is in the store
    local = LocalStore(root)
    decision = local.get_json(out["keys"]["selection"])
    assert decision["winner"] == out["winner"] and "Holm" in decision["rule"]
    assert all(b"<html" in local.get_bytes(e["report"]) for e in decision["entries"])  # each recipe's own report
    assert decision["reason"] in local.get_bytes(out["keys"]["report"]).decode()
    # AND the winner was trained and is the champion, its kind recorded
    version = out["trained"]["version"]
    assert champion_version(local) == version != before
    meta = local.get_json(model_key(version, "model.json"))
    assert meta["model_kind"] == ("ridge" if test["passed"] else "momentum")
    # AND its model.json records the walk-forward evidence that chose it: the runs, the score, RankIC per month
    evidence = meta["walk_forward"]
    assert evidence["selection"] == out["run_id"] and evidence["recipe"] == out["winner"] and evidence["chosen"]
    winner = next(e for e in decision["entries"] if e["recipe"] == out["winner"])
    assert evidence["evaluation"] == winner["evaluation"]
    assert evidence["score"]["folds"]["value"] == pytest.approx(winner["mean_score"]["folds"]["value"])
    summary = local.get_json(winner["report"].replace("report.html", "summary.json"))
    for period in ("folds", "holdout"):
        rankic = summary["rankic_intervals"][period]["model"]
        assert len(evidence["rankic"][period]) == 12
        assert [e["value"] for e in evidence["rankic"][period]] == pytest.approx([e["value"] for e in rankic])
    # AND the daily step serves it: the document says which kind made it
    code, doc, err = run_cli("predict", "--store", str(root), "--as-of", DAY)
    assert code == 0, err
    published = local.get_json(doc["key"])
    assert published["model_version"] == version and published["model_kind"] == meta["model_kind"]


def open_config(name: str) -> str:
    from kabucast.config import resolve_config_path

    return resolve_config_path(name).read_text()

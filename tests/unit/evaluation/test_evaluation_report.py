"""The HTML report: parses, embeds exactly the charts it was given, escapes text, writes the same bytes twice."""

from __future__ import annotations

import base64
import dataclasses
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from tests.unit.evaluation.conftest import synthetic_market

from kabucast.config import BacktestSettings
from kabucast.evaluation import InvalidRunId, run_backtest
from kabucast.evaluation.report import ReportInputs, backtest_report, write_report
from kabucast.storage import LocalStore

PNG_PREFIX = "data:image/png;base64,"


class PageParser(HTMLParser):
    """Collects the <img> tags, every start tag, and the text of the page."""

    def __init__(self) -> None:
        super().__init__()
        self.images: list[dict[str, str | None]] = []
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag == "img":
            self.images.append(dict(attrs))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(path: Path) -> PageParser:
    parser = PageParser()
    parser.feed(path.read_text(encoding="utf-8"))
    parser.close()
    return parser


def full_inputs() -> ReportInputs:
    market = synthetic_market(120, 60, seed=3)
    settings = BacktestSettings(env="local", impact_k_bps=0.0, fast_mode=True)
    daily = run_backtest(None, market.returns, settings).daily
    horizons = pd.Index([1, 5, 10, 20], name="horizon_days")
    ic = pd.DataFrame({"model": [0.05, 0.04, 0.03, 0.02], "zero": 0.0, "momentum": [0.01, 0.0, -0.01, 0.0]}, horizons)
    dispersion = pd.DataFrame({"pred_std": [0.01, 0.012, 0.0001, 0.02], "target_std": 0.02}, horizons)
    rng = np.random.default_rng(0)
    pred = rng.normal(0.0, 0.01, (120, 60))
    return ReportInputs(
        returns=daily[["net", "gross"]],
        ic_by_horizon=ic,
        ic_over_time=daily[["ic", "rankic"]],
        calibration=(pred, pred + rng.normal(0.0, 0.02, pred.shape)),
        dispersion=dispersion,
        metrics={"net_sharpe": 1.23456789, "note <b>": float("nan")},
    )


def test_a_full_report_embeds_every_chart_and_writes_it_beside(tmp_path: Path) -> None:
    # GIVEN every section's input WHEN the report is written
    store = LocalStore(tmp_path)
    key = write_report(store, "eval-1", full_inputs(), title="Model <v2> & baselines")
    # THEN the HTML parses, has one embedded PNG per chart, each equal to the PNG file next to it
    assert key == "reports/eval-1/report.html"
    page = parse(tmp_path / key)
    names = ["equity", "ic_by_horizon", "ic_over_time", "calibration", "dispersion"]
    assert len(page.images) == len(names)
    for image, name in zip(page.images, names, strict=True):
        src = image["src"] or ""
        assert src.startswith(PNG_PREFIX)
        png = base64.b64decode(src[len(PNG_PREFIX) :])
        assert png.startswith(b"\x89PNG") and png == (tmp_path / f"reports/eval-1/{name}.png").read_bytes()
    # and the text given is escaped, so it reads back as text and adds no tag
    assert "Model <v2> & baselines" in page.text
    assert "note <b>" in page.text and "b" not in page.tags and "v2" not in page.tags


def test_sections_are_optional(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    write_report(store, "metrics-only", ReportInputs(metrics={"mean_ic": 0.02}))
    page = parse(tmp_path / "reports/metrics-only/report.html")
    assert page.images == [] and "table" in page.tags
    assert store.list("reports/metrics-only/") == ["reports/metrics-only/report.html"]


def test_a_backtest_report_has_equity_and_ic_but_no_horizons(tmp_path: Path) -> None:
    market = synthetic_market(80, 40, seed=4)
    result = run_backtest(None, market.returns, BacktestSettings(env="local", impact_k_bps=0.0, fast_mode=True))
    store = LocalStore(tmp_path)
    backtest_report(store, "bt-1", result, rebalance_days=21)
    page = parse(tmp_path / "reports/bt-1/report.html")
    equity, ic = (img["alt"] or "" for img in page.images)
    # the captions say what the returns are and how long each pick is held
    assert equity.startswith("Equity curve (compounded daily simple returns, close to close)")
    assert "rebalanced every 21 sessions" in equity and "equal-weight universe" in equity
    assert "next session's simple return (close t to close t + 1)" in ic and "holds each pick 21 sessions" in ic
    assert "net_sharpe" in page.text


def test_captions_replace_the_defaults_and_boundaries_change_the_chart(tmp_path: Path) -> None:
    inputs = full_inputs()
    store = LocalStore(tmp_path)
    write_report(store, "plain", inputs)
    first_test = inputs.ic_over_time.index[60]
    marked = dataclasses.replace(
        inputs, captions={"ic_over_time": "RankIC at 1 month <m1>"}, boundaries=((first_test, "fold-2"),)
    )
    write_report(store, "marked", marked)
    page = parse(tmp_path / "reports/marked/report.html")
    alts = [img["alt"] for img in page.images]
    assert alts[2] == "RankIC at 1 month <m1>" and alts[0] == "Equity curve (compounded) and drawdown"
    assert "RankIC at 1 month <m1>" in page.text  # escaped, shown as the figure's caption
    plain, lined = (store.get_bytes(f"reports/{run}/ic_over_time.png") for run in ("plain", "marked"))
    assert plain != lined  # the boundary is drawn
    assert store.get_bytes("reports/plain/equity.png") == store.get_bytes("reports/marked/equity.png")


def test_the_same_inputs_give_the_same_bytes(tmp_path: Path) -> None:
    inputs = full_inputs()
    first, second = LocalStore(tmp_path / "a"), LocalStore(tmp_path / "b")
    write_report(first, "same", inputs)
    write_report(second, "same", dataclasses.replace(inputs))
    for key in first.list():
        assert first.get_bytes(key) == second.get_bytes(key), key


def test_a_run_id_cannot_leave_the_reports_folder(tmp_path: Path) -> None:
    with pytest.raises(InvalidRunId):
        write_report(LocalStore(tmp_path), "a/../../b", ReportInputs())

"""The live page and its charts as text (kabucast.evaluation.live_page, live_charts, svg_charts): planted documents
in, HTML out. The browser's view of it is tests/functional/test_site.py."""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest

from kabucast.evaluation.live_charts import HISTORY_SESSIONS, held_books, trailing_mean
from kabucast.evaluation.live_page import AS_OF_META, PageInputs, render_page
from kabucast.evaluation.live_scores import month_summary
from kabucast.evaluation.svg_charts import Band, Level, Line, chart, nice_ticks
from kabucast.forecast.document import forecast_document

TICKERS = ("1001.T", "1002.T", "<b>bad</b>")
DAY = pd.Timestamp("2026-11-20")


def forecast(levels: tuple[float, ...] = (0.1, 0.5, 0.9)) -> dict:
    rng = np.random.default_rng(3)
    log_returns = rng.normal(0, 0.05, (len(TICKERS), 12))
    quantiles = log_returns[..., None] + np.array([-0.1, 0.0, 0.1]) if levels else None
    doc = forecast_document(
        TICKERS, log_returns, {t: DAY for t in TICKERS}, {t: 1000.0 for t in TICKERS}, {}, {}, "v1", DAY,
        quantiles=quantiles, levels=levels,
    )  # fmt: skip
    return {**doc, "missing": [{"ticker": "9984.T", "reason": "stale <prices>", "sessions_missing": 3}]}


def scorecard(n_dates: int = 30) -> dict:
    rng = np.random.default_rng(5)
    rows = [
        {
            "date": str(d.date()),
            "matured": str((d + pd.Timedelta(days=30)).date()),
            "rankic": float(rng.normal(0.05, 0.2)),
            "hit_rate": 0.5,
            "spread": 0.01,
            "coverage": 0.75,
            "portfolio": {"return": 0.01, "benchmark_return": 0.005, "excess_return": 0.005},
        }
        for d in pd.bdate_range("2026-06-01", periods=n_dates)
    ]
    months = [{"month": m, "summary": month_summary(rows if m == 1 else [], m), "dates": rows if m == 1 else []}
              for m in range(1, 13)]  # fmt: skip
    return {"data_as_of": str(DAY.date()), "num_scored": n_dates, "num_unscorable": 0, "months": months}


def page(**changes) -> PageInputs:
    history = {t: ([str(d.date()) for d in pd.bdate_range(end=DAY, periods=300)], [1000.0] * 300) for t in TICKERS}
    base = {
        "forecast": forecast(),
        "portfolio": None,
        "scorecard": scorecard(),
        "model": {"version": "v1", "kind": "bilstm", "trained_as_of": "2026-11-01", "walk_forward": None},
        "history": history,
        "warning": "the universe is <stale>",
    }
    return PageInputs(**{**base, **changes})


def test_the_page_is_self_contained_and_escapes_what_it_shows() -> None:
    html = render_page(page())
    # nothing to fetch: no script, no external reference of any kind, the icon a data URL
    assert "<script" not in html and not re.search(r"(src|href)=\"(?!data:)", html) and "url(" not in html
    assert "http" not in html
    # text from documents and settings is escaped, never markup
    assert "<b>bad</b>" not in html and "&lt;b&gt;bad&lt;/b&gt;" in html
    assert "the universe is &lt;stale&gt;" in html and "stale &lt;prices&gt;" in html
    assert f'<meta name="{AS_OF_META}" content="2026-11-20">' in html
    assert render_page(page()) == html  # deterministic: the same inputs give the same text


def test_every_name_gets_a_fan_with_its_history_median_and_band() -> None:
    html = render_page(page())
    for ticker in ("1001.T", "1002.T", "&lt;b&gt;bad&lt;/b&gt;"):
        svg = re.search(rf'<svg class="fan"[^>]*data-ticker="{re.escape(ticker)}">(.*?)</svg>', html, re.S)
        assert svg is not None, ticker
        history = re.search(r'<path class="history" d="([^"]*)"', svg.group(1)).group(1)
        median = re.search(r'<path class="median" d="([^"]*)"', svg.group(1)).group(1)
        assert len(re.findall("[ML]", history)) == HISTORY_SESSIONS and len(re.findall("[ML]", median)) == 13
        assert 'class="band"' in svg.group(1)
    # a model without quantiles draws no band, and the page says nothing of a band it does not have
    plain = render_page(page(forecast=forecast(levels=())))
    assert 'class="band"' not in plain and ", band " not in plain


def test_the_scorecard_table_carries_the_documents_numbers() -> None:
    doc = scorecard()
    html = render_page(page(scorecard=doc))
    cells = dict(re.findall(r'data-figure="([^"]+)" data-value="([^"]*)"', html))
    assert len(cells) == 12 * 5
    summary = doc["months"][0]["summary"]
    assert float(cells["m1-rankic"]) == summary["rankic"]["mean"] and cells["m2-rankic"] == ""
    assert float(cells["m1-excess_return"]) == pytest.approx(0.005)
    assert f'{summary["rankic"]["mean"]:+.3f} <span class="ci">[{summary["rankic"]["ci_low"]:+.3f}' in html


def test_the_rankic_chart_shows_the_walk_forward_band_only_when_the_model_has_one() -> None:
    evidence = {
        "recipe": "r",
        "evaluation": "e",
        "rankic": {"folds": [{"value": 0.02, "ci_low": -0.03, "ci_high": 0.07}]},
    }
    with_band = render_page(page(model={"version": "v1", "walk_forward": evidence}))
    without = render_page(page())
    assert with_band.count('<rect class="wf"') == 1 and 'class="wf"' not in without
    assert "records no walk-forward evidence" in without and "recipe r, evaluation e" in with_band


def test_a_store_with_nothing_matured_says_so() -> None:
    html = render_page(page(scorecard=None))
    assert "No published forecast has matured yet" in html and "data-figure" not in html
    assert "No target book is published" in html


def test_held_books_follow_one_another_without_overlap() -> None:
    rows = [
        {"date": "2026-01-05", "matured": "2026-02-03", "portfolio": {"return": 0.02, "benchmark_return": 0.01}},
        {"date": "2026-01-06", "matured": "2026-02-04", "portfolio": {"return": 0.5, "benchmark_return": 0.5}},
        {"date": "2026-02-03", "matured": "2026-03-04", "portfolio": None},
        {"date": "2026-02-04", "matured": "2026-03-05", "portfolio": {"return": -0.01, "benchmark_return": 0.0}},
        {"date": "2026-03-05", "matured": "2026-04-03", "portfolio": {"return": 0.03, "benchmark_return": 0.02}},
    ]
    held = held_books(rows)
    assert [h["date"] for h in held] == ["2026-01-05", "2026-02-04", "2026-03-05"]
    assert [h["return"] for h in held] == [0.02, -0.01, 0.03]


def test_the_trailing_mean_skips_gaps_and_waits_for_enough_dates() -> None:
    values = [1.0, math.nan, 3.0, 5.0, 7.0]
    out = trailing_mean(values, window=3, minimum=2)
    assert math.isnan(out[0]) and math.isnan(out[1])
    assert out[2:] == [2.0, 4.0, 5.0]


def test_nice_ticks_are_round_and_span_the_values() -> None:
    for low, high in [(0.013, 0.87), (-0.41, 0.29), (812.0, 13_450.0), (5.0, 5.0)]:
        ticks = nice_ticks(low, high)
        step = ticks[1] - ticks[0]
        assert ticks[0] <= low and ticks[-1] >= high and 3 <= len(ticks) <= 7
        assert re.fullmatch(r"[125]0*", f"{step / 10 ** math.floor(math.log10(step)):.6g}".replace(".", ""))


def test_a_gap_breaks_lines_and_bands() -> None:
    nan = math.nan
    svg = chart(
        [Band([0, 1, 2, 3], [0, 0, nan, 0], [1, 1, 1, 1], "band"), Line([0, 1, 2, 3], [1, nan, 2, 3], "line"),
         Level(0.5, 0.5, "rule")],
        [(0, "a"), (3, "b")], str, "c", "a chart",
    )  # fmt: skip
    line = re.search(r'class="line" d="([^"]*)"', svg).group(1)
    band = re.search(r'class="band" d="([^"]*)"', svg).group(1)
    assert line.count("M") == 2 and line.count("L") == 1  # (0) then (2, 3): nothing drawn across the gap
    assert band.count("M") == 2 and band.count("Z") == 2
    assert "<title>a chart</title>" in svg and 'class="rule"' in svg

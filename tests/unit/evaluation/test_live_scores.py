"""The live scorecard's figures on hand-made outcomes (kabucast.evaluation.live_scores)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import pearsonr, spearmanr

from kabucast.evaluation.live_scores import (
    MIN_DATES_FOR_INTERVAL,
    Book,
    MaturedForecast,
    book_return,
    month_summary,
    score,
)

TICKERS = tuple(f"{1001 + i}.T" for i in range(10))


def matured(seed: int, month: int = 1, unknown: int = 0, banded: bool = True, book: Book | None = None):
    rng = np.random.default_rng(seed)
    predicted = rng.normal(0, 0.05, len(TICKERS))
    realised = predicted * 0.5 + rng.normal(0, 0.05, len(TICKERS))
    realised[:unknown] = np.nan
    return MaturedForecast(
        day="2025-03-03",
        month=month,
        end="2025-04-02",
        tickers=TICKERS,
        predicted=predicted,
        realised=realised,
        unscorable={t: "no stored close on 2025-04-02" for t in TICKERS[:unknown]},
        low=predicted - 0.05 if banded else None,
        high=predicted + 0.05 if banded else None,
        book=book,
    )


def test_figures_match_an_independent_computation() -> None:
    # GIVEN a matured forecast with two names whose outcome is unknown
    forecast = matured(1, unknown=2)
    x, y = forecast.predicted[2:], forecast.realised[2:]
    # WHEN it is scored
    row = score(forecast)
    # THEN the figures are those of the eight known names, computed independently
    assert row["n_scored"] == 8
    assert row["rankic"] == pytest.approx(spearmanr(x, y).statistic, abs=1e-12)
    assert row["ic"] == pytest.approx(pearsonr(x, y).statistic, abs=1e-12)
    assert row["hit_rate"] == pytest.approx(np.mean(np.sign(x) == np.sign(y)))
    order = np.argsort(x)
    assert row["spread"] == pytest.approx(y[order[-1]] - y[order[0]])  # a fifth of 8 names, rounded down: 1
    assert row["coverage"] == pytest.approx(np.mean(np.abs(y - x) <= 0.05))
    assert row["unscorable"] == [{"ticker": t, "reason": "no stored close on 2025-04-02"} for t in TICKERS[:2]]


def test_no_band_no_coverage() -> None:
    assert score(matured(2, banded=False))["coverage"] is None


def test_book_return_is_net_of_its_cost_against_the_equal_weight_names() -> None:
    # GIVEN a long-short book over three names, one of them without an outcome
    book = Book({"A": 0.6, "B": 0.4, "C": -1.0, "D": 0.0}, cost=0.002)
    realised = {"A": 0.10, "B": -0.05, "C": 0.02, "D": 0.01, "E": np.nan}
    # WHEN its return is read
    out = book_return(Book({**book.weights, "E": 0.0}, book.cost), realised)
    # THEN weights times outcomes less the cost, against the names' equal-weight mean
    gross = 0.6 * 0.10 + 0.4 * -0.05 - 1.0 * 0.02
    assert out["gross_return"] == pytest.approx(gross) and out["return"] == pytest.approx(gross - 0.002)
    assert out["benchmark_return"] == pytest.approx(np.mean([0.10, -0.05, 0.02, 0.01]))
    assert out["names"] == 4 and out["names_unknown"] == ["E"]


def test_the_interval_comes_once_enough_dates_matured() -> None:
    # GIVEN one fewer matured dates than the interval needs, then exactly as many
    rows = [score(matured(seed)) for seed in range(MIN_DATES_FOR_INTERVAL)]
    before, after = month_summary(rows[:-1], 1), month_summary(rows, 1)
    # THEN the mean is the plain mean of the dates, and the interval appears only at the threshold
    assert after["rankic"]["mean"] == pytest.approx(np.mean([r["rankic"] for r in rows]))
    assert before["rankic"]["ci_low"] is None and before["coverage"]["ci_high"] is None
    assert after["rankic"]["ci_low"] < after["rankic"]["mean"] < after["rankic"]["ci_high"]
    assert after["lag"] == 42 and after["portfolio_return"]["n"] == 0

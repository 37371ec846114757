"""How published forecasts fared once their outcome is known: the live scorecard's figures. Pure numpy + pandas.

A forecast dated D for month m (1..12) matures :data:`~kabucast.data.calendar.SESSIONS_PER_MONTH` x m sessions
after D. Its realised outcome is the simple return of the stored ``adj_close`` from D to that session, compared
with the document's ``return`` (a simple return too). Per (D, m), over the names whose outcome is known:

- ``rankic`` / ``ic``: Spearman / Pearson correlation of predicted and realised returns
  (kabucast.evaluation.metrics' row functions, as its rank_ic_series / ic_series: NaN below its MIN_TICKERS);
- ``hit_rate``: share of names whose predicted and realised signs agree;
- ``spread``: mean realised return of the top fifth by prediction minus the bottom fifth (metrics.quantile_masks);
- ``coverage``: share of realised returns inside the published band (``interval`` low .. high), when the
  document has one;
- ``portfolio``: the target book's realised return (its weights times the realised returns, less the cost it
  states as a fraction of a leg) against the equal-weight mean of the same names, when a book was published.

The summary of a month is each figure's mean over its dates with a Newey-West 95 % interval (lag: twice the
label, kabucast.evaluation.uncertainty.label_lag), given once :data:`MIN_DATES_FOR_INTERVAL` dates have matured.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from kabucast.data.calendar import SESSIONS_PER_MONTH
from kabucast.evaluation.metrics import quantile_masks, row_corr, row_ranks
from kabucast.evaluation.uncertainty import label_lag, mean_estimate

MIN_DATES_FOR_INTERVAL = 20
"""A summary figure gets its 95 % interval once this many matured dates have it."""
LIVE_DATES = 60
"""Matured dates the live figures the daily run reports (and the decay alarm reads) average over."""
TAIL = 0.2
"""The top and bottom share of names by prediction whose realised returns the spread compares."""
FIGURES = ("rankic", "ic", "hit_rate", "spread", "coverage", "portfolio_return", "benchmark_return", "excess_return")
"""The per-date figures a month's summary averages."""


@dataclass(frozen=True)
class Book:
    """A published target book: weight per name (fraction of a leg's notional) and its cost as a fraction of a leg."""

    weights: Mapping[str, float]
    cost: float = 0.0


@dataclass(frozen=True)
class MaturedForecast:
    """One published forecast (date ``day``, month ``month``) whose outcome is known at the session ``end``.

    ``predicted`` and ``realised`` are (N,) simple returns in ``tickers`` order (realised NaN: unknown, its reason
    in ``unscorable``); ``low`` / ``high`` the (N,) band as simple returns (None: the document has none)."""

    day: str
    month: int
    end: str
    tickers: tuple[str, ...]
    predicted: np.ndarray
    realised: np.ndarray
    unscorable: Mapping[str, str]
    low: np.ndarray | None = None
    high: np.ndarray | None = None
    book: Book | None = None


def score(forecast: MaturedForecast) -> dict[str, Any]:
    """The figures of one matured forecast (module docstring); None where a figure is undefined."""
    return score_together([forecast])[0]


def score_together(forecasts: Sequence[MaturedForecast]) -> list[dict[str, Any]]:
    """:func:`score` of each forecast; the cross-sectional figures of forecasts over the same names (the months
    of one document) are computed in one pass over their (M, N) arrays."""
    if not forecasts:
        return []
    if len({f.tickers for f in forecasts}) > 1:
        return [row for f in forecasts for row in score_together([f])]
    realised = np.stack([f.realised for f in forecasts])  # (M, N)
    predicted = np.stack([f.predicted for f in forecasts])  # (M, N)
    known = np.isfinite(realised) & np.isfinite(predicted)
    x, y = np.where(known, predicted, np.nan), np.where(known, realised, np.nan)
    top, bottom = quantile_masks(x, TAIL)
    with np.errstate(invalid="ignore", divide="ignore"):
        spread = (np.where(top, y, 0).sum(1) / top.sum(1)) - (np.where(bottom, y, 0).sum(1) / bottom.sum(1))
        hits = (np.sign(x) == np.sign(y)).sum(1) / known.sum(1)
    rankic, ic = row_corr(row_ranks(x), row_ranks(y)), row_corr(x, y)
    return [_row(f, known[i], rankic[i], ic[i], hits[i], spread[i]) for i, f in enumerate(forecasts)]


def _row(
    forecast: MaturedForecast, known: np.ndarray, rankic: float, ic: float, hits: float, spread: float
) -> dict[str, Any]:
    """One forecast's row: its cross-sectional figures, its band's coverage and its book's return."""
    row: dict[str, Any] = {
        "date": forecast.day,
        "matured": forecast.end,
        "n_scored": int(known.sum()),
        "rankic": _number(rankic),
        "ic": _number(ic),
        "hit_rate": _number(hits),
        "spread": _number(spread),
        "coverage": None,
        "portfolio": None,
        "unscorable": [{"ticker": t, "reason": r} for t, r in sorted(forecast.unscorable.items())],
    }
    if forecast.low is not None and forecast.high is not None:
        banded = known & np.isfinite(forecast.low) & np.isfinite(forecast.high)
        inside = (forecast.realised >= forecast.low) & (forecast.realised <= forecast.high)
        row["coverage"] = _number(inside[banded].mean()) if banded.any() else None
    if forecast.book is not None:
        row["portfolio"] = book_return(forecast.book, dict(zip(forecast.tickers, forecast.realised, strict=True)))
    return row


def book_return(book: Book, realised: Mapping[str, float]) -> dict[str, Any]:
    """The book's realised return net of its cost, the equal-weight mean of its names, and the difference; the
    names of the book whose outcome is unknown are left out of both and listed."""
    names = sorted(t for t in book.weights if math.isfinite(realised.get(t, math.nan)))
    unknown = sorted(set(book.weights) - set(names))
    gross = float(sum(book.weights[t] * realised[t] for t in names))
    benchmark = float(np.mean([realised[t] for t in names])) if names else math.nan
    net = gross - book.cost
    return {
        "return": _number(net),
        "gross_return": _number(gross),
        "cost": book.cost,
        "benchmark_return": _number(benchmark),
        "excess_return": _number(net - benchmark),
        "names": len(names),
        "names_unknown": unknown,
    }


def month_summary(rows: Sequence[Mapping[str, Any]], month: int) -> dict[str, Any]:
    """Each figure's mean over the dates of month ``month`` with its Newey-West 95 % interval (None before
    :data:`MIN_DATES_FOR_INTERVAL` dates have it)."""
    lag = label_lag(SESSIONS_PER_MONTH * month)
    out: dict[str, Any] = {"dates": len(rows), "lag": lag}
    for figure in FIGURES:
        values = np.array([_float(_figure(row, figure)) for row in rows], dtype=np.float64)
        estimate = mean_estimate(values, lag)
        ready = estimate.n >= MIN_DATES_FOR_INTERVAL
        out[figure] = {
            "mean": _number(estimate.value),
            "n": estimate.n,
            "ci_low": _number(estimate.ci_low) if ready else None,
            "ci_high": _number(estimate.ci_high) if ready else None,
        }
    return out


def _figure(row: Mapping[str, Any], figure: str) -> float | None:
    """A per-date figure of a scored row; the book's are under ``portfolio``."""
    if figure in ("portfolio_return", "benchmark_return", "excess_return"):
        book = row.get("portfolio")
        return None if book is None else book["return" if figure == "portfolio_return" else figure]
    return row.get(figure)


def _float(value: float | None) -> float:
    return math.nan if value is None else float(value)


def _number(value: Any) -> float | None:
    """A finite float for the document, None for NaN (JSON has none)."""
    value = float(value)
    return value if math.isfinite(value) else None

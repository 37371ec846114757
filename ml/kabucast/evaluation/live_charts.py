"""The live page's charts (kabucast.evaluation.live_page), each an inline SVG drawn by kabucast.evaluation.svg_charts.

- :func:`fan_chart`: a name's closes over the last :data:`HISTORY_SESSIONS` sessions, then its 12-month median
  path and outermost band (month m drawn 21 x m sessions after the forecast's session);
- :func:`rankic_chart`: the month-1 RankIC of each matured date, its trailing mean over the last
  :data:`~kabucast.evaluation.live_scores.LIVE_DATES` dates, and the walk-forward interval of the served model;
- :func:`book_chart`: the book held a month at a time (:func:`held_books`) against the equal-weight benchmark;
- :func:`coverage_chart`: the band's live coverage per month with its interval, against its nominal level.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

import numpy as np

from kabucast.data.calendar import SESSIONS_PER_MONTH
from kabucast.evaluation.live_scores import LIVE_DATES, MIN_DATES_FOR_INTERVAL
from kabucast.evaluation.svg_charts import Band, Frame, Level, Line, Whiskers, chart

HISTORY_SESSIONS = 252
"""Sessions of closes a fan chart shows before its forecast (about a year)."""
WIDE = Frame(width=440, height=200)


def fan_chart(row: Mapping[str, Any], dates: Sequence[str], closes: Sequence[float]) -> str:
    """The fan chart of one row of a forecast document (its ``ticker``, ``current_price`` and 12 months)."""
    dates, closes = list(dates)[-HISTORY_SESSIONS:], [float(c) for c in closes][-HISTORY_SESSIONS:]
    past = list(range(1 - len(closes), 1))
    start = float(row["current_price"])
    steps = [0, *(SESSIONS_PER_MONTH * int(m["month"]) for m in row["predictions"])]
    median = [start, *(start * (1.0 + median_return(m)) for m in row["predictions"])]
    layers: list[Any] = []
    intervals = [m.get("interval") for m in row["predictions"]]
    if all(intervals):
        lows = [start, *(float(i["low_price"]) for i in intervals)]
        highs = [start, *(float(i["high_price"]) for i in intervals)]
        coverage = float(intervals[0]["coverage"])
        layers.append(Band(steps, lows, highs, "band", f"{coverage:.0%} band"))
    layers += [Line(past, closes, "history", "close"), Line(steps, median, "median", "median path")]
    ticks = [(past[0], dates[0][:7])] if dates else []
    ticks += [(0, str(row["as_of_date"])), (steps[-1], f"+{len(row['predictions'])}m")]
    title = f"{row['ticker']}: closes and the 12-month forecast (median and band)"
    return chart(layers, ticks, _price, "fan", title, attrs={"data-ticker": str(row["ticker"])})


def rankic_chart(rows: Sequence[Mapping[str, Any]], walk_forward_month1: Mapping[str, Any] | None) -> str:
    """Month-1 RankIC per matured date (oldest first), its trailing mean, and the walk-forward interval."""
    values = [_number(row.get("rankic")) for row in rows]
    xs = list(range(len(rows)))
    layers: list[Any] = []
    legend = [
        '<span class="key daily"></span>each date',
        f'<span class="key mean60"></span>mean of the last {LIVE_DATES} (the decay alarm\'s figure once that many '
        "have matured)",
    ]
    if walk_forward_month1 and walk_forward_month1.get("ci_low") is not None:
        low, high = float(walk_forward_month1["ci_low"]), float(walk_forward_month1["ci_high"])
        layers.append(Level(low, high, "wf", "walk-forward 95 % interval over the folds"))
        legend.append('<span class="key wf"></span>walk-forward 95 % interval (folds)')
    layers += [Level(0.0, 0.0, "zero"), Line(xs, values, "daily", "RankIC of one date")]
    layers.append(Line(xs, trailing_mean(values, LIVE_DATES, MIN_DATES_FOR_INTERVAL), "mean60", "trailing mean"))
    return _figure("rankic-chart", "Month-1 RankIC of each matured forecast", legend, layers, _dates(rows), _corr)


def book_chart(rows: Sequence[Mapping[str, Any]]) -> str:
    """Cumulative net return of the month-1 books held one after another, and of their equal-weight benchmark."""
    held = held_books(rows)
    if not held:
        return '<figure id="book-chart"><figcaption>No published book has matured yet.</figcaption></figure>'
    book = np.cumprod([1.0, *(1.0 + h["return"] for h in held)]) - 1.0
    bench = np.cumprod([1.0, *(1.0 + h["benchmark_return"] for h in held)]) - 1.0
    xs = list(range(len(held) + 1))
    layers = [Level(0.0, 0.0, "zero"), Line(xs, bench, "benchmark", "benchmark"), Line(xs, book, "book", "book")]
    legend = ['<span class="key book"></span>book, net of costs', '<span class="key benchmark"></span>equal weight']
    ticks = [(0, held[0]["date"]), (len(held), held[-1]["matured"])]
    title = f"The book held a month at a time: {len(held)} month(s)"
    return _figure("book-chart", title, legend, layers, ticks, _percent)


def coverage_chart(months: Mapping[int, Mapping[str, Any]], nominal: float | None) -> str:
    """Each month's mean band coverage with its Newey-West interval, and the band's nominal coverage."""
    xs, ys, lows, highs = [], [], [], []
    for month, m in sorted(months.items()):
        figure = m["summary"]["coverage"]
        xs.append(month)
        ys.append(_number(figure.get("mean")))
        lows.append(_number(figure.get("ci_low")))
        highs.append(_number(figure.get("ci_high")))
    layers: list[Any] = [Level(nominal, nominal, "nominal", "nominal")] if nominal is not None else []
    layers.append(Whiskers(xs, ys, lows, highs, "coverage", "live coverage"))
    legend = ['<span class="key coverage"></span>live coverage and 95 % interval']
    legend += [f'<span class="key nominal"></span>nominal {nominal:.0%}'] if nominal is not None else []
    ticks = [(0.4, ""), *((m, f"m{m}") for m in (1, 3, 6, 9, 12)), (12.6, "")]  # room for the end whiskers
    return _figure("coverage-chart", "Band coverage per month ahead", legend, layers, ticks, _percent)


def held_books(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The month-1 rows (oldest first) of books held one after another: the first scored book, then the first
    published on or after the session the previous one matured, and so on. Each: ``date``, ``matured``, ``return``
    (net) and ``benchmark_return``."""
    out: list[dict[str, Any]] = []
    for row in rows:
        book = row.get("portfolio") or {}
        if book.get("return") is None or book.get("benchmark_return") is None:
            continue
        if out and row["date"] < out[-1]["matured"]:
            continue
        out.append({"date": row["date"], "matured": row["matured"], **{k: float(book[k]) for k in _BOOK}})
    return out


_BOOK = ("return", "benchmark_return")


def trailing_mean(values: Sequence[float], window: int, minimum: int) -> list[float]:
    """Mean of the finite values among the last ``window`` (this one included), NaN before ``minimum`` of them."""
    out = []
    for i in range(len(values)):
        seen = [v for v in values[max(0, i + 1 - window) : i + 1] if math.isfinite(v)]
        out.append(float(np.mean(seen)) if len(seen) >= minimum else math.nan)
    return out


def _figure(name: str, title: str, legend: Sequence[str], layers: Sequence[Any], ticks: Sequence[Any], fmt: Any) -> str:
    svg = chart(layers, ticks, fmt, "chart", title, WIDE)
    keys = " ".join(f"<span>{item}</span>" for item in legend)
    return f'<figure id="{name}"><figcaption>{escape(title)}</figcaption>{svg}<p class="legend">{keys}</p></figure>'


def _dates(rows: Sequence[Mapping[str, Any]]) -> list[tuple[int, str]]:
    if not rows:
        return []
    return [(0, str(rows[0]["date"]))] + ([(len(rows) - 1, str(rows[-1]["date"]))] if len(rows) > 1 else [])


def median_return(month: Mapping[str, Any]) -> float:
    """A forecast month's median (its 0.5 quantile) as a simple return, else its point forecast."""
    return float((month.get("quantiles") or {}).get("0.5", month["return"]))


def _number(value: Any) -> float:
    return math.nan if value is None else float(value)


def _price(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


def _corr(value: float) -> str:
    return f"{value:+.2f}"


def _percent(value: float) -> str:
    return f"{value * 100:.0f} %"

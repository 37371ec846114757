"""One self-contained HTML report per run: charts as PNG (embedded as base64 and written beside it) and a table.

Needs matplotlib (``pip install kabucast[report]``); nothing on the daily path imports this module.
Every section is optional: a backtest report has an equity curve but no horizons, an evaluation
report may have horizons but no equity curve. Charts are drawn on matplotlib's Agg canvas without
pyplot (no global state), and PNGs carry no software or date metadata, so the same inputs give the
same bytes. All text placed in the HTML is escaped.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from kabucast.evaluation.backtest import BacktestResult, report_prefix
from kabucast.evaluation.metrics import calibration_table, cumulative_returns, drawdown_series
from kabucast.storage.base import Store

IC_ROLLING_DAYS = 21
"""Window of the rolling mean drawn over the per-date IC (about a month of sessions)."""


@dataclass(frozen=True)
class ReportInputs:
    """What a report can show; leave out (None) what a run does not have.

    - ``returns``: daily simple returns by date, one column per curve (e.g. net, gross); the first
      column also gets a drawdown chart.
    - ``ic_by_horizon``: horizon x {model, zero, momentum, ...} mean IC (or RankIC).
    - ``ic_over_time``: per-date IC, one column per series (e.g. ic, rankic).
    - ``calibration``: (predicted, realised) arrays of the same shape, pooled over dates.
    - ``dispersion``: horizon x {pred_std, target_std, ...}: near-zero prediction spread = collapse.
    - ``coverage``: horizon x {an interval's coverage per period, ...}; columns named ``nominal ...``
      are drawn dashed (the share a calibrated interval holds).
    - ``metrics``: name -> value, shown as a table.
    - ``captions``: chart name (``equity``, ``ic_by_horizon``, ``ic_over_time``, ``calibration``,
      ``dispersion``) -> its caption; say there what the chart's horizon and returns are (a default
      caption is used for a chart left out).
    - ``boundaries``: (date, label) drawn as labelled vertical lines on the IC-over-time chart, e.g.
      where each walk-forward fold's test and the holdout begin.
    """

    returns: pd.DataFrame | None = None
    ic_by_horizon: pd.DataFrame | None = None
    ic_over_time: pd.DataFrame | None = None
    calibration: tuple[np.ndarray, np.ndarray] | None = None
    dispersion: pd.DataFrame | None = None
    coverage: pd.DataFrame | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    captions: Mapping[str, str] = field(default_factory=dict)
    boundaries: tuple[tuple[pd.Timestamp, str], ...] = ()


def write_report(store: Store, run_id: str, inputs: ReportInputs, title: str = "kabucast report") -> str:
    """Write ``reports/<run-id>/report.html`` and one PNG per chart beside it; return the HTML's key."""
    prefix = report_prefix(run_id)
    sections: list[str] = [f"<h1>{html.escape(title)}</h1>", f"<p>run: {html.escape(run_id)}</p>"]
    for name, caption, draw in _charts(inputs):
        png = _png(draw)
        store.put_bytes(f"{prefix}{name}.png", png, content_type="image/png")
        sections.append(_figure(caption, png))
    if inputs.metrics:
        sections.append(_metrics_table(inputs.metrics))
    page = _PAGE.format(title=html.escape(title), body="\n".join(sections))
    key = f"{prefix}report.html"
    store.put_bytes(key, page.encode("utf-8"), content_type="text/html; charset=utf-8")
    return key


def backtest_report(
    store: Store,
    run_id: str,
    result: BacktestResult,
    title: str = "kabucast backtest",
    settings: Mapping[str, Any] | None = None,
    rebalance_days: int = 1,
) -> str:
    """:func:`write_report` of a backtest: equity and drawdown (net, gross, the equal-weight universe),
    IC over time, the settings (``settings``: name -> text) then the summary table; the captions say
    the returns' convention and that each pick is held ``rebalance_days`` sessions."""
    returns = result.daily[["net", "gross", "benchmark"]].rename(columns={"benchmark": "equal-weight universe"})
    held = rebalance_days
    inputs = ReportInputs(
        returns=returns,
        ic_over_time=result.daily[["ic", "rankic"]],
        metrics={**(settings or {}), **result.summary},
        captions={
            "equity": f"Equity curve (compounded daily simple returns, close to close) and drawdown: the book "
            f"rebalanced every {held} sessions, net and gross of costs, beside the equal-weight universe",
            "ic_over_time": "IC and RankIC per session between the scores known at the close of t and the "
            f"next session's simple return (close t to close t + 1); the book holds each pick {held} sessions",
        },
    )
    return write_report(store, run_id, inputs, title)


Draw = Callable[[Figure], None]


def _charts(inputs: ReportInputs) -> list[tuple[str, str, Draw]]:
    """(file name, caption, drawing function) of every chart the inputs allow, in page order."""
    over_time = partial(_ic_over_time, boundaries=inputs.boundaries)
    sections: list[tuple[str, str, Any, Callable[[Any, Figure], None]]] = [
        ("equity", "Equity curve (compounded) and drawdown", inputs.returns, _equity),
        ("ic_by_horizon", "IC by horizon, model and baselines", inputs.ic_by_horizon, _bars),
        ("ic_over_time", "IC over time", inputs.ic_over_time, over_time),
        ("calibration", "Calibration: predicted vs realised", inputs.calibration, _calibration),
        ("dispersion", "Prediction dispersion by horizon", inputs.dispersion, _bars),
        ("coverage", "Interval coverage by horizon", inputs.coverage, _coverage),
    ]
    return [
        (name, inputs.captions.get(name, caption), partial(draw, data))
        for name, caption, data, draw in sections
        if data is not None
    ]


def _equity(returns: pd.DataFrame, fig: Figure) -> None:
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(2, 1))
    for column in returns.columns:
        top.plot(returns.index, 1.0 + cumulative_returns(returns[column]), label=str(column))
    top.set_ylabel("equity (start = 1, compounded daily)")
    top.legend()
    first = returns.columns[0]
    bottom.fill_between(returns.index, drawdown_series(returns[first]), 0.0, color="tab:red", alpha=0.4)
    bottom.set_ylabel(f"drawdown of {first}\n(fraction of peak)")
    bottom.set_xlabel("date (session)")


def _bars(frame: pd.DataFrame, fig: Figure) -> None:
    ax = fig.subplots()
    width = 0.8 / max(len(frame.columns), 1)
    x = np.arange(len(frame.index))
    for i, column in enumerate(frame.columns):
        ax.bar(x + i * width - 0.4 + width / 2, frame[column].to_numpy(dtype=np.float64), width, label=str(column))
    ax.set_xticks(x, [str(h) for h in frame.index])
    ax.set_xlabel(str(frame.index.name or "horizon"))
    if frame.columns.name:  # what the bars measure, with its unit
        ax.set_ylabel(str(frame.columns.name))
    ax.axhline(0.0, color="black", linewidth=0.8)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")  # beside the bars, never over them


def _ic_over_time(ic: pd.DataFrame, fig: Figure, boundaries: tuple[tuple[pd.Timestamp, str], ...] = ()) -> None:
    ax = fig.subplots()
    for day, label in boundaries:  # where each test period begins: a dotted line, named at the top
        ax.axvline(pd.Timestamp(day), color="grey", linestyle=":", linewidth=1.0)
        ax.annotate(
            label,
            (pd.Timestamp(day), 1.0),
            xycoords=("data", "axes fraction"),
            rotation=90,
            va="top",
            ha="right",
            fontsize="small",
            color="dimgrey",
        )
    for column in ic.columns:
        series = ic[column]
        rolling = series.rolling(IC_ROLLING_DAYS, min_periods=1).mean()
        (line,) = ax.plot(series.index, rolling, label=f"{column} ({IC_ROLLING_DAYS}-day mean)")
        ax.plot(series.index, series, linewidth=0.5, alpha=0.4, color=line.get_color())  # its per-date values
    ax.axhline(0.0, color="black", linewidth=0.8)
    ax.set_xlabel("date (as-of session)")
    ax.set_ylabel("correlation across tickers (per date)")
    ax.legend()


def _calibration(pairs: tuple[np.ndarray, np.ndarray], fig: Figure) -> None:
    table = calibration_table(*pairs)
    ax = fig.subplots()
    ax.plot(table["pred_mean"], table["realised_mean"], marker="o", label="binned (deciles of prediction)")
    low, high = _span(table)
    ax.plot([low, high], [low, high], color="grey", linestyle="--", label="perfect calibration")
    ax.set_xlabel("mean predicted return (log, per bin)")
    ax.set_ylabel("mean realised return (log, per bin)")
    ax.legend()


def _coverage(frame: pd.DataFrame, fig: Figure) -> None:
    ax = fig.subplots()
    for column in frame.columns:
        nominal = str(column).startswith("nominal")
        style = {"color": "grey", "linestyle": "--"} if nominal else {"marker": "o"}
        ax.plot(frame.index, frame[column].to_numpy(dtype=np.float64), label=str(column), **style)
    ax.set_xticks(list(frame.index))
    ax.set_xlabel(str(frame.index.name or "horizon"))
    ax.set_ylabel(str(frame.columns.name or "coverage"))
    ax.set_ylim(0.0, 1.0)
    ax.legend(loc="lower left", fontsize="small")


def _span(table: pd.DataFrame) -> tuple[float, float]:
    values = table[["pred_mean", "realised_mean"]].to_numpy(dtype=np.float64)
    finite = values[np.isfinite(values)]
    return (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)


def _png(draw: Draw) -> bytes:
    fig = Figure(figsize=(9, 4.5), layout="constrained")
    draw(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, metadata={"Software": None})
    return buf.getvalue()


def _figure(caption: str, png: bytes) -> str:
    data = base64.b64encode(png).decode("ascii")
    alt = html.escape(caption)
    return f'<figure><img alt="{alt}" src="data:image/png;base64,{data}"><figcaption>{alt}</figcaption></figure>'


def _metrics_table(metrics: dict[str, float]) -> str:
    rows = "\n".join(
        f"<tr><th>{html.escape(str(name))}</th><td>{html.escape(_format(value))}</td></tr>"
        for name, value in metrics.items()
    )
    return f'<table class="metrics">\n<tr><th>metric</th><th>value</th></tr>\n{rows}\n</table>'


def _format(value: object) -> str:
    return f"{value:.4g}" if isinstance(value, float | int | np.floating | np.integer) else str(value)


_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<style>
body {{ font-family: sans-serif; max-width: 960px; margin: 2em auto; }}
figure {{ margin: 1.5em 0; }}
img {{ max-width: 100%; }}
table.metrics {{ border-collapse: collapse; }}
table.metrics th, table.metrics td {{ border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: left; }}
</style>
</head>
<body>
{body}
</body>
</html>
"""

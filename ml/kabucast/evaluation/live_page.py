"""The live page, ``site/index.html``: today's forecast, its target book and its live record, as one HTML file.

Pure: published documents and price histories in, text out (kabucast.jobs.site_step reads them from the store and
writes the page). The page is self-contained: inline CSS, charts as inline SVG (kabucast.evaluation.svg_charts),
no script, no font, no image and no link to fetch, so it opens from a presigned URL or a file with no request and
no console message. It shows, top to bottom:

- what was forecast: the forecast's session, the model (version, kind, the session it was trained to), data
  freshness (each missing or stale name and why) and the universe's pending review warning when there is one;
- the live scorecard (``scorecard/latest.json``): per month 1..12 its matured dates, RankIC, hit rate, spread, band
  coverage and the book's excess return, each a mean with its Newey-West interval; the month-1 RankIC of each
  matured date with its mean over the last :data:`~kabucast.jobs.scorecard_step.LIVE_DATES` dates (the decay
  alarm's figure) against the served model's walk-forward interval; the book held a month at a time against
  the equal-weight benchmark; the band's coverage per month against its nominal level;
- the target book (``portfolio/latest.json``): weights, sectors, turnover and estimated cost;
- a fan chart per name: its closes over the last year, then the 12-month median path (the 0.5 quantile, or the
  point forecast of a model without quantiles) and the outermost published band.

Each figure of the scorecard table carries ``data-figure`` (``m<month>-<figure>``) and ``data-value`` (the
document's number, as JSON writes it; empty for null), so a test can read the page back against the document.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from html import escape
from typing import Any

from kabucast.evaluation.live_charts import book_chart, coverage_chart, fan_chart, median_return, rankic_chart

AS_OF_META = "kabucast:data-as-of"
"""The ``<meta>`` name under which the page states the session of its forecast (the publication rule reads it)."""
SUMMARY_FIGURES = (
    ("rankic", "RankIC", "corr"),
    ("hit_rate", "hit rate", "share"),
    ("spread", "top - bottom", "return"),
    ("coverage", "band coverage", "share"),
    ("excess_return", "book - benchmark", "return"),
)


@dataclass(frozen=True)
class PageInputs:
    """What the page shows: the latest published documents, the served model and each name's closes.

    ``history``: ticker -> (session dates ``YYYY-MM-DD``, closes) up to the forecast's session, oldest first.
    ``model``: ``version``, ``kind``, ``trained_as_of`` and ``walk_forward`` (model.json's evidence, or None)."""

    forecast: Mapping[str, Any]
    portfolio: Mapping[str, Any] | None
    scorecard: Mapping[str, Any] | None
    model: Mapping[str, Any]
    history: Mapping[str, tuple[Sequence[str], Sequence[float]]] = field(default_factory=dict)
    warning: str | None = None
    universe: str = "TOPIX Core30"


def render_page(page: PageInputs) -> str:
    """The whole HTML document (module docstring); the same inputs give the same text."""
    day = str(page.forecast["data_as_of"])
    title = f"kabucast: {page.universe} forecast of {day}"
    body = [
        f"<header><h1>{escape(title)}</h1>{_provenance(page)}</header>",
        f'<p class="warning" role="alert">{escape(page.warning)}</p>' if page.warning else "",
        _freshness(page.forecast),
        _scorecard(page.scorecard, page.model.get("walk_forward"), _nominal(page.forecast)),
        _book(page.portfolio),
        _fans(page.forecast, page.history),
        "<footer>Read from predictions/latest.json, portfolio/latest.json, scorecard/latest.json and the stored "
        "prices by kabucast's daily job. Forecasts are log-return models' outputs shown as simple returns; "
        "nothing here is investment advice.</footer>",
    ]
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1"><link rel="icon" href="data:,">'
        f'<meta name="{AS_OF_META}" content="{escape(day)}"><title>{escape(title)}</title>'
        f"<style>{STYLE}</style></head><body>{''.join(body)}</body></html>\n"
    )


def _provenance(page: PageInputs) -> str:
    f, model = page.forecast, page.model
    trained = f", trained to {escape(str(model['trained_as_of']))}" if model.get("trained_as_of") else ""
    kind = escape(str(model.get("kind") or f.get("model_kind") or "unknown kind"))
    return (
        f'<p class="meta">Forecast from the close of <b>{escape(str(f["timestamp"]))}</b> ({escape(f["currency"])})'
        f' by model <code id="model-version">{escape(str(f["model_version"]))}</code> ({kind}{trained}); '
        f"{int(f['num_predictions'])} names forecast.</p>"
    )


def _freshness(forecast: Mapping[str, Any]) -> str:
    """Every member without a fresh forecast, and why (the document's ``missing``)."""
    missing = forecast.get("missing") or []
    if not missing:
        return '<section id="freshness"><h2>Data freshness</h2><p>Every member has a fresh forecast.</p></section>'
    rows = "".join(
        f"<tr><td>{escape(m['ticker'])}</td><td>{int(m.get('sessions_missing') or 0)}</td>"
        f"<td>{escape(str(m.get('last_forecast') or 'never'))}</td><td>{escape(str(m.get('reason', '')))}</td></tr>"
        for m in missing
    )
    return (
        f'<section id="freshness"><h2>Data freshness</h2><p class="warning">{len(missing)} member(s) have no '
        "fresh forecast today.</p><table><tr><th>ticker</th><th>sessions missing</th><th>last forecast</th>"
        f"<th>why</th></tr>{rows}</table></section>"
    )


def _scorecard(doc: Mapping[str, Any] | None, walk_forward: Mapping[str, Any] | None, nominal: float | None) -> str:
    head = '<section id="scorecard"><h2>Live record</h2>'
    if not doc:
        return head + (
            "<p>No published forecast has matured yet: month m of a forecast is scored 21 x m sessions after its "
            "date.</p></section>"
        )
    months = {int(m["month"]): m for m in doc["months"]}
    header = "".join(f"<th>{escape(label)}</th>" for _, label, _ in SUMMARY_FIGURES)
    rows = []
    for month, m in sorted(months.items()):
        cells = "".join(_summary_cell(month, key, m["summary"][key], unit) for key, _, unit in SUMMARY_FIGURES)
        rows.append(f"<tr><td>{month}</td><td>{int(m['summary']['dates'])}</td>{cells}</tr>")
    first = months.get(1, {}).get("dates", [])
    folds = ((walk_forward or {}).get("rankic") or {}).get("folds") or []
    return (
        f"{head}<p>Scored through <b>{escape(str(doc['data_as_of']))}</b>: {int(doc['num_scored'])} (forecast, month)"
        f" pairs, {int(doc['num_unscorable'])} names without an outcome. Each figure is the mean over its matured "
        "dates with its Newey-West 95 % interval (from 20 dates on).</p>"
        f'<div class="charts">{rankic_chart(first, folds[0] if folds else None)}{book_chart(first)}'
        f"{coverage_chart(months, nominal)}</div>"
        f'<table id="scorecard-table"><tr><th>month</th><th>dates</th>{header}</tr>{"".join(rows)}</table>'
        f"{_walk_forward_note(walk_forward)}</section>"
    )


def _summary_cell(month: int, key: str, figure: Mapping[str, Any], unit: str) -> str:
    value = figure.get("mean")
    text = _format(value, unit)
    if figure.get("ci_low") is not None and figure.get("ci_high") is not None:
        text += f' <span class="ci">[{_format(figure["ci_low"], unit)}, {_format(figure["ci_high"], unit)}]</span>'
    raw = "" if value is None else json.dumps(value)
    return f'<td data-figure="m{month}-{key}" data-value="{raw}">{text}</td>'


def _walk_forward_note(walk_forward: Mapping[str, Any] | None) -> str:
    if not walk_forward:
        return (
            '<p class="note">The served model records no walk-forward evidence (it was not trained by '
            "<code>kabucast select --train</code>): there is no band to hold the live RankIC to.</p>"
        )
    inherited = walk_forward.get("inherited_from")
    origin = f", inherited from {escape(str(inherited))}" if inherited else ""
    return (
        f'<p class="note">Walk-forward evidence: recipe {escape(str(walk_forward.get("recipe")))}, evaluation '
        f"{escape(str(walk_forward.get('evaluation')))}{origin}.</p>"
    )


def _book(doc: Mapping[str, Any] | None) -> str:
    head = '<section id="book"><h2>Target book</h2>'
    if not doc:
        return head + "<p>No target book is published (predict.yaml has <code>portfolio: null</code>).</p></section>"
    held = [p for p in doc["positions"] if p["weight"] != 0.0 or p["trade"] != 0.0]
    sectors: dict[str, float] = {}
    for p in held:
        sectors[p["sector"]] = sectors.get(p["sector"], 0.0) + float(p["weight"])
    rows = "".join(
        f'<tr data-ticker="{escape(p["ticker"])}"><td>{escape(p["ticker"])}</td><td>{escape(p["sector"])}</td>'
        f"<td>{_format(p['weight'], 'share')}</td><td>{_format(p['previous_weight'], 'share')}</td>"
        f"<td>{_format(p['trade'], 'share')}</td><td>{_format(p.get('score'), 'return')}</td></tr>"
        for p in held
    )
    by_sector = "".join(
        f"<tr><td>{escape(s)}</td><td>{_format(w, 'share')}</td></tr>" for s, w in sorted(sectors.items())
    )
    cost, rebalance = doc["estimated_cost"], doc["rebalance"]
    trades = "rebalances today" if rebalance.get("today") else "holds"
    return (
        f"{head}<p>Book of <b>{escape(str(doc['data_as_of']))}</b>: {trades} ({escape(str(rebalance['reason']))}; "
        f"last {escape(str(rebalance['last']))}, next {escape(str(rebalance['next']))}). Turnover "
        f"<b>{_format(doc['turnover'], 'share')}</b> of a leg, estimated cost "
        f"<b>{_format(cost['fraction_of_leg'], 'share', 3)}</b> of a leg ({_amount(cost)}). Gross long "
        f"{_format(doc['gross']['long'], 'share')}, short {_format(doc['gross']['short'], 'share')}.</p>"
        '<div class="tables"><table id="book-table"><tr><th>ticker</th><th>sector</th><th>weight</th>'
        f"<th>previous</th><th>trade</th><th>score</th></tr>{rows}</table>"
        f'<table id="sector-table"><tr><th>sector</th><th>weight</th></tr>{by_sector}</table></div></section>'
    )


def _fans(forecast: Mapping[str, Any], history: Mapping[str, tuple[Sequence[str], Sequence[float]]]) -> str:
    figures = []
    for row in sorted(forecast["predictions"], key=lambda r: r["ticker"]):
        dates, closes = history.get(row["ticker"], ((), ()))
        last = row["predictions"][-1]
        interval = last.get("interval")
        band = ""
        if interval:
            band = f", band {_format(interval['low'], 'return')} .. {_format(interval['high'], 'return')}"
        figures.append(
            f"<figure>{fan_chart(row, dates, closes)}<figcaption><b>{escape(row['ticker'])}</b> "
            f"{escape(row['sector'])}: 12 months {_format(median_return(last), 'return')}{band}</figcaption></figure>"
        )
    return f'<section id="fans"><h2>Forecasts, 12 months ahead</h2><div class="grid">{"".join(figures)}</div></section>'


def _nominal(forecast: Mapping[str, Any]) -> float | None:
    """The band's nominal coverage (0.8 for the 0.1 .. 0.9 quantiles), None without one."""
    rows = forecast.get("predictions") or [{}]
    interval = (rows[0].get("predictions") or [{}])[0].get("interval")
    return None if interval is None else float(interval["coverage"])


def _amount(cost: Mapping[str, Any]) -> str:
    amount = cost.get("amount")
    return "-" if amount is None else f"{float(amount):,.0f} {escape(str(cost.get('currency', '')))}"


def _format(value: Any, unit: str, decimals: int = 1) -> str:
    """A figure for people: a correlation with 3 decimals, a share or return in percent; '-' for none."""
    if value is None or not math.isfinite(float(value)):
        return "-"
    if unit == "corr":
        return f"{float(value):+.3f}"
    sign = "+" if unit == "return" else ""
    return f"{float(value) * 100:{sign}.{decimals}f} %"


STYLE = """
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0 auto;max-width:1400px;padding:12px 20px;
color:#1d2330;background:#fff}
h1{font-size:20px;margin:4px 0}h2{font-size:16px;margin:22px 0 6px;border-bottom:1px solid #d5dae3}
.meta,.note,footer{color:#4a5568}footer{margin:24px 0 8px;font-size:12px}
.warning{background:#fff4d6;border-left:4px solid #d69e2e;padding:6px 10px}
table{border-collapse:collapse;margin:6px 16px 6px 0;font-variant-numeric:tabular-nums}
th,td{padding:2px 8px;border-bottom:1px solid #e7eaf0;text-align:right}th{background:#f3f5f9}
td:first-child,th:first-child{text-align:left}.ci{color:#718096;font-size:12px}
.tables,.charts{display:flex;flex-wrap:wrap;align-items:flex-start;gap:12px}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(330px,1fr));gap:8px}
figure{margin:0;border:1px solid #e7eaf0;padding:4px}.charts figure{width:440px}figcaption{font-size:12px}
svg{display:block;max-width:100%;height:auto}svg .tick{font-size:10px;fill:#4a5568}
svg .grid{stroke:#e7eaf0}svg .zero{fill:#a0aec0}
svg .history{stroke:#2d3748;stroke-width:1.2}svg .median{stroke:#2b6cb0;stroke-width:2}
svg .band{fill:#90cdf4;fill-opacity:.45}svg .wf{fill:#c6f6d5}
svg .daily{stroke:#a0aec0;stroke-width:1}svg .mean60{stroke:#2b6cb0;stroke-width:2}
svg .book{stroke:#2b6cb0;stroke-width:2}svg .benchmark{stroke:#718096;stroke-width:1.5;stroke-dasharray:4 3}
svg .nominal{fill:#38a169}svg .coverage{stroke:#2b6cb0;fill:#2b6cb0;stroke-width:1.5}
.legend{font-size:12px;color:#4a5568;margin:0 0 4px}
.key{display:inline-block;width:14px;height:8px;margin:0 4px 0 10px}.key.daily{background:#a0aec0}
.key.mean60,.key.book,.key.coverage{background:#2b6cb0}.key.wf{background:#c6f6d5}.key.benchmark{background:#718096}
.key.nominal{background:#38a169}
"""

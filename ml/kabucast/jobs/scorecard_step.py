"""The live scorecard: every published forecast whose horizon has matured, scored against the stored prices, as
``scorecard/<date>.json`` then ``scorecard/latest.json`` (the figures are kabucast.evaluation.live_scores').

Month m of ``predictions/<D>.json`` matures :data:`SESSIONS_PER_MONTH` x m sessions after D. The scorecard of a
session T holds, per month 1..12, one row per published forecast matured at T (oldest first) and their summary.
A forecast row is scored over the names of the document that were members of the universe on D; a name whose
outcome cannot be read (no stored close on D or at maturity, no stored prices at all) is listed with its reason.
When ``portfolio/<D>.json`` exists, the row also holds that book's realised return over the month.

The document depends only on the store (no clock): the same store gives the same bytes, and it is published by
kabucast.jobs.publish's rules 4 to 6 (never an older date, never fewer scored forecasts for a date,
compare-and-swap). The daily job writes the scorecard of its session after the forecast is published;
``kabucast scorecard --since`` writes those of a range of sessions (a backfill).

Reads: a daily run that follows the previous session's scorecard reads, by key, the forecast of each session with
a month maturing since (in steady state twelve, named by the calendar's
:meth:`~kabucast.data.calendar.TradingCalendar.due_sessions`, the band step's function: no listing of
``predictions/``), through the run's :class:`~kabucast.jobs.matured_reads.MaturedReads`; a rescore from scratch
lists ``predictions/`` and scores every forecast stored.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from kabucast.data.calendar import SESSIONS_PER_MONTH, TradingCalendar
from kabucast.evaluation.live_scores import LIVE_DATES, Book, MaturedForecast, month_summary, score_together
from kabucast.features import PricePanel
from kabucast.forecast.registry import model_key
from kabucast.jobs.matured_reads import MaturedReads
from kabucast.jobs.publish import FORECASTS, PORTFOLIOS, SCORECARDS, dated_days, parsed_document, publish_dated
from kabucast.jobs.stored_closes import StoredCloses
from kabucast.storage.base import Store

SCHEMA = "kabucast.scorecard/1"
MONTHS = 12
MembersOn = Callable[[pd.Timestamp], Sequence[str]]
WALK_FORWARD_NOTE = (
    "walk_forward is the evidence kabucast select --train recorded in model.json for the recipe it chose (its "
    "selection and evaluation runs, mean score and RankIC per month 1..12 with 95 % intervals, per period; a "
    "fine-tune carries its parent's, inherited_from); null for a model trained otherwise. validation_rankic is the "
    "RankIC per month 1..12 on the model's own validation block, when its model.json has one"
)


@dataclass(frozen=True)
class Scored:
    """One scored forecast: its month and the row :func:`kabucast.evaluation.live_scores.score` gave."""

    month: int
    row: dict[str, Any]
    model_version: str


def score_matured(
    store: Store,
    calendar: TradingCalendar,
    as_of: pd.Timestamp,
    members_on: MembersOn,
    prices: PricePanel | None,
    after: str | None = None,
    reads: MaturedReads | None = None,
) -> list[Scored]:
    """Every (published forecast, month) matured at ``as_of``, scored; oldest date first. ``after`` (a session):
    only those matured after it (a daily run adds them to the scorecard of the session before), whose dates come
    from the calendar (:meth:`TradingCalendar.due_sessions`: in steady state twelve, read by key, no listing).
    ``reads``: the run's reads of matured forecasts, shared with its band step (None: this call's own)."""
    reads = reads or MaturedReads(store, prices)
    closes = reads.closes
    out = []
    if after is None:  # from scratch: every published forecast (a listing of ``predictions/``)
        days = dated_days(store, FORECASTS)
    else:  # the sessions with a month maturing since ``after``, read by key (as the band step finds its own)
        days = [str(d.date()) for d in calendar.due_sessions(SESSIONS_PER_MONTH, MONTHS, as_of, matured_after=after)]
    for day in days:
        matured_on = [str(e.date()) for e in calendar.maturities(day, SESSIONS_PER_MONTH, MONTHS, as_of)]
        ends = [(m, e) for m, e in enumerate(matured_on, 1) if after is None or e > after]
        if not ends:
            continue
        document = reads.document(FORECASTS, day)
        if document is None:
            continue
        book = _book(reads.document(PORTFOLIOS, day))
        members = set(members_on(pd.Timestamp(day)))
        rows = [r for r in document.get("predictions", []) if r.get("ticker") in members]
        tickers = tuple(str(r["ticker"]) for r in rows)
        prices = closes.closes(tickers, [day, *(e for _, e in ends)])  # (N, 1 + months matured)
        matured = [
            _matured(rows, day, month, end, prices[:, [0, k]], closes, book)
            for k, (month, end) in enumerate(ends, start=1)
        ]
        version = str(document.get("model_version"))
        out.extend(Scored(f.month, row, version) for f, row in zip(matured, score_together(matured), strict=True))
    return out


def scorecard_document(
    store: Store, as_of: pd.Timestamp, scored: Sequence[Scored], carried: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The scorecard of session ``as_of`` from the forecasts scored (those matured after ``as_of`` left out) and
    the rows of an earlier scorecard ``carried`` (a daily run: the previous session's, each date scored once)."""
    day = str(as_of.date())
    matured = [s for s in scored if s.row["matured"] <= day]
    earlier = {m["month"]: [r for r in m["dates"] if r["matured"] <= day] for m in carried["months"]} if carried else {}
    months = []
    for month in range(1, MONTHS + 1):
        rows = [*earlier.get(month, []), *(s.row for s in matured if s.month == month)]
        rows.sort(key=lambda row: row["date"])
        summary = month_summary(rows, month)
        months.append({"month": month, "sessions": SESSIONS_PER_MONTH * month, "summary": summary, "dates": rows})
    versions = sorted({s.model_version for s in matured} | {m["version"] for m in (carried or {}).get("models", [])})
    return {
        "schema": SCHEMA,
        "data_as_of": day,
        "num_scored": sum(1 for m in months for row in m["dates"] if row["n_scored"] > 0),
        "num_unscorable": sum(len(row["unscorable"]) for m in months for row in m["dates"]),
        "months": months,
        "models": [model_record(store, v) for v in versions],
    }


def model_record(store: Store, version: str) -> dict[str, Any]:
    """What the store records of the evaluation of the model that made some of the forecasts (WALK_FORWARD_NOTE)."""
    key = model_key(version, "model.json")
    meta = store.get_json(key) if store.exists(key) else {}
    meta = meta if isinstance(meta, dict) else {}
    validation = meta.get("validation", {}).get("model", {}).get("rankic")
    return {
        "version": version,
        "model_json": bool(meta),
        "walk_forward": meta.get("walk_forward"),
        "validation_rankic": validation,
        "note": WALK_FORWARD_NOTE,
    }


def publish_scorecards(
    store: Store,
    calendar: TradingCalendar,
    days: Sequence[pd.Timestamp],
    members_on: MembersOn,
    prices: PricePanel | None = None,
) -> dict[str, Any]:
    """Publish the scorecard of every session in ``days`` (ascending) that has a matured forecast; what was done.
    The rows of forecasts no longer stored (expired: template.yaml's PredictionRetentionDays) come from the latest
    scorecard, so a rescore never loses what was scored."""
    if not days:
        return {"published": [], "unchanged": [], "nothing_matured": []}
    scored = score_matured(store, calendar, days[-1], members_on, prices)
    kept = expired_rows(store, parsed_document(store.get_versioned(SCORECARDS.latest_key), SCORECARDS.latest_key))
    return _publish(store, (scorecard_document(store, as_of, scored, kept) for as_of in days))


def expired_rows(store: Store, latest: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The rows of ``latest`` (a scorecard) whose forecast document the store no longer holds, as a scorecard to
    carry (None: none). A rescore from scratch scores only the stored forecasts; these keep the others' record."""
    if latest is None or latest.get("schema") != SCHEMA:
        return None
    stored = set(dated_days(store, FORECASTS))
    months = [
        {"month": m["month"], "dates": [r for r in m["dates"] if r["date"] not in stored]} for m in latest["months"]
    ]
    if not any(m["dates"] for m in months):
        return None
    return {"months": months, "models": latest.get("models", [])}


def _publish(store: Store, documents: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Publish each scorecard that scored something, in order; what was done (``latest``: where the pointer is)."""
    report: dict[str, Any] = {"published": [], "unchanged": [], "nothing_matured": []}
    for doc in documents:
        if doc["num_scored"] == 0:
            report["nothing_matured"].append(doc["data_as_of"])
            continue
        written = publish_dated(store, doc, SCORECARDS)
        report["published" if written["written"] else "unchanged"].append(written["key"])
        report["latest"], report["num_scored"] = written["latest"], doc["num_scored"]
    return report


def _matured(
    rows: Sequence[Mapping[str, Any]],
    day: str,
    month: int,
    end: str,
    pairs: np.ndarray,
    closes: StoredCloses,
    book: Book | None,
) -> MaturedForecast:
    """Month ``month`` of the document rows of ``day``; ``pairs`` (N, 2) their stored closes on ``day`` and ``end``."""
    tickers = tuple(str(r["ticker"]) for r in rows)
    months = [r["predictions"][month - 1] for r in rows]
    with np.errstate(divide="ignore", invalid="ignore"):
        realised = np.where((pairs > 0).all(axis=1), pairs[:, 1] / pairs[:, 0] - 1.0, np.nan)
    unscorable = {t: _reason(closes, t, pairs[i], day, end) for i, t in enumerate(tickers) if np.isnan(realised[i])}
    bands = [m.get("interval") for m in months]
    banded = all(b is not None for b in bands) and bool(bands)
    return MaturedForecast(
        day=day,
        month=month,
        end=end,
        tickers=tickers,
        predicted=np.array([float(m["return"]) for m in months], dtype=np.float64),
        realised=realised,
        unscorable=unscorable,
        low=np.array([float(b["low"]) for b in bands], dtype=np.float64) if banded else None,
        high=np.array([float(b["high"]) for b in bands], dtype=np.float64) if banded else None,
        book=None if book is None else Book({t: w for t, w in book.weights.items() if t in tickers}, book.cost),
    )


def _reason(closes: StoredCloses, ticker: str, pair: np.ndarray, day: str, end: str) -> str:
    if not closes.stored(ticker):
        return "no stored prices (delisted or never fetched)"
    missing = [d for d, p in zip((day, end), pair, strict=True) if not p > 0]
    return f"no stored close on {' and '.join(missing)}"


def _book(document: Mapping[str, Any] | None) -> Book | None:
    """The weights and cost of a published ``portfolio/<date>.json`` (None: none was published)."""
    if document is None:
        return None
    weights = {str(p["ticker"]): float(p["weight"]) for p in document.get("positions", [])}
    cost = float(document.get("estimated_cost", {}).get("fraction_of_leg", 0.0) or 0.0)
    return Book(weights, cost)


def live_figures(doc: Mapping[str, Any] | None, walk_forward: Mapping[str, Any] | None) -> dict[str, float | None]:
    """What the daily run reports of the live record (the decay alarm's metrics, docs/OPERATIONS.md): the mean
    month-1 RankIC of the last :data:`LIVE_DATES` matured dates (None before there are that many), the lower bound
    of the served model's walk-forward month-1 RankIC interval over the folds (``walk_forward``, its model.json's;
    None without one), the mean month-12 band coverage of the last :data:`LIVE_DATES` dates (None before one) and
    the newest matured month-1 book's net return (None without one)."""
    months = {m["month"]: m["dates"] for m in (doc or {}).get("months", [])}

    def recent(month: int, figure: str) -> list[float]:
        values = [row.get(figure) for row in months.get(month, [])]
        return [float(v) for v in values if v is not None][-LIVE_DATES:]

    rankic, coverage = recent(1, "rankic"), recent(MONTHS, "coverage")
    books = [row["portfolio"]["return"] for row in months.get(1, []) if (row.get("portfolio") or {}).get("return")]
    folds = ((walk_forward or {}).get("rankic") or {}).get("folds") or []
    floor = folds[0].get("ci_low") if folds else None
    return {
        "rankic_1m": float(np.mean(rankic)) if len(rankic) >= LIVE_DATES else None,
        "rankic_1m_floor": None if floor is None else float(floor),
        "coverage_12m": float(np.mean(coverage)) if coverage else None,
        "portfolio_return": float(books[-1]) if books else None,
    }


def daily_scorecard(
    store: Store,
    calendar: TradingCalendar,
    as_of: pd.Timestamp,
    members_on: MembersOn,
    prices: PricePanel,
    walk_forward: Mapping[str, Any] | None = None,
    reads: MaturedReads | None = None,
) -> dict[str, Any]:
    """The daily job's scorecard of session ``as_of``, written after the forecast is published: the previous
    session's scorecard, when it is the latest, plus what matured since (so a run reads about one forecast per
    month, not every one published; ``kabucast scorecard --since`` rescores from scratch, to the same bytes).
    Whatever goes wrong is reported in the run's summary (``status: failed``) and leaves the forecast published.
    ``live``: :func:`live_figures` of the scorecard now latest, ``walk_forward`` the served model's evidence,
    ``reads`` the run's reads of matured forecasts (kabucast.jobs.matured_reads; None: its own)."""
    try:
        latest = parsed_document(store.get_versioned(SCORECARDS.latest_key), SCORECARDS.latest_key)
        previous = str(calendar.previous_session(as_of, inclusive=False).date())
        follows = latest is not None and latest.get("schema") == SCHEMA and latest.get("data_as_of") == previous
        carried = latest if follows else expired_rows(store, latest)  # else a rescore: keep the expired ones' rows
        after = carried["data_as_of"] if follows else None
        doc = scorecard_document(
            store, as_of, score_matured(store, calendar, as_of, members_on, prices, after, reads), carried=carried
        )
        report = _publish(store, [doc])
        shown = doc if report.get("latest") in ("replaced", "unchanged") else latest  # else the pointer stayed put
        return {"status": "ok", **report, "live": live_figures(shown, walk_forward)}
    except Exception as exc:  # scoring must never un-publish the forecast: the summary says why
        return {"status": "failed", "error": f"{type(exc).__name__}: {exc}"}

"""The live scorecard against a LocalStore: planted prices and published forecasts in, scorecard/<date>.json out
(kabucast.jobs.scorecard_step)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from kabucast.data.prices import prices_key
from kabucast.forecast.document import forecast_document
from kabucast.jobs.matured_reads import MaturedReads
from kabucast.jobs.publish import FORECASTS, PORTFOLIOS, SCORECARDS, dated_days, prediction_key
from kabucast.jobs.scorecard_step import publish_scorecards, score_matured, scorecard_document
from kabucast.storage import LocalStore

PRICED = tuple(f"{1001 + i}.T" for i in range(8))
GONE = "9999.T"  # forecast, never priced
GAP = PRICED[-1]  # priced, but without a close on the first forecast's month-1 maturity session
LEFT = PRICED[-2]  # priced and forecast, no longer a member of the universe
LEVELS = (0.1, 0.5, 0.9)
FIRST = pd.Timestamp("2025-03-03")


def members_on(_day: pd.Timestamp) -> list[str]:
    return [t for t in (*PRICED, GONE) if t != LEFT]


@pytest.fixture
def store(tmp_path, calendar) -> LocalStore:
    """Random walks for the priced names (GAP lacks one session), and 25 forecasts from FIRST with random
    predictions and +-8 % month bands; the current prices they state are nonsense: outcomes come from the store."""
    s = LocalStore(tmp_path)
    rng = np.random.default_rng(7)
    sessions = calendar.sessions("2025-01-01", "2025-12-31")
    for t in PRICED:
        price = 100.0 * np.exp(np.cumsum(rng.normal(0, 0.02, len(sessions))))
        frame = pd.DataFrame({c: price for c in ("open", "high", "low", "close", "adj_close")}, index=sessions)
        frame = frame.rename_axis("date").assign(volume=1000)
        if t == GAP:
            frame = frame.drop(calendar.session_after(FIRST, 21))
        s.put_parquet(prices_key(t), frame)
    tickers = (*PRICED, GONE)
    for day in calendar.sessions(FIRST, calendar.session_after(FIRST, 24)):
        log_returns = rng.normal(0, 0.05, (len(tickers), 12))
        quantiles = log_returns[..., None] + np.array([-0.08, 0.0, 0.08])
        document = forecast_document(
            tickers, log_returns, {t: day for t in tickers}, {t: 1.0 for t in tickers}, {}, {}, "v1", day,
            quantiles=quantiles, levels=LEVELS,
        )  # fmt: skip
        s.put_json(prediction_key(day), document)
    return s


def realised(store: LocalStore, tickers: list[str], start: pd.Timestamp, end: pd.Timestamp) -> np.ndarray:
    """Simple returns read straight from the stored parquet files (NaN without both closes)."""
    out = []
    for t in tickers:
        closes = store.get_parquet(prices_key(t))["adj_close"] if store.exists(prices_key(t)) else pd.Series()
        out.append(closes.get(end, np.nan) / closes.get(start, np.nan) - 1)
    return np.array(out)


def test_month_one_rankic_and_coverage_match_an_independent_computation(store, calendar) -> None:
    # GIVEN the forecasts published from FIRST; WHEN the scorecard is written two months and a day after it
    as_of = calendar.session_after(FIRST, 43)
    doc = scorecard_document(store, as_of, score_matured(store, calendar, as_of, members_on, None))
    by_month = {m["month"]: m for m in doc["months"]}
    for month in (1, 2):
        rows = {r["date"]: r for r in by_month[month]["dates"]}
        # THEN every forecast whose month matured on or before as_of is scored, oldest first
        matured = [d for d in calendar.sessions(FIRST, as_of) if calendar.session_after(d, 21 * month) <= as_of]
        assert list(rows) == [str(d.date()) for d in matured]
        for day in matured:
            published = store.get_json(prediction_key(day))["predictions"]
            members = [r for r in published if r["ticker"] in members_on(day)]
            end = calendar.session_after(day, 21 * month)
            y = realised(store, [r["ticker"] for r in members], day, end)
            x = np.array([r["predictions"][month - 1]["return"] for r in members])
            band = [r["predictions"][month - 1]["interval"] for r in members]
            known = np.isfinite(y)
            row = rows[str(day.date())]
            # AND its RankIC and coverage are those of the stored predictions and prices
            assert row["rankic"] == pytest.approx(spearmanr(x[known], y[known]).statistic, abs=1e-9)
            inside = [b["low"] <= v <= b["high"] for b, v, k in zip(band, y, known, strict=True) if k]
            assert row["coverage"] == pytest.approx(np.mean(inside), abs=1e-12)
            assert row["n_scored"] == known.sum() and row["matured"] == str(end.date())
        summary = by_month[month]["summary"]
        assert summary["coverage"]["mean"] == pytest.approx(np.mean([r["coverage"] for r in rows.values()]))
    assert by_month[3]["dates"] == [] and by_month[3]["summary"]["rankic"]["mean"] is None
    # AND month 1 has 23 dates: its interval is given; month 2 has 2: it is not
    assert by_month[1]["summary"]["rankic"]["ci_low"] is not None and by_month[2]["summary"]["rankic"]["ci_low"] is None


def test_an_unscorable_name_is_listed_with_its_reason(store, calendar) -> None:
    # GIVEN a forecast name that was never priced and one without a close at FIRST's month-1 maturity
    as_of = calendar.session_after(FIRST, 22)
    doc = scorecard_document(store, as_of, score_matured(store, calendar, as_of, members_on, None))
    first = doc["months"][0]["dates"][0]
    end = calendar.session_after(FIRST, 21)
    # THEN both are listed with why; the name that left the universe is neither scored nor listed
    assert first["unscorable"] == [
        {"ticker": GAP, "reason": f"no stored close on {end.date()}"},
        {"ticker": GONE, "reason": "no stored prices (delisted or never fetched)"},
    ]
    assert first["n_scored"] == len(PRICED) - 2
    second = doc["months"][0]["dates"][1]
    assert [u["ticker"] for u in second["unscorable"]] == [GONE] and second["n_scored"] == len(PRICED) - 1


def test_a_published_book_is_scored_against_its_names(store, calendar) -> None:
    # GIVEN a book published with FIRST's forecast: long two names, short one, a cost of 0.3 % of a leg
    weights = {PRICED[0]: 0.5, PRICED[1]: 0.5, PRICED[2]: -1.0, PRICED[3]: 0.0}
    positions = [{"ticker": t, "weight": w} for t, w in weights.items()]
    store.put_json(
        PORTFOLIOS.dated_key(FIRST),
        {"data_as_of": str(FIRST.date()), "positions": positions, "estimated_cost": {"fraction_of_leg": 0.003}},
    )
    # WHEN its month 1 and that of the next session's forecast (no book) are scored
    as_of = calendar.session_after(FIRST, 22)
    doc = scorecard_document(store, as_of, score_matured(store, calendar, as_of, members_on, None))
    book = doc["months"][0]["dates"][0]["portfolio"]
    # THEN its return is the weights times the stored outcomes less the cost, against the names' mean
    y = realised(store, list(weights), FIRST, calendar.session_after(FIRST, 21))
    assert book["return"] == pytest.approx(float(np.dot(list(weights.values()), y)) - 0.003, abs=1e-12)
    assert book["benchmark_return"] == pytest.approx(y.mean(), abs=1e-12)
    assert doc["months"][0]["dates"][1]["portfolio"] is None


def test_a_range_twice_gives_the_same_bytes_and_writes_nothing_new(store, calendar) -> None:
    # GIVEN the scorecards of a range of sessions, written once
    days = list(calendar.sessions(calendar.session_after(FIRST, 19), calendar.session_after(FIRST, 30)))
    first = publish_scorecards(store, calendar, days, members_on)
    written = {k: store.get_bytes(k) for k in store.list(f"{SCORECARDS.prefix}/")}
    # WHEN the same range is written again
    again = publish_scorecards(store, calendar, days, members_on)
    # THEN the sessions before the first maturity have none, the others were written once, and nothing changed
    assert first["nothing_matured"] == [str(d.date()) for d in days[:2]]
    assert len(first["published"]) == len(days) - 2 and again["published"] == []
    assert again["unchanged"] == first["published"]
    assert {k: store.get_bytes(k) for k in store.list(f"{SCORECARDS.prefix}/")} == written
    assert store.get_json(SCORECARDS.latest_key)["data_as_of"] == str(days[-1].date())


def test_an_older_session_never_moves_latest_back(store, calendar) -> None:
    # GIVEN the scorecard of a later session published
    late, early = calendar.session_after(FIRST, 30), calendar.session_after(FIRST, 25)
    publish_scorecards(store, calendar, [late], members_on)
    # WHEN an earlier one is published (a backfill)
    out = publish_scorecards(store, calendar, [early], members_on)
    # THEN its dated file is written and latest.json stays on the later session
    assert out["published"] == [SCORECARDS.dated_key(early)] and out["latest"].startswith("kept")
    assert store.get_json(SCORECARDS.latest_key)["data_as_of"] == str(late.date())


def test_daily_runs_add_what_matured_to_the_previous_scorecard_and_match_a_rescore_from_scratch(
    store, calendar, tmp_path
) -> None:
    import shutil

    from kabucast.jobs.scorecard_step import daily_scorecard

    # GIVEN a copy of the store for a rescore from scratch
    scratch = LocalStore(shutil.copytree(store.root, tmp_path / "scratch"))
    # WHEN the daily job scores session after session (each run from the previous session's scorecard)
    days = calendar.sessions(calendar.session_after(FIRST, 21), calendar.session_after(FIRST, 50))
    for day in days:
        assert daily_scorecard(store, calendar, day, members_on, None)["status"] == "ok"
    # THEN its last scorecard has the bytes of one scored from every published forecast at once
    publish_scorecards(scratch, calendar, [days[-1]], members_on)
    assert store.get_bytes(SCORECARDS.latest_key) == scratch.get_bytes(SCORECARDS.latest_key)
    # AND a run reads, by key, only the forecasts of the sessions with a month maturing on its session (one per
    # month, published or not), not every one published, and lists none
    read: list[str] = []
    listed: list[str] = []
    original, original_list = store.get_versioned, store.list

    def counting(key: str):
        read.append(key)
        return original(key)

    def listing(prefix: str = ""):
        listed.append(prefix)
        return original_list(prefix)

    store.get_versioned, store.list = counting, listing
    next_day = calendar.session_after(days[-1], 1)
    daily_scorecard(store, calendar, next_day, members_on, None)
    forecasts = {k for k in read if k.startswith("predictions/")}
    sessions = calendar.sessions(next_day - pd.Timedelta(days=500), next_day)
    due = {prediction_key(d) for d in sessions if next_day in _maturity_sessions(calendar, d)}
    published = {prediction_key(d) for d in calendar.sessions(FIRST, calendar.session_after(FIRST, 24))}
    assert forecasts == due and len(due) == 12 and due & published
    assert not [p for p in listed if p.startswith("predictions")]


def _maturity_sessions(calendar, day: pd.Timestamp) -> set[pd.Timestamp]:
    return {calendar.session_after(day, 21 * m) for m in range(1, 13)}


def test_a_daily_run_scores_what_a_scan_of_every_stored_forecast_finds_with_days_missing(store, calendar) -> None:
    # GIVEN the published forecasts with three sessions among them missing (none published, or since deleted)
    published = calendar.sessions(FIRST, calendar.session_after(FIRST, 24))
    for day in published[[3, 4, 17]]:
        (store.root / prediction_key(day)).unlink()
    stored = dated_days(store, FORECASTS)
    ends = {d: [str(calendar.session_after(d, 21 * m).date()) for m in range(1, 13)] for d in stored}
    reads = MaturedReads(store)
    # WHEN every session until the last month of the last forecast matured is scored as a daily run does it
    for as_of in calendar.sessions(published[0], calendar.session_after(published[-1], 21 * 12 + 3)):
        after = str(calendar.previous_session(as_of, inclusive=False).date())
        scored = score_matured(store, calendar, as_of, members_on, None, after, reads)
        # THEN it scores the (forecast, month) pairs that testing every stored forecast's maturities finds
        scan = [(d, m) for d in stored for m, e in enumerate(ends[d], 1) if after < e <= str(as_of.date())]
        assert [(s.row["date"], s.month) for s in scored] == scan, as_of
        assert all(s.row["matured"] == ends[s.row["date"]][s.month - 1] for s in scored)


def test_the_walk_forward_evidence_a_model_json_records_is_shown_beside_the_live_figures(store, calendar) -> None:
    from kabucast.forecast.registry import model_key

    # GIVEN the forecasts' model version, trained by kabucast select --train (its evidence in model.json)
    evidence = {"selection": "select-2025-03-01-abcd1234", "rankic": {"folds": [{"value": 0.05}] * 12}}
    store.put_json(model_key("v1", "model.json"), {"walk_forward": evidence, "validation": {}})
    # WHEN the scorecard is written
    as_of = calendar.session_after(FIRST, 30)
    doc = scorecard_document(store, as_of, score_matured(store, calendar, as_of, members_on, None))
    # THEN it names that version with its walk-forward evidence
    (model,) = doc["models"]
    assert model["version"] == "v1" and model["walk_forward"] == evidence and model["model_json"]


def test_the_live_figures_average_the_last_sixty_dates_and_take_the_floor_from_the_walk_forward() -> None:
    from kabucast.jobs.scorecard_step import LIVE_DATES, live_figures

    rng = np.random.default_rng(3)
    rankic = rng.normal(0.02, 0.1, LIVE_DATES + 15)
    month_1 = [
        {"date": f"d{i:03d}", "rankic": float(r), "portfolio": {"return": 0.01 * (i + 1)}} for i, r in enumerate(rankic)
    ]
    month_12 = [{"date": f"d{i:03d}", "coverage": c} for i, c in enumerate((0.7, 0.9, None))]
    doc = {"months": [{"month": 1, "dates": month_1}, {"month": 12, "dates": month_12}]}
    evidence = {"rankic": {"folds": [{"value": 0.05, "ci_low": -0.01, "ci_high": 0.11}] * 12}}
    live = live_figures(doc, evidence)
    assert live["rankic_1m"] == pytest.approx(rankic[-LIVE_DATES:].mean())
    assert live["rankic_1m_floor"] == -0.01 and live["coverage_12m"] == pytest.approx(0.8)
    assert live["portfolio_return"] == pytest.approx(0.01 * len(rankic))
    # before sixty dates have matured there is no live RankIC, and without evidence no floor
    short = {"months": [{"month": 1, "dates": month_1[: LIVE_DATES - 1]}]}
    assert live_figures(short, None) == {
        "rankic_1m": None,
        "rankic_1m_floor": None,
        "coverage_12m": None,
        "portfolio_return": pytest.approx(0.01 * (LIVE_DATES - 1)),
    }


def test_a_rescore_keeps_the_record_of_forecasts_no_longer_stored(store, calendar) -> None:
    from kabucast.jobs.scorecard_step import daily_scorecard

    # GIVEN the scorecard of a session, then the oldest forecasts expire (template.yaml's PredictionRetentionDays)
    scored_on = calendar.session_after(FIRST, 40)
    publish_scorecards(store, calendar, [scored_on], members_on)
    before = store.get_json(SCORECARDS.latest_key)
    expired = [str(d.date()) for d in calendar.sessions(FIRST, calendar.session_after(FIRST, 4))]
    for day in expired:
        (store.root / prediction_key(day)).unlink()
    # WHEN a later session is scored from scratch (its previous session has no scorecard: a missed day), by the
    # daily job and by `kabucast scorecard`
    later = calendar.session_after(scored_on, 2)
    assert daily_scorecard(store, calendar, later, members_on, None)["status"] == "ok"
    daily = store.get_json(SCORECARDS.latest_key)
    publish_scorecards(store, calendar, [calendar.session_after(later, 1)], members_on)
    # THEN the expired forecasts' rows are those the earlier scorecard had, in both, never lost
    for doc in (daily, store.get_json(SCORECARDS.latest_key)):
        rows = {r["date"]: r for r in doc["months"][0]["dates"]}
        assert [rows[d] for d in expired] == [r for r in before["months"][0]["dates"] if r["date"] in expired]
        assert doc["num_scored"] >= before["num_scored"]

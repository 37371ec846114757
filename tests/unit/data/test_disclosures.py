"""Point-in-time fundamentals: statements by disclosure date -> dated static snapshots -> the features a sample sees.

The statements are the stand-in's (tests/jquants_standin.py), read through an in-memory source: the HTTP path is
tests/functional/test_jquants_enrich.py's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from tests.jquants_standin import MemorySource, statement_row, statements_of

from kabucast.data.calendar import TradingCalendar
from kabucast.data.disclosures import fundamentals_on, statements_frame, with_visibility
from kabucast.data.enrich import STATIC_PREFIX, IncompleteStatements, enrich_point_in_time, static_key
from kabucast.errors import SourceError
from kabucast.features.registry import STATIC_FEATURES, neutral_values
from kabucast.features.static import STATIC_NAMES
from kabucast.forecast.dataset import static_by_date
from kabucast.storage import LocalStore

TICKERS = ("7203.T", "6758.T", "8306.T")
D = "2024-05-02"  # a Thursday; Golden Week follows (May 3-6): the next session is Tuesday May 7
BOUNDARY = pd.Timestamp("2024-05-07")
TODAY = pd.Timestamp("2024-12-27")
CAL = TradingCalendar()


def world(planted_eps: float) -> MemorySource:
    """Three companies from 2022; the first's last disclosure is a full year on D with EPS ``planted_eps``."""
    rows = {t: statements_of(t[:4] + "0", 2022, 2024) for t in TICKERS}
    first = [r for r in statements_of("72030", 2022, 2023) if r["DiscDate"] < "2024"]
    rows[TICKERS[0]] = [*first, statement_row("72030", D, "FY", EPS=planted_eps, NP=planted_eps * 9.9e8, DivAnn=30)]
    sessions = CAL.sessions("2021-06-01", TODAY)
    closes = {t: pd.Series(2000.0 + 10.0 * i + 50.0 * np.sin(np.arange(len(sessions)) / 9), sessions) for i, t in
              enumerate(TICKERS)}  # fmt: skip
    return MemorySource(rows, closes)


def features(store: LocalStore, sessions: pd.DatetimeIndex) -> np.ndarray:
    """(T, 3, 6) static features of every session, from the store's snapshots as training loads them."""
    snapshots = {
        pd.Timestamp(k.removeprefix(STATIC_PREFIX).removesuffix(".parquet")): store.get_parquet(k)
        for k in store.list(STATIC_PREFIX)
    }
    static, lookahead = static_by_date(snapshots, sessions, list(TICKERS), "point_in_time")
    assert not lookahead.any()
    return static


def test_a_planted_disclosure_is_seen_from_its_t_plus_1_session_on_and_never_before(tmp_path: Path) -> None:
    # GIVEN two worlds that differ by one disclosure on D: the first company's full-year EPS, 100 or tripled
    control, planted = LocalStore(tmp_path / "control"), LocalStore(tmp_path / "planted")
    enrich_point_in_time(control, world(100.0), TICKERS, {}, CAL, TODAY)
    report = enrich_point_in_time(planted, world(300.0), TICKERS, {}, CAL, TODAY)
    assert str(BOUNDARY.date()) in report.written and str(pd.Timestamp(D).date()) not in report.written
    # WHEN every session's static features are built from each store
    sessions = CAL.sessions("2021-06-01", TODAY)
    seen, base = features(planted, sessions), features(control, sessions)
    ey = STATIC_NAMES.index("earnings_yield")
    # THEN no session before D's T+1 session (D itself and the holidays after it included) sees the plant
    before = sessions < BOUNDARY
    assert before.sum() > 500 and sessions[before][-1] == pd.Timestamp(D)
    np.testing.assert_array_equal(seen[before], base[before])
    # AND every session from it on sees the tripled EPS (earnings yield = EPS / close), and only that changes
    after = ~before
    np.testing.assert_allclose(seen[after, 0, ey], 3.0 * base[after, 0, ey], rtol=1e-5)
    assert (seen[after, 0, ey] > base[after, 0, ey]).all()
    others = [i for i in range(len(STATIC_NAMES)) if i not in (ey, STATIC_NAMES.index("return_on_equity"))]
    np.testing.assert_array_equal(seen[:, :, others], base[:, :, others])
    np.testing.assert_array_equal(seen[:, 1:], base[:, 1:])


def test_days_before_any_disclosure_get_the_neutral_values_never_a_later_one(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    enrich_point_in_time(store, world(100.0), TICKERS, {}, CAL, TODAY)
    first = min(pd.Timestamp(k.removeprefix(STATIC_PREFIX).removesuffix(".parquet")) for k in store.list(STATIC_PREFIX))
    assert first == pd.Timestamp("2022-02-07")  # 2022-02-05 is a Saturday: the Monday after
    sessions = CAL.sessions("2021-06-01", "2022-03-31")
    static = features(store, sessions)
    early = sessions < first
    np.testing.assert_allclose(static[early], np.broadcast_to(neutral_values(STATIC_FEATURES), static[early].shape))
    assert not np.allclose(static[~early][0], neutral_values(STATIC_FEATURES))


def test_a_rerun_writes_nothing_and_a_later_one_only_the_new_sessions(tmp_path: Path) -> None:
    store, source = LocalStore(tmp_path), world(100.0)
    first = enrich_point_in_time(store, source, TICKERS, {"7203.T": "Automobiles"}, CAL, TODAY - pd.Timedelta(days=60))
    before = {k: store.get_bytes(k) for k in store.list(STATIC_PREFIX)}
    again = enrich_point_in_time(store, source, TICKERS, {"7203.T": "Automobiles"}, CAL, TODAY - pd.Timedelta(days=60))
    assert again.written == [] and again.stored == len(first.written) == len(before)
    assert {k: store.get_bytes(k) for k in store.list(STATIC_PREFIX)} == before
    later = enrich_point_in_time(store, source, TICKERS, {"7203.T": "Automobiles"}, CAL, TODAY)
    assert later.written == ["2024-11-01", "2024-11-06", "2024-12-02"]  # Nov 5's T+1, and two month starts
    assert all(store.get_bytes(k) == v for k, v in before.items())
    assert store.get_parquet(static_key(pd.Timestamp("2024-12-02"))).at["7203.T", "sector"] == "Automobiles"


def test_one_unreadable_ticker_writes_nothing_and_says_to_run_again(tmp_path: Path) -> None:
    store, source = LocalStore(tmp_path), world(100.0)
    source.failing = {"6758.T"}
    with pytest.raises(IncompleteStatements, match=r"6758\.T: J-Quants server error 500.*enrich --source memory"):
        enrich_point_in_time(store, source, TICKERS, {}, CAL, TODAY)
    assert store.list(STATIC_PREFIX) == []


def test_the_raw_fields_have_the_units_the_static_features_expect() -> None:
    rows = [
        statement_row("72030", "2024-05-10", "FY", EPS=200, NP=1.0e11, Eq=1.0e12, TA=3.0e12, DivAnn=60, BPS=2000),
        statement_row("72030", "2024-08-05", "1Q", Eq=1.25e12, TA=3.0e12, BPS=2500, ShOutFY=5.1e8, TrShFY=1.0e7),
    ]
    statements = {"7203.T": with_visibility(statements_frame(pd.DataFrame(rows)), CAL)}
    close = pd.Series([4000.0], index=[pd.Timestamp("2024-08-06")])
    days = pd.DatetimeIndex(["2024-05-10", "2024-08-06"])
    history = fundamentals_on(statements, {"7203.T": close}, days)
    got = history.loc[(pd.Timestamp("2024-08-06"), "7203.T")]
    assert got["trailingPE"] == 20.0 and got["priceToBook"] == 1.6 and got["dividendYield"] == 0.015
    assert got["returnOnEquity"] == 0.1 and got["debtToEquity"] == 140.0 and got["marketCap"] == 2.0e12
    assert got["disclosed"] == pd.Timestamp("2024-08-05")
    none_yet = history.loc[(pd.Timestamp("2024-05-10"), "7203.T")]
    assert none_yet[["trailingPE", "marketCap"]].isna().all() and pd.isna(none_yet["disclosed"])


def test_statements_without_a_needed_field_are_a_named_error() -> None:
    rows = pd.DataFrame([statement_row("72030", "2024-05-10", "FY", EPS=200)]).drop(columns=["BPS"])
    with pytest.raises(SourceError, match=r"lack the fields \['BPS'\]: has the API changed"):
        statements_frame(rows)

"""The slow-data groups joined strictly as of their publication (kabucast.features.slow): a value planted with
publication date P is invisible on every row dated up to and including P, and visible from P's next session."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kabucast.config import SectorSettings
from kabucast.data.calendar import TradingCalendar
from kabucast.data.slow_store import merged
from kabucast.data.sources.jquants_slow import GROUPS, empty
from kabucast.features.panel import PricePanel
from kabucast.features.registry import WEEKLY_FEATURES, feature_contract, feature_table, neutral_values, slow_specs
from kabucast.features.sequences import weekly_feature_history, weekly_features_at
from kabucast.features.slow import slow_inputs, slow_rows, visible_from

TICKER, SECTOR = "7203.T", "Consumer Cyclical"  # the sector of TSE 33 code 3700 (Transportation Equipment)
SECTORS = {TICKER: SECTOR, "9984.T": "Communication Services"}
PLANTED = {  # each group's first feature for the planted row
    "margin": np.log1p(3e6) - np.log1p(1e6),
    "short_selling": 0.75,
    "flows": 0.02,
}


def planted(group: str, published: pd.Timestamp) -> pd.DataFrame:
    """One row of ``group`` published on ``published``, as the store holds it."""
    day = published - pd.Timedelta(days=4)
    row = {
        "margin": {"ticker": TICKER, "date": day, "long_vol": 3e6, "short_vol": 1e6},
        "short_selling": {"s33": "3700", "date": published, "sell_ex_short_va": 1e9, "short_with_res_va": 2e9,
                          "short_no_res_va": 1e9},
        "flows": {"section": "TSEPrime", "start": day - pd.Timedelta(days=7), "end": day, "total_va": 5e12,
                  "foreign_bal_va": 1e11, "individual_bal_va": -5e10},
    }[group]  # fmt: skip
    return merged(empty(group), pd.DataFrame([{**row, "published": published}]), group)


@pytest.mark.parametrize("group", GROUPS)
@pytest.mark.parametrize(
    ("published", "next_session"),
    [("2023-03-10", "2023-03-13"), ("2023-05-02", "2023-05-08")],  # a Friday; the eve of Golden Week
)
def test_a_value_is_invisible_up_to_its_publication_day_and_visible_from_the_next_session(
    calendar: TradingCalendar, sectors: SectorSettings, group: str, published: str, next_session: str
) -> None:
    # GIVEN a value published on P
    p, after = pd.Timestamp(published), pd.Timestamp(next_session)
    inputs = slow_inputs({group: planted(group, p)}, calendar, SECTORS, sectors)
    # WHEN rows are dated every day from a week before P to P's next session
    days = pd.date_range(p - pd.Timedelta(days=7), after, freq="D")
    rows = inputs.rows(days, [TICKER])[:, 0, 0]  # (R,) the group's first feature of the planted stock
    # THEN it is the neutral value on every day up to P's next session, and the planted value from it
    neutral = neutral_values(slow_specs([group]))[0]
    np.testing.assert_array_equal(rows[:-1], neutral)
    assert rows[-1] == pytest.approx(PLANTED[group])
    assert visible_from(pd.DatetimeIndex([p]), calendar)[0] == after


@pytest.mark.parametrize("group", GROUPS)
def test_the_weekly_sequences_see_it_from_the_next_session_only(
    three_year_market: dict[str, pd.DataFrame], calendar: TradingCalendar, sectors: SectorSettings, group: str
) -> None:
    # GIVEN a value published on Friday 2023-03-10, the last session of its week
    panel = PricePanel.from_frames(three_year_market)
    inputs = slow_inputs({group: planted(group, pd.Timestamp("2023-03-10"))}, calendar, SECTORS, sectors)
    column, ticker = len(WEEKLY_FEATURES), panel.tickers.index(TICKER)
    neutral = neutral_values(slow_specs([group]))[0]
    # WHEN the sequences are built as of that Friday  THEN no row sees it
    on_p = weekly_features_at(panel, "2023-03-10", slow=inputs)  # (N, 156, 23 + G)
    assert on_p.shape == (len(panel.tickers), 156, len(WEEKLY_FEATURES) + len(slow_specs([group])))
    np.testing.assert_array_equal(on_p[ticker, :, column], np.float32(neutral))
    # WHEN as of the next Monday  THEN only the partial week's row sees it (the week ending on P does not)
    monday = weekly_features_at(panel, "2023-03-13", slow=inputs)
    assert monday[ticker, -1, column] == pytest.approx(PLANTED[group], rel=1e-6)
    np.testing.assert_array_equal(monday[ticker, :-1, column], np.float32(neutral))
    # AND the many-dates path gives the same arrays, and the price features do not change
    history = weekly_feature_history(panel, ["2023-03-10", "2023-03-13"], slow=inputs)
    both = history.windows(np.array([0, 1]), np.array([ticker, ticker]))
    np.testing.assert_array_equal(both, np.stack([on_p[ticker], monday[ticker]]))
    np.testing.assert_array_equal(monday[..., :column], weekly_features_at(panel, "2023-03-13"))


def test_a_stale_value_goes_back_to_neutral_and_a_later_one_replaces_it(
    calendar: TradingCalendar, sectors: SectorSettings
) -> None:
    first = planted("flows", pd.Timestamp("2023-03-10"))
    later = first.assign(start=first.start + pd.Timedelta(days=7), published=pd.Timestamp("2023-03-17"))
    later["foreign_bal_va"] = 2e11
    inputs = slow_inputs({"flows": pd.concat([first, later], ignore_index=True)}, calendar, SECTORS, sectors)
    days = pd.DatetimeIndex(["2023-03-13", "2023-03-20", "2023-04-10", "2023-04-11"])
    np.testing.assert_allclose(inputs.rows(days, ["9984.T"])[:, 0, 0], [0.02, 0.04, 0.04, 0.0])


def test_short_selling_is_the_sector_sum_relative_to_the_market(
    calendar: TradingCalendar, sectors: SectorSettings
) -> None:
    # GIVEN two TSE 33 codes of one sector and one of another, on one day
    rows = pd.concat(
        [
            planted("short_selling", pd.Timestamp("2023-03-10")),
            planted("short_selling", pd.Timestamp("2023-03-10")).assign(s33="3350", short_with_res_va=0.0),
            planted("short_selling", pd.Timestamp("2023-03-10")).assign(s33="3650", short_no_res_va=0.0),
        ]
    )
    inputs = slow_inputs({"short_selling": rows}, calendar, SECTORS, sectors)
    out = slow_rows(inputs.events, pd.DatetimeIndex(["2023-03-13"]), [TICKER, "9984.T", "1301.T"], SECTORS)
    sector, market = (3e9 + 1e9) / (4e9 + 2e9), (3e9 + 1e9 + 2e9) / (4e9 + 2e9 + 3e9)
    np.testing.assert_allclose(out[0, 0], [sector, sector - market])
    np.testing.assert_allclose(out[0, 1:], [[0.4, 0.0], [0.4, 0.0]])  # no data for Communication Services; no sector


def test_the_contract_names_the_groups_only_when_some_are_enabled() -> None:
    assert "feature_groups" not in feature_contract()
    contract = feature_contract(["flows", "margin"])
    assert contract["feature_groups"] == ["margin", "flows"]
    assert contract["weekly"][len(WEEKLY_FEATURES) :] == [
        "margin_long_short", "margin_long_chg_1w", "flow_foreign_net", "flow_individual_net"
    ]  # fmt: skip


def test_the_docs_show_the_groups_table() -> None:
    doc = (Path(__file__).resolve().parents[3] / "docs" / "FEATURES.md").read_text(encoding="utf-8")
    assert feature_table(slow_specs(GROUPS), len(WEEKLY_FEATURES)) in doc

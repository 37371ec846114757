"""The pure parts of the universe sync: which masters are read, and which rows of a master are the index's."""

from __future__ import annotations

import pandas as pd
import pytest

from kabucast.data.universe_sync import INDEXES, Listed, check_dates, index_members, index_spec
from kabucast.errors import UsageError


def master(*rows: tuple[str, str, str]) -> pd.DataFrame:
    return pd.DataFrame(
        [{"Code": c, "CoNameEn": f"name {c}", "S33": s33, "S33Nm": "x", "ScaleCat": s} for c, s, s33 in rows]
    )


def test_an_index_is_its_scale_categories_and_topix100_their_union() -> None:
    frame = master(
        ("72030", "TOPIX Core30", "3700"), ("99830", "TOPIX Large70", "6100"), ("13320", "TOPIX Mid400", "50")
    )
    assert index_members(frame, INDEXES["TOPIX Core30"]) == {"7203.T": Listed("name 72030", "3700", "x")}
    assert set(index_members(frame, INDEXES["TOPIX Large70"])) == {"9983.T"}
    assert set(index_members(frame, INDEXES["TOPIX 100"])) == {"7203.T", "9983.T"}
    assert index_members(master(("13320", "TOPIX Mid400", "50")), INDEXES["TOPIX 100"]) == {}
    assert index_members(pd.DataFrame(), INDEXES["TOPIX 100"]) == {}
    assert index_members(frame, INDEXES["TOPIX Large70"])["9983.T"].s33 == "6100"
    with pytest.raises(UsageError, match="TOPIX Small 1"):
        index_spec("TOPIX Small 1")


def test_the_masters_read_are_the_first_session_each_month_end_and_the_last(calendar) -> None:
    sessions = calendar.sessions("2020-09-15", "2020-12-10")
    assert [str(d.date()) for d in check_dates(sessions)] == [
        "2020-09-15",
        "2020-09-30",
        "2020-10-30",  # the review date: October's last session
        "2020-11-30",
        "2020-12-10",
    ]

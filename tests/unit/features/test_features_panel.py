"""PricePanel: price frames aligned into (dates x tickers) arrays."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from kabucast.features.panel import PricePanel


def test_from_frames_aligns_on_the_union_of_dates_with_nan_gaps(
    make_frames: Callable[..., dict[str, pd.DataFrame]],
) -> None:
    # GIVEN two tickers, one missing a day, and a third ticker without any frame
    frames = make_frames(("A.T", "B.T"), "2024-01-04", "2024-01-31")
    missing_day = frames["B.T"].index[3]
    frames["B.T"] = frames["B.T"].drop(missing_day)

    # WHEN they are aligned in a chosen ticker order
    panel = PricePanel.from_frames(frames, ["B.T", "C.T", "A.T"])

    # THEN dates are the union, NaN marks the missing day and the absent ticker, values are kept
    assert panel.tickers == ("B.T", "C.T", "A.T")
    assert panel.dates.equals(frames["A.T"].index)
    row = panel.dates.get_loc(missing_day)
    assert np.isnan(panel.close[row, 0]) and not np.isnan(panel.close[row, 2])
    assert np.isnan(panel.volume[:, 1]).all()
    np.testing.assert_array_equal(panel.adj_close[:, 2], frames["A.T"]["adj_close"].to_numpy())
    assert panel.volume.dtype == np.float64 and panel.open.shape == (len(panel.dates), 3)


def test_until_keeps_bars_on_or_before_the_as_of_date(make_frames: Callable[..., dict[str, pd.DataFrame]]) -> None:
    # GIVEN a panel over January 2024
    panel = PricePanel.from_frames(make_frames(("A.T",), "2024-01-04", "2024-01-31"))

    # WHEN it is cut at a Saturday and at a session
    saturday = panel.until("2024-01-13")
    session = panel.until(pd.Timestamp("2024-01-16"))

    # THEN the last date is the Friday before, or the session itself
    assert saturday.dates[-1] == pd.Timestamp("2024-01-12")
    assert session.dates[-1] == pd.Timestamp("2024-01-16")
    assert session.close.shape == (len(session.dates), 1)


def test_positions_name_an_unknown_ticker(make_frames: Callable[..., dict[str, pd.DataFrame]]) -> None:
    # GIVEN a two-ticker panel
    panel = PricePanel.from_frames(make_frames(("A.T", "B.T"), "2024-01-04", "2024-01-31"))

    # WHEN / THEN positions follow the request, and an unknown ticker is named
    np.testing.assert_array_equal(panel.positions(["B.T", "A.T"]), [1, 0])
    with pytest.raises(KeyError, match=r"Z\.T"):
        panel.positions(["A.T", "Z.T"])


def test_a_mis_shaped_array_is_refused() -> None:
    # GIVEN arrays that do not match the dates x tickers shape
    dates = pd.DatetimeIndex(["2024-01-04", "2024-01-05"])
    ok, bad = np.ones((2, 1)), np.ones((3, 1))

    # WHEN / THEN the panel refuses to exist
    with pytest.raises(ValueError, match="volume"):
        PricePanel(dates, ("A.T",), ok, ok, ok, ok, ok, bad)

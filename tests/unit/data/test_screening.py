"""The policy on a ticker's bars: an unadjusted corporate action quarantines the ticker, or rebases it on request."""

from __future__ import annotations

import numpy as np
import pandas as pd
from tests.unit.data.test_plausibility import bars, scale

from kabucast.data.screening import REBASED, screen_bars


def test_a_corporate_action_quarantines_the_ticker_whole_with_its_date_and_ratio() -> None:
    # GIVEN a 2-for-1 split the source did not adjust, and a bad tick elsewhere
    frame = scale(scale(bars(), slice(30, None), 0.5), 10, 100.0)
    # WHEN ingest's policy screens it
    problem, kept, suspects = screen_bars(frame, "7203.T")
    # THEN the ticker is quarantined by the corporate action, nothing is dropped bar by bar
    assert problem == (
        f"unadjusted corporate action on {frame.index[30].date()}, ratio 1/2: re-fetch when the source adjusts"
    )
    assert kept is frame and [(s.kind, s.action) for s in suspects] == [("corporate_action", "reject")]


def test_every_corporate_action_of_a_ticker_is_named() -> None:
    frame = scale(scale(bars(), slice(20, None), 0.1), slice(40, None), 10.0)
    problem, _, suspects = screen_bars(frame, "5707.T")
    assert problem.startswith(f"unadjusted corporate action on {frame.index[20].date()}, ratio 1/10: ")
    assert problem.endswith(f"(also on {frame.index[40].date()}, ratio 10)") and len(suspects) == 2


def test_rebase_actions_puts_the_ticker_on_one_scale_and_still_drops_bad_ticks() -> None:
    # GIVEN a 1:10 consolidation the source did not adjust, and a x100 bad tick after it
    clean = bars()
    frame = scale(scale(clean, slice(30, None), 10.0), 45, 100.0)
    # WHEN a ranker panel's policy screens it
    problem, kept, suspects = screen_bars(frame, "6702.T", rebase_actions=True)
    # THEN the earlier bars are rescaled to the later ones, the bad tick is dropped, and both are named
    assert problem is None and len(kept) == len(frame) - 1 and frame.index[45] not in kept.index
    np.testing.assert_allclose(kept["close"], clean["close"].drop(frame.index[45]) * 10)
    assert [(s.date, s.kind, s.action) for s in suspects] == [
        (frame.index[30], "corporate_action", REBASED),
        (frame.index[45], "reverting_spike", "reject"),
    ]
    assert screen_bars(frame.iloc[:0], "6702.T", rebase_actions=True)[0] is None


def test_a_rebased_ticker_that_is_broken_besides_is_still_quarantined() -> None:
    frame = scale(bars(), slice(30, None), 10.0)
    frame.iloc[[5, 15, 25, 35, 45], frame.columns.get_loc("close")] *= 0.001  # five near-zero closes of 60
    problem, kept, suspects = screen_bars(frame, "6702.T", rebase_actions=True)
    assert problem.startswith("quarantined: ") and " of 60 bars are implausible" in problem and kept is frame
    assert suspects[0].action == REBASED and isinstance(suspects[0].date, pd.Timestamp)


def test_an_accepted_level_shift_is_kept_and_flagged_instead_of_quarantining_the_ticker() -> None:
    # GIVEN a genuine move that looks like a 2-for-1 split: open and close at half, and the level holds
    frame = scale(bars(), slice(30, None), 0.5)
    shift = frame.index[30]
    assert screen_bars(frame, "7203.T")[0].startswith(f"unadjusted corporate action on {shift.date()}, ratio 1/2")
    # WHEN an operator has accepted the shift of that date as a real move
    problem, kept, suspects = screen_bars(frame, "7203.T", accepted={shift})
    # THEN every bar is kept at the prices given, and the shift is flagged by name, not rejected
    assert problem is None and kept.equals(frame)
    ((date, kind, action, detail),) = [(s.date, s.kind, s.action, s.detail) for s in suspects]
    assert (date, kind, action) == (shift, "accepted_level_shift", "flag")
    assert "ratio 1/2 (a 2-for-1 split) accepted as a real move" in detail and "not adjusted" not in detail


def test_an_accepted_shift_is_still_judged_by_the_other_rules() -> None:
    # GIVEN a x1/10 level shift accepted as a real move: beyond the x5 a day the rules allow
    frame = scale(bars(), slice(30, None), 0.1)
    problem, kept, suspects = screen_bars(frame, "7203.T", accepted={frame.index[30]})
    # THEN it is no corporate action, but its bar is rejected as an extreme move, as it was before that rule
    assert problem is None and kept.equals(frame.drop(frame.index[30]))
    assert [(s.date, s.kind, s.action) for s in suspects] == [
        (frame.index[30], "extreme_move", "reject"),
        (frame.index[30], "accepted_level_shift", "flag"),
    ]
    # AND accepting another date changes nothing
    assert screen_bars(frame, "7203.T", accepted={frame.index[31]})[0].startswith("unadjusted corporate action")

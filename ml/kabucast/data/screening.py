"""The policy on a ticker's incoming bars, shared by ingest and the ranker's panels.

kabucast.data.plausibility says which bars are implausible; this module decides what happens to them
and to the ticker: rejected bars are dropped, flagged ones kept, and a ticker whose series is too
broken (or not on the universe's exchange) is quarantined whole. A split or consolidation the source
left unadjusted is never cleaned bar by bar (that keeps two scales): the ticker is quarantined, or,
where the caller allows it, rebased by the split's ratio. Stored data is never touched here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Sequence

import pandas as pd

from kabucast.data.bar_checks import DEFAULT_SETTINGS, REJECT, PlausibilitySettings, Suspect
from kabucast.data.calendar import TradingCalendar
from kabucast.data.corporate_actions import CorporateAction, corporate_actions, ratio_text, rebase
from kabucast.data.plausibility import screen

QUARANTINE_SHARE = 0.05
"""A ticker with more than this share of its bars rejected (and at least ``QUARANTINE_MIN``) is quarantined."""
QUARANTINE_MIN = 3
REBASED = "rebased"
"""The action of a ``corporate_action`` suspect whose earlier bars were rescaled by its ratio (``rebase_actions``)."""


def screen_bars(
    frame: pd.DataFrame,
    ticker: str,
    calendar: TradingCalendar | None = None,
    settings: PlausibilitySettings = DEFAULT_SETTINGS,
    rebase_actions: bool = False,
    accepted: Collection[pd.Timestamp] = (),
) -> tuple[str | None, pd.DataFrame, list[Suspect]]:
    """The policy on one ticker's incoming bars, shared by ingest and the ranker's panels.

    Returns ``(problem, kept, suspects)``: the bars without the rejected ones, every suspect, and a
    reason to quarantine the whole ticker (None: use ``kept``). The ticker is quarantined when a date
    is not a session of ``calendar`` (the universe's exchange: wrong data, not a bad bar), when more
    than ``QUARANTINE_SHARE`` of its bars (and at least ``QUARANTINE_MIN``) are rejected: a series
    that broken is not cleaned bar by bar, and when it holds an unadjusted corporate action (the
    reason is :func:`unadjusted`). With ``rebase_actions`` such a ticker is instead put on the scale of
    its last bar (kabucast.data.corporate_actions.rebase: earlier prices times the split's ratio, volume
    divided by it) and screened again; its ``corporate_action`` suspects then carry the action
    :data:`REBASED`. A level shift on a date of ``accepted`` is a real move an operator accepted, no
    corporate action: the other rules judge it, and it is flagged ``accepted_level_shift``.
    Nothing is modified in place.
    """
    if calendar is not None:
        off = calendar.off_calendar(frame.index)
        if len(off):
            shown = ", ".join(str(d.date()) for d in off[:3]) + (f" and {len(off) - 3} more" if len(off) > 3 else "")
            return f"dates that are not {calendar.exchange} sessions: {shown}", frame, []
    kept, suspects = screen(frame, settings, ticker, accepted)  # the corporate-action rule runs first in it
    rebased: list[Suspect] = []
    if any(s.kind == "corporate_action" for s in suspects):  # rare: the actions' ratios decide what follows
        actions = corporate_actions(frame, settings, ticker, accepted)
        if not rebase_actions:
            return unadjusted(actions), frame, [a.suspect() for a in actions]
        rebased = [dataclasses.replace(a.suspect(), action=REBASED) for a in actions]
        kept, suspects = screen(rebase(frame, actions), settings, ticker, accepted)
    rejected = [s for s in suspects if s.action == REJECT]
    if len(rejected) >= QUARANTINE_MIN and len(rejected) > QUARANTINE_SHARE * len(frame):
        first = rejected[0]
        return (
            f"quarantined: {len(rejected)} of {len(frame)} bars are implausible (e.g. {first.date.date()} "
            f"{first.kind}: {first.detail}); stored data kept",
            frame,
            rebased + suspects,
        )
    return None, kept, sorted(rebased + suspects, key=lambda s: s.date)


def unadjusted(actions: Sequence[CorporateAction]) -> str:
    """Why a ticker with these corporate actions is quarantined: the first one's reason, and the others' dates."""
    more = [f"{a.date.date()}, ratio {ratio_text(a.ratio)}" for a in actions[1:]]
    return actions[0].reason + (f" (also on {'; '.join(more)})" if more else "")

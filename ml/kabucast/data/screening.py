"""The policy on a ticker's incoming bars, shared by ingest and the ranker's panels.

kabucast.data.plausibility says which bars are implausible; this module decides what happens to them
and to the ticker: rejected bars are dropped, flagged ones kept, and a ticker whose series is too
broken (or not on the universe's exchange) is quarantined whole. Stored data is never touched here.
"""

from __future__ import annotations

import pandas as pd

from kabucast.data.calendar import TradingCalendar
from kabucast.data.plausibility import REJECT, PlausibilitySettings, Suspect, screen

DEFAULT_SETTINGS = PlausibilitySettings()

QUARANTINE_SHARE = 0.05
"""A ticker with more than this share of its bars rejected (and at least ``QUARANTINE_MIN``) is quarantined."""
QUARANTINE_MIN = 3


def screen_bars(
    frame: pd.DataFrame,
    ticker: str,
    calendar: TradingCalendar | None = None,
    settings: PlausibilitySettings = DEFAULT_SETTINGS,
) -> tuple[str | None, pd.DataFrame, list[Suspect]]:
    """The policy on one ticker's incoming bars, shared by ingest and the ranker's panels.

    Returns ``(problem, kept, suspects)``: the bars without the rejected ones, every suspect, and a
    reason to quarantine the whole ticker (None: use ``kept``). The ticker is quarantined when a date
    is not a session of ``calendar`` (the universe's exchange: wrong data, not a bad bar), or when
    more than ``QUARANTINE_SHARE`` of its bars (and at least ``QUARANTINE_MIN``) are rejected: a series
    that broken is not cleaned bar by bar. Nothing is modified in place.
    """
    if calendar is not None:
        off = calendar.off_calendar(frame.index)
        if len(off):
            shown = ", ".join(str(d.date()) for d in off[:3]) + (f" and {len(off) - 3} more" if len(off) > 3 else "")
            return f"dates that are not {calendar.exchange} sessions: {shown}", frame, []
    kept, suspects = screen(frame, settings, ticker)
    rejected = [s for s in suspects if s.action == REJECT]
    if len(rejected) >= QUARANTINE_MIN and len(rejected) > QUARANTINE_SHARE * len(frame):
        first = rejected[0]
        return (
            f"quarantined: {len(rejected)} of {len(frame)} bars are implausible (e.g. {first.date.date()} "
            f"{first.kind}: {first.detail}); stored data kept",
            frame,
            suspects,
        )
    return None, kept, suspects

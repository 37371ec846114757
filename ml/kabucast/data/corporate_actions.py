"""Unadjusted corporate actions: a split or share consolidation the source left in one ticker's prices.

The ``corporate_action`` suspect (reject; the ticker's series, not only the bar): from one bar on,
every price is a split ratio times the earlier ones. A bar starts one when

(1) its close over the previous usable close is near a ratio of ``split_ratios`` or an inverse
    (2, 3, 4, 5, 10, 20, 1/2, ... 1/20): the nearer of its open and close within ``split_tolerance``
    (relative, log terms) of the previous close times the ratio, the other within twice that. The
    whole bar opened at the new scale: a 2-for-1 split opens at half the previous close and trades
    an ordinary day, a -50 % crash opens part of the way down and falls during the day. A bar with
    no usable open is judged on its close alone.
(2) the level holds on both sides: the ``split_sessions`` usable closes after it stay within half
    the shift (log terms) of its close, the ``split_sessions`` before it within half the shift of the
    previous close; one stray close per side is forgiven when the side has three or more (a bad tick
    next to a split). A reverting spike, or a plateau that comes back within ``split_sessions``, is
    not one. Near either end of the series the closes there are must hold, and a shift on the very
    last bar counts (the detail says it is not confirmed yet), so no bar at a new scale is accepted
    unconfirmed.

kabucast.data.plausibility then runs every other rule on the series put on the scale of its last bar
(:func:`scale_factors`), so only the shift bar is named. What happens to the ticker is the caller's
policy (kabucast.data.screening: quarantine, or :func:`rebase`); a frame that holds one is never
usable bar by bar.

A genuine market move can look like one (a close and an open both at about x0.5, and the level
holding). An operator who knows it is one names it by ticker and date (``accepted_level_shifts`` in
the fetch config, kabucast.config.AcceptedLevelShift): a shift on an accepted date is no corporate
action. The bar is then judged by the other rules as if this rule did not exist, on the prices as
given, and flagged ``accepted_level_shift`` (kept) if they do not reject it: a move within
``max_daily_ratio`` (x2, x3, x4, 1/2, ...) is kept, a x10 one is still an ``extreme_move``.

Ratio 3/2 is not in the defaults: genuine -33 % and +50 % days that open at that level and hold it
are in the adjusted US panel (EQIX 2010-10-06, THC 2010-12-10). Measured on ../shared/data
(``bench/bench_corporate_actions.py``): all 38 detections in the TSE files are splits or
consolidations of 2012 and 2018; the only one in the split-adjusted US files is MTL_ 2010-08-23
(x1/3 at the open and at the close, and for good; volume fell 15x where a split would triple it: a
change in what the line quotes rather than a market move, and no split either).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pandas as pd

from kabucast.data.bar_checks import (
    ACTIONS,
    DEFAULT_SETTINGS,
    PRICE_FIELDS,
    PlausibilitySettings,
    Suspect,
    frame_columns,
    usable_closes,
)


@dataclass(frozen=True)
class CorporateAction:
    """An unadjusted split or consolidation: from ``date`` on, prices are ``ratio`` times the earlier ones."""

    date: pd.Timestamp
    """The first bar at the new scale (the exchange's local date)."""
    ratio: float
    """The split ratio as a price factor: 1/2 for a 2-for-1 split, 10 for a 10-to-1 consolidation."""
    detail: str
    """A readable sentence with the numbers (the ``corporate_action`` suspect's detail)."""
    ticker: str = ""

    @property
    def reason(self) -> str:
        """Why the ticker is not stored as the source gives it, e.g. ``unadjusted corporate action on
        2018-09-26, ratio 10: re-fetch when the source adjusts``."""
        ratio = ratio_text(self.ratio)
        return f"unadjusted corporate action on {self.date.date()}, ratio {ratio}: re-fetch when the source adjusts"

    def suspect(self) -> Suspect:
        return Suspect(self.date, "corporate_action", self.detail, ACTIONS["corporate_action"], self.ticker)


def ratio_text(ratio: float) -> str:
    """``10`` -> ``"10"``, ``0.5`` -> ``"1/2"``: a split ratio as people write it."""
    return f"{ratio:g}" if ratio >= 1 else f"1/{1 / ratio:g}"


class LevelShift(NamedTuple):
    """A level shift by a split ratio that holds (the rule of the module docstring), before it is judged."""

    pos: int
    """Row position of the first bar at the new scale."""
    ratio: float
    """The nominal split ratio, as a price factor."""
    seen: str
    """The numbers, e.g. ``close 500 is 0.5x the close 1000 on 2024-01-04 (open 501): ratio 1/2 (a 2-for-1 split)``."""
    held: str
    """Whether the new level held, in words."""

    @property
    def detail(self) -> str:
        """The ``corporate_action`` suspect's detail."""
        return f"{self.seen} not adjusted by the source; {self.held}"

    @property
    def accepted_detail(self) -> str:
        """The ``accepted_level_shift`` suspect's detail."""
        return f"{self.seen} accepted as a real move (accepted_level_shifts); {self.held}"


def corporate_actions(
    frame: pd.DataFrame,
    settings: PlausibilitySettings = DEFAULT_SETTINGS,
    ticker: str = "",
    accepted: Collection[pd.Timestamp] = (),
) -> list[CorporateAction]:
    """The unadjusted corporate actions of one ticker's price frame (the ``corporate_action`` rule), in date order.

    ``accepted``: dates of level shifts an operator accepted as real moves; a shift on one is none.
    """
    dates, columns = frame_columns(frame)
    return [
        CorporateAction(dates[shift.pos], shift.ratio, shift.detail, ticker)
        for shift in level_shifts(dates, columns, settings)
        if dates[shift.pos] not in accepted
    ]


def rebase(frame: pd.DataFrame, actions: Sequence[CorporateAction]) -> pd.DataFrame:
    """The frame on the scale of its last bar: prices before each action times its ratio, volume divided by it.

    A new frame (the input is untouched); integer volume is rounded back to integers. This is what a
    split-adjusting source does with the split's nominal ratio, so it is only as right as the detection:
    ingest never does it (it re-fetches, kabucast.data.ingest); a ranker panel read from a file may.
    """
    factor = scale_factors(pd.DatetimeIndex(frame.index), [(a.date, a.ratio) for a in actions])
    out = frame.copy()
    for column in (*PRICE_FIELDS, "adj_close"):
        if column in out.columns:
            out[column] = pd.to_numeric(out[column]) * factor
    if "volume" in out.columns:
        volume = pd.to_numeric(out["volume"]) / factor
        out["volume"] = volume.round().astype(out["volume"].dtype) if out["volume"].dtype.kind in "iu" else volume
    return out


def level_shifts(
    dates: pd.DatetimeIndex, columns: Mapping[str, np.ndarray], s: PlausibilitySettings
) -> list[LevelShift]:
    """The ``corporate_action`` rule (module docstring): every level shift by a split ratio that holds."""
    close, opens = columns["close"], columns.get("open")
    usable = usable_closes(close, s)
    if len(usable) < 2:
        return []
    log_close = np.log(close[usable])
    move = np.diff(log_close)  # (m - 1,) log ratio of each usable close to the one before
    with np.errstate(invalid="ignore", divide="ignore"):
        gap = np.log(opens[usable[1:]]) - log_close[:-1] if opens is not None else np.full(len(move), np.nan)
    ratios = np.r_[s.split_ratios, np.reciprocal(np.asarray(s.split_ratios, dtype=float))]
    which = np.abs(move[:, None] - np.log(ratios)[None, :]).argmin(axis=1)  # (m - 1,) the nearest ratio
    nearest = np.log(ratios[which])
    off_close = np.abs(move - nearest)
    off_open = np.where(np.isfinite(gap), np.abs(gap - nearest), off_close)  # no usable open: the close alone
    near = np.minimum(off_close, off_open) <= math.log1p(s.split_tolerance)
    near &= np.maximum(off_close, off_open) <= math.log1p(2 * s.split_tolerance)
    shifts = []
    for t in np.flatnonzero(near) + 1:  # t indexes the usable closes: the first one at the new level
        half = abs(nearest[t - 1]) / 2
        after = log_close[t + 1 : t + 1 + s.split_sessions] - log_close[t]
        before = log_close[max(0, t - 1 - s.split_sessions) : t - 1] - log_close[t - 1]
        if not (_holds(after, half) and _holds(before, half)):
            continue
        pos, prev, ratio = int(usable[t]), int(usable[t - 1]), float(ratios[which[t - 1]])
        kind = f"a {1 / ratio:g}-for-1 split" if ratio < 1 else f"a {ratio:g}-to-1 consolidation"
        opened = f" (open {opens[pos]:.6g})" if opens is not None and np.isfinite(gap[t - 1]) else ""
        held = (
            f"the new level held for the {len(after)} sessions after it"
            if len(after)
            else "the last bar, so whether the new level holds cannot be seen yet"
        )
        seen = (
            f"close {close[pos]:.6g} is {math.exp(move[t - 1]):.3g}x the close {close[prev]:.6g} on "
            f"{dates[prev].date()}{opened}: ratio {ratio_text(ratio)} ({kind})"
        )
        shifts.append(LevelShift(pos, ratio, seen, held))
    return shifts


def _holds(moves: np.ndarray, half: float) -> bool:
    """Whether closes (log moves from a level) hold it: all within ``half``, but one stray close (a bad tick next
    to the split) when there are three or more."""
    strays = int(np.count_nonzero(np.abs(moves) >= half))
    return strays <= (1 if len(moves) >= 3 else 0)


def scale_factors(dates: pd.DatetimeIndex, shifts: Sequence[tuple[pd.Timestamp, float]]) -> np.ndarray:
    """(n,) factor that puts each row on the scale of the last one: the product of the ratios of later shifts."""
    factor = np.ones(len(dates))
    for date, ratio in shifts:
        factor[dates < date] *= ratio
    return factor

"""Bad-tick and plausibility checks for daily bars: which bars are wrong, which are only odd.

Real vendor history carries prints no market traded: one-day x100 or x0.1 closes that revert the
next session (a decimal slip), a high or low ten times off the close, prices near zero, and runs of
sessions with no volume (a suspended or stale line). Features built on such a bar poison a whole
window of samples, so these checks name them before anything uses them.

Every check works on one ticker's bars in date order, numpy-vectorised; a bar gets at most one
``"reject"`` suspect (the bar is bad and must not be used) and at most one ``"flag"`` suspect of each
flagging kind (suspicious, reported, kept). The rules, in the priority a rejected bar is named by:

``corporate_action`` (reject; the ticker's series, not only the bar)
    A split or share consolidation the source has not adjusted: from one bar on, every price is a
    split ratio times the earlier ones (kabucast.data.corporate_actions, where the rule is described).
    Found first, before every other rule, which then run on the series rescaled to the last level
    (earlier prices times the ratio; the absolute price floor and the close-in-range rule on the
    prices as given): the bars after a shift are not rejected as near-zero prints or extreme moves,
    and the shift bar alone is named. A frame that holds one is never usable bar by bar.
``reverting_spike`` (reject)
    A one-day move in ``close`` that the next session undoes. Moves are log returns between
    consecutive usable closes: a move is a spike when ``|log(c_t / c_{t-1})| > log(1 + spike_move)``
    (25 % up or 20 % down, symmetric in log terms), and it reverts when the next return has the
    opposite sign and is at least ``revert_share`` of the spike's size. Only the spike bar is named,
    not the session that reverts it. A *plateau* of up to ``max_spike_bars`` consecutive bad bars
    (e.g. two days at x100, then back) is named in full, but only when every bar of it sits beyond
    ``max_daily_ratio`` from the close before it: ordinary 25 % moves that come back over two or
    three sessions are real volatility in small caps, a x5 level that holds for two days and
    vanishes is not. A longer plateau shows as two ``extreme_move`` bars, its entry and its exit,
    and its inner bars are kept: with no reversion in sight, which side is wrong cannot be told.
``extreme_move`` (reject)
    A one-day ratio above ``max_daily_ratio`` or below its inverse that is neither a reverting spike
    nor a corporate action, e.g. at the last bar where no reversion can be seen yet, or a level shift
    that persists by no split ratio. No large cap moves x5 in a day; the bar where the new level
    appears is named. The ratio is taken between usable closes that no other rule rejected, so the session
    after a rejected spike or a near-zero print is not blamed for returning to normal. A last-bar
    jump below ``max_daily_ratio`` cannot be confirmed as a spike and is not flagged.
``near_zero_price`` (reject)
    Any of open, high, low, close (those present) below the absolute floor ``min_price`` (or not
    positive), or below ``1 / max_daily_ratio`` of the ticker's centred rolling median close over
    ``median_window`` sessions (about a month, ten sessions either side). The absolute floor 0.01
    is below any real JPY price (the tick is 1 yen) and any listed USD price but catches zeros and
    unit slips; the relative rule catches a price that is a fifth or less of where the ticker trades
    now, in any column (a low or open printed at x0.1 while the close is fine). A centred median
    ignores a crash that persists (after it, most of the window is at the new level) except within
    about five sessions of the last bar, where the window is cut short; there a drop beyond
    ``max_daily_ratio`` is rejected anyway as an ``extreme_move``.
``close_outside_range`` (reject)
    ``close`` above ``high`` or below ``low`` by more than the relative tolerance ``range_tolerance``
    (1e-6, rounding). Each side is checked only where its bound is present (NaN skips it). One of
    the three prices is wrong, and a bar cannot be trusted without knowing which.
``reverting_move`` (flag)
    A reverting spike that a real market can print: within ``max_daily_ratio`` of the close before
    it, on a bar whose close lies inside its own low..high and that traded (volume > 0). Distressed
    or illiquid names do move 30 % and back (in ../shared/data: CRK in 2016, XCO on 2016-01-25);
    such a bar is reported and kept. A spike beyond ``max_daily_ratio``, or on a bar with no volume,
    no high/low, or a close outside them, stays a ``reverting_spike`` and is rejected.
``zero_volume_run`` (flag)
    ``zero_volume_run`` or more consecutive rows with ``volume == 0``: a suspended or stale line whose
    repeated close says nothing. A single zero-volume day is common in real data (half-day sessions,
    vendor gaps) and is not flagged; every bar of a long enough run is flagged, so a caller can mask
    them by date.
``accepted_level_shift`` (flag)
    A level shift the ``corporate_action`` rule would name, on a date an operator accepted as a real
    move (``accepted`` of :func:`screen`; ``accepted_level_shifts`` in the fetch config). It is no
    corporate action: nothing is rescaled, and the other rules judge the bar on the prices as given,
    as they would without that rule (a x0.5 move is kept, a x10 one is still an ``extreme_move``).

A NaN, infinite or floor-failing close is left out of the close series: its neighbours are compared
with each other, not with it, and it is not itself flagged for being missing (that is
:func:`kabucast.data.prices.validation_problems`' job). The first usable close has no predecessor,
so a bad first bar shows up as an ``extreme_move`` on the second bar (if beyond ``max_daily_ratio``).
Work is on ``close`` (split-adjusted by the source, which is what ``corporate_action`` checks);
``adj_close`` is not read, so a frame without it is fine. Prices quoted in the details of the rules
after ``corporate_action`` are on the scale of the last bar when the frame holds one.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Collection, Mapping, Sequence

import numpy as np
import pandas as pd

from kabucast.data.bar_checks import (
    ACTIONS,
    DEFAULT_SETTINGS,
    FLAG,
    FLAG_KINDS,
    KINDS,
    PRICE_FIELDS,
    REJECT,
    PlausibilitySettings,
    Suspect,
    floats,
    frame_columns,
    usable_closes,
)
from kabucast.data.corporate_actions import level_shifts, scale_factors

PANEL_COLUMNS: tuple[str, ...] = ("ticker", "date", "kind", "action", "detail")


def find_suspects(
    frame: pd.DataFrame, settings: PlausibilitySettings = DEFAULT_SETTINGS, ticker: str = ""
) -> list[Suspect]:
    """Every suspect bar of one ticker's price frame (index ``date`` ascending; ``close`` required).

    ``open``, ``high``, ``low`` and ``volume`` are used when present. Suspects come in date order,
    a bar's reject suspect before its flag.
    """
    return [
        Suspect(date, kind, detail, ACTIONS[kind], ticker) for _, date, kind, detail in _frame_hits(frame, settings)
    ]


def screen(
    frame: pd.DataFrame,
    settings: PlausibilitySettings = DEFAULT_SETTINGS,
    ticker: str = "",
    accepted: Collection[pd.Timestamp] = (),
) -> tuple[pd.DataFrame, list[Suspect]]:
    """The frame without its rejected bars (a new frame; the input is untouched) and all its suspects.

    ``accepted``: dates of level shifts an operator accepted as real moves (``accepted_level_shift``).
    """
    hits = _frame_hits(frame, settings, accepted)
    keep = np.ones(len(frame), dtype=bool)
    keep[[pos for pos, _, kind, _ in hits if ACTIONS[kind] == REJECT]] = False
    suspects = [Suspect(date, kind, detail, ACTIONS[kind], ticker) for _, date, kind, detail in hits]
    return frame.iloc[keep].copy(), suspects


def panel_suspects(long_frame: pd.DataFrame, settings: PlausibilitySettings = DEFAULT_SETTINGS) -> pd.DataFrame:
    """Suspects of a long panel (columns ``date``, ``ticker``, ``close``; ``open``, ``high``, ``low``,
    ``volume`` used when present), one row per suspect: ticker, date, kind, action, detail, sorted by
    ticker and date. Rows need not be sorted; each ticker is checked on its own bars in date order.
    """
    missing = [c for c in ("date", "ticker", "close") if c not in long_frame.columns]
    if missing:
        raise ValueError(f"panel lacks columns {missing} (has {list(long_frame.columns)})")
    codes, names = pd.factorize(long_frame["ticker"], sort=True, use_na_sentinel=False)
    dates = pd.DatetimeIndex(pd.to_datetime(long_frame["date"]))
    order = np.lexsort((dates.asi8, codes))
    codes, dates = codes[order], dates[order]
    columns = {c: floats(long_frame[c])[order] for c in (*PRICE_FIELDS, "volume") if c in long_frame.columns}
    bounds = np.flatnonzero(np.diff(codes)) + 1
    rows: list[tuple[str, pd.Timestamp, str, str, str]] = []
    for lo, hi in zip(np.r_[0, bounds], np.r_[bounds, len(codes)], strict=True):
        if hi <= lo:  # only in an empty panel
            continue
        name = str(names[codes[lo]])
        for _, date, kind, detail in _hits(dates[lo:hi], {c: a[lo:hi] for c, a in columns.items()}, settings):
            rows.append((name, date, kind, ACTIONS[kind], detail))
    out = pd.DataFrame(rows, columns=list(PANEL_COLUMNS))
    out["date"] = pd.to_datetime(out["date"])
    return out


def summarise(suspects: Sequence[Suspect] | pd.DataFrame, examples: int = 3) -> str:
    """A short readable summary: counts by kind and action, then up to ``examples`` cases of each kind."""
    if isinstance(suspects, pd.DataFrame):
        records = list(zip(*(suspects[c] for c in PANEL_COLUMNS), strict=True))
    else:
        records = [(s.ticker, s.date, s.kind, s.action, s.detail) for s in suspects]
    if not records:
        return "no suspects"
    by_action = Counter(action for *_, action, _ in records)
    by_kind = Counter(kind for _, _, kind, _, _ in records)
    tickers = len({ticker for ticker, *_ in records})
    lines = [
        f"{len(records)} suspects ({by_action[REJECT]} rejected, {by_action[FLAG]} flagged) "
        f"in {tickers} ticker{'s' if tickers != 1 else ''}"
    ]
    lines += [f"  {kind:<20} {by_kind[kind]:>6}  {ACTIONS[kind]}" for kind in KINDS if by_kind[kind]]
    for kind in KINDS:
        cases = [r for r in records if r[2] == kind][:examples]
        for ticker, date, _, _, detail in cases:
            who = f"{ticker} " if ticker else ""
            lines.append(f"  e.g. {who}{pd.Timestamp(date).date()} {kind}: {detail}")
    return "\n".join(lines)


Hit = tuple[int, pd.Timestamp, str, str]
"""A suspect before it has a ticker: (row position, date, kind, detail)."""


def _frame_hits(
    frame: pd.DataFrame, settings: PlausibilitySettings, accepted: Collection[pd.Timestamp] = ()
) -> list[Hit]:
    return _hits(*frame_columns(frame), settings, accepted)


def _hits(
    dates: pd.DatetimeIndex,
    columns: Mapping[str, np.ndarray],
    s: PlausibilitySettings,
    accepted: Collection[pd.Timestamp] = (),
) -> list[Hit]:
    """All rules on one ticker's bars in date order; ``columns`` are float arrays (``close`` required).

    ``accepted``: dates whose level shift is a real move, so the rules run on the prices as given there.
    """
    n = len(dates)
    if n == 0:
        return []
    details: dict[str, dict[int, str]] = {kind: {} for kind in KINDS}
    raw = {c: columns[c] for c in PRICE_FIELDS if c in columns}

    # corporate_action first; every rule on returns and medians then runs on the series rescaled to the last level.
    actions = []
    for shift in level_shifts(dates, columns, s):
        if dates[shift.pos] in accepted:
            details["accepted_level_shift"][shift.pos] = shift.accepted_detail
        else:
            details["corporate_action"][shift.pos] = shift.detail
            actions.append((dates[shift.pos], shift.ratio))
    factor = scale_factors(dates, actions)
    prices = {c: v * factor for c, v in raw.items()}
    close = prices["close"]

    def day(pos: int | np.integer) -> str:
        return str(dates[pos].date())

    usable = usable_closes(raw["close"], s)
    log_close = np.log(close[usable])

    # near_zero_price: absolute floor on every price column, relative to the centred median close.
    median = np.full(n, np.nan)
    if len(usable):
        rolled = pd.Series(close[usable]).rolling(s.median_window, center=True, min_periods=1).median()
        median[usable] = rolled.to_numpy()
    below_floor = {c: (v < s.min_price) | (v <= 0) for c, v in raw.items()}
    below_median = {c: v < median / s.max_daily_ratio for c, v in prices.items()}
    near_zero = np.zeros(n, dtype=bool)
    for c in prices:
        near_zero |= below_floor[c] | below_median[c]
    for pos in np.flatnonzero(near_zero):
        floor = [f"{c} {raw[c][pos]:.6g}" for c in prices if below_floor[c][pos]]
        rel = [f"{c} {prices[c][pos]:.6g}" for c in prices if below_median[c][pos] and not below_floor[c][pos]]
        parts = [f"{', '.join(floor)} below the {s.min_price:g} price floor"] if floor else []
        if rel:
            parts.append(
                f"{', '.join(rel)} below 1/{s.max_daily_ratio:g} of the {s.median_window}-session "
                f"median close {median[pos]:.6g}"
            )
        details["near_zero_price"][int(pos)] = "; ".join(parts)

    # reverting_spike: on the usable closes (t indexes them), plateaus of 1..max_spike_bars bars.
    m = len(usable)
    in_spike = np.zeros(m, dtype=bool)
    single_spike_base: dict[int, int] = {}  # one-bar spike position -> the usable close before it
    for length in range(1, s.max_spike_bars + 1):
        count = m - length - 1  # starts t = 1 .. m-length-1: a base before, an exit after
        if count <= 0:
            break
        threshold = math.log1p(s.spike_move) if length == 1 else math.log(s.max_daily_ratio)
        base = log_close[:count]
        entry = log_close[1 : 1 + count] - base
        direction = np.sign(entry)
        ok = np.abs(entry) > threshold
        for i in range(1, length):
            shift = log_close[1 + i : 1 + i + count] - base
            ok &= (np.sign(shift) == direction) & (np.abs(shift) > threshold)
        last = log_close[length : length + count] - base
        exit_move = log_close[1 + length : 1 + length + count] - log_close[length : length + count]
        ok &= (np.sign(exit_move) == -direction) & (np.abs(exit_move) >= s.revert_share * np.abs(last))
        for t in np.flatnonzero(ok) + 1:
            prev, after = usable[t - 1], usable[t + length]
            for i in range(length):
                pos = int(usable[t + i])
                in_spike[t + i] = True
                if pos in details["reverting_spike"]:
                    continue
                ratio = close[pos] / close[prev]
                if length == 1:
                    single_spike_base[pos] = int(prev)
                    undone = -exit_move[t - 1] / entry[t - 1]
                    text = f"the next close {close[after]:.6g} ({day(after)}) undoes {undone:.0%} of the move"
                else:
                    text = f"part of a {length}-session run that reverts on {day(after)} (close {close[after]:.6g})"
                details["reverting_spike"][pos] = (
                    f"close {close[pos]:.6g} is {ratio:.3g}x the close {close[prev]:.6g} on {day(prev)}; {text}"
                )

    # reverting_move: a one-bar spike a market can print (within the ratio limit, a consistent bar that traded).
    for pos, base in single_spike_base.items():
        if pos not in details["reverting_spike"]:
            continue
        within = abs(math.log(close[pos] / close[base])) <= math.log(s.max_daily_ratio)
        traded = "volume" in columns and bool(columns["volume"][pos] > 0)
        low, high = prices.get("low"), prices.get("high")
        consistent = (
            low is not None
            and high is not None
            and bool(low[pos] * (1 - s.range_tolerance) <= close[pos] <= high[pos] * (1 + s.range_tolerance))
        )
        if within and traded and consistent:
            text = details["reverting_spike"].pop(pos)
            details["reverting_move"][pos] = text + "; inside its own low..high on traded volume, so kept"

    # extreme_move: between usable closes that no close-based rule rejected.
    clean = usable[~in_spike & ~near_zero[usable]]
    if len(clean) > 1:
        ratios = close[clean[1:]] / close[clean[:-1]]
        big = np.flatnonzero(np.abs(np.log(ratios)) > math.log(s.max_daily_ratio))
        for k in big:
            pos, prev = int(clean[k + 1]), clean[k]
            tail = "; the last bar, so a reversion cannot be seen yet" if k + 2 == len(clean) else ""
            details["extreme_move"][pos] = (
                f"close {close[pos]:.6g} is {ratios[k]:.3g}x the close {close[prev]:.6g} on {day(prev)} "
                f"(beyond the {s.max_daily_ratio:g}x limit){tail}"
            )

    # close_outside_range, on the bar as given: NaN bounds compare False and are skipped.
    for bound, sign, word in (("high", 1.0, "above"), ("low", -1.0, "below")):
        if bound not in raw:
            continue
        given, limit = raw["close"], raw[bound]
        with np.errstate(invalid="ignore"):
            outside = sign * (given - limit * (1 + sign * s.range_tolerance)) > 0
        for pos in np.flatnonzero(outside):
            details["close_outside_range"][int(pos)] = f"close {given[pos]:.6g} is {word} the {bound} {limit[pos]:.6g}"

    # zero_volume_run: run lengths of volume == 0 (NaN volume is not zero).
    if "volume" in columns:
        zero = (columns["volume"] == 0).astype(np.int8)
        edges = np.diff(np.r_[np.int8(0), zero, np.int8(0)])
        starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
        for lo, hi in zip(starts, ends, strict=True):
            if hi - lo >= s.zero_volume_run:
                for pos in range(lo, hi):
                    details["zero_volume_run"][pos] = (
                        f"zero volume, session {pos - lo + 1} of a {hi - lo}-session run {day(lo)} .. {day(hi - 1)}"
                    )

    hits: list[Hit] = []
    for pos in sorted(set().union(*details.values())):
        fired = [kind for kind in KINDS if ACTIONS[kind] == REJECT and pos in details[kind]]
        if fired:
            also = f" (also {', '.join(fired[1:])})" if len(fired) > 1 else ""
            hits.append((pos, dates[pos], fired[0], details[fired[0]][pos] + also))
        hits += [
            (pos, dates[pos], kind, details[kind][pos]) for kind in KINDS if kind in FLAG_KINDS and pos in details[kind]
        ]
    return hits

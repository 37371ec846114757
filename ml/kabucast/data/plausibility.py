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
    split ratio times the earlier ones. Found first, before every other rule. A bar starts one when
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
    Every other rule then runs on the series rescaled to the last level (earlier prices times the
    ratio; the absolute price floor and the close-in-range rule on the prices as given): the bars
    after a shift are not rejected as near-zero prints or extreme moves, and the shift bar alone is
    named. What happens to the ticker is the caller's policy (kabucast.data.screening: quarantine,
    or :func:`rebase`); a frame that holds one is never usable bar by bar.
    Ratio 3/2 is not in the defaults: genuine -33 % and +50 % days that open at that level and hold
    it are in the adjusted US panel (EQIX 2010-10-06, THC 2010-12-10). Measured on ../shared/data
    (``bench/bench_corporate_actions.py``): all 38 detections in the TSE files are splits or
    consolidations of 2012 and 2018; the only one in the split-adjusted US files is MTL_ 2010-08-23
    (x1/3 at the open and at the close, and for good; volume fell 15x where a split would triple it:
    a change in what the line quotes rather than a market move, and no split either).
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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

KINDS: tuple[str, ...] = (
    "corporate_action",
    "reverting_spike",
    "extreme_move",
    "near_zero_price",
    "close_outside_range",
    "reverting_move",
    "zero_volume_run",
)
"""Every suspect kind, rejecting kinds first in the priority a rejected bar is named by."""

REJECT, FLAG = "reject", "flag"
FLAG_KINDS = frozenset({"reverting_move", "zero_volume_run"})
ACTIONS: dict[str, str] = {kind: (FLAG if kind in FLAG_KINDS else REJECT) for kind in KINDS}
PRICE_FIELDS: tuple[str, ...] = ("open", "high", "low", "close")
PANEL_COLUMNS: tuple[str, ...] = ("ticker", "date", "kind", "action", "detail")


@dataclass(frozen=True)
class PlausibilitySettings:
    """Thresholds of the plausibility rules (see the module docstring for each rule)."""

    spike_move: float = 0.25
    """A one-day move is a spike when ``|log return| > log(1 + spike_move)``: +25 % or -20 %."""
    revert_share: float = 0.7
    """The next session must undo at least this share of a spike (log terms, opposite sign)."""
    max_daily_ratio: float = 5.0
    """A one-day close ratio beyond this (or its inverse) is never plausible for a large cap."""
    min_price: float = 0.01
    """Absolute floor for any price column, in the frame's currency: works for JPY and USD."""
    median_window: int = 21
    """Sessions in the centred rolling median close of the relative near-zero rule."""
    max_spike_bars: int = 3
    """Longest plateau of bad bars (each beyond ``max_daily_ratio``) recognised as one spike."""
    zero_volume_run: int = 5
    """This many consecutive zero-volume sessions are flagged (a week of a stale line)."""
    range_tolerance: float = 1e-6
    """Relative tolerance of the close-within-[low, high] rule."""
    split_ratios: tuple[float, ...] = (2.0, 3.0, 4.0, 5.0, 10.0, 20.0)
    """Share-count ratios of the splits and consolidations recognised (> 1); each is tried inverted too."""
    split_tolerance: float = 0.05
    """The nearer of a shift bar's open and close is within this of the previous close times the ratio."""
    split_sessions: int = 5
    """Closes on each side of a corporate action that must hold their level (within half the shift)."""

    def __post_init__(self) -> None:
        if not self.spike_move > 0:
            raise ValueError(f"spike_move must be > 0, got {self.spike_move}")
        if not 0 < self.revert_share <= 1:
            raise ValueError(f"revert_share must be in (0, 1], got {self.revert_share}")
        if not self.max_daily_ratio > 1 + self.spike_move:
            raise ValueError(f"max_daily_ratio must exceed 1 + spike_move, got {self.max_daily_ratio}")
        if not self.min_price >= 0:
            raise ValueError(f"min_price must be >= 0, got {self.min_price}")
        if self.median_window < 1 or self.max_spike_bars < 1 or self.zero_volume_run < 1:
            raise ValueError("median_window, max_spike_bars and zero_volume_run must be >= 1")
        if not self.range_tolerance >= 0:
            raise ValueError(f"range_tolerance must be >= 0, got {self.range_tolerance}")
        if not self.split_ratios or not all(r > 1 for r in self.split_ratios):
            raise ValueError(f"split_ratios must be ratios > 1 (inverses are implied), got {self.split_ratios}")
        if not 0 < self.split_tolerance <= 0.1:
            raise ValueError(f"split_tolerance must be in (0, 0.1], got {self.split_tolerance}")
        if self.split_sessions < 1:
            raise ValueError(f"split_sessions must be >= 1, got {self.split_sessions}")


@dataclass(frozen=True)
class Suspect:
    """One implausible bar: what rule it broke, why in words, and whether it must be dropped."""

    date: pd.Timestamp
    kind: str
    """One of :data:`KINDS`."""
    detail: str
    """A readable sentence with the numbers, e.g. ``close 5412 is 98.4x the close 55 on ...``."""
    action: str
    """``"reject"``: the bar is bad and must not be used; ``"flag"``: suspicious, kept."""
    ticker: str = ""


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


def corporate_actions(
    frame: pd.DataFrame, settings: PlausibilitySettings = PlausibilitySettings(), ticker: str = ""
) -> list[CorporateAction]:
    """The unadjusted corporate actions of one ticker's price frame (the ``corporate_action`` rule), in date order."""
    dates, columns = _frame_columns(frame)
    return [
        CorporateAction(dates[pos], ratio, detail, ticker)
        for pos, ratio, detail in _level_shifts(dates, columns, settings)
    ]


def rebase(frame: pd.DataFrame, actions: Sequence[CorporateAction]) -> pd.DataFrame:
    """The frame on the scale of its last bar: prices before each action times its ratio, volume divided by it.

    A new frame (the input is untouched); integer volume is rounded back to integers. This is what a
    split-adjusting source does with the split's nominal ratio, so it is only as right as the detection:
    ingest never does it (it re-fetches, kabucast.data.ingest); a ranker panel read from a file may.
    """
    factor = _scale_factors(pd.DatetimeIndex(frame.index), [(a.date, a.ratio) for a in actions])
    out = frame.copy()
    for column in (*PRICE_FIELDS, "adj_close"):
        if column in out.columns:
            out[column] = pd.to_numeric(out[column]) * factor
    if "volume" in out.columns:
        volume = pd.to_numeric(out["volume"]) / factor
        out["volume"] = volume.round().astype(out["volume"].dtype) if out["volume"].dtype.kind in "iu" else volume
    return out


def find_suspects(
    frame: pd.DataFrame, settings: PlausibilitySettings = PlausibilitySettings(), ticker: str = ""
) -> list[Suspect]:
    """Every suspect bar of one ticker's price frame (index ``date`` ascending; ``close`` required).

    ``open``, ``high``, ``low`` and ``volume`` are used when present. Suspects come in date order,
    a bar's reject suspect before its flag.
    """
    return [
        Suspect(date, kind, detail, ACTIONS[kind], ticker) for _, date, kind, detail in _frame_hits(frame, settings)
    ]


def screen(
    frame: pd.DataFrame, settings: PlausibilitySettings = PlausibilitySettings(), ticker: str = ""
) -> tuple[pd.DataFrame, list[Suspect]]:
    """The frame without its rejected bars (a new frame; the input is untouched) and all its suspects."""
    hits = _frame_hits(frame, settings)
    keep = np.ones(len(frame), dtype=bool)
    keep[[pos for pos, _, kind, _ in hits if ACTIONS[kind] == REJECT]] = False
    suspects = [Suspect(date, kind, detail, ACTIONS[kind], ticker) for _, date, kind, detail in hits]
    return frame.iloc[keep].copy(), suspects


def panel_suspects(long_frame: pd.DataFrame, settings: PlausibilitySettings = PlausibilitySettings()) -> pd.DataFrame:
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
    columns = {c: _floats(long_frame[c])[order] for c in (*PRICE_FIELDS, "volume") if c in long_frame.columns}
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


def _frame_hits(frame: pd.DataFrame, settings: PlausibilitySettings) -> list[Hit]:
    return _hits(*_frame_columns(frame), settings)


def _frame_columns(frame: pd.DataFrame) -> tuple[pd.DatetimeIndex, dict[str, np.ndarray]]:
    """A price frame's dates and its price and volume columns as float arrays; refuses what the rules cannot read."""
    if "close" not in frame.columns:
        raise ValueError(f"price frame lacks a close column (has {list(frame.columns)})")
    dates = pd.DatetimeIndex(frame.index)
    if not dates.is_monotonic_increasing:
        raise ValueError("price frame dates are not ascending: sort it before the plausibility checks")
    return dates, {c: _floats(frame[c]) for c in (*PRICE_FIELDS, "volume") if c in frame.columns}


def _floats(column: pd.Series) -> np.ndarray:
    """A column as float64 with missing values (NaN, None, pd.NA) as NaN."""
    return pd.to_numeric(column).to_numpy(dtype="float64", na_value=np.nan)


def _usable(close: np.ndarray, s: PlausibilitySettings) -> np.ndarray:
    """Positions of the usable closes: finite, positive, above the floor. Everything on returns runs on these only."""
    with np.errstate(invalid="ignore"):
        return np.flatnonzero(np.isfinite(close) & (close > 0) & (close >= s.min_price))


def _level_shifts(
    dates: pd.DatetimeIndex, columns: Mapping[str, np.ndarray], s: PlausibilitySettings
) -> list[tuple[int, float, str]]:
    """The ``corporate_action`` rule (module docstring): (row position, nominal ratio, detail) per shift."""
    close, opens = columns["close"], columns.get("open")
    usable = _usable(close, s)
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
        shifts.append(
            (
                pos,
                ratio,
                f"close {close[pos]:.6g} is {math.exp(move[t - 1]):.3g}x the close {close[prev]:.6g} on "
                f"{dates[prev].date()}{opened}: ratio {ratio_text(ratio)} ({kind}) not adjusted by the source; {held}",
            )
        )
    return shifts


def _holds(moves: np.ndarray, half: float) -> bool:
    """Whether closes (log moves from a level) hold it: all within ``half``, but one stray close (a bad tick next
    to the split) when there are three or more."""
    strays = int(np.count_nonzero(np.abs(moves) >= half))
    return strays <= (1 if len(moves) >= 3 else 0)


def _scale_factors(dates: pd.DatetimeIndex, shifts: Sequence[tuple[pd.Timestamp, float]]) -> np.ndarray:
    """(n,) factor that puts each row on the scale of the last one: the product of the ratios of later shifts."""
    factor = np.ones(len(dates))
    for date, ratio in shifts:
        factor[dates < date] *= ratio
    return factor


def _hits(dates: pd.DatetimeIndex, columns: Mapping[str, np.ndarray], s: PlausibilitySettings) -> list[Hit]:
    """All rules on one ticker's bars in date order; ``columns`` are float arrays (``close`` required)."""
    n = len(dates)
    if n == 0:
        return []
    details: dict[str, dict[int, str]] = {kind: {} for kind in KINDS}
    raw = {c: columns[c] for c in PRICE_FIELDS if c in columns}

    # corporate_action first; every rule on returns and medians then runs on the series rescaled to the last level.
    shifts = _level_shifts(dates, columns, s)
    for pos, _, detail in shifts:
        details["corporate_action"][pos] = detail
    factor = _scale_factors(dates, [(dates[pos], ratio) for pos, ratio, _ in shifts])
    prices = {c: v * factor for c, v in raw.items()}
    close = prices["close"]

    def day(pos: int | np.integer) -> str:
        return str(dates[pos].date())

    usable = _usable(raw["close"], s)
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

"""What the checks on daily bars share: their thresholds, the kinds of suspect, and the bars as arrays.

Two modules judge one ticker's bars: kabucast.data.corporate_actions finds the splits and
consolidations a source left unadjusted, and kabucast.data.plausibility runs every other rule on the
series put on one scale by them. Both read the settings, name suspects and read a price frame the
same way, from here; each rule is described where it is implemented.
"""

from __future__ import annotations

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
    "accepted_level_shift",
)
"""Every suspect kind, rejecting kinds first in the priority a rejected bar is named by."""

REJECT, FLAG = "reject", "flag"
FLAG_KINDS = frozenset({"reverting_move", "zero_volume_run", "accepted_level_shift"})
ACTIONS: dict[str, str] = {kind: (FLAG if kind in FLAG_KINDS else REJECT) for kind in KINDS}
PRICE_FIELDS: tuple[str, ...] = ("open", "high", "low", "close")


@dataclass(frozen=True)
class PlausibilitySettings:
    """Thresholds of the bar checks (the docstrings of kabucast.data.plausibility and .corporate_actions)."""

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


DEFAULT_SETTINGS = PlausibilitySettings()


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


def frame_columns(frame: pd.DataFrame) -> tuple[pd.DatetimeIndex, dict[str, np.ndarray]]:
    """A price frame's dates and its price and volume columns as float arrays; refuses what the rules cannot read."""
    if "close" not in frame.columns:
        raise ValueError(f"price frame lacks a close column (has {list(frame.columns)})")
    dates = pd.DatetimeIndex(frame.index)
    if not dates.is_monotonic_increasing:
        raise ValueError("price frame dates are not ascending: sort it before the plausibility checks")
    return dates, {c: floats(frame[c]) for c in (*PRICE_FIELDS, "volume") if c in frame.columns}


def floats(column: pd.Series) -> np.ndarray:
    """A column as float64 with missing values (NaN, None, pd.NA) as NaN."""
    return pd.to_numeric(column).to_numpy(dtype="float64", na_value=np.nan)


def usable_closes(close: np.ndarray, s: PlausibilitySettings) -> np.ndarray:
    """Positions of the usable closes: finite, positive, above the floor. Everything on returns runs on these only."""
    with np.errstate(invalid="ignore"):
        return np.flatnonzero(np.isfinite(close) & (close > 0) & (close >= s.min_price))

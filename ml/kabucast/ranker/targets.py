"""Forward-return targets of the ranker, one per horizon.

Convention (docs/RANKER.md, "Point in time"): the row of date t holds what is known at the close of
session t. Features at t use bars up to and including t. The target at t for horizon h is the simple
return from close(t) to close(t + h), h sessions later (0.01 = +1 %, dividend-adjusted ``adj_close``):
its first day is t + 1, so a model scoring at the close of t can still trade it. The last h rows
have no target (NaN), nor does a stock without a bar at t or t + h.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from kabucast.ranker.arrays import PanelArray
from kabucast.ranker.panel import RankerPanel

TARGET_GROUP = "target"


def target_name(horizon: int) -> str:
    """The column name of the ``horizon``-session target: ``fwd_5``."""
    return f"fwd_{horizon}"


def forward_returns(close: np.ndarray, horizon: int) -> np.ndarray:
    """(T, N) simple return from ``close`` (T, N) at t to ``close`` at t + ``horizon``; NaN where unknown."""
    if horizon < 1:
        raise ValueError(f"a target horizon is at least 1 session, got {horizon}")
    out = np.full(close.shape, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        out[:-horizon] = close[horizon:] / close[:-horizon] - 1.0
    return out


def build_targets(panel: RankerPanel, horizons: Sequence[int]) -> PanelArray:
    """The targets of every horizon as a raw :class:`PanelArray` (T, N, H), columns ``fwd_<h>``."""
    close = panel.prices.adj_close
    values = np.stack([forward_returns(close, h) for h in horizons], axis=2).astype(np.float32)
    return PanelArray(
        dates=panel.dates,
        tickers=panel.tickers,
        names=tuple(target_name(h) for h in horizons),
        groups=(TARGET_GROUP,) * len(horizons),
        values=values,
    )

"""A first screen of the slow-data groups: does a group's column rank the next month's returns at all?

For every session d of a range and every member of the universe on d, the column's value as the model would see it
as of d (the partial-week row of kabucast.features.sequences, strictly as of publication) is ranked against the
stock's log return from d's close to the close ``horizon`` sessions later (adjusted closes). The per-date RankIC's
mean, with its Newey-West interval at the label's lag (kabucast.evaluation.metrics.ic_summary), is the screen.

It measures information, not a model's gain: a column that ranks returns may add nothing to the 23 price features,
and one that ranks nothing alone may help in combination. The value of a group is the walk-forward of a recipe
with and without it (docs/FEATURES.md, "Slow-data groups"). A market-wide column (the flows) is the same for every
stock on a date: its cross-sectional RankIC is undefined (NaN, n 0) and only the walk-forward can judge it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from kabucast.evaluation.metrics import ic_summary, rank_ic_series
from kabucast.features.panel import PricePanel
from kabucast.features.registry import WEEKLY_FEATURES, feature_names, slow_specs
from kabucast.features.sequences import weekly_feature_history
from kabucast.features.slow import SlowInputs
from kabucast.universe import UniverseSettings

DEFAULT_HORIZON = 21
"""Sessions of the label: one forecast month."""


def forward_log_returns(panel: PricePanel, horizon: int) -> pd.DataFrame:
    """(T, N) ln(adj_close[t + horizon] / adj_close[t]) on the panel's dates (NaN where either is missing)."""
    close = panel.adj_close
    later = np.full_like(close, np.nan)
    later[:-horizon] = close[horizon:]
    with np.errstate(divide="ignore", invalid="ignore"):
        return pd.DataFrame(np.log(later / close), index=panel.dates, columns=list(panel.tickers))


def slow_screen(
    panel: PricePanel,
    slow: SlowInputs,
    universe: UniverseSettings,
    start: pd.Timestamp,
    end: pd.Timestamp,
    horizon: int = DEFAULT_HORIZON,
) -> dict[str, dict[str, float]]:
    """Feature name -> ic_summary of its per-date RankIC over the panel's dates from ``start`` to ``end`` whose
    label has matured (module docstring); members only, as of each date."""
    realised = forward_log_returns(panel, horizon)
    dates = panel.dates[(panel.dates >= start) & (panel.dates <= end)]
    dates = dates[realised.loc[dates].notna().any(axis=1).to_numpy()]
    history = weekly_feature_history(panel, dates, slow)
    member = universe.membership(dates, panel.tickers)  # (D, N)
    out = {}
    for i, name in enumerate(feature_names(slow_specs(slow.groups)), start=len(WEEKLY_FEATURES)):
        scores = pd.DataFrame(history.partial[:, :, i], index=dates, columns=list(panel.tickers)).where(member)
        ic = rank_ic_series(scores, realised.loc[dates].where(member))
        out[name] = ic_summary(ic, label_sessions=horizon)
    return out


def screen_lines(summary: dict[str, dict[str, float]]) -> list[str]:
    """One line per column: mean RankIC [95 % interval] (n dates)."""
    return [
        f"  {name:<24} RankIC {s['mean']:+.4f} [{s['ci_low']:+.4f}, {s['ci_high']:+.4f}] (n {int(s['n'])})"
        for name, s in summary.items()
    ]

"""The model's input features: names, formulas, units and lookbacks, in array order.

The order of each tuple IS the order of the last axis of the arrays the builders return, and is
part of a trained model's contract: append, never reorder. Notation used in the formulas (all
prices dividend-adjusted, see kabucast.features.bars): week k is the row's week (the partial week
for a sample's last row); ``C_k``, ``O_k``, ``H_k``, ``L_k`` its close, open, high, low in JPY;
``V_k`` its volume (shares) and ``S_k`` its sessions; ``c_t``, ``o_t``, ``h_t``, ``l_t`` daily
values, ``r_t = ln(c_t / c_prev)`` the daily log return; ``R_k = ln(C_k / C_{k-1})`` the weekly one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from kabucast.data.sources.jquants_slow import GROUPS, check_groups

SEQ_WEEKS = 156
"""Weeks in one sample's weekly sequence: 155 complete weeks and the partial week of the as-of date."""

TRADING_DAYS_PER_YEAR = 245
"""JPX sessions in a typical year; annualises daily volatilities."""


@dataclass(frozen=True)
class FeatureSpec:
    """One model input.

    ``lookback_weeks`` counts the weekly bars the value reads, the current week included (0 for
    features that read no price history); daily-return features also read the close before the
    window. ``neutral`` replaces the value where it is undefined (docs/FEATURES.md, fill policy);
    None for features that are always defined.
    """

    name: str
    formula: str
    unit: str
    lookback_weeks: int
    neutral: float | None = None


def _ret(weeks: int) -> FeatureSpec:
    return FeatureSpec(f"ret_{weeks}w", f"ln(C_k / C_{{k-{weeks}}})", "log return", weeks + 1, 0.0)


def _rvol(weeks: int) -> FeatureSpec:
    formula = f"sqrt({TRADING_DAYS_PER_YEAR} * mean(r_t^2)) over the days of weeks k-{weeks - 1}..k"
    return FeatureSpec(f"rvol_{weeks}w", formula, "annualised volatility (fraction)", weeks, 0.25)


def _ma_ratio(weeks: int) -> FeatureSpec:
    formula = f"ln(C_k / mean(C_{{k-{weeks - 1}}}..C_k))"
    return FeatureSpec(f"ma_ratio_{weeks}w", formula, "log ratio", weeks, 0.0)


WEEKLY_FEATURES: tuple[FeatureSpec, ...] = (
    *(_ret(w) for w in (1, 4, 13, 26, 52)),
    FeatureSpec("mkt_rel_1w", "ret_1w - mean of ret_1w over the panel's tickers that row", "log return", 2, 0.0),
    FeatureSpec("mkt_rel_13w", "ret_13w - mean of ret_13w over the panel's tickers that row", "log return", 14, 0.0),
    FeatureSpec("body_1w", "ln(C_k / O_k)", "log return", 1, 0.0),
    FeatureSpec("overnight_1w", "sum over the week's days of ln(o_t / c_prev)", "log return", 1, 0.0),
    FeatureSpec("range_1w", "ln(H_k / L_k)", "log ratio", 1, 0.0),
    FeatureSpec("up_frac_1w", "(days with r_t > 0) / (days with a return) in week k", "fraction", 1, 0.5),
    *(_rvol(w) for w in (4, 13, 52)),
    FeatureSpec(
        "parkinson_4w",
        f"sqrt({TRADING_DAYS_PER_YEAR} * sum(ln(h_t / l_t)^2) / (4 ln 2 * days)) over weeks k-3..k",
        "annualised volatility (fraction)",
        4,
        0.25,
    ),
    FeatureSpec(
        "volume_rel_52w",
        "ln(1 + V_k / S_k) - ln(1 + sum(V) / sum(S)) over weeks k-51..k",
        "log ratio (per-session volume)",
        52,
        0.0,
    ),
    FeatureSpec(
        "volume_z_13w",
        "z-score of x_k = ln(1 + V_k / S_k) among x of weeks k-12..k with sessions (population std)",
        "standard deviations",
        13,
        0.0,
    ),
    FeatureSpec("dist_high_52w", "ln(C_k / max(H_{k-51}..H_k))", "log ratio (<= 0)", 52, 0.0),
    FeatureSpec("dist_low_52w", "ln(C_k / min(L_{k-51}..L_k))", "log ratio (>= 0)", 52, 0.0),
    *(_ma_ratio(w) for w in (13, 26, 52)),
    FeatureSpec("rsi_14w", "sum(max(R_j, 0)) / sum(abs(R_j)) over j = k-13..k", "fraction in [0, 1]", 15, 0.5),
)
"""The 23 weekly features, one value per (ticker, week)."""

SLOW_FEATURES: dict[str, tuple[FeatureSpec, ...]] = {
    "margin": (
        FeatureSpec(
            "margin_long_short",
            "ln((1 + LongVol) / (1 + ShrtVol)) of the stock's latest visible margin balances",
            "log ratio",
            0,
            0.0,
        ),
        FeatureSpec(
            "margin_long_chg_1w",
            "ln((1 + LongVol) / (1 + LongVol')), LongVol' of the latest application date >= 7 days before",
            "log ratio",
            0,
            0.0,
        ),
    ),
    "short_selling": (
        FeatureSpec(
            "short_ratio_sector",
            "(ShrtWithResVa + ShrtNoResVa) / (SellExShortVa + ShrtWithResVa + ShrtNoResVa) summed over the TSE 33 "
            "sectors of the stock's sector, latest visible day",
            "fraction of selling value",
            0,
            0.4,
        ),
        FeatureSpec(
            "short_ratio_sector_rel",
            "short_ratio_sector - the same ratio summed over all 33 sectors that day",
            "fraction of selling value",
            0,
            0.0,
        ),
    ),
    "flows": (
        FeatureSpec(
            "flow_foreign_net", "FrgnBal / TotTot of the latest visible week (TSE Prime, else 1st)", "fraction", 0, 0.0
        ),
        FeatureSpec("flow_individual_net", "IndBal / TotTot of the same week", "fraction", 0, 0.0),
    ),
}
"""The optional weekly features of the seeds' slow data, per group (off by default): appended after the 23 weekly
features in the order of kabucast.data.sources.jquants_slow.GROUPS, each row taking the latest value visible on its
date (published strictly before it: kabucast.features.slow)."""

STATIC_FEATURES: tuple[FeatureSpec, ...] = (
    FeatureSpec("earnings_yield", "1 / trailingPE, clipped to [-0.5, 0.5]", "fraction per year", 0, 0.07),
    FeatureSpec("log_price_to_book", "ln(priceToBook), clipped to [-3, 3]", "log ratio", 0, 0.25),
    FeatureSpec("dividend_yield", "dividendYield, clipped to [0, 0.2]", "fraction per year", 0, 0.025),
    FeatureSpec("return_on_equity", "returnOnEquity, clipped to [-1, 1]", "fraction per year", 0, 0.09),
    FeatureSpec("log_debt_to_equity", "ln(1 + debtToEquity / 100), clipped to [0, 5]", "log(1 + ratio)", 0, 0.5),
    FeatureSpec("log_market_cap", "ln(marketCap / 1e12), clipped to [-5, 5]", "log trillion JPY", 0, 1.6),
)
"""The 6 static (fundamental) features, one value per ticker; ``neutral`` is used when the whole universe lacks one."""

POSITION_FEATURES: tuple[FeatureSpec, ...] = (
    FeatureSpec("day_of_week", "weekday(as_of) / 4 (Mon = 0, Fri = 1; weekend = 1)", "fraction", 0),
    FeatureSpec(
        "week_progress",
        "JPX sessions of the as-of week on or before as_of / JPX sessions of that week (1 if none)",
        "fraction",
        0,
    ),
)
"""The 2 position features: where the as-of date sits in its week."""


def feature_names(specs: tuple[FeatureSpec, ...]) -> tuple[str, ...]:
    """The names of ``specs``, in array order."""
    return tuple(s.name for s in specs)


def neutral_values(specs: tuple[FeatureSpec, ...]) -> np.ndarray:
    """(F,) float64 fill values of ``specs``, in array order (NaN for a spec without one)."""
    return np.array([np.nan if s.neutral is None else s.neutral for s in specs], dtype=np.float64)


def feature_table(specs: tuple[FeatureSpec, ...], first: int = 0) -> str:
    """``specs`` as a Markdown table numbered from ``first`` (the one docs/FEATURES.md shows; a test keeps them
    equal)."""
    lines = ["| # | name | formula | unit | lookback (weeks) | neutral |", "|---|---|---|---|---|---|"]
    for i, s in enumerate(specs, start=first):
        neutral = "-" if s.neutral is None else f"{s.neutral:g}"
        lines.append(f"| {i} | `{s.name}` | `{s.formula}` | {s.unit} | {s.lookback_weeks} | {neutral} |")
    return "\n".join(lines)


def weekly_specs(groups: Sequence[str] = ()) -> tuple[FeatureSpec, ...]:
    """The weekly features with the slow-data ``groups`` enabled (none: the 23), in array order."""
    return WEEKLY_FEATURES + slow_specs(groups)


def slow_specs(groups: Sequence[str]) -> tuple[FeatureSpec, ...]:
    """The features of the slow-data ``groups``, in the order of GROUPS (:class:`UnknownGroup` for a bad name)."""
    return tuple(spec for group in check_groups(groups) for spec in SLOW_FEATURES[group])


def contract_groups(contract: object) -> tuple[str, ...]:
    """The slow-data groups a stored feature contract (model.json ``features``) names; none for an older one."""
    groups = contract.get("feature_groups", []) if isinstance(contract, dict) else []
    return tuple(str(g) for g in groups)


def feature_contract(groups: Sequence[str] = ()) -> dict[str, list[str]]:
    """The feature names and order a model is trained on: stored in model.json, checked before serving. With slow-data
    ``groups`` the weekly names gain their columns and the contract names the groups (``feature_groups``)."""
    contract = {
        "weekly": list(feature_names(weekly_specs(groups))),
        "static": list(feature_names(STATIC_FEATURES)),
        "position": list(feature_names(POSITION_FEATURES)),
    }
    if groups:
        contract["feature_groups"] = [g for g in GROUPS if g in groups]
    return contract

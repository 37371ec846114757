"""Target weights from scores: the one portfolio-construction function the backtest trades.

For one date's scores (N,) and, optionally, each name's sector (N,), :func:`target_weights` picks the
top ``quantile`` of the finite scores for the long leg and, unless ``long_only``, the bottom
``quantile`` for the short leg (kabucast.evaluation.metrics.quantile_masks: floor(quantile x n) names
a side, at least 1 when n >= 2), and weighs each leg equally to a gross of 1 (long +1, short -1),
within two optional caps, each a share of its leg:

- ``max_weight``: no name above it;
- ``max_sector``: no sector's names together above it.

The weight a cap takes away is spread equally over the leg's names that still have room (water
filling, repeated until nothing binds). When every name of a leg is at a cap, the rest stays
uninvested: a leg then sums to less than 1, never more. :func:`rebalanced_weights` applies it on
every ``rebalance_days``-th row and holds the weights in between (no drift): what the backtest trades.
Pure numpy; nothing here reads a store.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kabucast.errors import ConfigError
from kabucast.evaluation.metrics import quantile_masks

_EPS = 1e-12


@dataclass(frozen=True)
class PortfolioRules:
    """How scores become weights (module docstring); ``None`` caps do not bind."""

    quantile: float = 0.2
    long_only: bool = False
    max_weight: float | None = None
    max_sector: float | None = None

    @property
    def capped(self) -> bool:
        return self.max_weight is not None or self.max_sector is not None

    def problems(self) -> list[str]:
        """What makes these rules unusable (empty when they are fine)."""
        out = []
        if not 0 < self.quantile <= 0.5:
            out.append(f"quantile must be in (0, 0.5], got {self.quantile}")
        for name in ("max_weight", "max_sector"):
            value = getattr(self, name)
            if value is not None and not 0 < value <= 1:
                out.append(f"{name} must be in (0, 1] (a share of its leg), got {value}")
        return out


def check_rules(rules: PortfolioRules) -> None:
    """Raise ConfigError naming every unusable rule."""
    problems = rules.problems()
    if problems:
        raise ConfigError(f"portfolio rules: {'; '.join(problems)}")


def leg_weights(members: np.ndarray, sectors: np.ndarray | None, rules: PortfolioRules) -> np.ndarray:
    """(N,) non-negative weights of one leg over the names ``members`` (N,) bool: equal, then capped.

    ``sectors`` (N,) any hashable labels, needed only with ``max_sector``. Sums to 1 unless the caps
    leave part of the leg uninvested.
    """
    w = np.zeros(len(members))
    idx = np.flatnonzero(members)
    if not len(idx):
        return w
    if not rules.capped:
        w[idx] = 1.0 / len(idx)
        return w
    if rules.max_sector is not None and sectors is None:
        raise ConfigError("max_sector needs each name's sector")
    cap = np.inf if rules.max_weight is None else rules.max_weight
    groups = None if rules.max_sector is None else np.unique(np.asarray(sectors)[idx], return_inverse=True)[1]
    leg, room, budget = np.zeros(len(idx)), np.ones(len(idx), dtype=bool), 1.0
    while budget > _EPS and room.any():
        leg[room] += budget / room.sum()
        budget = 0.0
        over = leg > cap - _EPS
        budget += float(np.maximum(leg[over] - cap, 0.0).sum())
        leg[over] = np.minimum(leg[over], cap)
        room &= ~over
        if groups is not None:
            totals = np.bincount(groups, weights=leg)
            for g in np.flatnonzero(totals > rules.max_sector + _EPS):
                members_g = groups == g
                budget += float(totals[g] - rules.max_sector)
                leg[members_g] *= rules.max_sector / totals[g]
                room &= ~members_g
            for g in np.flatnonzero(np.abs(totals - rules.max_sector) <= _EPS):
                room &= groups != g  # a sector exactly at its cap takes no more
    w[idx] = leg
    return w


def target_weights(scores: np.ndarray, rules: PortfolioRules, sectors: np.ndarray | None = None) -> np.ndarray:
    """(N,) signed weights for one date's ``scores`` (N,): the long leg sums to at most +1, the short to -1."""
    top, bottom = quantile_masks(np.asarray(scores, dtype=np.float64)[None, :], rules.quantile)
    weights = leg_weights(top[0], sectors, rules)
    if not rules.long_only:
        weights -= leg_weights(bottom[0], sectors, rules)
    return weights


def rebalanced_weights(
    scores: np.ndarray, rules: PortfolioRules, rebalance_days: int, sectors: np.ndarray | None = None
) -> np.ndarray:
    """(T, N) weights held from each close to the next: :func:`target_weights` of ``scores`` (T, N) on rows
    0, ``rebalance_days``, 2 x ``rebalance_days``, ..., repeated until the next rebalance."""
    rows = np.arange(0, len(scores), rebalance_days)
    if rules.capped:
        chosen = np.stack([target_weights(scores[r], rules, sectors) for r in rows]) if len(rows) else scores[:0]
    else:  # equal weights: the same figures as the loop, vectorised over the rebalance rows
        top, bottom = quantile_masks(scores[rows], rules.quantile)
        chosen = _equal(top) - (0.0 if rules.long_only else _equal(bottom))
    return chosen[np.arange(len(scores)) // rebalance_days]


def _equal(mask: np.ndarray) -> np.ndarray:
    count = mask.sum(axis=1, keepdims=True)
    return np.where(mask, 1.0 / np.maximum(count, 1), 0.0)

"""The one portfolio-construction function: equal-weight legs, name and sector caps by water filling."""

from __future__ import annotations

import numpy as np
import pytest

from kabucast.errors import ConfigError
from kabucast.evaluation.portfolio import PortfolioRules, check_rules, leg_weights, rebalanced_weights, target_weights


def test_uncapped_legs_are_equal_weight_and_sum_to_one_each() -> None:
    scores = np.array([5.0, 4.0, 3.0, 2.0, 1.0, 0.0, -1.0, -2.0, -3.0, np.nan])  # 9 finite: 2 names a side at 25 %
    w = target_weights(scores, PortfolioRules(quantile=0.25))
    assert w[[0, 1]].tolist() == [0.5, 0.5] and w[[7, 8]].tolist() == [-0.5, -0.5]
    assert w[2:7].tolist() == [0.0] * 5 and w[9] == 0.0  # a name without a score is never held
    long_only = target_weights(scores, PortfolioRules(quantile=0.25, long_only=True))
    assert long_only.sum() == pytest.approx(1.0) and (long_only >= 0).all()


def test_a_name_cap_spreads_the_excess_over_the_others_and_leaves_cash_only_when_all_bind() -> None:
    members = np.array([True, True, True, False])
    # 3 names, cap 0.5: equal weight (1/3) does not bind
    np.testing.assert_allclose(leg_weights(members, None, PortfolioRules(max_weight=0.5)), [1 / 3] * 3 + [0])
    # cap 0.25: every name binds, a quarter of the leg stays uninvested (never more than the cap)
    capped = leg_weights(members, None, PortfolioRules(max_weight=0.25))
    np.testing.assert_allclose(capped, [0.25, 0.25, 0.25, 0.0])


def test_a_sector_cap_moves_weight_to_other_sectors() -> None:
    # GIVEN 4 names in the leg, 3 of them in one sector, and a 50 % sector cap
    members = np.ones(4, dtype=bool)
    sectors = np.array(["bank", "bank", "bank", "auto"])
    w = leg_weights(members, sectors, PortfolioRules(max_sector=0.5))
    # THEN the banks share 0.5 equally and the auto name takes the rest
    np.testing.assert_allclose(w, [1 / 6, 1 / 6, 1 / 6, 0.5])
    # AND with a 0.4 name cap too, the auto name stops at 0.4 and 0.1 stays uninvested
    both = leg_weights(members, sectors, PortfolioRules(max_weight=0.4, max_sector=0.5))
    np.testing.assert_allclose(both, [1 / 6, 1 / 6, 1 / 6, 0.4])


@pytest.mark.parametrize("seed", range(20))
def test_caps_always_hold_and_a_leg_never_exceeds_one(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 60))
    scores = rng.normal(size=n)
    sectors = rng.integers(0, int(rng.integers(1, 8)), size=n)
    rules = PortfolioRules(
        quantile=float(rng.uniform(0.05, 0.5)),
        max_weight=float(rng.uniform(0.05, 1.0)),
        max_sector=float(rng.uniform(0.1, 1.0)),
    )
    w = target_weights(scores, rules, sectors)
    for leg in (np.maximum(w, 0.0), np.maximum(-w, 0.0)):
        assert leg.sum() <= 1.0 + 1e-9 and leg.max() <= rules.max_weight + 1e-9
        assert np.bincount(sectors, weights=leg).max() <= rules.max_sector + 1e-9
        # water filling: cash is left only when no held name could take more
        if leg.sum() < 1.0 - 1e-9:
            held = leg > 0
            at_name_cap = np.isclose(leg, rules.max_weight)
            at_sector_cap = np.isclose(np.bincount(sectors, weights=leg)[sectors], rules.max_sector)
            assert (at_name_cap | at_sector_cap)[held].all()


def test_rebalanced_weights_hold_between_rebalances_and_caps_match_the_loop() -> None:
    rng = np.random.default_rng(3)
    scores = rng.normal(size=(12, 10))
    plain = rebalanced_weights(scores, PortfolioRules(quantile=0.2), 4)
    np.testing.assert_array_equal(plain[1:4], np.repeat(plain[:1], 3, axis=0))  # held for 4 rows
    np.testing.assert_allclose(plain[4], target_weights(scores[4], PortfolioRules(quantile=0.2)))
    sectors = np.arange(10) % 3
    capped = rebalanced_weights(scores, PortfolioRules(quantile=0.3, max_sector=0.4), 4, sectors)
    np.testing.assert_allclose(capped[8], target_weights(scores[8], PortfolioRules(0.3, max_sector=0.4), sectors))


def test_bad_rules_are_named() -> None:
    with pytest.raises(ConfigError, match="max_weight must be in"):
        check_rules(PortfolioRules(max_weight=1.5))
    with pytest.raises(ConfigError, match="needs each name's sector"):
        leg_weights(np.ones(3, dtype=bool), None, PortfolioRules(max_sector=0.5))

"""Paired t-test and TOST against scipy/statsmodels; the bootstrap TOST and the interval rules."""

from __future__ import annotations

import numpy as np
import pytest

from evalaction.errors import InvalidStatisticInput
from evalaction.stats.bootstrap import paired_bootstrap_mean
from evalaction.stats.equivalence import (
    bootstrap_tost,
    equivalent_by_interval,
    non_inferior_by_interval,
    paired_t_test,
    paired_t_tost,
)


@pytest.mark.parametrize("seed", range(8))
def test_against_scipy_and_statsmodels(seed: int) -> None:
    from scipy.stats import ttest_rel
    from statsmodels.stats.weightstats import ttost_paired

    rng = np.random.default_rng(seed)
    x = rng.normal(size=25)
    y = x + rng.normal(loc=0.1 * seed - 0.3, scale=0.5, size=25)
    t = paired_t_test(x, y)
    ref = ttest_rel(x, y)
    assert t.statistic == pytest.approx(ref.statistic, rel=1e-12)
    assert t.p_value == pytest.approx(ref.pvalue, rel=1e-10)
    ci = ref.confidence_interval(0.95)
    assert [t.ci_low, t.ci_high] == pytest.approx([ci.low, ci.high], rel=1e-12)
    tost = paired_t_tost(x, y, margin=0.4, alpha=0.05)
    p_ref, lower, upper = ttost_paired(x, y, -0.4, 0.4)
    assert tost.p_value == pytest.approx(p_ref, rel=1e-10)
    assert tost.p_lower == pytest.approx(lower[1], rel=1e-10)
    assert tost.p_upper == pytest.approx(upper[1], rel=1e-10)
    assert tost.equivalent == (p_ref < 0.05)


def test_bootstrap_tost_uses_the_one_minus_two_alpha_interval() -> None:
    rng = np.random.default_rng(0)
    base = rng.random(2000) < 0.5  # flips then cancel on average: delta near 0
    cand = np.where(rng.random(2000) < 0.05, ~base, base)
    delta = paired_bootstrap_mean(base.astype(float), cand.astype(float), n_resamples=4000, method="percentile")
    res = bootstrap_tost(delta, margin=0.03, alpha=0.05)
    lo, hi = delta.interval(0.90)
    assert (res.ci_low, res.ci_high) == (lo, hi)
    assert res.equivalent == (lo > -0.03 and hi < 0.03)
    assert res.equivalent
    assert res.p_value < 0.05
    tight = bootstrap_tost(delta, margin=0.001, alpha=0.05)
    assert not tight.equivalent and tight.p_value > 0.05


def test_interval_rules() -> None:
    assert equivalent_by_interval(-0.4, 0.5, 0.6)
    assert not equivalent_by_interval(-0.4, 0.6, 0.6)
    assert non_inferior_by_interval(-0.009, 0.01)
    assert not non_inferior_by_interval(-0.01, 0.01)
    with pytest.raises(InvalidStatisticInput, match="margin > 0"):
        paired_t_tost(np.arange(3.0), np.arange(3.0), margin=0)
    with pytest.raises(InvalidStatisticInput, match="margin >= 0"):
        non_inferior_by_interval(0.1, -1)

"""Tango's paired score test and interval, checked against statsmodels, scipy and a numerical likelihood."""

from __future__ import annotations

import math

import numpy as np
import pytest

from evalaction.stats.paired_proportion import (
    PairedAccuracy,
    p_two_sided,
    restricted_mle,
    score_interval,
    score_statistic,
)


def _numeric_mle(b: int, c: int, n: int, d0: float) -> float:
    """P(baseline right, candidate wrong) maximising the multinomial likelihood under c/n-cell - b/n-cell = d0."""
    from scipy.optimize import minimize_scalar

    # cells: q = P(b-cell), q + d0 = P(c-cell), rest 1 - 2q - d0
    lo, hi = max(0.0, -d0) + 1e-12, (1 - d0) / 2 - 1e-12

    def nll(q: float) -> float:
        rest = n - b - c
        return -(b * math.log(q) + c * math.log(q + d0) + (rest * math.log(1 - 2 * q - d0) if rest else 0.0))

    return float(minimize_scalar(nll, bounds=(lo, hi), method="bounded", options={"xatol": 1e-12}).x)


@pytest.mark.parametrize(
    ("b", "c", "n", "d0"), [(9, 7, 228, -0.02), (3, 9, 500, 0.0), (12, 2, 60, 0.05), (1, 4, 50, -0.05)]
)
def test_restricted_mle_maximises_the_likelihood(b: int, c: int, n: int, d0: float) -> None:
    assert float(restricted_mle(b, c, n, d0)) == pytest.approx(_numeric_mle(b, c, n, d0), abs=1e-6)


@pytest.mark.parametrize(("b", "c"), [(9, 7), (3, 9), (0, 5), (59, 33), (15, 19)])
def test_at_zero_it_is_mcnemar_corrected(b: int, c: int) -> None:
    from statsmodels.stats.contingency_tables import mcnemar

    ref = mcnemar([[100, b], [c, 50]], exact=False, correction=True).pvalue
    assert p_two_sided(b, c, 150 + b + c) == pytest.approx(ref, rel=1e-9)


def test_interval_inverts_the_test_and_contains_the_estimate() -> None:
    from scipy.stats import norm

    for b, c, n in [(9, 7, 228), (3, 9, 500), (0, 0, 50), (0, 3, 40), (20, 0, 20)]:
        lo, hi = score_interval(b, c, n, 0.9)
        est = (c - b) / n
        assert -1 <= lo <= est <= hi <= 1
        z = norm.ppf(0.95)
        if lo > -1:
            assert float(score_statistic(b, c, n, lo)) == pytest.approx(z, abs=1e-6)
        if hi < 1:
            assert float(score_statistic(b, c, n, hi)) == pytest.approx(-z, abs=1e-6)


def test_breast_cancer_case_cannot_exclude_two_points() -> None:
    """n = 228, 9 negative / 7 positive flips: the 90% lower bound is below -0.02, so not_worse 2 pt fails."""
    pa = PairedAccuracy(b=9, c=7, n=228)
    lo, _ = pa.interval(0.9)
    assert lo < -0.02
    assert pa.p_greater(-0.02) > 0.05
    assert (lo > -0.02) == (pa.p_greater(-0.02) < 0.05)


def test_a_delta_on_the_margin_is_not_a_float_tie() -> None:
    """0.89 - 0.94 is -0.04999999999999993 in floats; on counts the delta is exactly -5 pt: p = 0.5, a fail."""
    pa = PairedAccuracy(b=10, c=5, n=100)  # 0.94 -> 0.89
    assert 0.89 - 0.94 > -0.05  # the float trap the counts avoid
    assert pa.p_greater(-0.05) == pytest.approx(0.5, abs=1e-12)


def test_issue_example_n500_fixes_9_breaks_3_does_not_pass_margin_0() -> None:
    """BCa's 90% lower bound was +0.002 here; the score test, like exact McNemar (p 0.146), does not pass."""
    from scipy.stats import binomtest

    pa = PairedAccuracy(b=3, c=9, n=500)
    assert pa.p_greater(0.0) > 0.05
    assert pa.interval(0.9)[0] < 0
    assert binomtest(9, 12, 0.5).pvalue == pytest.approx(0.146, abs=1e-3)


def test_vectorised_statistic_matches_scalar() -> None:
    b = np.array([0, 3, 9])
    c = np.array([2, 3, 7])
    z = score_statistic(b, c, 228, -0.02)
    assert z.tolist() == pytest.approx(
        [float(score_statistic(int(x), int(y), 228, -0.02)) for x, y in zip(b, c, strict=False)]
    )


def test_scalar_fast_path_matches_the_vectorised_statistic() -> None:
    from evalaction.stats.paired_proportion import _z

    for b, c, n, d0 in [(9, 7, 228, -0.02), (0, 0, 50, 0.0), (0, 3, 40, 0.1), (20, 0, 20, -0.5), (5, 5, 10, 0.0)]:
        assert _z(b, c, n, d0) == pytest.approx(float(score_statistic(b, c, n, d0)), abs=1e-12)

"""Score test and interval for the difference of two paired proportions (accuracy of two models, same samples).

With n samples, b = #(baseline right, candidate wrong) (negative flips) and c = #(baseline wrong, candidate right)
(positive flips), the accuracy delta is delta = (c - b) / n: only the discordant pairs move it. For a null
value d0 of the delta, Tango's score statistic is

    Z(d0) = cc(c - b - n d0) / sqrt(n (2 q + d0 (1 - d0))),   cc(x) = sign(x) max(|x| - 1, 0)

where q is the restricted maximum-likelihood estimate of P(baseline right, candidate wrong) under delta = d0:

    q = (-B + sqrt(B^2 - 4 A C)) / (2 A),  A = 2n,  B = -b - c + (2n - c + b) d0,  C = -b d0 (1 - d0)

(Tango 1998, Statistics in Medicine 17:891, eq. 3-4, with his x12 = c and x21 = b; Nam 1997 for the test),
with Edwards' continuity correction cc (Edwards 1948): at d0 = 0, Z^2 is McNemar's corrected chi-square
(|b - c| - 1)^2 / (b + c), which tracks the exact McNemar test that the report shows beside accuracy (9 fixes
and 3 breaks on 500 rows: one-sided p 0.075 corrected, 0.073 exact, 0.042 uncorrected). Uncorrected, the
margin-0 rule would pass such a case that exact McNemar calls not significant. The (1 - a) interval is every d0 whose
two-sided test does not reject at a (Z(d0) is decreasing in d0, so the ends solve Z = +-z_{1-a/2}), and the
one-sided p-value against a margin, p(d0) = 1 - Phi(Z(d0)), decides `not_worse` and `equivalent` exactly as
the shown interval does: the interval is the test inverted. Counts are integers, so a delta that sits on the
margin gives Z = 0 and p = 0.5 rather than a pass or fail decided by float rounding.

Why this and not the bootstrap for accuracy: with few discordant pairs (accuracies near 0.99, n in the
hundreds) the BCa bootstrap under-covers (about 0.92 for a 95 % interval) and passes `not_worse` at its
boundary 6-7 % of the time; Tango's interval holds its level there (Fagerland, Lydersen & Laake 2014,
Statistics in Medicine 33:2850, recommend it for paired proportions). `tests/unit/test_stats_paired_simulation.py`
checks coverage and the boundary type-I rate by simulation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from evalaction.exceptions import InvalidStatisticInput
from evalaction.stats._common import check_level, norm_cdf, norm_ppf

TEST_NAME = "paired score test (Tango, continuity-corrected)"
CONTINUITY = 1.0
_BISECTIONS = 64  # halves [-1, 1] to below 1e-18: far under the 1/n grid of any delta


def restricted_mle(b: np.ndarray | int, c: np.ndarray | int, n: np.ndarray | int, d0: float) -> np.ndarray:
    """Maximum-likelihood P(baseline right, candidate wrong) given delta = d0 (Tango 1998, eq. 4)."""
    b_, c_, n_ = (np.asarray(x, dtype=float) for x in (b, c, n))
    a = 2.0 * n_
    bb = -b_ - c_ + (2.0 * n_ - c_ + b_) * d0
    cc = -b_ * d0 * (1.0 - d0)
    disc = np.maximum(bb * bb - 4.0 * a * cc, 0.0)
    return np.asarray((-bb + np.sqrt(disc)) / (2.0 * a))


def score_statistic(b: np.ndarray | int, c: np.ndarray | int, n: np.ndarray | int, d0: float) -> np.ndarray:
    """Tango's Z(d0) for H0: delta = d0, delta = (c - b) / n; vectorised over b, c, n (module docstring)."""
    if not -1.0 < d0 < 1.0:
        raise InvalidStatisticInput(f"Expected a null difference strictly inside (-1, 1), got {d0!r}.")
    b_, c_, n_ = (np.asarray(x, dtype=float) for x in (b, c, n))
    q = restricted_mle(b_, c_, n_, d0)
    var = n_ * (2.0 * q + d0 * (1.0 - d0))
    raw = c_ - b_ - n_ * d0
    # Edwards' continuity correction: c - b moves in steps of 1, so the numerator shrinks by 1 toward 0.
    num = np.sign(raw) * np.maximum(np.abs(raw) - CONTINUITY, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(var > 0, num / np.sqrt(np.where(var > 0, var, 1.0)), 0.0)
    return np.asarray(z)


def p_greater(b: int, c: int, n: int, d0: float) -> float:
    """One-sided p for H1: delta > d0 (e.g. d0 = -margin for `not_worse`): 1 - Phi(Z(d0))."""
    return 1.0 - norm_cdf(float(score_statistic(b, c, n, d0)))


def p_less(b: int, c: int, n: int, d0: float) -> float:
    """One-sided p for H1: delta < d0 (e.g. d0 = +margin for the upper half of `equivalent`)."""
    return norm_cdf(float(score_statistic(b, c, n, d0)))


def p_two_sided(b: int, c: int, n: int, d0: float = 0.0) -> float:
    """Two-sided p for H0: delta = d0; at d0 = 0 it is McNemar's uncorrected chi-square test."""
    z = abs(float(score_statistic(b, c, n, d0)))
    return min(1.0, 2.0 * (1.0 - norm_cdf(z)))


def score_interval(b: int, c: int, n: int, confidence_level: float) -> tuple[float, float]:
    """Tango's (1 - a) interval for delta = (c - b) / n: the d0 whose two-sided score test does not reject."""
    b, c, n = _check(b, c, n)
    check_level(confidence_level)
    z = norm_ppf(1.0 - (1.0 - confidence_level) / 2.0)
    est = (c - b) / n
    return _solve(b, c, n, z, -1.0, est), _solve(b, c, n, -z, est, 1.0)


def _z(b: int, c: int, n: int, d0: float) -> float:
    """`score_statistic` for one table in plain floats (the bisection calls it ~130 times per interval)."""
    a = 2.0 * n
    bb = -b - c + (2.0 * n - c + b) * d0
    cc = -b * d0 * (1.0 - d0)
    q = (-bb + math.sqrt(max(bb * bb - 4.0 * a * cc, 0.0))) / (2.0 * a)
    var = n * (2.0 * q + d0 * (1.0 - d0))
    raw = c - b - n * d0
    num = math.copysign(max(abs(raw) - CONTINUITY, 0.0), raw)
    return num / math.sqrt(var) if var > 0 else 0.0


def _solve(b: int, c: int, n: int, target: float, lo: float, hi: float) -> float:
    """The d0 in [lo, hi] with Z(d0) = target (Z decreasing); an end of (-1, 1) when none inside."""
    eps = 1e-12
    lo_, hi_ = max(lo, -1.0 + eps), min(hi, 1.0 - eps)
    if lo_ >= hi_:
        return lo if target > 0 else hi
    if _z(b, c, n, lo_) <= target:
        return lo
    if _z(b, c, n, hi_) >= target:
        return hi
    for _ in range(_BISECTIONS):
        mid = 0.5 * (lo_ + hi_)
        if _z(b, c, n, mid) > target:
            lo_ = mid
        else:
            hi_ = mid
    return 0.5 * (lo_ + hi_)


@dataclass(frozen=True)
class PairedAccuracy:
    """The accuracy delta from its discordant counts, with its interval and tests against any margin."""

    b: int  # negative flips: baseline right, candidate wrong
    c: int  # positive flips: baseline wrong, candidate right
    n: int

    @property
    def delta(self) -> float:
        return (self.c - self.b) / self.n

    def interval(self, confidence_level: float) -> tuple[float, float]:
        return score_interval(self.b, self.c, self.n, confidence_level)

    def p_greater(self, d0: float) -> float:
        return p_greater(self.b, self.c, self.n, d0)

    def p_less(self, d0: float) -> float:
        return p_less(self.b, self.c, self.n, d0)

    def p_value(self) -> float:
        return p_two_sided(self.b, self.c, self.n, 0.0)


def _check(b: int, c: int, n: int) -> tuple[int, int, int]:
    if any(int(x) != x or x < 0 for x in (b, c, n)) or n == 0 or b + c > n:
        raise InvalidStatisticInput(
            f"Expected integer counts with 0 <= b + c <= n and n > 0, got b={b!r}, c={c!r}, n={n!r}."
        )
    if not math.isfinite(n):
        raise InvalidStatisticInput(f"Expected a finite sample count, got {n!r}.")
    return int(b), int(c), int(n)

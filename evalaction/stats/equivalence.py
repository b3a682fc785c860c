"""Equivalence (TOST) and non-inferiority against a margin, plus the paired t-test they build on.

Deltas are oriented so that positive means the candidate is better (for a loss, pass baseline - candidate).
    equivalent     H0: |delta| >= margin. Two one-sided tests at level alpha each (TOST), which is the same as
                   asking the (1 - 2 alpha) two-sided interval to lie inside (-margin, +margin)
                   (Schuirmann 1987, J. Pharmacokinet. Biopharm. 15:657; Wellek 2010, Testing Statistical
                   Hypotheses of Equivalence and Noninferiority, ch. 1-2).
    non-inferior   H0: delta <= -margin. One one-sided test at alpha: the lower bound of the (1 - 2 alpha)
                   two-sided interval (= the one-sided 1 - alpha bound) lies above -margin (Wellek 2010, ch. 2).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from evalaction.errors import InvalidStatisticInput
from evalaction.stats._common import DeltaEstimate, check_level


@dataclass(frozen=True)
class TTestResult:
    """Paired t-test of mean(x - y) = 0."""

    mean_diff: float
    se: float
    df: int
    statistic: float
    p_value: float
    ci_low: float
    ci_high: float
    confidence_level: float


@dataclass(frozen=True)
class TostResult:
    """Equivalence test: p = max(p_lower, p_upper); the interval is the (1 - 2 alpha) one."""

    estimate: float
    margin: float
    alpha: float
    p_value: float
    p_lower: float
    p_upper: float
    ci_low: float
    ci_high: float
    equivalent: bool
    test: str


def paired_t_test(x: np.ndarray, y: np.ndarray, *, confidence_level: float = 0.95) -> TTestResult:
    """Student's paired t-test of mean(d) = 0, d = x - y (as R t.test(x, y, paired = TRUE)).

    t = mean(d) / (sd(d) / sqrt(n)), df = n - 1, p = 2 P[T_df > |t|],
    CI = mean(d) -/+ t_{df, 1 - alpha/2} sd(d) / sqrt(n) (Student 1908; any statistics text).
    """
    from scipy.stats import t as student_t

    check_level(confidence_level)
    d, mean, se, df = _paired_moments(x, y)
    stat = mean / se if se > 0 else (0.0 if mean == 0 else math.copysign(math.inf, mean))
    p = 1.0 if stat == 0 else float(2 * student_t.sf(abs(stat), df))
    half = float(student_t.ppf(1 - (1 - confidence_level) / 2, df)) * se
    return TTestResult(mean, se, df, float(stat), p, mean - half, mean + half, confidence_level)


def paired_t_tost(x: np.ndarray, y: np.ndarray, *, margin: float, alpha: float = 0.05) -> TostResult:
    """Paired t TOST of H0: |mean(x - y)| >= margin (as statsmodels ttost_paired(x, y, -margin, margin), R
    equivalence::tost(x, y, paired = TRUE)).

    p_lower = P[T_df > (mean + margin) / se], p_upper = P[T_df < (mean - margin) / se], p = max of the two;
    equivalent iff p < alpha, i.e. the (1 - 2 alpha) t interval lies inside (-margin, margin).
    """
    from scipy.stats import t as student_t

    _check_margin(margin, strictly_positive=True)
    check_level(1 - alpha, "alpha")
    _, mean, se, df = _paired_moments(x, y)
    if se > 0:
        p_lower = float(student_t.sf((mean + margin) / se, df))
        p_upper = float(student_t.cdf((mean - margin) / se, df))
    else:
        p_lower = 0.0 if mean > -margin else 1.0
        p_upper = 0.0 if mean < margin else 1.0
    half = float(student_t.ppf(1 - alpha, df)) * se
    p = max(p_lower, p_upper)
    return TostResult(
        mean, margin, alpha, p, p_lower, p_upper, mean - half, mean + half, p < alpha, "paired t TOST"
    )


def bootstrap_tost(delta: DeltaEstimate, *, margin: float, alpha: float = 0.05) -> TostResult:
    """TOST from bootstrap resamples of the delta: p_lower = (#{d* <= -margin} + 1)/(B + 1),
    p_upper = (#{d* >= margin} + 1)/(B + 1), p = max; the interval is the (1 - 2 alpha) one of the same
    method. Equivalent iff that interval lies inside (-margin, margin) (the interval decides; the p-values
    agree with it up to the interpolation between order statistics).
    """
    _check_margin(margin, strictly_positive=True)
    check_level(1 - alpha, "alpha")
    _, p_lower, _ = delta.p_values_against(-margin)
    _, _, p_upper = delta.p_values_against(margin)
    lo, hi = delta.interval(1 - 2 * alpha)
    return TostResult(
        delta.estimate,
        margin,
        alpha,
        max(p_lower, p_upper),
        p_lower,
        p_upper,
        lo,
        hi,
        equivalent_by_interval(lo, hi, margin),
        f"{delta.test} TOST",
    )


def equivalent_by_interval(ci_low: float, ci_high: float, margin: float) -> bool:
    """Equivalence at alpha: the (1 - 2 alpha) interval [ci_low, ci_high] lies inside (-margin, +margin)."""
    _check_margin(margin, strictly_positive=False)
    return -margin < ci_low and ci_high < margin


def non_inferior_by_interval(ci_low: float, margin: float) -> bool:
    """Non-inferiority at alpha: the lower bound of the (1 - 2 alpha) interval lies above -margin."""
    _check_margin(margin, strictly_positive=False)
    return ci_low > -margin


def _paired_moments(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float, float, int]:
    a = np.asarray(x, dtype=float)
    b = np.asarray(y, dtype=float)
    if a.ndim != 1 or a.shape != b.shape or a.size < 2:
        raise InvalidStatisticInput(
            f"Expected two 1-D arrays of equal length >= 2 for a paired test, got shapes {a.shape} and {b.shape}."
        )
    d = a - b
    n = d.size
    return d, float(d.mean()), float(d.std(ddof=1) / math.sqrt(n)), n - 1


def _check_margin(margin: float, *, strictly_positive: bool) -> None:
    bad = math.isnan(margin) or margin < 0 or (strictly_positive and margin == 0)
    if bad:
        need = "> 0" if strictly_positive else ">= 0"
        raise InvalidStatisticInput(
            f"Expected a margin {need} (in the metric's units, e.g. 0.01 for one accuracy point), got {margin!r}; "
            "set `margin` on the gate."
        )

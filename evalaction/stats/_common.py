"""Shared pieces of the statistics package: the result of a resampled delta and interval arithmetic.

Everything here is pure numpy plus the standard library's `statistics.NormalDist` (no scipy at import time),
so importing `evalaction.stats` stays cheap.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Literal

import numpy as np

from evalaction.exceptions import InvalidStatisticInput

CiMethod = Literal["percentile", "basic", "bca"]
# Share of resamples allowed to leave a delta undefined before a result is refused (see summarise).
MAX_UNDEFINED_SHARE = 0.05
CI_METHODS: tuple[str, ...] = ("percentile", "basic", "bca")

_NORMAL = NormalDist()


def norm_cdf(x: float) -> float:
    """Standard normal CDF Phi(x)."""
    if math.isinf(x):
        return 1.0 if x > 0 else 0.0
    return _NORMAL.cdf(x)


def norm_ppf(q: float) -> float:
    """Standard normal quantile Phi^-1(q); +-inf at 1 and 0."""
    if q <= 0.0:
        return -math.inf
    if q >= 1.0:
        return math.inf
    return _NORMAL.inv_cdf(q)


def check_level(confidence_level: float, name: str = "confidence_level") -> None:
    """Raise unless 0 < level < 1."""
    if not (0.0 < confidence_level < 1.0) or math.isnan(confidence_level):
        raise InvalidStatisticInput(
            f"Expected `{name}` strictly between 0 and 1, got {confidence_level!r}; use e.g. 0.95."
        )


def check_method(method: str) -> None:
    """Raise unless method is one of the supported interval methods."""
    if method not in CI_METHODS:
        raise InvalidStatisticInput(
            f"Expected interval method one of {', '.join(CI_METHODS)}, got {method!r}; "
            "set `compare.ci` in the plan to one of them."
        )


def check_n_resamples(n_resamples: int) -> None:
    """Raise unless n_resamples is a positive integer."""
    if int(n_resamples) != n_resamples or n_resamples < 1:
        raise InvalidStatisticInput(
            f"Expected `n_resamples` a positive integer, got {n_resamples!r}; use e.g. 10000."
        )


def bootstrap_p_values(samples: np.ndarray, null: float = 0.0) -> tuple[float, float, float]:
    """Percentile-bootstrap p-values for H0: delta = `null`, by the (k+1)/(B+1) rule.

    With B resampled deltas d*_b:
        p_greater = (#{d*_b <= null} + 1) / (B + 1)     (H1: delta > null)
        p_less    = (#{d*_b >= null} + 1) / (B + 1)     (H1: delta < null)
        p_two     = min(1, 2 * min(p_greater, p_less))
    i.e. the share of resampled deltas on the other side of the null (ties at the null count against the
    alternative, which keeps the test conservative for discrete metrics), doubled for two sides and capped
    at 1. This is the p-value obtained by inverting the percentile interval: p_two < alpha when the equal-tailed
    percentile interval at 1 - alpha excludes `null` (up to the interpolation between order statistics).
    The +1 terms count the observed sample as one of the resamples, so p is never 0
    (Davison & Hinkley 1997, Bootstrap Methods and their Application, sec. 4.4; North, Curtis & Sham 2002,
    Am. J. Hum. Genet. 71:439, on (k+1)/(B+1)).
    """
    b = samples.size
    if b == 0:
        raise InvalidStatisticInput("Expected at least one bootstrap resample, got none; raise n_resamples.")
    k_le = int(np.count_nonzero(samples <= null))
    k_ge = int(np.count_nonzero(samples >= null))
    p_greater = (k_le + 1) / (b + 1)
    p_less = (k_ge + 1) / (b + 1)
    return min(1.0, 2.0 * min(p_greater, p_less)), p_greater, p_less


def bca_acceleration(jackknife_values: Sequence[np.ndarray], counts: Sequence[np.ndarray] | None = None) -> float:
    """BCa acceleration a_hat from jackknife (leave-one-out) values, one array per independent sample.

    For sample j with n_j observations and leave-one-out values theta_(i):
        U_ji  = (n_j - 1) * (mean_i theta_(i) - theta_(i))
        a_hat = sum_j sum_i U_ji^3 / n_j^3  /  (6 * (sum_j sum_i U_ji^2 / n_j^2) ** 1.5)
    (Efron & Tibshirani 1993, An Introduction to the Bootstrap, eq. 14.15 and 15.36; the same multi-sample
    form as scipy.stats.bootstrap's BCa). A paired or one-sample bootstrap is the one-sample case; a
    bootstrap stratified by class treats each class as its own sample.

    `counts`, when given, holds the multiplicity of each leave-one-out value (many observations share one
    value: all samples in the same cell of a contingency table), so n_j = counts[j].sum().
    Returns 0 when the jackknife values do not vary (the statistic is locally constant). Undefined (NaN)
    leave-one-out values, e.g. deleting the only sample of a class, are left out with their multiplicity.
    """
    num = 0.0
    den = 0.0
    for j, values in enumerate(jackknife_values):
        theta = np.asarray(values, dtype=float)
        weight = np.ones_like(theta) if counts is None else np.asarray(counts[j], dtype=float)
        finite = np.isfinite(theta)
        theta, weight = theta[finite], weight[finite]
        n_j = float(weight.sum())
        if n_j < 2:
            continue
        u = (n_j - 1.0) * (float(np.sum(weight * theta)) / n_j - theta)
        num += float(np.sum(weight * u**3)) / n_j**3
        den += float(np.sum(weight * u**2)) / n_j**2
    if den <= 0.0:
        return 0.0
    return float(num / (6.0 * den**1.5))


def bootstrap_interval(
    samples: np.ndarray,
    estimate: float,
    confidence_level: float,
    method: str,
    acceleration: float = 0.0,
) -> tuple[float, float]:
    """Equal-tailed bootstrap interval from resampled statistics.

    With alpha = 1 - confidence_level and q(p) the p-quantile of the resamples (linear interpolation, as
    numpy.quantile and scipy.stats.bootstrap):
      percentile: [q(alpha/2), q(1 - alpha/2)]
      basic:      [2*theta - q(1 - alpha/2), 2*theta - q(alpha/2)]
      bca:        [q(a1), q(a2)], a_k = Phi(z0 + (z0 + z_k) / (1 - a (z0 + z_k))), z_{1,2} = Phi^-1(alpha/2),
                  Phi^-1(1 - alpha/2), z0 = Phi^-1(share of resamples below theta, ties counting one half),
                  a = jackknife acceleration (Efron 1987, JASA 82:171; Efron & Tibshirani 1993, ch. 14).
    When every resample lies on one side of the estimate z0 is infinite; the share is then clipped to
    [1/(2B), 1 - 1/(2B)] so the interval stays finite (it sits at the extreme resamples).
    """
    check_level(confidence_level)
    check_method(method)
    alpha = 1.0 - confidence_level
    if method == "percentile":
        lo, hi = np.quantile(samples, [alpha / 2, 1 - alpha / 2])
        return float(lo), float(hi)
    if method == "basic":
        lo, hi = np.quantile(samples, [alpha / 2, 1 - alpha / 2])
        return float(2 * estimate - hi), float(2 * estimate - lo)
    b = samples.size
    below = int(np.count_nonzero(samples < estimate)) + int(np.count_nonzero(samples <= estimate))
    share = min(max(below / (2.0 * b), 1.0 / (2 * b)), 1.0 - 1.0 / (2 * b))
    z0 = norm_ppf(share)
    levels = []
    for z in (norm_ppf(alpha / 2), norm_ppf(1 - alpha / 2)):
        denom = 1.0 - acceleration * (z0 + z)
        # a*(z0+z) >= 1 only for absurd accelerations; the adjusted level then saturates at the tail.
        adj = norm_cdf(z0 + (z0 + z) / denom) if denom > 0 else (1.0 if z > 0 else 0.0)
        levels.append(min(max(adj, 0.0), 1.0))
    lo, hi = np.quantile(samples, levels)
    return float(lo), float(hi)


@dataclass(frozen=True)
class DeltaEstimate:
    """A paired difference (candidate - baseline) with its resampling distribution and summary.

    `samples` keeps the B resampled deltas so intervals at other levels (the 1 - 2*alpha interval of an
    equivalence test) and tests against a margin come from the same draws.
    """

    estimate: float
    ci_low: float
    ci_high: float
    confidence_level: float
    method: str
    p_value: float
    p_greater: float
    p_less: float
    n_resamples: int
    acceleration: float
    test: str
    samples: np.ndarray = field(repr=False, compare=False)

    def interval(self, confidence_level: float) -> tuple[float, float]:
        """The interval at another confidence level, from the same resamples and method."""
        return bootstrap_interval(self.samples, self.estimate, confidence_level, self.method, self.acceleration)

    def p_values_against(self, null: float) -> tuple[float, float, float]:
        """(two-sided, greater, less) bootstrap p-values for H0: delta = null (e.g. a margin)."""
        return bootstrap_p_values(self.samples, null)


def summarise(
    samples: np.ndarray,
    estimate: float,
    *,
    confidence_level: float,
    method: str,
    acceleration: float,
    test: str,
    max_undefined: float = MAX_UNDEFINED_SHARE,
) -> DeltaEstimate:
    """Build a DeltaEstimate (interval and p-values) from resampled deltas.

    Resamples on which the delta is undefined (NaN: a rare class drawn zero times leaves its recall undefined)
    are left out, which makes this the bootstrap conditional on the metric being defined; more than
    `max_undefined` of them raise, since the conditional distribution is then a poor stand-in.
    """
    if not np.isfinite(estimate):
        raise InvalidStatisticInput(
            f"Expected a defined value of the delta on the test set for {test}, got {estimate}; the metric is "
            "undefined for one of the models here (e.g. a class absent or never predicted)."
        )
    samples = np.asarray(samples, dtype=float)
    finite = np.isfinite(samples)
    n_undefined = int(samples.size - np.count_nonzero(finite))
    if n_undefined > max_undefined * samples.size:
        raise InvalidStatisticInput(
            f"Expected the delta to be defined on most resamples for {test}, but it is undefined on "
            f"{n_undefined} of {samples.size} (a rare class drawn zero times); set `compare.stratified: true`."
        )
    samples = samples[finite]
    lo, hi = bootstrap_interval(samples, estimate, confidence_level, method, acceleration)
    p_two, p_greater, p_less = bootstrap_p_values(samples, 0.0)
    return DeltaEstimate(
        estimate=float(estimate),
        ci_low=lo,
        ci_high=hi,
        confidence_level=confidence_level,
        method=method,
        p_value=p_two,
        p_greater=p_greater,
        p_less=p_less,
        n_resamples=int(samples.size),
        acceleration=float(acceleration),
        test=test,
        samples=samples,
    )

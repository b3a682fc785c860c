"""Intervals for benchmark ratios from interleaved repeats, and the rule that decides a target on them."""

from __future__ import annotations

import math

import numpy as np


def t_quantile(df: int, confidence: float = 0.90) -> float:
    """Two-sided Student t quantile (scipy)."""
    from scipy.stats import t

    return float(t.ppf(0.5 + confidence / 2, df))


def interval(values: list[float], *, log: bool = False, confidence: float = 0.90) -> tuple[float, float, float]:
    """Mean and t interval of `values` (of their logarithms for ratios, returned on the ratio scale: a geometric
    mean); bounds are nan with fewer than two values, so nothing is decided on one repeat."""
    v = np.log(values) if log else np.asarray(values, dtype=float)
    mean = float(v.mean())
    if len(v) < 2:
        lo = hi = math.nan
    else:
        half = t_quantile(len(v) - 1, confidence) * float(v.std(ddof=1)) / math.sqrt(len(v))
        lo, hi = mean - half, mean + half
    if log:
        return math.exp(mean), math.exp(lo), math.exp(hi)
    return mean, lo, hi


def decide(lo: float, hi: float, target: float) -> str:
    """PASS when the interval's worse (upper) end meets `target` (at most), FAIL when even its better end misses
    it, UNDECIDED otherwise (more repeats, or a quieter machine, would decide)."""
    if math.isnan(hi):
        return "UNDECIDED"
    if hi <= target:
        return "PASS"
    return "FAIL" if lo > target else "UNDECIDED"

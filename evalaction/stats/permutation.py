"""Paired sign-flip permutation test of a mean difference."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from evalaction.errors import InvalidStatisticInput

# 2**16 sign assignments are enumerated exactly; beyond, Monte Carlo.
MAX_EXACT_N = 16


@dataclass(frozen=True)
class PermutationResult:
    """Two-sided sign-flip test of mean(candidate - baseline) = 0."""

    statistic: float
    p_value: float
    exact: bool
    n_resamples: int


def paired_permutation_test(
    baseline: np.ndarray,
    candidate: np.ndarray,
    *,
    n_resamples: int = 10_000,
    seed: int = 0,
    max_exact_n: int = MAX_EXACT_N,
) -> PermutationResult:
    """Two-sided paired permutation test: under H0 each difference d_i = candidate_i - baseline_i is as likely
    to have the opposite sign.

    T = |mean(d)|. Exact (n <= max_exact_n): p = #{s in {-1, 1}^n : |mean(s * d)| >= T} / 2^n, the observed
    signs included. Otherwise Monte Carlo with B random sign vectors: p = (#{|mean(s_b * d)| >= T} + 1) / (B + 1).
    Ties within a relative 1e-12 count as >= T (floating-point sums of the same values in another order).
    Reference: Fisher (1935), The Design of Experiments, sec. 21; Good (2005), Permutation, Parametric and
    Bootstrap Tests of Hypotheses, ch. 3.
    """
    a = np.asarray(baseline, dtype=float)
    b = np.asarray(candidate, dtype=float)
    if a.ndim != 1 or a.shape != b.shape or a.size == 0:
        raise InvalidStatisticInput(
            f"Expected two non-empty 1-D arrays of equal length, got shapes {a.shape} and {b.shape}."
        )
    d = b - a
    n = d.size
    observed = abs(d.mean())
    threshold = observed * (1 - 1e-12)
    if n <= max_exact_n:
        signs = np.array(list(itertools.product((1.0, -1.0), repeat=n)))
        stats = np.abs(signs @ d) / n
        return PermutationResult(float(observed), float(np.mean(stats >= threshold)), True, signs.shape[0])
    rng = np.random.default_rng(seed)
    hits = 0
    batch = max(1, 2**22 // n)
    for start in range(0, n_resamples, batch):
        m = min(batch, n_resamples - start)
        signs = rng.choice(np.array([-1.0, 1.0]), size=(m, n))
        hits += int(np.count_nonzero(np.abs(signs @ d) / n >= threshold))
    return PermutationResult(float(observed), (hits + 1) / (n_resamples + 1), False, n_resamples)

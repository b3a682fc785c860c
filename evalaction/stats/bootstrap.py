"""Paired bootstrap of a metric delta over sample indices.

Both models are scored on the same resampled indices, so the correlation between their errors cancels out of
the delta's variance: resampling the two models independently gives intervals about twice as wide for
models that mostly agree. This is the general path, for any metric; metrics derived from the confusion
matrix have an exact and much faster equivalent in `evalaction.stats.contingency`.

Reference: Efron & Tibshirani (1993), An Introduction to the Bootstrap, ch. 6, 13-14; Davison & Hinkley (1997),
Bootstrap Methods and their Application, ch. 2, 5.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from evalaction.exceptions import InvalidStatisticInput
from evalaction.stats._common import (
    DeltaEstimate,
    bca_acceleration,
    check_level,
    check_method,
    check_n_resamples,
    summarise,
)

# A batch of index arrays of shape (m, n) is gathered at a time; 2**24 int64 indices is 128 MiB.
DEFAULT_MAX_ELEMENTS = 2**24
# Total indices the jackknife may gather; beyond it observations are deleted in groups (see _jackknife).
DEFAULT_JACKKNIFE_BUDGET = 2**25
_MIN_JACKKNIFE_GROUPS = 20

Statistic = Callable[..., np.ndarray]


def paired_bootstrap(
    statistic: Statistic,
    data: Sequence[np.ndarray],
    *,
    n_resamples: int = 10_000,
    confidence_level: float = 0.95,
    method: str = "bca",
    seed: int = 0,
    strata: np.ndarray | None = None,
    jackknife_values: Sequence[np.ndarray] | None = None,
    max_elements: int = DEFAULT_MAX_ELEMENTS,
    jackknife_budget: int = DEFAULT_JACKKNIFE_BUDGET,
    test: str = "paired bootstrap",
) -> DeltaEstimate:
    """Paired (index) bootstrap of delta = metric(candidate) - metric(baseline).

    Each resample b draws indices I_b = (i_1..i_n) uniformly with replacement from 0..n-1 (within each stratum
    when `strata` is given, keeping stratum sizes fixed) and evaluates delta*_b = statistic(x[I_b] for x in
    data) -- the same I_b for both models, which is what makes it paired. Interval: percentile, basic or BCa
    at `confidence_level` (`_common.bootstrap_interval`); p-values by the (k+1)/(B+1) rule
    (`_common.bootstrap_p_values`). BCa's acceleration comes from the jackknife (`_common.bca_acceleration`,
    each stratum as its own sample), exact leave-one-out while n*(n-1) <= `jackknife_budget`, otherwise
    delete-a-group with G = budget // n groups (at least 20) of random members, which estimates the same
    skewness term (Efron & Tibshirani 1993, sec. 11.5; Shao & Tu 1995, The Jackknife and Bootstrap, sec. 2.3).

    `statistic` is vectorised: it receives each array of `data` indexed by a batch of index rows, i.e. with
    shape (m, n, ...), and returns the m deltas, e.g. accuracy:
        lambda y, base, cand: (cand == y).mean(axis=1) - (base == y).mean(axis=1)
    It must not depend on the order of samples within a row. Resampling draws
    `numpy.random.default_rng(seed)` in batches of at most `max_elements` indices, so results are
    reproducible for a given seed and memory stays bounded; the cost is O(B * n).
    """
    check_n_resamples(n_resamples)
    check_level(confidence_level)
    check_method(method)
    arrays = [np.asarray(x) for x in data]
    if not arrays:
        raise InvalidStatisticInput("Expected at least one data array for the paired bootstrap, got none.")
    n = arrays[0].shape[0]
    for i, x in enumerate(arrays):
        if x.shape[0] != n:
            raise InvalidStatisticInput(
                f"Expected every paired array to hold {n} samples (like data[0]), data[{i}] holds "
                f"{x.shape[0]}; pair the two models' outputs sample by sample."
            )
    if n < 2:
        raise InvalidStatisticInput(f"Expected at least 2 paired samples to bootstrap, got {n}.")
    groups = _strata_members(strata, n)

    estimate = _evaluate(statistic, arrays, np.arange(n)[None, :])[0]
    rng = np.random.default_rng(seed)
    samples = np.empty(n_resamples, dtype=float)
    # Bound the gathered values, not just the indices: a (n, K) score array gathers K values per index.
    width = max(int(np.prod(x.shape[1:], dtype=np.int64)) for x in arrays)
    batch = max(1, min(n_resamples, max_elements // (n * width)))
    dtype = np.int32 if n < 2**31 else np.int64
    for start in range(0, n_resamples, batch):
        m = min(batch, n_resamples - start)
        idx = _resample_indices(rng, n, m, groups, dtype)
        samples[start : start + m] = _evaluate(statistic, arrays, idx)

    acceleration = 0.0
    if method == "bca":
        if jackknife_values is None:
            jackknife_values = _jackknife(statistic, arrays, groups, seed, max_elements, jackknife_budget)
        acceleration = bca_acceleration(jackknife_values)
    return summarise(
        samples,
        float(estimate),
        confidence_level=confidence_level,
        method=method,
        acceleration=acceleration,
        test=test,
    )


def _evaluate(statistic: Statistic, arrays: list[np.ndarray], idx: np.ndarray) -> np.ndarray:
    out = np.asarray(statistic(*(x[idx] for x in arrays)), dtype=float)
    if out.shape != (idx.shape[0],):
        raise InvalidStatisticInput(
            f"Expected the statistic to return one delta per index row, shape ({idx.shape[0]},), got "
            f"{out.shape}; reduce over axis=1 (the sample axis)."
        )
    return out


def _strata_members(strata: np.ndarray | None, n: int) -> list[np.ndarray] | None:
    if strata is None:
        return None
    s = np.asarray(strata)
    if s.shape != (n,):
        raise InvalidStatisticInput(
            f"Expected one stratum label per sample, shape ({n},), got {s.shape}; pass the class labels."
        )
    _, inverse = np.unique(s, return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    bounds = np.flatnonzero(np.diff(inverse[order])) + 1
    return [g for g in np.split(order, bounds)]


def _resample_indices(
    rng: np.random.Generator, n: int, m: int, groups: list[np.ndarray] | None, dtype: type
) -> np.ndarray:
    if groups is None:
        return rng.integers(0, n, size=(m, n), dtype=dtype)
    parts = [g[rng.integers(0, g.size, size=(m, g.size), dtype=dtype)] for g in groups]
    return np.concatenate(parts, axis=1)


def _jackknife(
    statistic: Statistic,
    arrays: list[np.ndarray],
    groups: list[np.ndarray] | None,
    seed: int,
    max_elements: int,
    budget: int,
) -> list[np.ndarray]:
    """Leave-one-out (or leave-a-group-out) values of the statistic, one array per stratum."""
    n = arrays[0].shape[0]
    strata = groups if groups is not None else [np.arange(n)]
    rng = np.random.default_rng([seed, 1])  # its own stream: the grouping must not shift the resamples
    out: list[np.ndarray] = []
    for members in strata:
        if members.size < 2:
            continue
        others = np.setdiff1d(np.arange(n), members, assume_unique=True)
        n_groups = members.size
        if members.size * (n - 1) > budget:
            n_groups = min(members.size, max(_MIN_JACKKNIFE_GROUPS, budget // n))
            members = rng.permutation(members)
        out.append(_delete_groups(statistic, arrays, members, others, n_groups, max_elements))
    return out


def _delete_groups(
    statistic: Statistic,
    arrays: list[np.ndarray],
    members: np.ndarray,
    others: np.ndarray,
    n_groups: int,
    max_elements: int,
) -> np.ndarray:
    """Statistic with each of `n_groups` contiguous blocks of `members` deleted in turn (others kept)."""
    size = members.size
    small, n_large = divmod(size, n_groups)
    starts = np.concatenate([[0], np.cumsum([small + 1] * n_large + [small] * (n_groups - n_large))])[:-1]
    values = np.empty(n_groups, dtype=float)
    for block_size, which in ((small + 1, np.arange(n_large)), (small, np.arange(n_large, n_groups))):
        if which.size == 0:
            continue
        keep = size - block_size
        base = np.arange(keep)
        row_len = keep + others.size
        batch = max(1, max_elements // max(row_len, 1))
        for lo in range(0, which.size, batch):
            ws = which[lo : lo + batch]
            st = starts[ws][:, None]
            kept = members[base[None, :] + block_size * (base[None, :] >= st)]
            idx = np.concatenate([np.broadcast_to(others, (ws.size, others.size)), kept], axis=1)
            values[ws] = _evaluate(statistic, arrays, idx)
    return values

"""Binomial tail probabilities, the same numbers as `scipy.stats.binom.cdf`/`.sf`, without importing scipy.stats.

`import scipy.stats` costs ~0.4 s of CPU (and more at exit), the largest fixed cost of a small run's errors stage
(issue #16), while the tails it was imported for are two calls into scipy.special's Boost-based binomial
functions. `binom.cdf(k, n, p)` is `clip(_binom_cdf(floor(k), n, p), 0, 1)` inside the support [0, n) and 0 or
1 outside it (`rv_discrete.cdf`); the same for `sf`. These functions call the same ufuncs with the same edges,
so the values are bit-for-bit scipy.stats' (tests compare them on a grid). Where scipy no longer exposes
the private ufuncs, they fall back to scipy.stats itself.
"""

from __future__ import annotations

import math
from collections.abc import Callable


def _ufuncs() -> tuple[Callable[[float, float, float], float], Callable[[float, float, float], float]]:
    try:
        from scipy.special._ufuncs import _binom_cdf, _binom_sf
    except ImportError:  # pragma: no cover - a scipy without them: the public, slower import
        from scipy.stats import binom

        return binom.cdf, binom.sf
    return _binom_cdf, _binom_sf


def _tail(which: int, k: int, n: int, p: float, below: float, above: float) -> float:
    """scipy's ufunc `which` (0: cdf, 1: sf) at k inside the support [0, n), `below`/`above` outside it."""
    if n < 0 or not 0.0 <= p <= 1.0 or math.isnan(p):
        raise ValueError(f"Expected n >= 0 and 0 <= p <= 1, found n={n}, p={p}")
    if k < 0:
        return below
    if k >= n:
        return above
    return min(1.0, max(0.0, float(_ufuncs()[which](float(k), float(n), float(p)))))


def binom_cdf(k: int, n: int, p: float) -> float:
    """P[X <= k] for X ~ Binomial(n, p)."""
    return _tail(0, k, n, p, below=0.0, above=1.0)


def binom_sf(k: int, n: int, p: float) -> float:
    """P[X > k] for X ~ Binomial(n, p)."""
    return _tail(1, k, n, p, below=1.0, above=0.0)


def binom_test_greater(k: int, n: int, p: float) -> float:
    """One-sided exact binomial test, H1: the success probability exceeds p. P[X >= k] = sf(k - 1), as
    `scipy.stats.binomtest(k, n, p, alternative="greater").pvalue`."""
    if not 0 <= k <= n or n < 1:
        raise ValueError(f"Expected 0 <= k <= n and n >= 1, found k={k}, n={n}")
    return binom_sf(k - 1, n, p)

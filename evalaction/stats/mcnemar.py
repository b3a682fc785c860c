"""McNemar's test for paired correctness of two classifiers on the same samples.

Only the discordant pairs carry information: b = #(baseline right, candidate wrong) and c = #(baseline wrong,
candidate right). Under H0 (equal accuracy) each discordant pair is equally likely to fall either way.
Libraries disagree on defaults (statsmodels: exact=True; R mcnemar.test: continuity correction on; mlxtend:
corrected chi-square), so every function here names its variant and the caller picks one explicitly.
Reference: McNemar (1947), Psychometrika 12:153; Agresti (2013), Categorical Data Analysis, sec. 11.1;
Edwards (1948) for the continuity correction.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from evalaction.exceptions import InvalidStatisticInput

McNemarMethod = Literal["exact", "chi2", "chi2_corrected"]


@dataclass(frozen=True)
class McNemarResult:
    """The outcome of one McNemar variant; `statistic` is the chi-square value, or b for the exact test."""

    method: str
    statistic: float
    p_value: float
    b: int
    c: int


def discordant_pairs(y_true: np.ndarray, baseline_pred: np.ndarray, candidate_pred: np.ndarray) -> tuple[int, int]:
    """(b, c): b = baseline right and candidate wrong (negative flips), c = the reverse (positive flips)."""
    y, base, cand = (np.asarray(a) for a in (y_true, baseline_pred, candidate_pred))
    if not (y.shape == base.shape == cand.shape) or y.ndim != 1:
        raise InvalidStatisticInput(
            f"Expected three 1-D arrays of equal length (labels, baseline, candidate), got shapes {y.shape}, "
            f"{base.shape}, {cand.shape}; pair predictions per sample."
        )
    base_right = base == y
    cand_right = cand == y
    return int(np.count_nonzero(base_right & ~cand_right)), int(np.count_nonzero(~base_right & cand_right))


def mcnemar_exact(b: int, c: int) -> McNemarResult:
    """Exact McNemar: two-sided binomial test of b successes in b + c trials at p = 1/2.

    p = min(1, 2 * P[X <= min(b, c)]), X ~ Binomial(b + c, 1/2) (the binomial is symmetric, so doubling the
    smaller tail equals the "minimum likelihood" two-sided test); p = 1 when b + c = 0.
    Same as statsmodels `mcnemar(exact=True)` and R `exact2x2::mcnemar.exact`.
    """
    b, c = _check_counts(b, c)
    n = b + c
    if n == 0:
        return McNemarResult("exact", float(b), 1.0, b, c)
    from evalaction.stats.binomial import binom_cdf

    p = min(1.0, 2.0 * binom_cdf(min(b, c), n, 0.5))
    return McNemarResult("exact", float(b), p, b, c)


def mcnemar_chi2(b: int, c: int, *, continuity_correction: bool) -> McNemarResult:
    """Asymptotic McNemar: chi2 = (|b - c| - k)^2 / (b + c) on 1 df, k = 1 with continuity correction else 0.

    p = P[chi2_1 > stat] = erfc(sqrt(stat / 2)). As R `mcnemar.test`, the correction is skipped when b = c
    (statistic 0); b + c = 0 gives statistic 0 and p = 1.
    """
    b, c = _check_counts(b, c)
    n = b + c
    method = "chi2_corrected" if continuity_correction else "chi2"
    if n == 0:
        return McNemarResult(method, 0.0, 1.0, b, c)
    diff = abs(b - c)
    if continuity_correction:
        diff = max(diff - 1, 0)
    stat = diff * diff / n
    return McNemarResult(method, float(stat), math.erfc(math.sqrt(stat / 2.0)), b, c)


def mcnemar(b: int, c: int, *, method: McNemarMethod) -> McNemarResult:
    """McNemar's test by name: "exact", "chi2" (no correction) or "chi2_corrected" (Edwards' correction)."""
    if method == "exact":
        return mcnemar_exact(b, c)
    if method in ("chi2", "chi2_corrected"):
        return mcnemar_chi2(b, c, continuity_correction=method == "chi2_corrected")
    raise InvalidStatisticInput(
        f"Expected McNemar method exact, chi2 or chi2_corrected, got {method!r}; pick one explicitly."
    )


def _check_counts(b: int, c: int) -> tuple[int, int]:
    if int(b) != b or int(c) != c or b < 0 or c < 0:
        raise InvalidStatisticInput(f"Expected non-negative integer discordant counts, got b={b!r}, c={c!r}.")
    return int(b), int(c)

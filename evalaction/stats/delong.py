"""DeLong's test for ROC AUCs, with the fast midrank algorithm of Sun & Xu (2014).

The AUC is the Mann-Whitney statistic: the probability that a random positive scores above a random negative,
ties counting one half. The direction is fixed: a higher score means the positive class (pROC, by contrast,
picks the direction per curve from the data; fixing it keeps a worse-than-random model worse, not mirrored).

For k score vectors on m positives and n negatives, with midranks T^X (within positives), T^Y (within
negatives) and T^Z (within all m + n), Sun & Xu (2014, IEEE Signal Processing Letters 21:1389) give
    AUC_r   = (sum_i T^Z_ri - m(m + 1)/2) / (m n)             (i over positives)
    V10_ri  = (T^Z_ri - T^X_ri) / n                            placement of positive i: share of negatives below
    V01_rj  = 1 - (T^Z_r(m+j) - T^Y_rj) / m                    placement of negative j: share of positives above
    S       = cov(V10) / m + cov(V01) / n                      (k x k, covariances with divisor m - 1, n - 1)
which is DeLong, DeLong & Clarke-Pearson (1988, Biometrics 44:837) in O(k (m + n) log(m + n)).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from evalaction.exceptions import InvalidStatisticInput
from evalaction.stats._common import check_level, norm_cdf, norm_ppf


@dataclass(frozen=True)
class DeLongResult:
    """Test of delta = AUC(candidate) - AUC(baseline) on the same samples."""

    auc_baseline: float
    auc_candidate: float
    delta: float
    variance: float
    statistic: float
    p_value: float
    p_greater: float
    p_less: float
    ci_low: float
    ci_high: float
    confidence_level: float
    test: str = "DeLong (paired)"


def midranks(x: np.ndarray) -> np.ndarray:
    """Ranks 1..n of x along the last axis, ties sharing their average rank ("midranks")."""
    x = np.asarray(x, dtype=float)
    order = np.argsort(x, axis=-1, kind="mergesort")
    xs = np.take_along_axis(x, order, axis=-1)
    n = x.shape[-1]
    out = np.empty(x.shape, dtype=float)
    flat_xs = xs.reshape(-1, n)
    flat_order = order.reshape(-1, n)
    flat_out = out.reshape(-1, n)
    for row in range(flat_xs.shape[0]):
        v = flat_xs[row]
        # Tie groups are runs of equal sorted values; each gets the mean of its 1-based positions.
        starts = np.flatnonzero(np.concatenate([[True], v[1:] != v[:-1]]))
        ends = np.concatenate([starts[1:], [n]])
        mean_rank = (starts + ends + 1) / 2.0
        flat_out[row, flat_order[row]] = np.repeat(mean_rank, ends - starts)
    return out


def delong_placements(y_true: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(AUCs (k,), V10 (k, m), V01 (k, n)) for scores of shape (k, N) or (N,) and boolean positives y_true."""
    pos, s = _check_inputs(y_true, scores)
    x = s[:, pos]
    y = s[:, ~pos]
    m, n = x.shape[1], y.shape[1]
    tx = midranks(x)
    ty = midranks(y)
    tz = midranks(np.concatenate([x, y], axis=1))
    aucs = (tz[:, :m].sum(axis=1) - m * (m + 1) / 2.0) / (m * n)
    v10 = (tz[:, :m] - tx) / n
    v01 = 1.0 - (tz[:, m:] - ty) / m
    return aucs, v10, v01


def delong_covariance(y_true: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(AUCs (k,), DeLong covariance matrix (k, k)): S = cov(V10)/m + cov(V01)/n (module docstring)."""
    aucs, v10, v01 = delong_placements(y_true, scores)
    m, n = v10.shape[1], v01.shape[1]
    if m < 2 or n < 2:
        raise InvalidStatisticInput(
            f"Expected at least 2 positives and 2 negatives for DeLong's variance, got {m} and {n}; "
            "use a larger test set."
        )
    s10 = np.atleast_2d(np.cov(v10, ddof=1))
    s01 = np.atleast_2d(np.cov(v01, ddof=1))
    return aucs, s10 / m + s01 / n


def roc_auc(y_true: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC = P(score of a positive > score of a negative) + P(tie)/2 (Mann-Whitney U / (m n))."""
    aucs, _, _ = delong_placements(y_true, score)
    return float(aucs[0])


def auc_confidence_interval(
    y_true: np.ndarray, score: np.ndarray, *, confidence_level: float = 0.95
) -> tuple[float, float, float]:
    """(low, AUC, high): AUC -/+ Phi^-1(1 - alpha/2) sqrt(Var_DeLong), clipped to [0, 1] (as pROC ci.auc)."""
    check_level(confidence_level)
    aucs, cov = delong_covariance(y_true, score)
    auc, sd = float(aucs[0]), math.sqrt(max(float(cov[0, 0]), 0.0))
    z = norm_ppf(1 - (1 - confidence_level) / 2)
    return max(0.0, auc - z * sd), auc, min(1.0, auc + z * sd)


def delong_test(
    y_true: np.ndarray,
    baseline_score: np.ndarray,
    candidate_score: np.ndarray,
    *,
    confidence_level: float = 0.95,
) -> DeLongResult:
    """Paired DeLong test of delta = AUC(candidate) - AUC(baseline) on the same samples.

    Var(delta) = S_cc + S_bb - 2 S_cb, Z = delta / sqrt(Var), p = 2 Phi(-|Z|) (one-sided: Phi(-Z) for H1
    delta > 0, Phi(Z) for delta < 0); CI = delta -/+ Phi^-1(1 - alpha/2) sqrt(Var). When Var = 0 (identical
    rankings) Z = 0 and p = 1 if delta = 0, as pROC; otherwise Z = +-inf.
    """
    check_level(confidence_level)
    base = np.asarray(baseline_score, dtype=float)
    cand = np.asarray(candidate_score, dtype=float)
    if base.shape != cand.shape:
        raise InvalidStatisticInput(
            f"Expected baseline and candidate scores of the same shape, got {base.shape} and {cand.shape}; "
            "score the same samples with both models."
        )
    aucs, cov = delong_covariance(y_true, np.stack([base, cand]))
    delta = float(aucs[1] - aucs[0])
    var = max(float(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1]), 0.0)
    return _z_result(float(aucs[0]), float(aucs[1]), delta, var, confidence_level, "DeLong (paired)")


def _z_result(
    auc_b: float, auc_c: float, delta: float, var: float, confidence_level: float, test: str
) -> DeLongResult:
    sd = math.sqrt(var)
    # Zero variance (identical rankings): pROC sets Z = 0 for a zero delta.
    z = delta / sd if sd > 0 else (0.0 if delta == 0 else math.copysign(math.inf, delta))
    p_greater = 1.0 - norm_cdf(z)
    p_less = norm_cdf(z)
    p_two = 1.0 if z == 0 else min(1.0, 2.0 * norm_cdf(-abs(z)))
    half = norm_ppf(1 - (1 - confidence_level) / 2) * sd
    return DeLongResult(
        auc_baseline=auc_b,
        auc_candidate=auc_c,
        delta=delta,
        variance=var,
        statistic=z,
        p_value=p_two,
        p_greater=p_greater,
        p_less=p_less,
        ci_low=delta - half,
        ci_high=delta + half,
        confidence_level=confidence_level,
        test=test,
    )


def _check_inputs(y_true: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true)
    s = np.atleast_2d(np.asarray(scores, dtype=float))
    if y.ndim != 1 or s.ndim != 2 or s.shape[1] != y.size:
        raise InvalidStatisticInput(
            f"Expected labels of shape (N,) and scores of shape (N,) or (k, N), got {y.shape} and "
            f"{np.asarray(scores).shape}; pass one score per sample."
        )
    if y.dtype != bool:
        values = set(np.unique(y).tolist())
        if not values <= {0, 1}:
            raise InvalidStatisticInput(
                f"Expected binary labels (bool or 0/1) for ROC AUC, got values {sorted(values)[:5]!r}; "
                "mark the positive class as 1."
            )
        y = y.astype(bool)
    if not np.all(np.isfinite(s)):
        bad = int(np.flatnonzero(~np.all(np.isfinite(s), axis=0))[0])
        raise InvalidStatisticInput(
            f"Expected finite scores, found NaN/inf at sample {bad}; check the model output."
        )
    if y.all() or not y.any():
        raise InvalidStatisticInput(
            "Expected both positives and negatives for ROC AUC, got only one class; the test set needs both."
        )
    return y, s

"""Sorted-score curves and calibration bins shared by the metric registry, threshold tuning and the plots.

Pure numpy, no I/O. One sort per (class, model) serves ROC AUC, average precision, the threshold table and the
plotted curves, which is what keeps 1e6 x 10 metrics fast.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class BinaryCurve:
    """Cumulative counts at each distinct score, highest first; positive means `score >= threshold`.

    Same construction as scikit-learn's `_binary_clf_curve`: `tps[i]`/`fps[i]` count the positives/negatives
    whose score is at least `thresholds[i]`.
    """

    thresholds: np.ndarray
    tps: np.ndarray
    fps: np.ndarray
    n_pos: int
    n_neg: int

    @property
    def tpr(self) -> np.ndarray:
        """Recall (true-positive rate) at each threshold; NaN when there are no positives."""
        return self.tps / self.n_pos if self.n_pos else np.full(self.tps.shape, np.nan)

    @property
    def fpr(self) -> np.ndarray:
        """False-positive rate at each threshold; NaN when there are no negatives."""
        return self.fps / self.n_neg if self.n_neg else np.full(self.fps.shape, np.nan)

    @property
    def precision(self) -> np.ndarray:
        """Precision at each threshold (never 0/0: each threshold predicts at least one sample positive)."""
        out: np.ndarray = self.tps / (self.tps + self.fps)
        return out


def binary_curve(is_positive: np.ndarray, score: np.ndarray) -> BinaryCurve:
    """Build the cumulative TP/FP counts at each distinct score (one sort)."""
    is_positive = np.asarray(is_positive, dtype=bool)
    score = np.asarray(score, dtype=np.float64)
    # An unstable ascending sort is ~3x faster than a stable one; tie order does not matter because every run
    # of equal scores collapses to its last index below.
    order = np.argsort(score)[::-1]
    s = score[order]
    y = is_positive[order]
    # The last index of each run of equal scores: all tied samples switch together.
    distinct = np.flatnonzero(np.diff(s))
    idx = np.r_[distinct, s.size - 1]
    tps = np.cumsum(y, dtype=np.int64)[idx]
    fps = idx + 1 - tps
    n_pos = int(tps[-1]) if tps.size else 0
    return BinaryCurve(thresholds=s[idx], tps=tps, fps=fps, n_pos=n_pos, n_neg=int(score.size - n_pos))


def roc_auc_from_curve(curve: BinaryCurve) -> float:
    """Area under the ROC curve by the trapezoidal rule (ties count one half), as scikit-learn computes it.

    AUC = integral of TPR d(FPR) from (0, 0) to (1, 1) (Fawcett 2006, "An introduction to ROC analysis").
    Requires at least one positive and one negative.
    """
    tpr = np.r_[0.0, curve.tps / curve.n_pos]
    fpr = np.r_[0.0, curve.fps / curve.n_neg]
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1])) / 2.0)


def average_precision_from_curve(curve: BinaryCurve) -> float:
    """AP = sum_n (R_n - R_{n-1}) P_n over decreasing thresholds, R_0 = 0 (scikit-learn's definition, no
    interpolation). Requires at least one positive."""
    recall = curve.tps / curve.n_pos
    return float(np.sum(np.diff(np.r_[0.0, recall]) * curve.precision))


@dataclass(frozen=True)
class SortedScores:
    """The scores of the positives and of the negatives, each sorted ascending.

    Two value sorts are ~4x faster than the argsort a full curve needs, and they are enough for ROC AUC,
    average precision and the counts at any threshold (binary search).
    """

    pos: np.ndarray
    neg: np.ndarray

    @classmethod
    def of(cls, is_positive: np.ndarray, score: np.ndarray) -> SortedScores:
        y = np.asarray(is_positive, dtype=bool)
        s = np.asarray(score, dtype=np.float64)
        return cls(pos=np.sort(s[y]), neg=np.sort(s[~y]))

    def counts_at(self, threshold: float | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(TP, FP) when predicting positive at `score >= threshold`."""
        tp = self.pos.size - np.searchsorted(self.pos, threshold, side="left")
        fp = self.neg.size - np.searchsorted(self.neg, threshold, side="left")
        return np.asarray(tp), np.asarray(fp)

    def roc_auc(self) -> float:
        """Mann-Whitney form of the AUC: P(score_pos > score_neg) + P(tie) / 2 (Hanley & McNeil 1982).

        Equal to the trapezoidal area under the ROC curve. Requires at least one positive and one negative.
        """
        below = np.searchsorted(self.neg, self.pos, side="left").sum(dtype=np.int64)
        below_or_tied = np.searchsorted(self.neg, self.pos, side="right").sum(dtype=np.int64)
        return float((below + below_or_tied) / 2.0 / (self.pos.size * self.neg.size))

    def average_precision(self) -> float:
        """AP = sum_n (R_n - R_{n-1}) P_n (scikit-learn's step rule): recall only moves at positive scores, so
        the sum runs over the distinct positive scores. Requires at least one positive."""
        if self.pos.size == 0:
            return float("nan")
        last = np.r_[np.flatnonzero(np.diff(self.pos)), self.pos.size - 1]  # last index of each distinct value
        values = self.pos[last]
        n_equal = np.diff(np.r_[-1, last])
        tp, fp = self.counts_at(values)
        return float(np.sum(n_equal / self.pos.size * tp / (tp + fp)))


@dataclass(frozen=True)
class CalibrationBins:
    """Equal-width confidence bins: mean confidence, observed frequency, count (empty bins: NaN)."""

    edges: np.ndarray
    confidence: np.ndarray
    observed: np.ndarray
    count: np.ndarray

    def ece(self) -> float:
        """Expected calibration error: sum_b (n_b / N) |observed_b - confidence_b| (Guo et al. 2017)."""
        filled = self.count > 0
        n = self.count.sum()
        gaps = np.abs(self.observed[filled] - self.confidence[filled])
        return float(np.sum(self.count[filled] * gaps) / n)


def calibration_bins(confidence: np.ndarray, outcome: np.ndarray, n_bins: int = 15) -> CalibrationBins:
    """Bin `confidence` into `n_bins` equal-width bins [i/n, (i+1)/n), the last one closed at 1.0.

    `outcome` is 1 where the event the confidence predicts happened (correct top label, or positive class).
    """
    confidence = np.asarray(confidence, dtype=np.float64)
    outcome = np.asarray(outcome, dtype=np.float64)
    index = np.minimum((confidence * n_bins).astype(np.int64), n_bins - 1)
    index = np.maximum(index, 0)
    count = np.bincount(index, minlength=n_bins)
    conf_sum = np.bincount(index, weights=confidence, minlength=n_bins)
    out_sum = np.bincount(index, weights=outcome, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.where(count > 0, conf_sum / np.maximum(count, 1), np.nan)
        observed = np.where(count > 0, out_sum / np.maximum(count, 1), np.nan)
    return CalibrationBins(
        edges=np.linspace(0.0, 1.0, n_bins + 1), confidence=mean_conf, observed=observed, count=count
    )

"""The fast path for confusion-matrix metrics: resample the joint contingency table, not the samples.

Every confusion-matrix metric of both models is a function of the joint table T[y, b, c] = #{i: label y,
baseline predicts b, candidate predicts c} (K**3 cells). Drawing n indices with replacement and counting them
per cell gives a table distributed Multinomial(n, T / n); so one multinomial draw over the occupied cells is
one bootstrap resample, *exactly* the index bootstrap's distribution for these metrics (the metrics see the
samples only through T), at a cost independent of n. Stratified by class, each label's slice T[y] is drawn
as Multinomial(n_y, T[y] / n_y), exactly the index bootstrap within classes.

Cells are first merged when they contribute identically to every requested statistic (aggregating multinomial
cells yields the multinomial of the merged cells, so this is still exact): accuracy, recall and balanced
accuracy need only (label, baseline right, candidate right), 4K cells; precision and F1 need the predicted
classes, up to K**3 cells. The cost is O(B * occupied cells).

All metrics come from five count vectors per resample: n_k (true class k), TP_k of each model and the
predicted-class counts P_k of each model:
    accuracy = sum_k TP_k / n          recall_k = TP_k / n_k          precision_k = TP_k / P_k
    f1_k = 2 TP_k / (n_k + P_k)         macro_x = mean of the defined x_k        weighted_x = the n_k-weighted mean
    balanced_accuracy = macro_recall    (the mean recall over the classes present)
    mcc = (c n - t.p) / sqrt((n^2 - p.p)(n^2 - t.t)), c = sum TP, t = (n_k), p = (P_k)          (Gorodkin 2004)
    cohen_kappa = (p_o - p_e) / (1 - p_e), p_o = c / n, p_e = t.p / n^2                         (Cohen 1960)
A ratio 0/0 is undefined (NaN) and left out of the means: precision of a class never predicted, recall of a
class absent, F1 of a class neither present nor predicted; MCC and kappa when their denominator is 0. This is
scikit-learn with `zero_division=np.nan` and the convention of `evalaction.metrics.registry`, so every resampled
value is the registry's metric on the resampled data. Resamples on which a delta is undefined (a rare class
drawn zero times) are left out, up to a limit (`_common.summarise`); stratify by class to avoid them.
Reference: Efron & Tibshirani (1993), ch. 6 (the bootstrap as multinomial reweighting); Davison & Hinkley (1997),
sec. 2.3 and 3.2 (stratified resampling).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

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

SCALAR_METRICS: tuple[str, ...] = (
    "accuracy",
    "balanced_accuracy",
    "macro_f1",
    "macro_precision",
    "macro_recall",
    "weighted_f1",
    "weighted_precision",
    "weighted_recall",
    "mcc",
    "cohen_kappa",
)
PER_CLASS_METRICS: tuple[str, ...] = ("precision", "recall", "f1")
CONFUSION_METRICS: tuple[str, ...] = SCALAR_METRICS + PER_CLASS_METRICS
# Families that need only (label, baseline right, candidate right); every other one needs predicted classes.
_RIGHT_WRONG_ONLY = {"accuracy", "balanced_accuracy", "macro_recall", "recall", "weighted_recall"}

# Resampled tables held at once: chunk * occupied cells counts (2**20 int64 is 8 MiB: small chunks stay in
# cache, which is faster than one big array, and bound memory).
DEFAULT_MAX_ELEMENTS = 2**20


def joint_table(
    y_true: np.ndarray, baseline_pred: np.ndarray, candidate_pred: np.ndarray, n_classes: int
) -> np.ndarray:
    """The joint table T[y, b, c] = #{i: y_true_i = y, baseline_pred_i = b, candidate_pred_i = c}, (K, K, K)."""
    arrays = {"y_true": y_true, "baseline_pred": baseline_pred, "candidate_pred": candidate_pred}
    coded = []
    n = None
    for name, a in arrays.items():
        x = np.asarray(a)
        if x.ndim != 1:
            raise InvalidStatisticInput(
                f"Expected `{name}` a 1-D array of class indices, got shape {x.shape}; pass argmax predictions."
            )
        if n is None:
            n = x.size
        elif x.size != n:
            raise InvalidStatisticInput(
                f"Expected `{name}` to hold {n} samples like y_true, got {x.size}; pair predictions per sample."
            )
        if x.size and not np.issubdtype(x.dtype, np.integer):
            raise InvalidStatisticInput(
                f"Expected `{name}` to hold integer class indices, got dtype {x.dtype}; encode classes as 0..K-1."
            )
        if x.size and (x.min() < 0 or x.max() >= n_classes):
            bad = int(np.flatnonzero((x < 0) | (x >= n_classes))[0])
            raise InvalidStatisticInput(
                f"Expected `{name}` in 0..{n_classes - 1}, found {int(x[bad])} at sample {bad}; "
                "check the class list in the plan."
            )
        coded.append(x.astype(np.int64))
    y, b, c = coded
    k = n_classes
    return np.bincount((y * k + b) * k + c, minlength=k**3).reshape(k, k, k)


def count_statistics(table: np.ndarray) -> np.ndarray:
    """The five count vectors (n_k, TP_base, TP_cand, P_base, P_cand) of a joint table, shape (5, K)."""
    t = _check_table(table)
    k = t.shape[0]
    eye = np.arange(k)
    return np.stack(
        [
            t.sum(axis=(1, 2)),
            t[eye, eye, :].sum(axis=1),
            t[eye, :, eye].sum(axis=1),
            t.sum(axis=(0, 2)),
            t.sum(axis=(0, 1)),
        ]
    )


def metrics_from_counts(
    n_k: np.ndarray, tp: np.ndarray, predicted: np.ndarray, macro_mask: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """Confusion metrics from counts with a leading batch shape: n_k, tp, predicted are (..., K).

    Returns scalars (...) for SCALAR_METRICS and (..., K) arrays for PER_CLASS_METRICS (formulas and the NaN
    convention in the module docstring). `macro_mask` (K booleans) picks the classes the macro and weighted
    means run over, all by default; the others (an extra class holding labels outside the class list) still
    count in accuracy, MCC and kappa.
    """
    n_k = np.asarray(n_k, dtype=float)
    tp = np.asarray(tp, dtype=float)
    predicted = np.asarray(predicted, dtype=float)
    total = n_k.sum(axis=-1)
    recall = _ratio(tp, n_k)
    precision = _ratio(tp, predicted)
    f1 = _ratio(2 * tp, n_k + predicted)
    mask = np.ones(n_k.shape[-1], dtype=bool) if macro_mask is None else np.asarray(macro_mask, dtype=bool)

    def mean(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
        keep = mask & ~np.isnan(values)
        w = np.where(keep, weights, 0.0)
        return _ratio((np.where(keep, values, 0.0) * w).sum(axis=-1), w.sum(axis=-1))

    ones = np.ones_like(n_k)
    c, tdotp = tp.sum(axis=-1), (n_k * predicted).sum(axis=-1)
    mcc_den = np.sqrt((total**2 - (predicted**2).sum(axis=-1)) * (total**2 - (n_k**2).sum(axis=-1)))
    p_o, p_e = _ratio(c, total), _ratio(tdotp, total**2)
    macro_recall = mean(recall, ones)
    return {
        "accuracy": _ratio(c, total),
        "balanced_accuracy": macro_recall,
        "macro_f1": mean(f1, ones),
        "macro_precision": mean(precision, ones),
        "macro_recall": macro_recall,
        "weighted_f1": mean(f1, n_k),
        "weighted_precision": mean(precision, n_k),
        "weighted_recall": mean(recall, n_k),
        "mcc": _ratio(c * total - tdotp, mcc_den),
        "cohen_kappa": _ratio(p_o - p_e, 1 - p_e),
        "precision": precision,
        "recall": recall,
        "f1": f1,
    }


def table_metrics(table: np.ndarray) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """(baseline metrics, candidate metrics) of a joint table, as `metrics_from_counts`."""
    s = count_statistics(table)
    return metrics_from_counts(s[0], s[1], s[3]), metrics_from_counts(s[0], s[2], s[4])


def contingency_bootstrap(
    table: np.ndarray,
    *,
    metrics: Sequence[str] = CONFUSION_METRICS,
    n_resamples: int = 10_000,
    confidence_level: float = 0.95,
    method: str = "bca",
    seed: int = 0,
    stratified: bool = False,
    macro_classes: Sequence[int] | None = None,
    max_elements: int = DEFAULT_MAX_ELEMENTS,
) -> dict[str, DeltaEstimate]:
    """Paired bootstrap of confusion-metric deltas (candidate - baseline) by resampling the joint table.

    Resample b is T*_b ~ Multinomial(n, T / n) over the occupied (merged) cells -- one draw per resample via
    `numpy.random.default_rng(seed).multinomial`, in chunks of at most `max_elements` counts; stratified:
    T*_b[y] ~ Multinomial(n_y, T[y] / n_y) for each label y. Both models' metrics are computed from the same
    T*_b, so the delta is paired; this is exactly the index bootstrap in distribution (module docstring).
    Intervals and p-values as `evalaction.stats.bootstrap.paired_bootstrap`. The BCa jackknife is exact and
    O(cells): deleting any one sample of cell j gives the table T - e_j, whose value has multiplicity T_j.

    Returns one DeltaEstimate per metric: the scalar metrics by name, per-class ones as `recall[k]`, for k in
    0..K-1. `metrics` names families from CONFUSION_METRICS; `macro_classes` the class indices the macro and
    weighted means run over (all K by default). A metric undefined on the table raises; `contingency_draws`
    keeps the draws of every metric for callers that summarise them one by one.
    """
    check_level(confidence_level)
    draws = contingency_draws(
        table,
        metrics=metrics,
        n_resamples=n_resamples,
        method=method,
        seed=seed,
        stratified=stratified,
        macro_classes=macro_classes,
        max_elements=max_elements,
    )
    return {name: draws.summarise(name, confidence_level) for name in draws.estimates}


@dataclass(frozen=True)
class ContingencyDraws:
    """The resampled deltas of every requested metric, before intervals (see `contingency_bootstrap`)."""

    estimates: dict[str, float]
    samples: dict[str, np.ndarray]
    accelerations: dict[str, float]
    method: str
    test: str

    def summarise(self, name: str, confidence_level: float) -> DeltaEstimate:
        """Interval and p-values of one metric; raises InvalidStatisticInput when it is undefined."""
        return summarise(
            self.samples[name],
            self.estimates[name],
            confidence_level=confidence_level,
            method=self.method,
            acceleration=self.accelerations[name],
            test=self.test,
        )


def contingency_draws(
    table: np.ndarray,
    *,
    metrics: Sequence[str] = CONFUSION_METRICS,
    n_resamples: int = 10_000,
    method: str = "bca",
    seed: int = 0,
    stratified: bool = False,
    macro_classes: Sequence[int] | None = None,
    max_elements: int = DEFAULT_MAX_ELEMENTS,
) -> ContingencyDraws:
    """The multinomial draws of `contingency_bootstrap`, with estimates and BCa accelerations per metric."""
    check_n_resamples(n_resamples)
    check_method(method)
    t = _check_table(table)
    unknown = [m for m in metrics if m not in CONFUSION_METRICS]
    if unknown or not metrics:
        raise InvalidStatisticInput(
            f"Expected metrics from {', '.join(CONFUSION_METRICS)}, got {list(metrics)!r}; "
            "other metrics go through the index bootstrap."
        )
    k = t.shape[0]
    n = int(t.sum())
    if n < 1:
        raise InvalidStatisticInput("Expected a joint table with at least one sample, got an empty table.")
    predicted_needed = any(m not in _RIGHT_WRONG_ONLY for m in metrics)
    cells, signatures, labels = _merged_cells(t, predicted_needed)
    mask = np.ones(k, dtype=bool)
    if macro_classes is not None:
        chosen = np.asarray(list(macro_classes), dtype=int)
        if chosen.size == 0 or chosen.min() < 0 or chosen.max() >= k:
            raise InvalidStatisticInput(
                f"Expected `macro_classes` as class indices in 0..{k - 1}, got {list(macro_classes)!r}."
            )
        mask = np.zeros(k, dtype=bool)
        mask[chosen] = True
    spec = _Spec(k, predicted_needed, list(dict.fromkeys(metrics)), mask)

    estimate = _deltas(signatures.T[None, :, :] @ cells[None, :, None], spec)
    samples = {name: np.empty(n_resamples) for name in estimate}
    rng = np.random.default_rng(seed)
    chunk = max(1, min(n_resamples, max_elements // max(cells.size, 1)))
    # float32 sums of integer counts are exact while every partial sum stays below 2**24, and twice as fast.
    sig = signatures.astype(np.float32 if n < 2**24 else np.float64)
    strata = [np.flatnonzero(labels == y) for y in np.unique(labels)] if stratified else None
    for start in range(0, n_resamples, chunk):
        m = min(chunk, n_resamples - start)
        if strata is None:
            draws = rng.multinomial(n, cells / n, size=m)
        else:
            draws = np.empty((m, cells.size), dtype=np.int64)
            for members in strata:
                c = cells[members]
                draws[:, members] = rng.multinomial(int(c.sum()), c / c.sum(), size=m)
        # (m, cells) @ (cells, stats): the count vectors of every resample in one BLAS call.
        stats = (draws.astype(sig.dtype) @ sig).astype(float)
        for name, values in _deltas(stats[:, :, None], spec).items():
            samples[name][start : start + m] = values

    jack = _jackknife(cells, sig, labels, spec, stratified) if method == "bca" else {}
    return ContingencyDraws(
        estimates={name: float(est[0]) for name, est in estimate.items()},
        samples=samples,
        accelerations={name: bca_acceleration(*jack[name]) if method == "bca" else 0.0 for name in estimate},
        method=method,
        test="contingency bootstrap (stratified)" if stratified else "contingency bootstrap",
    )


def _check_table(table: np.ndarray) -> np.ndarray:
    t = np.asarray(table)
    if t.ndim != 3 or not (t.shape[0] == t.shape[1] == t.shape[2]):
        raise InvalidStatisticInput(
            f"Expected a joint table of shape (K, K, K) (label, baseline, candidate), got {t.shape}; "
            "build it with joint_table()."
        )
    if not np.issubdtype(t.dtype, np.integer) or (t.size and t.min() < 0):
        raise InvalidStatisticInput(
            "Expected non-negative integer counts in the joint table; build it with joint_table()."
        )
    return t.astype(np.int64)


def _signature_matrix(k: int, predicted_needed: bool) -> np.ndarray:
    """Rows: cells (y, b, c) in C order; columns: the count statistics each cell adds one to.

    Columns are n_k (K), TP_base (K), TP_cand (K) and, when predicted classes are needed, P_base (K), P_cand (K).
    """
    y, b, c = (a.ravel() for a in np.indices((k, k, k)))
    n_stats = 5 if predicted_needed else 3
    sig = np.zeros((k**3, n_stats * k), dtype=np.int64)
    rows = np.arange(k**3)
    sig[rows, y] = 1
    sig[rows, k + y] = b == y
    sig[rows, 2 * k + y] = c == y
    if predicted_needed:
        sig[rows, 3 * k + b] = 1
        sig[rows, 4 * k + c] = 1
    return sig


def _merged_cells(t: np.ndarray, predicted_needed: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Occupied cells merged by signature: (counts, signatures, label of each merged cell)."""
    k = t.shape[0]
    flat = t.ravel()
    occupied = np.flatnonzero(flat)
    sig = _signature_matrix(k, predicted_needed)[occupied]
    unique, inverse = np.unique(sig, axis=0, return_inverse=True)
    counts = np.bincount(inverse.ravel(), weights=flat[occupied], minlength=unique.shape[0]).astype(np.int64)
    # Sorting by count (largest first) makes numpy's sequential binomial draws cheapest.
    order = np.argsort(-counts, kind="stable")
    unique, counts = unique[order], counts[order]
    labels = np.argmax(unique[:, :k], axis=1)
    return counts, unique, labels


@dataclass(frozen=True)
class _Spec:
    """What the delta computation needs: class count, whether predicted classes matter, metrics, macro mask."""

    k: int
    predicted_needed: bool
    families: list[str]
    macro_mask: np.ndarray


def _deltas(stats: np.ndarray, spec: _Spec) -> dict[str, np.ndarray]:
    """Candidate - baseline for each requested metric; `stats` is (m, n_stats*K, 1)."""
    k, predicted_needed, families = spec.k, spec.predicted_needed, spec.families
    s = stats[:, :, 0]
    n_k = s[:, :k]
    tp_base, tp_cand = s[:, k : 2 * k], s[:, 2 * k : 3 * k]
    if predicted_needed:
        pred_base, pred_cand = s[:, 3 * k : 4 * k], s[:, 4 * k : 5 * k]
    else:
        # Only accuracy/recall families are requested; they never read predicted counts.
        pred_base = pred_cand = n_k
    base = metrics_from_counts(n_k, tp_base, pred_base, spec.macro_mask)
    cand = metrics_from_counts(n_k, tp_cand, pred_cand, spec.macro_mask)
    out: dict[str, np.ndarray] = {}
    for name in families:
        delta = cand[name] - base[name]
        if name in PER_CLASS_METRICS:
            for j in range(k):
                out[f"{name}[{j}]"] = delta[:, j]
        else:
            out[name] = delta
    return out


def _jackknife(
    cells: np.ndarray,
    sig: np.ndarray,
    labels: np.ndarray,
    spec: _Spec,
    stratified: bool,
) -> dict[str, tuple[list[np.ndarray], list[np.ndarray]]]:
    """Leave-one-out values per merged cell and their multiplicities, grouped per stratum when stratified."""
    total = cells.astype(float) @ sig.astype(float)
    loo = total[None, :] - sig  # one row per cell: the table with one of its samples deleted
    values = _deltas(loo[:, :, None], spec)
    groups = [np.flatnonzero(labels == y) for y in np.unique(labels)] if stratified else [np.arange(cells.size)]
    return {name: ([v[g] for g in groups], [cells[g] for g in groups]) for name, v in values.items()}


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den, NaN where den <= 0 (an undefined ratio)."""
    num = np.asarray(num, dtype=float)
    den = np.asarray(den, dtype=float)
    out = np.full(np.broadcast(num, den).shape, np.nan)
    np.divide(num, den, out=out, where=den > 0)
    return out

"""Threshold tuning for binary scores and one-vs-rest per class.

A sample is predicted positive when `score >= threshold`. The optimum is searched over every distinct score
(the exact ROC/PR curve), so the chosen thresholds are real operating points; the trade-off table shows a
readable grid (0.05 .. 0.95) plus those chosen points.

    best F1        argmax_t F1(t)
    Youden's J     argmax_t TPR(t) - FPR(t)  (Youden 1950, "Index for rating diagnostic tests")
    constraint     e.g. `precision >= 0.95`: the best recall among thresholds that meet it

Ties go to the threshold closest to the reference (0.5 for binary), so the advice moves as little as it can.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from evalaction.metrics.curves import BinaryCurve, SortedScores, binary_curve
from evalaction.metrics.values import Constraint, ThresholdPoint, ThresholdTuning, parse_constraint

__all__ = [
    "Constraint",
    "ThresholdPoint",
    "ThresholdTuning",
    "finding",
    "parse_constraint",
    "tune_binary",
    "tune_one_vs_rest",
]

GRID = tuple(round(0.05 * i, 2) for i in range(1, 20))
DEFAULT_THRESHOLD = 0.5


def _div(a: float, b: float) -> float | None:
    return float(a / b) if b else None


def _point(threshold: float | None, tp: int, fp: int, n_pos: int, n_neg: int) -> ThresholdPoint:
    fn = n_pos - tp
    tn = n_neg - fp
    recall = _div(tp, n_pos)
    spec = _div(tn, n_neg)
    return ThresholdPoint(
        threshold=threshold,
        tp=tp,
        fp=fp,
        fn=fn,
        tn=tn,
        precision=_div(tp, tp + fp),
        recall=recall,
        f1=_div(2 * tp, 2 * tp + fp + fn),
        specificity=spec,
        youden_j=None if recall is None or spec is None else recall + spec - 1.0,
    )


def _point_at(srt: SortedScores, t: float) -> ThresholdPoint:
    tp, fp = srt.counts_at(t)
    return _point(float(t), int(tp), int(fp), srt.pos.size, srt.neg.size)


def _pick(candidates: np.ndarray, objective: np.ndarray, thresholds: np.ndarray, reference: float) -> int | None:
    """Index of the best objective among `candidates`; ties go to the threshold nearest the reference."""
    if not candidates.any():
        return None
    masked = np.where(candidates, objective, -np.inf)
    best = np.max(masked)
    tied = np.flatnonzero(masked >= best - 1e-12)
    return int(tied[np.argmin(np.abs(thresholds[tied] - reference))])


def _curve_arrays(curve: BinaryCurve) -> dict[str, np.ndarray]:
    p, n = curve.n_pos, curve.n_neg
    tp = curve.tps.astype(np.float64)
    fp = curve.fps.astype(np.float64)
    recall = tp / p
    spec = (n - fp) / n
    return {
        "precision": tp / (tp + fp),
        "recall": recall,
        "specificity": spec,
        "fpr": 1.0 - spec,
        "f1": 2 * tp / (2 * tp + fp + (p - tp)),
        "youden_j": recall + spec - 1.0,
    }


def _meets(values: np.ndarray, c: Constraint) -> np.ndarray:
    ops = {">=": np.greater_equal, "<=": np.less_equal, ">": np.greater, "<": np.less}
    # A hair of tolerance so that precision 19/20 meets `precision >= 0.95` despite binary floating point.
    slack = 1e-12 if c.op in (">=", "<=") else 0.0
    target = c.value - slack if c.op in (">=", ">") else c.value + slack
    return np.asarray(ops[c.op](values, target))


def tune_binary(
    is_positive: np.ndarray,
    score: np.ndarray,
    *,
    positive_class: str = "1",
    constraint: Constraint | None = None,
    reference_threshold: float = DEFAULT_THRESHOLD,
    reference_pred: np.ndarray | None = None,
    grid: Sequence[float] = GRID,
) -> ThresholdTuning:
    """Tune the decision threshold of `score` for `is_positive`.

    The reference is `score >= reference_threshold`, or, when `reference_pred` (boolean predictions, e.g.
    argmax == class) is given, those predictions.
    """
    y = np.asarray(is_positive, dtype=bool)
    s = np.asarray(score, dtype=np.float64)
    n_pos = int(y.sum())
    n_neg = int(y.size - n_pos)
    srt = SortedScores.of(y, s)
    if reference_pred is not None:
        rp = np.asarray(reference_pred, dtype=bool)
        reference = _point(None, int((rp & y).sum()), int((rp & ~y).sum()), n_pos, n_neg)
        label = "argmax"
    else:
        reference = _point_at(srt, reference_threshold)
        label = f"threshold {reference_threshold:g}"
    base = ThresholdTuning(
        positive_class=positive_class,
        n=int(y.size),
        n_positive=n_pos,
        reference_label=label,
        reference=reference,
        constraint=None if constraint is None else str(constraint),
    )
    if n_pos == 0 or n_neg == 0:
        only = "negatives" if n_pos == 0 else "positives"
        return base.model_copy(update={"undefined": f"the test set has only {only} for `{positive_class}`"})
    curve = binary_curve(y, s)
    if curve.thresholds.size == 1:
        why = "every score is the same, so no threshold separates anything"
        return base.model_copy(update={"undefined": why})
    arrays = _curve_arrays(curve)
    th = curve.thresholds
    ref_t = reference_threshold

    def at(i: int | None) -> ThresholdPoint | None:
        if i is None:
            return None
        return _point(float(th[i]), int(curve.tps[i]), int(curve.fps[i]), n_pos, n_neg)

    everywhere = np.ones(th.size, dtype=bool)
    best_f1 = at(_pick(everywhere, arrays["f1"], th, ref_t))
    youden = at(_pick(everywhere, arrays["youden_j"], th, ref_t))
    constrained = None
    note = None
    if constraint is not None:
        values = arrays[constraint.metric]
        ok = _meets(values, constraint)
        constrained = at(_pick(ok, arrays[constraint.objective], th, ref_t))
        if constrained is None:
            best = np.max(values) if constraint.op in (">=", ">") else np.min(values)
            note = f"no threshold reaches {constraint}; the best {constraint.metric} is {best:.3f}"
    chosen = [p.threshold for p in (best_f1, youden, constrained) if p is not None and p.threshold is not None]
    table_t = sorted({*(float(g) for g in grid), *chosen, *([ref_t] if reference_pred is None else [])})
    table = [_point_at(srt, t) for t in table_t]
    return base.model_copy(
        update={
            "best_f1": best_f1,
            "youden": youden,
            "constrained": constrained,
            "constraint_note": note,
            "table": table,
        }
    )


def tune_one_vs_rest(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    y_score: np.ndarray,
    classes: Sequence[str],
    *,
    constraint: Constraint | None = None,
) -> dict[str, ThresholdTuning]:
    """Per class c: tune `score_c >= t` for `y_true == c`, against the argmax decision `y_pred == c`."""
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    return {
        name: tune_binary(
            y_true == c,
            y_score[:, c],
            positive_class=name,
            constraint=constraint,
            reference_pred=y_pred == c,
        )
        for c, name in enumerate(classes)
    }


def _pts(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else 100.0 * (b - a)


def _points(x: float) -> str:
    return f"{x:.1f} point" + ("" if f"{x:.1f}" == "1.0" else "s")


def finding(tuning: ThresholdTuning, *, min_points: float = 0.1) -> str | None:
    """One sentence on what moving the threshold buys, relative to the reference; None when nothing to say.

    Uses the constrained point when there is one, else the best-F1 point, and always names the class. Example:
    "At threshold 0.62 for `face`, recall rises 4.1 points for 1.0 point of precision relative to threshold 0.5,
    F1 +1.2." The threshold is chosen on the test set itself, so the gain is optimistic (the reports say so)."""
    target = tuning.constrained or tuning.best_f1
    if tuning.undefined or target is None or target.threshold is None:
        return None
    ref = tuning.reference
    dr = _pts(ref.recall, target.recall)
    dp = _pts(ref.precision, target.precision)
    df = _pts(ref.f1, target.f1)
    head = f"At threshold {target.threshold:.3g} for `{tuning.positive_class}`"
    tail = f" (meets {tuning.constraint})" if tuning.constrained is not None else ""
    if dr is None or dp is None:
        # The reference predicts nothing positive, so its precision is undefined: state the new point only.
        return (
            f"{head}, precision is {100 * (target.precision or 0.0):.1f}% and recall "
            f"{100 * (target.recall or 0.0):.1f}%; {tuning.reference_label} predicts no positives{tail}."
        )
    if abs(dr) < min_points and abs(dp) < min_points:
        return None
    if dr >= min_points and dp <= -min_points:
        body = f"recall rises {_points(dr)} for {_points(-dp)} of precision"
    elif dp >= min_points and dr <= -min_points:
        body = f"precision rises {_points(dp)} for {_points(-dr)} of recall"
    elif dr >= min_points and abs(dp) < min_points:
        body = f"recall rises {_points(dr)} with precision unchanged"
    elif dp >= min_points and abs(dr) < min_points:
        body = f"precision rises {_points(dp)} with recall unchanged"
    elif dr >= 0 and dp >= 0:
        body = f"precision rises {_points(dp)} and recall {_points(dr)}"
    else:
        body = f"precision changes by {dp:+.1f} and recall by {dr:+.1f} points"
    f1_part = f", F1 {df:+.1f}" if df is not None and abs(df) >= min_points else ""
    return f"{head}, {body} relative to {tuning.reference_label}{f1_part}{tail}."

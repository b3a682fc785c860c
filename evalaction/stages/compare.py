"""Stage 5: paired comparison of candidate and baseline: per metric, better, worse, equivalent or inconclusive."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from evalaction.artifacts import CompareResult, InferenceResult, MetricComparison
from evalaction.config import parse_metric_ref
from evalaction.predictions import Predictions, read_predictions

if TYPE_CHECKING:
    import numpy as np

    from evalaction.artifacts import Outcome, PlanResult


def _metric_on(ref: str, p: Predictions, idx: np.ndarray | None = None) -> float:
    """Metric value on the samples `idx` (all when None)."""
    from evalaction.stages.metrics import _classification_metric, _regression_metric

    name, cls = parse_metric_ref(ref)
    sub = (
        p
        if idx is None
        else Predictions(
            ids=p.ids[idx],
            y=p.y[idx],
            pred=p.pred[idx],
            scores=None if p.scores is None else p.scores[idx],
            slices={},
            classes=p.classes,
        )
    )
    if sub.scores is None:
        return _regression_metric(name, sub)
    value, per, _ = _classification_metric(name, sub)
    if cls is not None:
        value = (per or {}).get(cls)
    return float("nan") if value is None else float(value)


_CONFUSION_METRICS = {
    "accuracy",
    "balanced_accuracy",
    "precision",
    "recall",
    "f1",
    "macro_f1",
    "macro_recall",
    "macro_precision",
}


def confusion_metric(ref: str, cm: np.ndarray) -> np.ndarray:
    """Metric from stacked confusion matrices cm[b, true, pred] (present classes only for macro averages)."""
    import numpy as np

    name, cls = parse_metric_ref(ref)
    tp = np.diagonal(cm, axis1=1, axis2=2).astype(np.float64)
    support = cm.sum(axis=2).astype(np.float64)
    predicted = cm.sum(axis=1).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        recall = np.where(support > 0, tp / support, np.nan)
        precision = np.where(predicted > 0, tp / predicted, 0.0)
        f1 = np.where(precision + np.nan_to_num(recall) > 0, 2 * precision * recall / (precision + recall), 0.0)
    present = support > 0
    if name == "accuracy":
        return tp.sum(axis=1) / cm.sum(axis=(1, 2))
    per = {"recall": recall, "precision": precision, "f1": np.where(present, f1, np.nan)}
    if cls is not None:
        return per[name][:, int(cls)]
    if name in ("balanced_accuracy", "macro_recall"):
        return np.nanmean(recall, axis=1)
    if name == "macro_precision":
        return np.where(present, precision, np.nan).mean(axis=1, where=present)
    return np.where(present, f1, 0.0).sum(axis=1) / present.sum(axis=1)


def _bootstrap_deltas(
    ref: str, base: Predictions, cand: Predictions, *, n_resamples: int, seed: int
) -> np.ndarray:
    import numpy as np

    rng = np.random.default_rng(seed)
    n = len(cand.y)
    name, cls = parse_metric_ref(ref)
    k = len(cand.classes)
    if name in _CONFUSION_METRICS and k and (cls is None or cls in cand.classes) and (cand.y >= 0).all():
        if cls is not None:
            ref = f"{name}[{cand.classes.index(cls)}]"
        deltas = np.empty(n_resamples)
        chunk = max(1, min(n_resamples, 2_000_000 // max(n, 1)))
        for start in range(0, n_resamples, chunk):
            b = min(chunk, n_resamples - start)
            idx = rng.integers(0, n, size=(b, n))
            offs = (np.arange(b) * k * k)[:, None]
            cms = []
            for p in (cand, base):
                codes = (p.y[idx] * k + p.pred[idx]) + offs
                cms.append(np.bincount(codes.ravel(), minlength=b * k * k).reshape(b, k, k))
            deltas[start : start + b] = confusion_metric(ref, cms[0]) - confusion_metric(ref, cms[1])
        return deltas
    deltas = np.empty(n_resamples)
    for b in range(n_resamples):
        idx = rng.integers(0, n, size=n)
        deltas[b] = _metric_on(ref, cand, idx) - _metric_on(ref, base, idx)
    return deltas


def paired_bootstrap(
    ref: str, base: Predictions, cand: Predictions, *, n_resamples: int, alpha: float, seed: int
) -> tuple[float, float, float, float]:
    """Percentile interval of delta = metric(cand) - metric(base) over the SAME resampled indices for both models.

    Efron & Tibshirani (1993), ch. 13; p-value by the (k+1)/(B+1) rule (Davison & Hinkley 1997, eq. 4.11) with k the
    resampled deltas on the far side of zero, doubled for two sides. Returns (delta, low, high, p).
    """
    import numpy as np

    deltas = _bootstrap_deltas(ref, base, cand, n_resamples=n_resamples, seed=seed)
    deltas = deltas[np.isfinite(deltas)]
    delta = _metric_on(ref, cand) - _metric_on(ref, base)
    low, high = np.quantile(deltas, [alpha / 2, 1 - alpha / 2])
    k = min(int((deltas <= 0).sum()), int((deltas >= 0).sum()))
    p = min(1.0, 2 * (k + 1) / (len(deltas) + 1))
    return float(delta), float(low), float(high), float(p)


def outcome(low: float, high: float, margin: float, higher_is_better: bool) -> Outcome:
    """better / worse: the interval excludes zero; equivalent: it lies inside +-margin; otherwise inconclusive."""
    if not higher_is_better:
        low, high = -high, -low
    if low > 0:
        return "better"
    if high < 0:
        return "worse"
    if margin > 0 and -margin <= low and high <= margin:
        return "equivalent"
    return "inconclusive"


def run_compare(*, plan: PlanResult, inference: InferenceResult, out_dir: Path) -> CompareResult | None:
    """Delta, interval, p-value and outcome for the primary metric and every metric gated against the baseline."""
    from evalaction.metrics.catalog import CATALOG

    if inference.baseline is None:
        return None
    p = plan.plan
    cand = read_predictions(out_dir / inference.candidate.predictions_path)
    base = read_predictions(out_dir / inference.baseline.predictions_path)
    refs = [p.metrics.primary, *[r for r in p.gates.vs_baseline if r != p.metrics.primary]]
    comparisons = []
    for ref in refs:
        gate = p.gates.vs_baseline.get(ref)
        delta, low, high, pval = paired_bootstrap(
            ref, base, cand, n_resamples=p.compare.n_bootstrap, alpha=p.compare.alpha, seed=p.compare.seed
        )
        info = CATALOG[parse_metric_ref(ref)[0]]
        comparisons.append(
            MetricComparison(
                metric=ref,
                baseline=_metric_on(ref, base),
                candidate=_metric_on(ref, cand),
                delta=delta,
                ci_low=low,
                ci_high=high,
                confidence=1 - p.compare.alpha,
                p_value=pval,
                test="paired bootstrap (percentile)",
                outcome=outcome(low, high, gate.margin if gate else 0.0, info.higher_is_better),
            )
        )
    return CompareResult(
        comparisons=comparisons,
        n_bootstrap=p.compare.n_bootstrap,
        alpha=p.compare.alpha,
        seed=p.compare.seed,
        n_samples=len(cand.y),
    )

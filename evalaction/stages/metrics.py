"""Stage 3: metrics overall, per class and per slice, for both models (scikit-learn underneath)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from evalaction.artifacts import InferenceResult, MetricsResult, ModelMetrics
from evalaction.metrics.catalog import CATALOG
from evalaction.predictions import Predictions, read_predictions

if TYPE_CHECKING:
    from evalaction.artifacts import PlanResult


def _classification_metric(
    name: str, p: Predictions
) -> tuple[float | None, dict[str, float | None] | None, str | None]:
    """(overall value, per-class values, why undefined)."""
    import numpy as np
    from sklearn import metrics as skm

    labels = list(range(len(p.classes)))
    y, pred = p.y, p.pred
    present = set(np.unique(y[y >= 0]).tolist())
    if name == "accuracy":
        return float(skm.accuracy_score(y, pred)), None, None
    if name == "balanced_accuracy":
        recalls = skm.recall_score(y, pred, labels=sorted(present), average=None, zero_division=0)
        return float(np.mean(recalls)), None, None
    if name in ("precision", "recall", "f1"):
        fn = {"precision": skm.precision_score, "recall": skm.recall_score, "f1": skm.f1_score}[name]
        vals = fn(y, pred, labels=labels, average=None, zero_division=0)
        per = {
            c: (float(v) if k in present or name == "precision" else None)
            for k, (c, v) in enumerate(zip(p.classes, vals, strict=True))
        }
        if len(p.classes) == 2:
            return float(vals[1]), per, None
        return float(np.mean([v for v in per.values() if v is not None])), per, None
    if name.startswith(("macro_", "weighted_", "micro_")):
        avg, base = name.split("_", 1)
        fn = {"precision": skm.precision_score, "recall": skm.recall_score, "f1": skm.f1_score}[base]
        return float(fn(y, pred, labels=sorted(present), average=avg, zero_division=0)), None, None
    if name == "cohen_kappa":
        return float(skm.cohen_kappa_score(y, pred)), None, None
    if name == "mcc":
        return float(skm.matthews_corrcoef(y, pred)), None, None
    assert p.scores is not None
    if name in ("roc_auc", "average_precision"):
        if len(present) < 2:
            return None, None, f"{name} needs at least two classes present in the test set"
        if len(p.classes) == 2:
            fn2 = skm.roc_auc_score if name == "roc_auc" else skm.average_precision_score
            return float(fn2(y, p.scores[:, 1])), None, None
        if len(present) < len(p.classes):
            return None, None, "roc_auc is undefined when a class has no test sample"
        return float(skm.roc_auc_score(y, p.scores, multi_class="ovr", labels=labels)), None, None
    if name == "log_loss":
        return float(skm.log_loss(y, p.scores, labels=labels)), None, None
    if name == "brier":
        return float(skm.brier_score_loss(y, p.scores[:, 1])), None, None
    if name.startswith("top") and name.endswith("_accuracy"):
        k = int(name[3:-9])
        return float(skm.top_k_accuracy_score(y, p.scores, k=k, labels=labels)), None, None
    if name == "specificity":
        tn = int(((y == 0) & (pred == 0)).sum())
        fp = int(((y == 0) & (pred == 1)).sum())
        return (tn / (tn + fp) if tn + fp else None), None, (None if tn + fp else "no negative samples")
    if name == "ece":
        return expected_calibration_error(y, p.scores), None, None
    return None, None, f"{name} is not computed for this task"


def expected_calibration_error(y: object, scores: object, n_bins: int = 15) -> float:
    """ECE = sum_b |B_b|/N * |acc(B_b) - conf(B_b)| over equal-width confidence bins (Guo et al., 2017)."""
    import numpy as np

    s = np.asarray(scores)
    conf = s.max(axis=1)
    correct = s.argmax(axis=1) == np.asarray(y)
    bins = np.minimum((conf * n_bins).astype(int), n_bins - 1)
    total = 0.0
    for b in range(n_bins):
        m = bins == b
        if m.any():
            total += m.mean() * abs(correct[m].mean() - conf[m].mean())
    return float(total)


def _regression_metric(name: str, p: Predictions) -> float:
    import numpy as np
    from sklearn import metrics as skm

    fns = {
        "mae": skm.mean_absolute_error,
        "r2": skm.r2_score,
        "mape": skm.mean_absolute_percentage_error,
        "median_absolute_error": skm.median_absolute_error,
        "max_error": skm.max_error,
    }
    if name == "rmse":
        return float(np.sqrt(skm.mean_squared_error(p.y, p.pred)))
    return float(fns[name](p.y, p.pred))


def model_metrics(p: Predictions, names: list[str], task: str) -> ModelMetrics:
    """Every named metric, overall and per class, for one model's predictions."""
    overall: dict[str, float | None] = {}
    per_class: dict[str, dict[str, float | None]] = {}
    undefined: dict[str, str] = {}
    for name in names:
        if task == "regression":
            overall[name] = _regression_metric(name, p)
            continue
        value, per, why = _classification_metric(name, p)
        overall[name] = value
        if per is not None:
            per_class[name] = per
        if why:
            undefined[name] = why
    if task != "regression" and "recall" not in per_class:
        per_class["recall"] = _classification_metric("recall", p)[1] or {}
    return ModelMetrics(
        overall=overall, per_class=per_class, per_slice=_slices(p, names, task), undefined=undefined
    )


def _slices(p: Predictions, names: list[str], task: str) -> dict[str, dict[str, dict[str, float | None]]]:
    import numpy as np

    out: dict[str, dict[str, dict[str, float | None]]] = {}
    for col, vals in p.slices.items():
        out[col] = {}
        for v in sorted(set(vals.tolist())):
            m = vals == v
            sub = Predictions(
                ids=p.ids[m],
                y=p.y[m],
                pred=p.pred[m],
                scores=None if p.scores is None else p.scores[m],
                slices={},
                classes=p.classes,
            )
            row: dict[str, float | None] = {"n": float(m.sum())}
            for name in names:
                if CATALOG[name].per_class or name in ("roc_auc", "average_precision", "log_loss"):
                    continue  # unstable on small slices; the per-slice table keeps the aggregate metrics
                row[name] = (
                    _regression_metric(name, sub) if task == "regression" else _classification_metric(name, sub)[0]
                )
            out[col][str(v)] = row
        _ = np
    return out


def run_metrics(*, plan: PlanResult, inference: InferenceResult, out_dir: Path) -> MetricsResult:
    """Metrics of both models from their saved predictions."""
    import numpy as np

    names = plan.plan.metric_list
    task = plan.plan.task
    cand = read_predictions(out_dir / inference.candidate.predictions_path)
    base = read_predictions(out_dir / inference.baseline.predictions_path) if inference.baseline else None
    support = (
        {
            c: int(n)
            for c, n in zip(
                inference.classes,
                np.bincount(cand.y[cand.y >= 0], minlength=len(inference.classes)),
                strict=True,
            )
        }
        if task != "regression"
        else {}
    )
    return MetricsResult(
        candidate=model_metrics(cand, names, task),
        baseline=model_metrics(base, names, task) if base is not None else None,
        classes=list(inference.classes),
        class_support=support,
    )

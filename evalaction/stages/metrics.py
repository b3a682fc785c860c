"""Stage 3: metrics overall, per class and per slice for both models, threshold tuning, and the plots.

Every number comes from the metric registry (`evalaction.metrics.registry`): each model's predictions are
validated once, then every metric of the task is computed on them, overall and on every slice. The plots are
written as PNGs under `<out>/plots/`, and the HTML report embeds them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from evalaction.artifacts import InferenceResult, MetricsResult, ModelMetrics, SliceGap
from evalaction.predictions import Predictions, read_predictions

if TYPE_CHECKING:
    import numpy as np

    from evalaction.artifacts import PlanResult
    from evalaction.metrics.registry import MetricInputs
    from evalaction.metrics.values import Constraint, ThresholdTuning

WORST_SLICES = 5
THRESHOLD_FINDINGS = 3
PLOTS_DIR = "plots"


def _task_of(p: Predictions, task: str | None) -> str:
    if task is not None:
        return task
    if p.scores is None:
        return "regression"
    return "binary" if len(p.classes) == 2 else "multiclass"


def metric_inputs(p: Predictions, task: str) -> MetricInputs:
    """Validated registry inputs for one model's predictions (labels outside the class list are errors)."""
    from evalaction.metrics.registry import prepare_inputs

    if task == "regression":
        return prepare_inputs("regression", p.y, p.pred)
    return prepare_inputs(task, p.y, p.pred, p.scores, p.classes, outside_label=True)


def _classification_metric(
    name: str, p: Predictions, task: str | None = None
) -> tuple[float | None, dict[str, float | None] | None, str | None]:
    """(overall value, per-class values, why undefined) of one metric (the compare stage's entry point)."""
    from evalaction.exceptions import BadInput
    from evalaction.metrics.registry import get_metric

    t = _task_of(p, task)
    metric = get_metric(name)
    if t not in metric.tasks:
        return None, None, f"{name} is not computed for a {t} task"
    try:
        v = metric.compute(metric_inputs(p, t))
    except BadInput as exc:
        return None, None, str(exc)
    return v.value, v.per_class, v.undefined


def _regression_metric(name: str, p: Predictions) -> float:
    """One regression metric; NaN when it is undefined on these samples (the compare stage's entry point)."""
    from evalaction.metrics.registry import get_metric

    v = get_metric(name).compute(metric_inputs(p, "regression"))
    return float("nan") if v.value is None else v.value


def _slice_rows(
    inputs: MetricInputs, slices: dict[str, np.ndarray], names: list[str]
) -> dict[str, dict[str, dict[str, float | None]]]:
    """Slice column -> value -> {"n": count, metric: value} for the requested metrics."""
    import numpy as np

    from evalaction.metrics.registry import compute_on

    out: dict[str, dict[str, dict[str, float | None]]] = {}
    for column, values in slices.items():
        out[column] = {}
        # astype(str) calls str() on each object as the list did, in C (1e6 rows: a list comprehension less)
        keys, which = np.unique(np.asarray(values).astype(str), return_inverse=True)
        for i, value in enumerate(keys.tolist()):
            mask = which == i
            row: dict[str, float | None] = {"n": float(mask.sum())}
            for name, mv in compute_on(inputs.subset(mask), names).items():
                row[name] = mv.value
            out[column][value] = row
    return out


def worst_slices(
    per_slice: dict[str, dict[str, dict[str, float | None]]],
    overall: dict[str, float | None],
    metric: str,
    *,
    limit: int = WORST_SLICES,
) -> list[SliceGap]:
    """The slices whose `metric` falls furthest short of the overall value, worst first (ties: larger n)."""
    from evalaction.metrics.registry import get_metric

    higher = get_metric(metric).higher_is_better
    total = overall.get(metric)
    if higher is None or total is None:
        return []
    gaps = []
    for column, values in per_slice.items():
        for value, row in values.items():
            v = row.get(metric)
            if v is None:
                continue
            gap = (total - v) if higher else (v - total)
            if gap > 0:
                n = int(row.get("n") or 0)
                gaps.append(
                    SliceGap(
                        column=column, value=value, n=n, metric=metric, metric_value=v, overall=total, gap=gap
                    )
                )
    gaps.sort(key=lambda g: (-g.gap, -g.n, g.column, g.value))
    return gaps[:limit]


def tune_thresholds(
    inputs: MetricInputs, constraint: Constraint | None
) -> tuple[dict[str, ThresholdTuning], list[str]]:
    """Threshold tuning (binary: the positive class; multiclass: one-vs-rest per class) and its findings."""
    from evalaction.metrics.thresholds import finding, tune_binary, tune_one_vs_rest

    if inputs.y_score is None or inputs.task == "regression":
        return {}, []
    if inputs.task == "binary":
        positive = inputs.classes[1]
        tuned = {
            positive: tune_binary(
                inputs.y_true == 1, inputs.y_score[:, 1], positive_class=positive, constraint=constraint
            )
        }
    else:
        tuned = tune_one_vs_rest(
            inputs.y_true, inputs.y_pred, inputs.y_score, inputs.classes, constraint=constraint
        )

    def gain(t: ThresholdTuning) -> float:
        target = t.constrained or t.best_f1
        if target is None or target.f1 is None or t.reference.f1 is None:
            return 0.0
        return target.f1 - t.reference.f1

    ranked = sorted(tuned.values(), key=lambda t: -gain(t))
    findings = [text for t in ranked if (text := finding(t)) is not None][:THRESHOLD_FINDINGS]
    return tuned, findings


def model_metrics(
    inputs: MetricInputs,
    requested: list[str],
    slices: dict[str, np.ndarray],
    *,
    constraint: Constraint | None = None,
    tune: bool = True,
) -> ModelMetrics:
    """Every metric of the task overall (requested first), every per-class value, the requested metrics per
    slice with the worst slices, and (classification) threshold tuning."""
    from evalaction.metrics.registry import available_metrics, compute_on, get_metric

    names = requested + [n for n in available_metrics(inputs.task) if n not in requested]
    values = compute_on(inputs, names)
    per_slice = _slice_rows(inputs, slices, requested)
    overall = {n: v.value for n, v in values.items()}
    tuned, findings = tune_thresholds(inputs, constraint) if tune else ({}, [])
    return ModelMetrics(
        overall=overall,
        per_class={
            n: v.per_class for n, v in values.items() if v.per_class is not None and get_metric(n).per_class
        },
        per_slice=per_slice,
        undefined={n: v.undefined for n, v in values.items() if v.undefined},
        notes={n: v.note for n, v in values.items() if v.note},
        worst_slices=worst_slices(per_slice, overall, requested[0]) if requested else [],
        thresholds=tuned,
        threshold_findings=findings,
    )


def draw_plots(
    task: str,
    models: dict[str, tuple[Predictions, MetricInputs, ModelMetrics]],
    classes: list[str],
    out_dir: Path,
) -> dict[str, str]:
    """Every plot of the task under `<out>/plots/`; returns name -> path relative to `out_dir`."""
    from evalaction.report import plots
    from evalaction.report.drawing import draw

    folder = out_dir / PLOTS_DIR
    paths: dict[str, Path] = {}
    if task == "regression":
        y = next(iter(models.values()))[0].y
        paths["residuals"] = draw(
            plots.residual_plots, folder / "residuals.png", y, {label: m[0].pred for label, m in models.items()}
        )
    else:
        y = next(iter(models.values()))[0].y
        paths["confusion"] = draw(
            plots.confusion_matrices,
            folder / "confusion.png",
            {label: m[1].confusion for label, m in models.items()},
            classes,
        )
        paths["per_class_f1"] = draw(
            plots.per_class_bars,
            folder / "per_class_f1.png",
            {label: m[2].per_class.get("f1", {}) for label, m in models.items()},
            classes,
        )
        scores = {label: m[0].scores for label, m in models.items() if m[0].scores is not None}
        if scores:
            paths["roc"] = draw(plots.roc_curves, folder / "roc.png", y, scores, classes)
            paths["pr"] = draw(plots.pr_curves, folder / "pr.png", y, scores, classes)
            positive = classes[1] if task == "binary" and len(classes) == 2 else None
            paths["reliability"] = draw(
                plots.reliability_diagram, folder / "reliability.png", task, y, scores, positive=positive
            )
    return {name: path.relative_to(out_dir).as_posix() for name, path in paths.items()}


def run_metrics(*, plan: PlanResult, inference: InferenceResult, out_dir: Path) -> MetricsResult:
    """Metrics of both models from their saved predictions, threshold tuning and plots."""
    import numpy as np

    from evalaction.metrics.values import parse_constraint

    spec = plan.plan.metrics
    requested = plan.plan.metric_list
    task = plan.plan.task
    constraint = parse_constraint(spec.thresholds.constraint) if spec.thresholds.constraint else None
    from evalaction.predictions import with_positive_class

    positive = plan.plan.dataset.positive_class if task == "binary" else None
    preds = {
        "candidate": with_positive_class(
            read_predictions(out_dir / inference.candidate.predictions_path), positive
        )
    }
    if inference.baseline is not None:
        base = read_predictions(out_dir / inference.baseline.predictions_path)
        preds = {"baseline": with_positive_class(base, positive), **preds}
    models = {}
    for role, p in preds.items():
        inputs = metric_inputs(p, task)
        # Threshold advice is about the model under review; the baseline's would only lengthen the report.
        mm = model_metrics(
            inputs,
            requested,
            p.slices,
            constraint=constraint,
            tune=spec.thresholds.enabled and role == "candidate",
        )
        models[role] = (p, inputs, mm)
    cand_p, cand_inputs, _ = models["candidate"]
    classes = list(cand_p.classes) if task != "regression" else list(inference.classes)
    support = {}
    n_outside = 0
    if task != "regression":
        support = {c: int(n) for c, n in zip(classes, cand_inputs.support, strict=True)}
        n_outside = int(np.count_nonzero(cand_p.y < 0))
    plot_paths = draw_plots(task, models, classes, out_dir) if spec.plots else {}
    return MetricsResult(
        candidate=models["candidate"][2],
        baseline=models["baseline"][2] if "baseline" in models else None,
        classes=classes,
        class_support=support,
        requested=requested,
        n_outside_labels=n_outside,
        plots=plot_paths,
    )

"""Stage 4 for regression: what the candidate gets wrong, in the target's units.

    largest_residuals   the rows the candidate misses by most (|predicted - actual|)
    regression_flips    rows where |candidate error| exceeds |baseline error| by more than
                        `errors.regression_flip_threshold` (default: the baseline's MAE), the regression
                        analogue of classification's negative flips
    slices              MAE, RMSE and bias (mean residual) per slice value, with the baseline's MAE and flips
    plots               predicted vs actual (errors/predicted_vs_actual.png); the residual plots of the metrics stage
plus attributions of both models for the worst rows (regression flips first, then the largest residuals), with
the prediction itself as the attributed output.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evalaction.artifacts import (
    Attribution,
    AttributionReport,
    ErrorsResult,
    ExplainedSample,
    RegressionErrors,
    ResidualSample,
    SliceResiduals,
)

if TYPE_CHECKING:
    import numpy as np

    from evalaction.artifacts import InferenceResult, PlanResult
    from evalaction.datasets import Dataset
    from evalaction.plan import ErrorsSpec
    from evalaction.predictions import Predictions

ERRORS_DIR = "errors"
MAX_SLICES_KEPT = 100
TOP_FEATURES_KEPT = 5


# ------------------------------------------------------------------------------------------------ pure pieces


def excess_error(y: np.ndarray, cand_pred: np.ndarray, base_pred: np.ndarray) -> np.ndarray:
    """|candidate error| - |baseline error| per row: positive where the candidate is further from the target."""
    import numpy as np

    return np.asarray(np.abs(cand_pred - y) - np.abs(base_pred - y), dtype=np.float64)


def regression_flips(excess: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """(rows the candidate got worse on by more than `threshold`, largest first; rows it got better on by more)."""
    import numpy as np

    worse = np.flatnonzero(excess > threshold)
    better = np.flatnonzero(-excess > threshold)
    return worse[np.argsort(-excess[worse], kind="stable")], better


def largest_residuals(residual: np.ndarray) -> np.ndarray:
    """Row indices by |residual|, largest first (ties: dataset order)."""
    import numpy as np

    return np.argsort(-np.abs(residual), kind="stable")


def slice_residuals(
    residual: np.ndarray,
    slices: Mapping[str, np.ndarray],
    base_residual: np.ndarray | None = None,
    flipped: np.ndarray | None = None,
) -> list[SliceResiduals]:
    """MAE, RMSE and bias of every slice value, largest MAE first within each column."""
    import numpy as np

    out: list[SliceResiduals] = []
    for column, values in slices.items():
        rows = []
        for value in sorted({str(v) for v in values}):
            mask = np.asarray([str(v) == value for v in values])
            r = residual[mask]
            rows.append(
                SliceResiduals(
                    column=column,
                    value=value,
                    n=int(mask.sum()),
                    mae=float(np.mean(np.abs(r))),
                    rmse=float(np.sqrt(np.mean(r**2))),
                    bias=float(np.mean(r)),
                    baseline_mae=float(np.mean(np.abs(base_residual[mask])))
                    if base_residual is not None
                    else None,
                    n_regression_flips=int(flipped[mask].sum()) if flipped is not None else 0,
                )
            )
        out += sorted(rows, key=lambda s: -s.mae)
    return out


# ---------------------------------------------------------------------------------------------------- the stage


def run_regression_errors(
    *,
    spec: ErrorsSpec,
    cand: Predictions,
    base: Predictions | None,
    out_dir: Path,
    plan: PlanResult | None = None,
    inference: InferenceResult | None = None,
    dataset: Dataset | None = None,
    candidate_path: Path | None = None,
    baseline_path: Path | None = None,
    torch_models: Mapping[str, Any] | None = None,
) -> ErrorsResult:
    """Largest residuals, regression flips, residuals by slice, the predicted-vs-actual plot, attributions."""
    import numpy as np

    y = np.asarray(cand.y, dtype=np.float64)
    pred = np.asarray(cand.pred, dtype=np.float64)
    residual = pred - y
    base_pred = np.asarray(base.pred, dtype=np.float64) if base is not None else None
    base_residual = base_pred - y if base_pred is not None else None
    cap = spec.max_listed

    excess = excess_error(y, pred, base_pred) if base_pred is not None else None

    def row(i: int) -> ResidualSample:
        return ResidualSample(
            id=str(cand.ids[i]),
            actual=float(y[i]),
            predicted=float(pred[i]),
            residual=float(residual[i]),
            baseline_predicted=float(base_pred[i]) if base_pred is not None else None,
            baseline_residual=float(base_residual[i]) if base_residual is not None else None,
            excess_error=float(excess[i]) if excess is not None else None,
        )

    if spec.regression_flip_threshold is not None:
        threshold, source = float(spec.regression_flip_threshold), "plan"
    elif base_residual is not None:
        threshold, source = float(np.mean(np.abs(base_residual))), "default: the baseline's mean absolute error"
    else:
        threshold, source = 0.0, "no baseline, so no regression flips"
    worse = better = np.array([], dtype=np.int64)
    flipped = None
    if excess is not None:
        worse, better = regression_flips(excess, threshold)
        flipped = np.zeros(len(y), dtype=bool)
        flipped[worse] = True
    by_size = largest_residuals(residual)
    slices = slice_residuals(residual, cand.slices, base_residual, flipped) if cand.slices else []
    plots: dict[str, str] = {}
    draw = plan is None or plan.plan.metrics.plots
    if draw and len(y):
        from evalaction.report import drawing
        from evalaction.report.plots import predicted_vs_actual

        rel = f"{ERRORS_DIR}/predicted_vs_actual.png"
        preds = {"candidate": pred} if base_pred is None else {"baseline": base_pred, "candidate": pred}
        drawing.draw(predicted_vs_actual, out_dir / rel, y, preds, marked=by_size[: min(cap, 10)])
        plots["predicted_vs_actual"] = rel
        if drawing.exists(out_dir / "plots" / "residuals.png"):  # drawn by the metrics stage
            plots["residuals"] = "plots/residuals.png"
    regression = RegressionErrors(
        mae=float(np.mean(np.abs(residual))) if len(y) else 0.0,
        rmse=float(np.sqrt(np.mean(residual**2))) if len(y) else 0.0,
        bias=float(np.mean(residual)) if len(y) else 0.0,
        flip_threshold=threshold,
        flip_threshold_source=source,
        n_regression_flips=len(worse),
        n_improved=len(better),
        largest_residuals=[row(int(i)) for i in by_size[:cap]],
        regression_flips=[row(int(i)) for i in worse[:cap]],
        slices=slices[:MAX_SLICES_KEPT],
        plots=plots,
    )
    attributions = _attributions(
        plan=plan,
        dataset=dataset,
        cand=cand,
        base=base,
        chosen=_choose_rows(worse, by_size, plan.plan.errors.attributions.max_samples if plan else 0),
        candidate_path=candidate_path,
        baseline_path=baseline_path,
        out_dir=out_dir,
        torch_models=torch_models,
    )
    return ErrorsResult(
        n_errors=0,
        error_rate=0.0,
        most_confident_errors=[],
        negative_flips=[],
        n_negative_flips=0,
        n_positive_flips=0,
        attributions=attributions,
        regression=regression,
        confident_threshold=spec.confident_threshold,
        ambiguous_margin=spec.ambiguous_margin,
    )


def _choose_rows(flips_idx: np.ndarray, by_size: np.ndarray, budget: int) -> list[tuple[int, str]]:
    """The worst rows: regression flips (half the budget when both exist), then the largest residuals."""
    if budget <= 0:
        return []
    flips_list = [int(i) for i in flips_idx]
    taken = set(flips_list)
    sizes = [int(i) for i in by_size[: budget + len(flips_list)] if int(i) not in taken]
    n_flips = min(len(flips_list), max(budget - min(len(sizes), budget // 2), 0))
    chosen = [(i, "regression_flip") for i in flips_list[:n_flips]]
    chosen += [(i, "largest_residual") for i in sizes[: budget - len(chosen)]]
    return chosen


def _attributions(
    *,
    plan: PlanResult | None,
    dataset: Dataset | None,
    cand: Predictions,
    base: Predictions | None,
    chosen: list[tuple[int, str]],
    candidate_path: Path | None,
    baseline_path: Path | None,
    out_dir: Path,
    torch_models: Mapping[str, Any] | None,
) -> AttributionReport:
    """Both models' attributions of their prediction for the worst rows, one bar figure per row."""
    import numpy as np

    from evalaction.explain.forward import not_explainable, open_explainable
    from evalaction.explain.methods import GRADIENT, attribute
    from evalaction.explain.visuals import Panel, feature_bars_figure
    from evalaction.report.drawing import draw
    from evalaction.stages.errors import _aligned, _methods

    if plan is not None and not plan.plan.errors.attributions.on:
        return AttributionReport(enabled=False, skipped="switched off in the plan (`errors.attributions.enabled`)")
    if plan is None or dataset is None or candidate_path is None:
        return AttributionReport(enabled=False, skipped="no plan, dataset or model path handed to the stage")
    if not chosen:
        return AttributionReport(enabled=True, skipped="no regression flip or residual to explain")
    p = plan.plan
    unexplainable = not_explainable(p.models.candidate, candidate_path)
    if unexplainable is not None:
        return AttributionReport(enabled=True, skipped=unexplainable)
    if not _aligned(dataset, cand):
        return AttributionReport(enabled=True, skipped="the test set rows do not match the predictions")
    if dataset.features.ndim != 2 or dataset.features.shape[1] == 0:
        return AttributionReport(enabled=True, skipped="the test set's features were not read")
    started = time.perf_counter()
    roles: list[tuple[str, Path, Predictions]] = [("candidate", candidate_path, cand)]
    base_spec = p.models.baseline or p.models.candidate
    if base is not None and baseline_path is not None and not_explainable(base_spec, baseline_path) is None:
        roles.insert(0, ("baseline", baseline_path, base))
    models = {
        role: open_explainable(
            path,
            base_spec if role == "baseline" else p.models.candidate,
            role=role,
            task="regression",
            n_classes=1,
            threads=p.inference.threads,
            batch_size=p.inference.batch_size,
            code_root=Path(plan.base_dir),
            loaded=(torch_models or {}).get(role),
        )
        for role, path, _ in roles
    }
    differentiable = all(m.differentiable for m in models.values())
    methods = _methods(p.errors.attributions.method, differentiable, False)
    if not differentiable and any(m in GRADIENT for m in methods):
        methods = _methods("auto", False, False)
    idx = np.array([i for i, _ in chosen])
    x = dataset.features[idx].astype(np.float64)
    reference = np.nanmean(dataset.features, axis=0)
    reference = np.where(np.isnan(reference), 0.0, reference)
    x = np.where(np.isnan(x), np.broadcast_to(reference, x.shape), x)
    values: dict[tuple[str, str], tuple[np.ndarray, np.ndarray | None]] = {}
    for role, _, _ in roles:
        for method in methods:
            out = attribute(
                models[role].forward, x, [0] * len(idx), method, baseline=reference, seed=p.errors.seed
            )
            values[(role, method)] = (out.values, out.delta)
    names = dataset.feature_names or [f"x{j}" for j in range(dataset.features.shape[1])]
    (out_dir / ERRORS_DIR).mkdir(parents=True, exist_ok=True)
    samples: list[ExplainedSample] = []
    for j, (i, category) in enumerate(chosen):
        entries: list[Attribution] = []
        rows: list[list[Panel]] = []
        for method in methods:
            panels: list[Panel] = []
            for role, _, preds in roles:
                vals, delta = values[(role, method)]
                flat = vals[j].reshape(-1)
                top = np.argsort(-np.abs(flat), kind="stable")[:TOP_FEATURES_KEPT]
                entries.append(
                    Attribution(
                        role=role,  # type: ignore[arg-type]
                        method=method,
                        target="prediction",
                        target_probability=round(float(preds.pred[i]), 6),
                        convergence_delta=float(delta[j]) if delta is not None else None,
                        total=float(flat.sum()),
                        top_features=[(names[t], round(float(flat[t]), 6)) for t in top],
                    )
                )
                panels.append(
                    Panel(
                        title=f"{role} → {float(preds.pred[i]):.4g}\n{method.replace('_', ' ')}",
                        values=vals[j],
                        signed=method != "saliency",
                    )
                )
            rows.append(panels)
        title = f"{cand.ids[i]}: actual {float(cand.y[i]):.4g}" + "".join(
            f"; {role} {float(preds.pred[i]):.4g}" for role, _, preds in roles
        )
        rel = f"{ERRORS_DIR}/explain_{j:02d}.png"
        draw(
            feature_bars_figure,
            out_dir / rel,
            feature_names=names,
            rows=rows,
            title=title,
            legend="red raises the predicted value, blue lowers it",
        )
        samples.append(
            ExplainedSample(
                id=str(cand.ids[i]),
                category=category,  # type: ignore[arg-type]
                label=f"{float(cand.y[i]):.6g}",
                attributions=entries,
                figure=rel,
            )
        )
    return AttributionReport(
        enabled=True, methods=methods, seconds=round(time.perf_counter() - started, 3), samples=samples
    )

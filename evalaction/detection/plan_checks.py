"""Plan-time checks that the models, data and gates fit the task, for detection and for the other tasks.

The plan's validator (`evalaction.plan.Plan`) calls `check_detection_plan` lazily: this module reads the plan
type, so importing it from `evalaction.plan` at start-up would make an import cycle.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from evalaction.plan import Plan

# Curation gates that read what a detection card does not measure (training data, perceptual hashes, slices).
_UNSUPPORTED_CURATION = ("leakage", "near_duplicates", "slice_coverage")


def check_detection_plan(plan: Plan) -> tuple[str, str, str, str, str] | None:
    """(field, key, expected, found, fix) for the first part of the plan that does not fit the task, else None."""
    if plan.task == "detection":
        problem = _check_detection_data(plan)
        if problem is not None:
            return problem
    roles = [("candidate", plan.models.candidate)]
    if plan.models.baseline is not None:
        roles.append(("baseline", plan.models.baseline))
    for role, spec in roles:
        fmt = spec.resolved_format
        if plan.task == "detection":
            if fmt == "onnx" and spec.detector is None:
                return (
                    f"models.{role}",
                    "detector",
                    "a `detector:` section for an ONNX detector",
                    "none",
                    "declare the output layout, e.g. `detector: {layout: yolo_v5}`, or give a COCO results "
                    "file with `format: coco_results`",
                )
        elif fmt == "coco_results" or spec.detector is not None:
            what = "format: coco_results" if fmt == "coco_results" else "a `detector:` section"
            return (
                f"models.{role}",
                "format" if fmt == "coco_results" else "detector",
                "a classifier or regressor for this task",
                what,
                "set `task: detection`, or drop it",
            )
    return None


def _check_detection_data(plan: Plan) -> tuple[str, str, str, str, str] | None:
    ds = plan.dataset
    if ds.roboflow is not None and ds.roboflow.format != "coco":
        return (
            "dataset.roboflow",
            "format",
            "`coco` for task detection",
            repr(ds.roboflow.format),
            "set `format: coco`",
        )
    for key in ("train_path", "train_split", "train_manifest"):
        if getattr(ds, key) is not None:
            return (
                "dataset",
                key,
                "no training data for task detection (leakage is not checked for boxes yet)",
                repr(getattr(ds, key)),
                "drop it",
            )
    if plan.compare.stratified:
        return (
            "compare",
            "stratified",
            "false for task detection (images are resampled, not labelled samples)",
            "true",
            "drop it",
        )
    for key in _UNSUPPORTED_CURATION:
        if getattr(plan.gates.curation, key) is not None:
            return ("gates.curation", key, "a curation gate detection supports", key, "drop it")
    return _check_detection_fields(plan)


def _check_detection_fields(plan: Plan) -> tuple[str, str, str, str, str] | None:
    """Plan fields detection cannot honour yet: refused here rather than silently ignored."""
    if plan.inference.modal is not None:
        return (
            "inference",
            "modal",
            "no Modal section for task detection (detectors run locally, on ONNX Runtime's CPU provider)",
            "a `modal:` section",
            "drop it",
        )
    if plan.inference.device == "cuda":
        return (
            "inference",
            "device",
            "`auto` or `cpu` for task detection (detectors run on ONNX Runtime's CPU provider)",
            "'cuda'",
            "set `device: cpu` or drop it",
        )
    attributions = plan.errors.attributions
    if attributions.enabled:
        return (
            "errors.attributions",
            "enabled",
            "no attributions for task detection (boxes are drawn on the worst images instead)",
            "true",
            "drop it",
        )
    return None

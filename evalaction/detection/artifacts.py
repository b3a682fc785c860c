"""Detection-only results, beside the shared stage artifacts (evalaction/artifacts.py), gathered in
`RunResult.detection` and persisted as they complete:

    plan     -> detection_card.json     DetectionCard     the COCO test set: images, boxes, classes, sizes
    metrics  -> detection_metrics.json  DetectionMetrics  all 12 COCO numbers, per-class AP, PR curves
    errors   -> detection_errors.json   DetectionErrors   TIDE error types and their dAP, the worst images

The shared artifacts carry what every task has: `MetricsResult` the gateable metrics (`map`, `ap[class]`),
`CompareResult` the image-level bootstrap, `ErrorsResult` the errors at the operating score (see
evalaction/detection/stages.py for how each field is defined for boxes).

Imports only pydantic (evalaction.artifacts imports this module).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Artifact(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    def write(self, path: Path) -> Path:
        path.write_text(self.model_dump_json(indent=2) + "\n", encoding="utf-8")
        return path

    @classmethod
    def read(cls, path: Path) -> Any:
        return cls.model_validate_json(path.read_text(encoding="utf-8"))


class DetectionCard(_Artifact):
    """The COCO test set."""

    annotations: str = Field(description="The ground-truth COCO file.")
    images_dir: str
    n_images: int
    n_boxes: int = Field(description="Non-crowd ground-truth boxes.")
    n_crowd: int = Field(description="Crowd boxes: detections on them are ignored, neither right nor wrong.")
    boxes_per_class: dict[str, int]
    size_buckets: dict[str, int] = Field(description="Boxes per COCO size bucket, by annotation `area`.")
    images_without_boxes: int
    images_missing: int | None = Field(
        default=None, description="Images listed but not found in images_dir (None: images_dir not checked)."
    )
    categories: dict[str, str] = Field(description="COCO category id -> name (every category of the file).")


class TideResult(_Artifact):
    """TIDE's error types for one model (evalaction/detection/tide.py)."""

    fg_iou: float
    bg_iou: float
    ap: float | None = Field(description="AP at fg_iou (pycocotools); the gap is 1 - ap.")
    counts: dict[str, int] = Field(description="Error type -> count (cls, loc, both, dupe, bkg, miss).")
    delta_ap: dict[str, float] = Field(
        description="Error type -> AP gained by fixing only that type (also false_positive, false_negative)."
    )

    def share(self, kind: str) -> float | None:
        """dAP as a share of the gap 1 - AP (shares need not sum to 1: fixes overlap and interact)."""
        if self.ap is None or self.ap >= 1:
            return None
        return self.delta_ap.get(kind, 0.0) / (1 - self.ap)


class ModelDetectionMetrics(_Artifact):
    stats: dict[str, float | None] = Field(description="The 12 COCO summary numbers (None: nothing to measure).")
    per_class: dict[str, dict[str, float | None]] = Field(
        description="ap, ap_50, ap_75, ar_100 -> class -> value."
    )
    counts: dict[str, dict[str, int]] = Field(description="Class -> {gt, detections}.")
    pr_curves: dict[str, list[float]] = Field(
        description="Class -> interpolated precision at recall 0, 0.01, ..., 1 (IoU 0.5)."
    )
    n_detections: int
    over_max_dets: int = Field(description="Image-class pairs with more than 100 detections (extra ones ignored).")


class DetectionMetrics(_Artifact):
    candidate: ModelDetectionMetrics
    baseline: ModelDetectionMetrics | None


class OperatingPoint(_Artifact):
    """Counts at the operating score and IoU 0.5: a detection at or above `score` counts as made."""

    score: float
    tp: int
    fp: int
    fn: int
    precision: float | None
    recall: float | None


class ModelDetectionErrors(_Artifact):
    tide: TideResult
    operating: OperatingPoint


class WorstImage(_Artifact):
    image_id: int | str
    file_name: str
    n_gt: int
    tp: int
    fp: int
    fn: int
    errors: dict[str, int] = Field(description="TIDE type -> count at the operating score.")
    baseline_errors: int | None = Field(default=None, description="fp + fn of the baseline on this image.")
    drawing: str | None = Field(default=None, description="PNG, relative to the output folder.")


class DetectionErrors(_Artifact):
    candidate: ModelDetectionErrors
    baseline: ModelDetectionErrors | None
    worst_images: list[WorstImage]


class DetectionResult(_Artifact):
    """Everything detection-specific of a run (results.json `detection`)."""

    card: DetectionCard
    metrics: DetectionMetrics
    errors: DetectionErrors
    warnings: list[str] = Field(default_factory=list)

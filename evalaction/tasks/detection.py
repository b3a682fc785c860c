"""Object detection on a COCO test set: the stage functions of `evalaction.detection.stages`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pycocotools.cocoeval import COCOeval

    from evalaction.artifacts import (
        CompareResult,
        ErrorsResult,
        Flips,
        HistoryResult,
        InferenceResult,
        MetricsResult,
        PlanResult,
        ReadinessResult,
    )
    from evalaction.datasets.sources import DataSources
    from evalaction.detection.artifacts import DetectionCard, DetectionErrors, DetectionMetrics
    from evalaction.detection.coco import GroundTruth
    from evalaction.plan import LoadedPlan


class DetectionTask:
    """One run's stages for a detector; keeps the ground truth, the detections and pycocotools' evaluations."""

    def __init__(
        self,
        *,
        loaded: LoadedPlan,
        out_dir: Path,
        candidate_path: Path,
        baseline_path: Path | None,
        sources: DataSources | None,
    ) -> None:
        self.loaded, self.out_dir, self.sources = loaded, out_dir, sources
        self.candidate_path, self.baseline_path = candidate_path, baseline_path
        self._gt: GroundTruth | None = None
        self._plan: PlanResult | None = None
        self._card: DetectionCard | None = None
        self._detections: dict[str, list[dict[str, Any]]] = {}
        self._evals: dict[str, COCOeval] = {}
        self._flips: Flips | None = None
        self._metrics: DetectionMetrics | None = None
        self._errors: DetectionErrors | None = None

    @property
    def _state(self) -> tuple[PlanResult, GroundTruth]:
        assert self._plan is not None and self._gt is not None, "plan() runs first"
        return self._plan, self._gt

    def plan(self) -> PlanResult:
        from evalaction.detection.stages import load_plan_ground_truth, run_detection_plan

        self._gt = load_plan_ground_truth(self.loaded, self.sources)
        self._plan, self._card = run_detection_plan(loaded=self.loaded, gt=self._gt)
        self._card.write(self.out_dir / "detection_card.json")
        return self._plan

    def inference(self) -> InferenceResult:
        from evalaction.detection.stages import run_detection_inference

        plan, gt = self._state
        inference, self._detections = run_detection_inference(
            plan=plan,
            gt=gt,
            candidate_path=self.candidate_path,
            baseline_path=self.baseline_path,
            out_dir=self.out_dir,
        )
        return inference

    def metrics(self) -> MetricsResult:
        from evalaction.detection.stages import run_detection_metrics

        plan, gt = self._state
        metrics, self._metrics, self._evals = run_detection_metrics(plan=plan, gt=gt, detections=self._detections)
        self._metrics.write(self.out_dir / "detection_metrics.json")
        return metrics

    def errors(self) -> ErrorsResult:
        from evalaction.detection.stages import run_detection_errors

        plan, gt = self._state
        errors, self._errors, self._flips = run_detection_errors(
            plan=plan, gt=gt, detections=self._detections, out_dir=self.out_dir
        )
        self._errors.write(self.out_dir / "detection_errors.json")
        return errors

    def compare(self) -> CompareResult | None:
        from evalaction.detection.stages import run_detection_compare

        plan, gt = self._state
        return run_detection_compare(plan=plan, gt=gt, evals=self._evals, flips=self._flips)

    def history(self, compare: CompareResult | None) -> tuple[CompareResult | None, HistoryResult | None]:
        return compare, None  # `history:` is refused for detection at plan time (plan/schema.py)

    def readiness(self) -> ReadinessResult:
        from evalaction.detection.stages import run_detection_readiness

        plan, gt = self._state
        return run_detection_readiness(
            plan=plan, gt=gt, candidate_path=self.candidate_path, baseline_path=self.baseline_path
        )

    def extras(self) -> dict[str, Any]:
        from evalaction.detection.artifacts import DetectionResult

        assert self._card is not None and self._metrics is not None and self._errors is not None
        warnings = [
            f"{role}: {m.over_max_dets} image-class pairs have more than 100 detections; "
            "COCO's AP counts only the 100 highest-scoring"
            for role, m in (("candidate", self._metrics.candidate), ("baseline", self._metrics.baseline))
            if m is not None and m.over_max_dets
        ]
        return {
            "detection": DetectionResult(
                card=self._card, metrics=self._metrics, errors=self._errors, warnings=warnings
            )
        }

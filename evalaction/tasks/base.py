"""The task seam: each stage's artifact, computed the task's way; `evalaction.pipeline` orders and persists them.

A task object is built for one run and keeps what its stages share (the test set, the detections, loaded
torch modules). The sequencer calls the methods in stage order, writes each result as `<stage>.json`, then runs
the verdict, W&B and the report the same way for every task. A task writes only its own extra files
(`detection_card.json`, predictions, plots).

Flips are the task's per-unit correctness (`evalaction.flips.UnitCorrectness`: samples for classification,
ground-truth boxes for detection) turned into `Flips` by the one builder `evalaction.flips.build_flips`. They are
no method here: the stage functions that need them (`stages.compare.compare_predictions`, `stages.errors.run_errors`,
`detection.stages.run_detection_errors`) are pure, run without a task object (tests, `history`), and already hold
the predictions or matches the units come from.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from evalaction.artifacts import (
        CompareResult,
        ErrorsResult,
        HistoryResult,
        InferenceResult,
        MetricsResult,
        PlanResult,
        ReadinessResult,
    )


class TaskStages(Protocol):
    def plan(self) -> PlanResult: ...

    def inference(self) -> InferenceResult: ...

    def metrics(self) -> MetricsResult: ...

    def errors(self) -> ErrorsResult: ...

    def compare(self) -> CompareResult | None: ...

    def history(self, compare: CompareResult | None) -> tuple[CompareResult | None, HistoryResult | None]:
        """Prior versions re-scored (only when the plan has `history:`), and the comparison Holm-adjusted with
        them; a task without history is refused at plan time and never called."""
        ...

    def readiness(self) -> ReadinessResult: ...

    def extras(self) -> dict[str, Any]:
        """Fields of `RunResult` only this task fills (detection: `detection`)."""
        ...

"""Binary, multiclass and regression on a table or an image folder: the stages in `evalaction.stages`."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

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
    from evalaction.datasets import Dataset
    from evalaction.datasets.sources import DataSources
    from evalaction.plan import LoadedPlan


class TabularTask:
    """One run's stages for a classifier or regressor; keeps the test set and the loaded torch modules."""

    def __init__(
        self,
        *,
        loaded: LoadedPlan,
        out_dir: Path,
        candidate_path: Path,
        baseline_path: Path | None,
        sources: DataSources | None,
        inference_kwargs: dict[str, Any],
        history_ref: str | None = None,
    ) -> None:
        self.loaded, self.out_dir, self.sources = loaded, out_dir, sources
        self.candidate_path, self.baseline_path = candidate_path, baseline_path
        self.history_ref = history_ref
        self.inference_kwargs = dict(inference_kwargs)
        # torch modules inference loads, by role, handed to errors and readiness so they are not loaded again
        self.torch_models: dict[str, object] = {}
        self.inference_kwargs["torch_models"] = self.torch_models
        self._dataset: Dataset | None = None
        self._train: Dataset | None = None
        self._plan: PlanResult | None = None
        self._inference: InferenceResult | None = None
        self._metrics: MetricsResult | None = None

    # the stages run in order: each reads what the ones before it kept
    @property
    def _p(self) -> PlanResult:
        assert self._plan is not None, "plan() runs first"
        return self._plan

    @property
    def _inf(self) -> InferenceResult:
        assert self._inference is not None, "inference() runs before this stage"
        return self._inference

    def plan(self) -> PlanResult:
        from evalaction.datasets import load_plan_datasets
        from evalaction.stages.plan import run_plan

        self._dataset, self._train = load_plan_datasets(self.loaded, self.sources)
        self._plan = run_plan(loaded=self.loaded, dataset=self._dataset, train=self._train)
        return self._plan

    def inference(self) -> InferenceResult:
        from evalaction.stages.inference import run_inference

        assert self._dataset is not None
        self._inference = run_inference(
            plan=self._p,
            dataset=self._dataset,
            candidate_path=self.candidate_path,
            baseline_path=self.baseline_path,
            out_dir=self.out_dir,
            **self.inference_kwargs,
        )
        return self._inference

    def metrics(self) -> MetricsResult:
        from evalaction.stages.metrics import run_metrics

        self._metrics = run_metrics(plan=self._p, inference=self._inf, out_dir=self.out_dir)
        return self._metrics

    def errors(self) -> ErrorsResult:
        from evalaction.stages.errors import run_errors

        return run_errors(
            plan=self._p,
            inference=self._inf,
            dataset=self._dataset,
            train=self._train,
            candidate_path=self.candidate_path,
            baseline_path=self.baseline_path,
            out_dir=self.out_dir,
            torch_models=self.torch_models,
        )

    def compare(self) -> CompareResult | None:
        from evalaction.stages.compare import run_compare

        return run_compare(plan=self._p, inference=self._inf, out_dir=self.out_dir)

    def history(self, compare: CompareResult | None) -> tuple[CompareResult | None, HistoryResult | None]:
        from evalaction.history.stage import holm_together, run_history

        assert self._dataset is not None and self._metrics is not None
        history = run_history(
            plan=self._p,
            dataset=self._dataset,
            inference=self._inf,
            metrics=self._metrics,
            out_dir=self.out_dir,
            candidate_path=self.candidate_path,
            ref=self.history_ref,
            untrusted=bool(self.inference_kwargs.get("untrusted")),
            code_root=self.inference_kwargs.get("code_root"),
            git_lfs=shutil.which("git-lfs"),
        )
        return holm_together(compare, history, self._p.plan.compare.alpha)

    def readiness(self) -> ReadinessResult:
        from evalaction.stages.readiness import run_readiness

        assert self._dataset is not None
        return run_readiness(
            plan=self._p,
            inference=self._inf,
            dataset=self._dataset,
            candidate_path=self.candidate_path,
            baseline_path=self.baseline_path,
            out_dir=self.out_dir,
            torch_models=self.torch_models,
        )

    def extras(self) -> dict[str, Any]:
        return {}

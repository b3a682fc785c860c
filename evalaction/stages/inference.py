"""Stage 2: run baseline and candidate over the whole test set in batches; keep every prediction."""

from __future__ import annotations

import platform
from pathlib import Path
from typing import TYPE_CHECKING

from evalaction.artifacts import InferenceResult, ModelRun
from evalaction.predictions import write_predictions
from evalaction.runners import open_runner
from evalaction.runners.base import sha256_file, to_scores

if TYPE_CHECKING:
    from evalaction.artifacts import PlanResult
    from evalaction.config import ModelSpec
    from evalaction.datasets import Dataset


def _versions() -> dict[str, str]:
    import numpy
    import onnxruntime

    import evalaction

    return {
        "evalaction": evalaction.__version__,
        "onnxruntime": onnxruntime.__version__,
        "numpy": numpy.__version__,
        "python": platform.python_version(),
    }


def _run_one(
    *, role: str, spec: ModelSpec, path: Path, plan: PlanResult, dataset: Dataset, out_dir: Path
) -> ModelRun:
    p = plan.plan
    runner = open_runner(spec, path, role, threads=p.inference.threads)
    output = runner.run(dataset.batches(p.inference.batch_size), len(dataset))
    scores = to_scores(output.scores, spec, p.task, len(dataset.classes), f"{role} model {path.name}")
    pred_path = out_dir / f"predictions_{role}.parquet"
    write_predictions(
        pred_path,
        ids=dataset.ids,
        y=dataset.y,
        scores=scores,
        classes=dataset.classes,
        slices=dataset.slices,
        batch_index=output.batch_index,
        batch_latency_ms=output.batch_latency_ms,
        task=p.task,
    )
    return ModelRun(
        role=role,  # type: ignore[arg-type]
        path=str(path),
        sha256=sha256_file(path),
        size_bytes=path.stat().st_size,
        format=spec.resolved_format,
        runner=runner.name,
        provider=runner.provider,
        threads=runner.threads,
        batch_size=p.inference.batch_size,
        n_samples=len(dataset),
        n_batches=len(output.batch_latency_ms),
        wall_s=round(output.wall_s, 6),
        samples_per_s=round(len(dataset) / output.wall_s, 1) if output.wall_s > 0 else 0.0,
        predictions_path=pred_path.name,
        versions=_versions(),
    )


def run_inference(
    *, plan: PlanResult, dataset: Dataset, candidate_path: Path, baseline_path: Path | None, out_dir: Path
) -> InferenceResult:
    """Predictions of both models on every test sample, as Parquet, with run metadata."""
    models = plan.plan.models
    candidate = _run_one(
        role="candidate",
        spec=models.candidate,
        path=candidate_path,
        plan=plan,
        dataset=dataset,
        out_dir=out_dir,
    )
    baseline = None
    if baseline_path is not None:
        # a baseline extracted from the base branch has no spec of its own: it is read like the candidate
        baseline = _run_one(
            role="baseline",
            spec=models.baseline or models.candidate,
            path=baseline_path,
            plan=plan,
            dataset=dataset,
            out_dir=out_dir,
        )
    return InferenceResult(candidate=candidate, baseline=baseline, classes=dataset.classes, task=plan.plan.task)

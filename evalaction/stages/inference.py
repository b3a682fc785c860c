"""Stage 2: run baseline and candidate over the whole test set in batches; keep every prediction.

The runner comes from the model's `format` (onnx, torch, predictions) and runs locally, or on Modal when the
plan has an `inference.modal` section. Everything environmental is handed in: `untrusted` (a pull request from a
fork: pickle is refused whatever the plan says), Modal credentials, and a progress factory; this stage reads no
environment variable and prints nothing.
"""

from __future__ import annotations

import datetime as dt
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evalaction.artifacts import InferenceResult, ModelRun
from evalaction.predictions import write_predictions
from evalaction.runners import open_runner
from evalaction.runners.base import check_safe, sha256_file, to_scores
from evalaction.runners.progress import no_progress

if TYPE_CHECKING:
    from evalaction.artifacts import PlanResult
    from evalaction.datasets import Dataset
    from evalaction.plan import ModelSpec
    from evalaction.runners.base import ModelRunner
    from evalaction.runners.modal import ModalCredentials, ShardExecutor
    from evalaction.runners.progress import ProgressFactory


@dataclass(frozen=True)
class InferenceOptions:
    """What the caller (CLI, action entrypoint) decides for the inference stage; see `run_inference`."""

    untrusted: bool = False
    progress: ProgressFactory | None = None
    modal_credentials: ModalCredentials | None = None
    shard_executor: ShardExecutor | None = None
    code_root: Path | None = None

    def as_kwargs(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


def _versions(runner: ModelRunner) -> dict[str, str]:
    import numpy

    import evalaction

    return {
        "evalaction": evalaction.__version__,
        "numpy": numpy.__version__,
        "python": platform.python_version(),
        **runner.versions(),
    }


def _open(
    *,
    role: str,
    spec: ModelSpec,
    path: Path,
    plan: PlanResult,
    dataset: Dataset,
    untrusted: bool,
    code_root: Path,
    executor: ShardExecutor | None,
) -> ModelRunner:
    inf = plan.plan.inference
    if inf.modal is not None and executor is not None:
        # the local checks first (file, suffix, pickle gate), so a refused model never reaches Modal
        check_safe(spec, path, role, untrusted=untrusted)
        from evalaction.runners.modal import ModalRunner

        return ModalRunner(
            path,
            spec,
            role=role,
            modal=inf.modal,
            executor=executor,
            threads=inf.threads,
            device=inf.device,
            untrusted=untrusted,
            code_root=code_root,
        )
    return open_runner(
        spec,
        path,
        role,
        threads=inf.threads,
        device=inf.device,
        classes=dataset.classes,
        task=plan.plan.task,
        untrusted=untrusted,
        code_root=code_root,
        id_column=plan.plan.dataset.id_column,
    )


def _run_one(
    *,
    role: str,
    spec: ModelSpec,
    path: Path,
    plan: PlanResult,
    dataset: Dataset,
    out_dir: Path,
    untrusted: bool,
    progress: ProgressFactory,
    code_root: Path,
    executor: ShardExecutor | None,
    torch_models: dict[str, Any] | None,
) -> ModelRun:
    p = plan.plan
    runner = _open(
        role=role,
        spec=spec,
        path=path,
        plan=plan,
        dataset=dataset,
        untrusted=untrusted,
        code_root=code_root,
        executor=executor,
    )
    name = f"{role} model {path.name}"
    n_classes = len(dataset.classes)

    def check(raw: Any) -> None:
        to_scores(raw, spec, p.task, n_classes, name)

    if runner.name == "torch":
        import torch

        torch.manual_seed(p.inference.seed)
        if torch_models is not None:
            torch_models[role] = runner.model  # type: ignore[attr-defined]
    started_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    output = runner.run(
        dataset, batch_size=p.inference.batch_size, progress=progress(role, len(dataset)), check=check
    )
    effective = spec if output.outputs is None else spec.model_copy(update={"outputs": output.outputs})
    scores = to_scores(output.scores, effective, p.task, n_classes, name)
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
        batch_finished_at=output.batch_finished_at,
        task=p.task,
    )
    return ModelRun(
        role=role,  # type: ignore[arg-type]
        path=str(path),
        sha256=sha256_file(path),
        size_bytes=path.stat().st_size,
        format=spec.resolved_format,
        kind=runner.kind,
        runner=runner.name,
        provider=runner.provider,
        device=runner.device,
        threads=runner.threads,
        batch_size=p.inference.batch_size,
        n_samples=len(dataset),
        n_batches=len(output.batch_latency_ms),
        wall_s=round(output.wall_s, 6),
        samples_per_s=round(len(dataset) / output.wall_s, 1) if output.wall_s > 0 else 0.0,
        predictions_path=pred_path.name,
        versions=_versions(runner),
        seed=p.inference.seed,
        started_at=started_at,
        warnings=list(output.warnings),
    )


def run_inference(
    *,
    plan: PlanResult,
    dataset: Dataset,
    candidate_path: Path,
    baseline_path: Path | None,
    out_dir: Path,
    untrusted: bool = False,
    progress: ProgressFactory | None = None,
    modal_credentials: ModalCredentials | None = None,
    shard_executor: ShardExecutor | None = None,
    code_root: Path | None = None,
    torch_models: dict[str, Any] | None = None,
) -> InferenceResult:
    """Predictions of both models on every test sample, as Parquet, with run metadata.

    `untrusted`: the pull request comes from a fork (pickle never loaded). `modal_credentials`: used when the plan
    has `inference.modal` (`shard_executor` replaces Modal itself, e.g. `LocalShardExecutor` in tests).
    `code_root`: where a state_dict's `module` is imported from (default: the plan's folder). `torch_models`:
    a dict the stage fills with each torch model's loaded module, by role (readiness profiles them).
    """
    models = plan.plan.models
    executor = shard_executor
    if plan.plan.inference.modal is not None and executor is None:
        from evalaction.runners.modal import ModalShardExecutor

        executor = ModalShardExecutor(modal_credentials)  # the preflight: seconds, before any model is run
    common: dict[str, Any] = {
        "plan": plan,
        "dataset": dataset,
        "out_dir": out_dir,
        "untrusted": untrusted,
        "progress": progress or no_progress,
        "code_root": code_root or Path(plan.base_dir),
        "executor": executor,
        "torch_models": torch_models,
    }
    candidate = _run_one(role="candidate", spec=models.candidate, path=candidate_path, **common)
    baseline = None
    if baseline_path is not None:
        # a baseline extracted from the base branch has no spec of its own: it is read like the candidate
        baseline = _run_one(
            role="baseline", spec=models.baseline or models.candidate, path=baseline_path, **common
        )
    return InferenceResult(candidate=candidate, baseline=baseline, classes=dataset.classes, task=plan.plan.task)

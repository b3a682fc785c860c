"""Runs the stages in order and persists each result as it completes; sequencing only."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING

from evalaction import __version__
from evalaction.artifacts import OverrideRequest, RunResult
from evalaction.config import LoadedPlan
from evalaction.hooks import PipelineHooks

if TYPE_CHECKING:
    from evalaction.datasets.sources import DataSources
    from evalaction.stages.inference import InferenceOptions

_UNSET = object()


def run_pipeline(
    *,
    loaded: LoadedPlan,
    out_dir: Path,
    candidate_path: Path | None = None,
    baseline_path: Path | None | object = _UNSET,
    hooks: PipelineHooks | None = None,
    run_url: str | None = None,
    sources: DataSources | None = None,
    pr_number: int | None = None,
    commit: str | None = None,
    override: OverrideRequest | None = None,
    inference_options: InferenceOptions | None = None,
) -> RunResult:
    """plan -> inference -> metrics -> errors -> compare -> readiness -> verdict -> report, each persisted.

    `candidate_path`/`baseline_path` override the plan's model paths (the action passes the PR's file and the
    base branch's copy); `baseline_path=None` means there is no baseline (a model added by the PR).
    `sources` carries the Roboflow API key and the download cache (built from the environment by the CLI).
    With a `wandb:` section in the plan the run is also logged to W&B (with `pr_number` and `commit`) between
    the verdict and the report.
    `override` is a PR label or workflow_dispatch input read from the event by the caller; the verdict
    applies it only when the plan names it.
    `inference_options` carries what the caller decides for inference: fork PR (`untrusted`), progress, Modal.
    """
    from evalaction.datasets import load_plan_datasets
    from evalaction.report.render import write_reports
    from evalaction.stages.compare import run_compare
    from evalaction.stages.errors import run_errors
    from evalaction.stages.inference import run_inference
    from evalaction.stages.metrics import run_metrics
    from evalaction.stages.plan import run_plan
    from evalaction.stages.readiness import run_readiness
    from evalaction.stages.verdict import run_verdict

    hooks = hooks or PipelineHooks()
    if loaded.plan.wandb is not None:
        from evalaction.integrations.wandb_log import require_wandb

        require_wandb()
    out_dir.mkdir(parents=True, exist_ok=True)
    started = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    p = loaded.plan
    cand_path = candidate_path or loaded.resolve(p.models.candidate.path)
    if baseline_path is _UNSET:
        base_path = loaded.resolve(p.models.baseline.path) if p.models.baseline else None
    else:
        base_path = baseline_path  # type: ignore[assignment]
    if p.task == "detection":
        from evalaction.detection.stages import run_detection_pipeline

        return run_detection_pipeline(
            loaded=loaded,
            out_dir=out_dir,
            candidate_path=cand_path,
            baseline_path=base_path,
            hooks=hooks,
            run_url=run_url,
            started=started,
            sources=sources,
            override=override,
        )
    inference_kwargs = inference_options.as_kwargs() if inference_options is not None else {}
    # torch modules loaded by inference, handed to readiness so it profiles them without loading them again
    torch_models: dict[str, object] = inference_kwargs.get("torch_models") or {}
    inference_kwargs["torch_models"] = torch_models

    with hooks.stage("plan"):
        dataset, train = load_plan_datasets(loaded, sources)
        plan = run_plan(loaded=loaded, dataset=dataset, train=train)
        plan.write(out_dir / "plan.json")
    with hooks.stage("inference"):
        inference = run_inference(
            plan=plan,
            dataset=dataset,
            candidate_path=cand_path,
            baseline_path=base_path,
            out_dir=out_dir,
            **inference_kwargs,
        )
        inference.write(out_dir / "inference.json")
    with hooks.stage("metrics"):
        metrics = run_metrics(plan=plan, inference=inference, out_dir=out_dir)
        metrics.write(out_dir / "metrics.json")
    with hooks.stage("errors"):
        errors = run_errors(
            plan=plan,
            inference=inference,
            dataset=dataset,
            train=train,
            candidate_path=cand_path,
            baseline_path=base_path,
            out_dir=out_dir,
        )
        errors.write(out_dir / "errors.json")
    with hooks.stage("compare"):
        compare = run_compare(plan=plan, inference=inference, out_dir=out_dir)
        if compare is not None:
            compare.write(out_dir / "compare.json")
    with hooks.stage("readiness"):
        readiness = run_readiness(
            plan=plan,
            inference=inference,
            dataset=dataset,
            candidate_path=cand_path,
            baseline_path=base_path,
            out_dir=out_dir,
            torch_models=torch_models,
        )
        readiness.write(out_dir / "readiness.json")
    with hooks.stage("verdict"):
        verdict = run_verdict(plan=plan, metrics=metrics, compare=compare, readiness=readiness, override=override)
        verdict.write(out_dir / "verdict.json")

    def assemble() -> RunResult:
        return RunResult(
            evalaction_version=__version__,
            started_at=started,
            plan=plan,
            inference=inference,
            metrics=metrics,
            errors=errors,
            compare=compare,
            readiness=readiness,
            verdict=verdict,
            timings=list(hooks.timings),
        )

    wandb_run = None
    if p.wandb is not None:
        from evalaction.integrations.wandb_log import log_run

        with hooks.stage("wandb"):
            wandb_run = log_run(assemble(), out_dir=out_dir, spec=p.wandb, pr_number=pr_number, commit=commit)
    with hooks.stage("report"):
        result = assemble().model_copy(update={"wandb": wandb_run})
        write_reports(result, out_dir, run_url=run_url)
    return result

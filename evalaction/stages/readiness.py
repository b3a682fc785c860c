"""Stage 6a: deployment readiness with ONNX Runtime, candidate and baseline profiled alike.

Latency (p50/p95/p99 at batch 1 and the plan's batch sizes, timed interleaved), throughput, session
load time, peak memory (child processes), size and parameters, whether the candidate is significantly
slower than the baseline (paired test), and an INT8 trial of the candidate. The measuring lives in
`evalaction.readiness`; this stage turns the plan into its settings and the results into the artifact.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evalaction.artifacts import InferenceResult, ModelReadiness, ReadinessResult
from evalaction.runners.base import preprocess, to_scores

if TYPE_CHECKING:
    import numpy as np

    from evalaction.artifacts import PlanResult
    from evalaction.datasets import Dataset
    from evalaction.plan import ModelSpec
    from evalaction.readiness.models import ModelProfile, TorchExport
    from evalaction.readiness.profile import Timing


def _timing(plan: PlanResult) -> Timing:
    from evalaction.readiness.profile import MIN_PAIRS, Timing

    p = plan.plan
    spec = p.readiness
    return Timing(
        batch_sizes=tuple(spec.batch_sizes or [p.inference.batch_size]),
        repeats=max(spec.latency_repeats, MIN_PAIRS),
        warmup=spec.warmup,
        threads=spec.threads,
        time_budget_s=spec.time_budget_s,
        margin=spec.slowness_margin,
        seed=p.compare.seed,
    )


def _headline(profile: ModelProfile) -> ModelReadiness:
    """The batch-1 numbers the gates and the report's first table use."""
    batch1 = profile.at_batch(1)
    assert batch1 is not None  # profile_models always times batch 1
    return ModelReadiness(
        size_mb=profile.file_size_bytes / 1e6,
        load_s=profile.load_time_ms / 1e3,
        latency_p50_ms=batch1.p50_ms,
        latency_p95_ms=batch1.p95_ms,
        latency_p99_ms=batch1.p99_ms,
        repeats=batch1.repeats,
        peak_memory_mb=None if profile.peak_memory_bytes is None else profile.peak_memory_bytes / 1e6,
        parameter_count=profile.parameter_count,
        throughput_per_s=batch1.throughput_per_s,
    )


def _onnx_for(
    role: str,
    path: Path,
    spec: ModelSpec,
    torch_models: Mapping[str, Any],
    sample: np.ndarray,
    workdir: Path,
    exports: dict[str, TorchExport],
) -> tuple[Path | None, str]:
    """The ONNX file to profile for `role`, by the model's row in `evalaction.formats`: the model itself, its
    torch module exported, or None with the reason (a predictions file, a failed export)."""
    from evalaction.formats import model_kind

    module = torch_models.get(role)  # a torch module inference loaded is exported, whatever the file
    if module is None:
        row = model_kind(path, spec.format, spec.module)
        if row.profiler is None:
            return None, row.no_profiler
        if row.profiler == "onnx":
            return path, ""
        return None, "the torch model was not loaded on this machine (remote inference), so it was not exported"
    from evalaction.readiness.torch_export import export_torch_to_onnx

    exports[role] = result = export_torch_to_onnx(_to_cpu(module), sample, workdir / f"{role}.exported.onnx")
    if result.exported and result.onnx_path:
        return Path(result.onnx_path), ""
    return None, f"the candidate could not be exported to ONNX for profiling ({result.reason})"


def _to_cpu(module: Any) -> Any:
    """A module inference ran on the GPU, moved to the CPU (readiness is its last user): the export feeds it CPU
    tensors. Modules without parameters, or that cannot move, are exported as they are."""
    try:
        if any(p.device.type != "cpu" for p in module.parameters()):
            return module.to("cpu")
    except Exception:  # a module that cannot tell or move: the export reports what goes wrong
        pass
    return module


def _labels_from(spec: ModelSpec, task: str, n_classes: int, role: str) -> Any:
    """Raw output -> class index, through the same output handling inference used."""

    import numpy as np

    def to_labels(out: np.ndarray) -> np.ndarray:
        return np.asarray(to_scores(out, spec, task, n_classes, role).argmax(axis=1))

    return to_labels


def run_readiness(
    *,
    plan: PlanResult,
    inference: InferenceResult,
    dataset: Dataset,
    candidate_path: Path,
    baseline_path: Path | None,
    out_dir: Path | None = None,
    torch_models: Mapping[str, Any] | None = None,
) -> ReadinessResult:
    """Profile both models on the same test rows, interleaved, then run the candidate's INT8 trial.

    `torch_models` maps a role to an already loaded torch module (from a torch runner): it is exported
    to ONNX for profiling, and the result says so. INT8 models are written under `out_dir/readiness`.
    """
    import tempfile

    import numpy as np

    from evalaction.readiness.profile import profile_models
    from evalaction.readiness.quantize import quantization_trial

    p = plan.plan
    spec = p.readiness
    if not spec.enabled:
        return ReadinessResult(candidate=None, baseline=None, skipped="readiness disabled in the plan")
    timing = _timing(plan)
    models = p.models
    base_spec = models.baseline or models.candidate
    rows = dataset.features[: max(timing.sizes())]
    cand_x = preprocess(rows, models.candidate.preprocessing)
    base_x = preprocess(rows, base_spec.preprocessing)
    notes: list[str] = []
    if spec.latency_repeats < timing.repeats:
        notes.append(
            f"latency_repeats {spec.latency_repeats} raised to {timing.repeats}: "
            f"the paired slowness test needs at least {timing.repeats} interleaved runs"
        )
    exports: dict[str, TorchExport] = {}
    with tempfile.TemporaryDirectory(prefix="evalaction-readiness-") as tmp:
        workdir = out_dir / "readiness" if out_dir is not None else Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        torch_models = torch_models or {}
        cand_onnx, cand_why = _onnx_for(
            "candidate", candidate_path, models.candidate, torch_models, cand_x, workdir, exports
        )
        base_onnx = None
        if baseline_path is not None and inference.baseline is not None:
            base_onnx, base_why = _onnx_for(
                "baseline", baseline_path, base_spec, torch_models, base_x, workdir, exports
            )
            if base_onnx is None:
                notes.append(f"the baseline was not profiled: {base_why.replace('the candidate ', 'it ')}")
        if cand_onnx is None:
            return ReadinessResult(
                candidate=None, baseline=None, skipped=cand_why, torch_export=exports, notes=notes
            )
        profile = profile_models(
            candidate=cand_onnx,
            baseline=base_onnx,
            sample=cand_x,
            baseline_sample=base_x,
            timing=timing,
            measure_memory=spec.measure_memory,
        )
        q = spec.quantization
        quantization = None
        if not q.enabled:
            notes.append("INT8 trial turned off in the plan (`readiness.quantization.enabled`)")
        elif p.task == "regression":
            notes.append("INT8 trial skipped: its accuracy delta needs class labels, and this task is regression")
        elif cand_x.dtype != np.float32:
            notes.append(f"INT8 trial skipped: the candidate's input is {cand_x.dtype}, INT8 needs float32")
        elif int((dataset.y >= 0).sum()) < 2:
            notes.append("INT8 trial skipped: it needs at least 2 labelled test rows (calibration and grading)")
        else:
            known = dataset.y >= 0  # labels outside the class list grade neither model
            quantization = quantization_trial(
                cand_onnx,
                inputs=preprocess(dataset.features[known], models.candidate.preprocessing),
                labels=dataset.y[known],
                workdir=workdir,
                methods=q.methods,
                timing=timing,
                calibration_size=q.calibration_size,
                accuracy_tolerance=q.accuracy_tolerance,
                preprocess=q.preprocess,
                output=models.candidate.output_name,
                to_labels=_labels_from(models.candidate, p.task, len(inference.classes), "candidate"),
            )
            if out_dir is None:
                # the INT8 files lived in a temporary folder: keep the numbers, drop the dangling paths
                quantization = quantization.model_copy(
                    update={
                        "trials": tuple(t.model_copy(update={"model_path": None}) for t in quantization.trials)
                    }
                )
            else:
                # stored relative to the output folder, so the folder can move (and reads the same anywhere)
                quantization = quantization.model_copy(
                    update={
                        "trials": tuple(
                            t.model_copy(update={"model_path": _relative_to(t.model_path, out_dir)})
                            for t in quantization.trials
                        )
                    }
                )
    return ReadinessResult(
        candidate=_headline(profile.candidate),
        baseline=_headline(profile.baseline) if profile.baseline is not None else None,
        profile=profile,
        quantization=quantization,
        torch_export=exports,
        notes=notes,
    )


def _relative_to(path: str | None, folder: Path) -> str | None:
    """`path` relative to `folder` (posix), or unchanged when it lies elsewhere."""
    if path is None:
        return None
    try:
        return Path(path).resolve().relative_to(folder.resolve()).as_posix()
    except ValueError:
        return path

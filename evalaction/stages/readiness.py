"""Stage 6a: deployment readiness with ONNX Runtime: size, load time and batch-1 latency, both models interleaved."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

from evalaction.artifacts import InferenceResult, ModelReadiness, ReadinessResult
from evalaction.runners.base import preprocess

if TYPE_CHECKING:
    from evalaction.artifacts import PlanResult
    from evalaction.datasets import Dataset


def run_readiness(
    *,
    plan: PlanResult,
    inference: InferenceResult,
    dataset: Dataset,
    candidate_path: Path,
    baseline_path: Path | None,
) -> ReadinessResult:
    """Time both models on the same sample, alternating A B A B so machine noise hits both alike."""
    import numpy as np
    import onnxruntime as ort

    spec = plan.plan.readiness
    if not spec.enabled:
        return ReadinessResult(candidate=None, baseline=None, skipped="readiness disabled in the plan")
    models = plan.plan.models
    entries = [("candidate", candidate_path, models.candidate)]
    if baseline_path is not None and inference.baseline is not None:
        entries.append(("baseline", baseline_path, models.baseline or models.candidate))
    sessions = {}
    loads = {}
    for role, path, mspec in entries:
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.log_severity_level = 3
        t0 = time.perf_counter()
        sess = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        loads[role] = time.perf_counter() - t0
        name = mspec.input_name or sess.get_inputs()[0].name
        x = preprocess(dataset.features[:1], mspec.preprocessing)
        sessions[role] = (sess, {name: x})
    times: dict[str, list[float]] = {role: [] for role in sessions}
    for _ in range(spec.warmup):
        for sess, feed in sessions.values():
            sess.run(None, feed)
    for _ in range(spec.latency_repeats):
        for role, (sess, feed) in sessions.items():
            t0 = time.perf_counter()
            sess.run(None, feed)
            times[role].append((time.perf_counter() - t0) * 1000.0)

    def profile(role: str, path: Path) -> ModelReadiness:
        t = np.asarray(times[role])
        p50, p95, p99 = np.percentile(t, [50, 95, 99])
        return ModelReadiness(
            size_mb=round(path.stat().st_size / 1e6, 6),
            load_s=round(loads[role], 6),
            latency_p50_ms=float(p50),
            latency_p95_ms=float(p95),
            latency_p99_ms=float(p99),
            repeats=len(t),
        )

    return ReadinessResult(
        candidate=profile("candidate", candidate_path),
        baseline=profile("baseline", baseline_path) if "baseline" in sessions and baseline_path else None,
    )

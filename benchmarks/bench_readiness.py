"""Profiling both demo models (batch 1 and 64) with the INT8 trial must take under 30 s.

Runs what the readiness stage runs on examples/digits: the interleaved profile of candidate and baseline
(latency, throughput, load time, peak memory in child processes, size, parameters, the paired slowness
test) and the dynamic + static INT8 trial of the candidate. Prints the numbers, the wall time of each
part, and as the reference measured in the same run one plain ONNX Runtime pass of each model over the
test set (what inference costs, so the ratio says what readiness adds), then PASS/FAIL against 30 s.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
TARGET_S = 30.0
DEMO = ROOT / "examples" / "digits"


def main() -> int:
    import numpy as np

    from evalaction.datasets import load_dataset
    from evalaction.plan import load_plan
    from evalaction.readiness.profile import Timing, profile_models
    from evalaction.readiness.quantize import quantization_trial
    from evalaction.report.readiness_view import human_bytes
    from evalaction.runners.base import preprocess
    from evalaction.runners.onnx_session import open_onnx_session

    loaded = load_plan(DEMO / "evalaction.yml")
    plan = loaded.plan
    assert plan.models.baseline is not None
    dataset = load_dataset(plan.dataset, loaded.base_dir, plan.task)
    x = preprocess(dataset.features, plan.models.candidate.preprocessing)
    candidate = loaded.resolve(plan.models.candidate.path)
    baseline = loaded.resolve(plan.models.baseline.path)

    t0 = time.perf_counter()
    for role, path in (("candidate", candidate), ("baseline", baseline)):
        session = open_onnx_session(path, role=role, threads=1)
        session.run(None, {session.get_inputs()[0].name: x})
    reference = time.perf_counter() - t0

    timing = Timing(batch_sizes=(64,), repeats=200, warmup=10, threads=1)
    t0 = time.perf_counter()
    profile = profile_models(candidate=candidate, baseline=baseline, sample=x, timing=timing)
    t_profile = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        quant = quantization_trial(candidate, inputs=x, labels=dataset.y, workdir=Path(tmp), timing=timing)
        t_quant = time.perf_counter() - t0

    for role, p in (("candidate", profile.candidate), ("baseline", profile.baseline)):
        assert p is not None
        print(
            f"{role:9}  {human_bytes(p.file_size_bytes):>8}  {p.parameter_count:6d} params  "
            f"load {p.load_time_ms:5.2f} ms  peak memory {human_bytes(p.peak_memory_bytes)}"
        )
        for s in p.latency:
            print(
                f"{'':9}  batch {s.batch_size:3d}: p50/p95/p99 {s.p50_ms:.4f}/{s.p95_ms:.4f}/{s.p99_ms:.4f} ms  "
                f"{s.throughput_per_s:,.0f} samples/s"
            )
    for s in profile.slowness:
        print(
            f"candidate/baseline median latency at batch {s.batch_size}: {s.ratio:.2f}x "
            f"[{s.ci_low:.2f}, {s.ci_high:.2f}]  significantly slower: {s.significantly_slower}"
        )
    print(f"INT8 trial: calibrated on {quant.calibration_size}, accuracy on {quant.n_eval} samples")
    for trial in quant.trials:
        print(f"  {trial.note}")
    total = t_profile + t_quant
    print(f"reference: one ORT pass of both models over {len(x)} samples  {reference:6.3f} s")
    print(
        f"profile {t_profile:.2f} s + INT8 trial {t_quant:.2f} s = {total:.2f} s  ratio {total / reference:.0f}x"
    )
    ok = total < TARGET_S and bool(np.isfinite(total))
    print(f"{'PASS' if ok else 'FAIL'}: readiness on the demo {total:.2f} s vs target {TARGET_S:.0f} s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

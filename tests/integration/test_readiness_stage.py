"""The readiness stage and the verdict on the embedded demo: both models profiled, the INT8 trial, the
report and JUnit citing them; a torch candidate exported for profiling."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import torch

from evalaction.artifacts import InferenceResult, PlanResult, RunResult
from evalaction.datasets import load_dataset
from evalaction.report.render import fmt
from evalaction.stages.readiness import run_readiness
from tests.conftest import DemoRun


@pytest.fixture(scope="module")
def demo(demo_run: DemoRun) -> tuple[Path, RunResult]:
    """The session's one run of the unmodified demo (read-only): its readiness stage ran with the defaults."""
    assert demo_run.exit_code in (0, 1), demo_run.output
    return demo_run.out, RunResult.read(demo_run.out / "results.json")


def test_both_models_are_profiled_at_batch_1_and_the_inference_batch(demo: tuple[Path, RunResult]) -> None:
    _, run = demo
    profile = run.readiness.profile
    assert profile is not None and profile.baseline is not None
    for model in (profile.candidate, profile.baseline):
        assert [s.batch_size for s in model.latency] == [1, 64]
        assert all(s.repeats >= 20 for s in model.latency)  # the paired slowness test needs 20 pairs
        assert model.peak_memory_bytes is not None and model.peak_memory_bytes > 0
    assert [s.batch_size for s in profile.slowness] == [1, 64]
    assert run.readiness.candidate is not None
    assert run.readiness.candidate.latency_p95_ms == profile.candidate.latency[0].p95_ms


def test_the_int8_trial_writes_its_models_and_compares_with_fp32(demo: tuple[Path, RunResult]) -> None:
    out, run = demo
    quantization = run.readiness.quantization
    assert quantization is not None
    assert [t.method for t in quantization.trials] == ["dynamic", "static"]
    for trial in quantization.trials:
        assert trial.status == "ok", trial.reason
        # relative to the output folder (issue 14), not to the working directory
        assert trial.model_path == f"readiness/{Path(trial.model_path or '').name}"
        assert (out / trial.model_path).is_file()
        assert trial.accuracy_delta is not None and abs(trial.accuracy_delta) <= 0.05


def test_report_and_junit_cite_the_readiness_numbers(demo: tuple[Path, RunResult]) -> None:
    out, run = demo
    report = (out / "report.md").read_text()
    readiness = report.split("<summary>Deployment readiness</summary>")[1].split("</details>")[0]
    assert "| | baseline | candidate |" in readiness
    assert "| p50 / p95 / p99 (batch 64) |" in readiness
    assert "| | fp32 | dynamic | static |" in readiness
    assert "candidate / baseline median latency" in readiness
    latency = next(g for g in run.verdict.gates if g.name == "latency_p95_ms")
    assert run.readiness.candidate is not None and run.readiness.baseline is not None
    assert latency.observed == run.readiness.candidate.latency_p95_ms
    assert f"{run.readiness.baseline.latency_p95_ms:.4g} ms" in latency.reason
    assert f"| latency_p95_ms | <= 5 ms | {fmt(latency.observed)} |" in report
    cases = ET.parse(out / "gates.junit.xml").getroot().findall("testsuite/testcase")
    assert len(cases) == len(run.verdict.gates)


class _TinyCnn(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.body = torch.nn.Sequential(
            torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(256, 10)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class _Untraceable(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1)[:, :10] if x.sum() > 0 else -x.flatten(1)[:, :10]


def _stage_inputs(out: Path) -> tuple[PlanResult, InferenceResult, object]:
    plan = PlanResult.read(out / "plan.json")
    # quick timing (10 repeats, raised to 20 by the stage) and no INT8 trial: these tests are about the export
    off = plan.plan.readiness.model_copy(
        update={
            "quantization": plan.plan.readiness.quantization.model_copy(update={"enabled": False}),
            "latency_repeats": 10,
            "warmup": 2,
            "time_budget_s": 1.0,
        }
    )
    plan = plan.model_copy(update={"plan": plan.plan.model_copy(update={"readiness": off})})
    dataset = load_dataset(plan.plan.dataset, Path(plan.base_dir), plan.plan.task)
    return plan, InferenceResult.read(out / "inference.json"), dataset


@pytest.mark.slow
def test_a_torch_candidate_is_exported_to_onnx_for_profiling(demo: tuple[Path, RunResult], tmp_path: Path) -> None:
    out, _ = demo
    plan, inference, dataset = _stage_inputs(out)
    base = Path(plan.base_dir)
    result = run_readiness(
        plan=plan,
        inference=inference,
        dataset=dataset,  # type: ignore[arg-type]
        candidate_path=base / "models/candidate.onnx",
        baseline_path=base / "models/baseline.onnx",
        out_dir=tmp_path,
        torch_models={"candidate": _TinyCnn()},
    )
    export = result.torch_export["candidate"]
    assert export.exported and export.onnx_path == str(tmp_path / "readiness" / "candidate.exported.onnx")
    assert result.profile is not None and result.profile.candidate.path == export.onnx_path
    assert result.profile.candidate.parameter_count == 4 * 9 + 4 + 256 * 10 + 10
    assert "INT8 trial turned off in the plan (`readiness.quantization.enabled`)" in result.notes
    assert any(n.startswith("latency_repeats 10 raised to 20") for n in result.notes), result.notes

    failed = run_readiness(
        plan=plan,
        inference=inference,
        dataset=dataset,  # type: ignore[arg-type]
        candidate_path=base / "models/candidate.onnx",
        baseline_path=None,
        out_dir=tmp_path,
        torch_models={"candidate": _Untraceable()},
    )
    assert failed.profile is None and failed.skipped is not None
    assert failed.skipped.startswith("the candidate could not be exported to ONNX for profiling")

"""The combination matrix: every model format x every task through the CLI, default stages on.

{onnx, torch safetensors + module, TorchScript (allow_pickle), torch.export .pt2, predictions file} x
{binary, multiclass, regression}, plus detection {COCO results files, an ONNX detector}. Each cell runs
`evalaction run` in-process and checks the verdict, that every stage wrote its artifact, that the report's
deltas are in the metric's units, and the reason lines for what does not apply to it. The models are built
once per session (tests/matrix_models.py: 200 rows, 8 features, one linear layer).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from evalaction.artifacts import RunResult
from evalaction.cli import main
from tests import matrix_models as mm

pytestmark = pytest.mark.e2e

STAGE_FILES = (
    "plan.json",
    "inference.json",
    "metrics.json",
    "errors.json",
    "compare.json",
    "readiness.json",
    "verdict.json",
    "results.json",
    "report.md",
    "report.html",
    "gates.junit.xml",
)
GRADIENT_FORMATS = ("safetensors", "torchscript", "torch.export")


@pytest.fixture(scope="session")
def matrix_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return mm.build(tmp_path_factory.mktemp("matrix"))


def _model(task: str, fmt: str, role: str) -> str:
    fields = [f"path: {role}.{mm.SUFFIX[fmt]}"]
    if task != "regression":
        fields.append("outputs: logits")
    if fmt == "safetensors":
        fields.append(f"module: 'nets.lin:Lin', module_kwargs: {{n_out: {mm.N_OUT[task]}}}")
    if fmt in ("torchscript", "torch.export"):
        fields.append("allow_pickle: true")
    return "{" + ", ".join(fields) + "}"


def _plan(task: str, fmt: str) -> str:
    metric, gate, margin = ("rmse", '"<= 20"', 2) if task == "regression" else ("accuracy", '">= 0.6"', 0.05)
    return f"""\
version: 1
task: {task}
dataset: {{path: data.csv, label_column: label, id_column: id, feature_columns: ["f*"], slice_columns: [slice]}}
models:
  candidate: {_model(task, fmt, "candidate")}
  baseline: {_model(task, fmt, "baseline")}
metrics: {{primary: {metric}, plots: false}}
compare: {{n_bootstrap: 200}}
errors: {{attributions: {{max_samples: 1}}}}
# readiness stays on; its INT8 trial and child-process memory probe are the slow parts, tested elsewhere
readiness: {{latency_repeats: 5, warmup: 1, measure_memory: false, batch_sizes: [1], quantization: {{enabled: false}}}}
gates:
  thresholds: {{{metric}: {gate}}}
  vs_baseline: {{{metric}: {{rule: not_worse, margin: {margin}}}}}
"""


def _run(folder: Path, plan: str, name: str) -> tuple[int, str, Path]:
    (folder / f"{name}.yml").write_text(plan)
    out = folder / f"out-{name}"
    result = CliRunner().invoke(main, ["run", "-c", str(folder / f"{name}.yml"), "-o", str(out)])
    return result.exit_code, result.output, out


@pytest.mark.parametrize("fmt", mm.FORMATS)
@pytest.mark.parametrize("task", mm.TASKS)
def test_cell(matrix_root: Path, task: str, fmt: str) -> None:
    code, output, out = _run(matrix_root / task, _plan(task, fmt), f"plan-{fmt}")
    assert code == 0, output
    for name in STAGE_FILES:
        assert (out / name).is_file(), f"{name} missing for {task} x {fmt}"
    run = RunResult.read(out / "results.json")
    report = (out / "report.md").read_text()
    assert run.verdict.decision == "GO", run.verdict.summary
    assert run.compare is not None and run.compare.comparisons

    # units: a rate's delta in percentage points, RMSE's in the target's units
    gate = next(g for g in run.verdict.gates if g.kind == "vs_baseline")
    row = next(line for line in report.splitlines() if line.startswith(f"| {gate.name} | not worse"))
    if task == "regression":
        assert " pt" not in row and "-4" in row, row  # RMSE 50 -> 5: about -45 in the target's units
        assert "Metrics: overall and per slice" in report
        assert run.errors.regression is not None and run.errors.regression.largest_residuals
        assert "regression flips" in report
    else:
        assert " pt" in row, row
        assert "Metrics: overall and per class" in report

    # what each format can and cannot do, said in a reason line rather than a crash
    attributions = run.errors.attributions
    assert attributions is not None
    if fmt == "predictions":
        assert attributions.skipped == "no model to attribute: the model is a predictions file"
        assert "Attributions skipped: no model to attribute" in report
        assert run.readiness.skipped == "no model to profile: the model is a predictions file"
        assert "Skipped: no model to profile" in report
    else:
        assert attributions.samples, attributions.skipped
        expected = ["integrated_gradients", "saliency"] if fmt in GRADIENT_FORMATS else ["feature_ablation"]
        assert attributions.methods == expected
        assert (out / attributions.samples[0].figure).is_file()
        assert run.readiness.candidate is not None and run.readiness.candidate.latency_p50_ms > 0
        assert run.readiness.baseline is not None
        if fmt in GRADIENT_FORMATS:
            assert run.readiness.torch_export["candidate"].exported


def test_detection_results_files(tmp_path: Path) -> None:
    folder = tmp_path / "shapes"
    shutil.copytree(mm.SHAPES, folder)
    plan = (folder / "evalaction.yml").read_text().replace("n_bootstrap: 1000", "n_bootstrap: 200")
    code, output, out = _run(folder, plan, "plan")
    for name in (*STAGE_FILES, "detection_metrics.json", "detection_errors.json"):
        assert (out / name).is_file(), name
    run = RunResult.read(out / "results.json")
    report = (out / "report.md").read_text()
    # the demo's candidate misses its triangle gate by design: NO-GO, exit 1 (`fail_on_no_go: true`)
    assert (code, run.verdict.decision) == (1, "NO-GO"), output
    assert [g.name for g in run.verdict.failed if g.blocking] == ["ap[triangle]"]
    row = next(line for line in report.splitlines() if line.startswith("| map | not worse"))
    assert " pt" in row, row  # mAP is a rate
    assert run.readiness.candidate is None and run.readiness.skipped
    assert f"Skipped: {run.readiness.skipped}" in report


def test_detection_onnx_detector(tmp_path: Path) -> None:
    from tests.integration.test_detection_cli import ONNX_PLAN, _box_detector

    mm.write_box_images(tmp_path)
    _box_detector(tmp_path / "detector.onnx")
    shutil.copy(tmp_path / "detector.onnx", tmp_path / "baseline.onnx")
    code, output, out = _run(tmp_path, ONNX_PLAN, "plan")
    assert code == 0, output
    for name in STAGE_FILES:
        assert (out / name).is_file(), name
    run = RunResult.read(out / "results.json")
    report = (out / "report.md").read_text()
    assert run.verdict.decision == "GO"
    readiness = report[report.index("Deployment readiness") :]
    p50 = run.readiness.candidate.latency_p50_ms  # type: ignore[union-attr]
    assert "| p50 / p95 / p99 (batch 1) |" in readiness and f"{p50:.3g}" in readiness
    detections = json.loads((out / "detections_candidate.json").read_text())
    assert len(detections) == mm.N_BOX_IMAGES

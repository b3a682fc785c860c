"""The CLI end to end on the embedded demo: verdict, reports, artifacts, re-rendering, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from evalaction.artifacts import CompareResult, InferenceResult, MetricsResult, PlanResult, RunResult
from evalaction.cli import main
from tests.conftest import ROOT, DemoRun


def test_demo_runs_every_stage_and_writes_reports(demo_run: DemoRun) -> None:
    out, result = demo_run.out, demo_run
    assert result.exit_code in (0, 1), result.output
    for stage in (
        "plan",
        "inference",
        "metrics",
        "errors",
        "compare",
        "readiness",
        "verdict",
        "report",
        "total",
    ):
        assert f"  {stage:<10}" in result.stderr
    assert result.stdout.startswith("verdict: ")
    for name in (
        "report.md",
        "report.html",
        "results.json",
        "predictions_candidate.parquet",
        "predictions_baseline.parquet",
        "plan.json",
        "inference.json",
        "metrics.json",
        "compare.json",
    ):
        assert (out / name).is_file(), name
    run = RunResult.read(out / "results.json")
    expected_exit = 1 if run.verdict.decision == "NO-GO" else 0
    assert result.exit_code == expected_exit
    assert run.verdict.decision in result.stdout


def test_metrics_match_scikit_learn(demo_run: DemoRun) -> None:
    import pandas as pd
    from sklearn.metrics import accuracy_score, f1_score, recall_score

    out = demo_run.out
    run = RunResult.read(out / "results.json")
    for role, m in (("candidate", run.metrics.candidate), ("baseline", run.metrics.baseline)):
        frame = pd.read_parquet(out / f"predictions_{role}.parquet")
        assert m.overall["accuracy"] == pytest.approx(accuracy_score(frame.label, frame.pred))
        assert m.overall["macro_f1"] == pytest.approx(f1_score(frame.label, frame.pred, average="macro"))
        recalls = recall_score(frame.label, frame.pred, average=None)
        assert [m.per_class["recall"][str(k)] for k in range(10)] == pytest.approx(list(recalls))


def test_predictions_are_complete_probabilities(demo_run: DemoRun) -> None:
    import numpy as np
    import pandas as pd

    out = demo_run.out
    frame = pd.read_parquet(out / "predictions_candidate.parquet")
    test = pd.read_csv(ROOT / "examples/digits/data/test.csv")
    assert list(frame.id) == list(test.id)
    scores = frame[[f"score:{k}" for k in range(10)]].to_numpy()
    assert np.allclose(scores.sum(axis=1), 1.0)
    assert (frame.pred.to_numpy() == scores.argmax(axis=1)).all()
    assert np.allclose(frame.confidence, scores.max(axis=1))
    assert {"margin", "batch", "batch_latency_ms", "slice:ink"} <= set(frame.columns)


def test_artifacts_round_trip_through_json(demo_run: DemoRun) -> None:
    out = demo_run.out
    for cls, name in (
        (PlanResult, "plan"),
        (InferenceResult, "inference"),
        (MetricsResult, "metrics"),
        (CompareResult, "compare"),
        (RunResult, "results"),
    ):
        text = (out / f"{name}.json").read_text()
        obj = cls.model_validate_json(text)
        assert cls.model_validate_json(obj.model_dump_json()) == obj


def test_report_rerenders_a_saved_run_without_running(demo_run: DemoRun, tmp_path: Path) -> None:
    import shutil

    out = demo_run.out
    copy = tmp_path / "saved"
    shutil.copytree(out, copy)
    (copy / "report.md").unlink()
    (copy / "report.html").unlink()
    for parquet in copy.glob("*.parquet"):
        parquet.unlink()  # proof that nothing is recomputed from predictions
    result = CliRunner().invoke(main, ["report", str(copy)])
    assert result.exit_code == 0, result.output
    assert (copy / "report.md").read_text() == (out / "report.md").read_text()
    assert (copy / "report.html").read_text() == (out / "report.html").read_text()


def test_report_of_a_folder_without_results(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["report", str(tmp_path)])
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        f"error: {tmp_path}/results.json: no results.json in {tmp_path}; pass the output folder of `evalaction run`"
    )


@pytest.mark.slow
def test_same_seed_same_results(demo_run: DemoRun, tmp_path: Path) -> None:
    out = demo_run.out
    result = CliRunner().invoke(
        main, ["run", "-c", str(ROOT / "examples/digits/evalaction.yml"), "-o", str(tmp_path)]
    )
    assert result.exit_code in (0, 1)
    first, second = RunResult.read(out / "results.json"), RunResult.read(tmp_path / "results.json")
    assert first.metrics == second.metrics
    assert first.compare == second.compare
    # the time spent on attributions is a measurement, not a result
    timing = {"attributions": {"seconds"}}
    assert first.errors.model_dump(exclude=timing) == second.errors.model_dump(exclude=timing)
    assert [g.status for g in first.verdict.gates] == [g.status for g in second.verdict.gates]


def _write_plan(demo_dir: Path, text: str) -> Path:
    path = demo_dir / "evalaction.yml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("decision", "fail_on_no_go", "exit_code"),
    [("GO", True, 0), ("GO WITH CONDITIONS", True, 0), ("NO-GO", True, 1), ("NO-GO", False, 0)],
)
def test_exit_code_0_on_go_and_1_on_no_go(
    decision: str,
    fail_on_no_go: bool,
    exit_code: int,
    demo_run: DemoRun,
    demo_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The verdict -> exit code mapping, on the shared run's results with the decision swapped in (the pipeline
    itself is not re-run: `test_demo_runs_every_stage_and_writes_reports` checks a real run's exit code)."""
    import evalaction.pipeline

    saved = RunResult.read(demo_run.out / "results.json")
    verdict = saved.verdict.model_copy(update={"decision": decision})
    monkeypatch.setattr(
        evalaction.pipeline, "run_pipeline", lambda **_: saved.model_copy(update={"verdict": verdict})
    )
    plan = (demo_dir / "evalaction.yml").read_text()
    assert "  fail_on_no_go: true\n" in plan
    path = _write_plan(
        demo_dir, plan.replace("fail_on_no_go: true", f"fail_on_no_go: {str(fail_on_no_go).lower()}")
    )
    result = CliRunner().invoke(main, ["run", "-c", str(path), "-o", str(demo_dir / "out")])
    assert result.exit_code == exit_code, result.output
    assert result.stdout.startswith(f"verdict: {decision} — ")


def test_exit_code_2_on_bad_input_with_one_line_and_no_traceback(demo_dir: Path) -> None:
    plan = (demo_dir / "evalaction.yml").read_text().replace("label_column: label", "label_column: digit")
    path = _write_plan(demo_dir, plan)
    result = CliRunner().invoke(main, ["run", "-c", str(path), "-o", str(demo_dir / "out")])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith(
        "error: test.csv: `dataset.label_column` 'digit' is not a column; found columns [id, "
    )
    assert "Traceback" not in result.stderr
    debug = CliRunner().invoke(main, ["--debug", "plan", "-c", str(path)])
    assert debug.exit_code == 2
    assert "Traceback" in debug.stderr


def test_exit_code_2_on_lfs_pointer_model(demo_dir: Path) -> None:
    (demo_dir / "models/candidate.onnx").write_text(
        "version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 123\n"
    )
    result = CliRunner().invoke(main, ["run", "-c", str(demo_dir / "evalaction.yml"), "-o", str(demo_dir / "o")])
    assert result.exit_code == 2
    assert "found a Git LFS pointer" in result.stderr and "git lfs pull" in result.stderr
    # nothing is lost: the plan stage had finished and is on disk
    assert (demo_dir / "o" / "plan.json").is_file()


def test_exit_code_3_on_internal_error(demo_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import evalaction.stages.metrics as metrics_stage

    def boom(**_: object) -> None:
        raise RuntimeError("simulated bug")

    monkeypatch.setattr(metrics_stage, "run_metrics", boom)
    result = CliRunner().invoke(main, ["run", "-c", str(demo_dir / "evalaction.yml"), "-o", str(demo_dir / "o")])
    assert result.exit_code == 3
    assert "internal error: RuntimeError: simulated bug (re-run with --debug for the traceback)" in result.stderr


def test_plan_command_prints_the_card() -> None:
    result = CliRunner().invoke(main, ["plan", "-c", str(ROOT / "examples/digits/evalaction.yml")])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "task: **multiclass**" in out
    assert "- samples: 360" in out
    assert "| 8 |" in out
    assert "- duplicate samples: 0" in out
    assert "- labels outside the class list: 0" in out
    assert "- overlap with the training set: 0" in out


def test_schema_command_prints_json_schema() -> None:
    result = CliRunner().invoke(main, ["schema"])
    assert result.exit_code == 0
    schema = json.loads(result.stdout)
    assert "gates" in schema["properties"]


def test_help_imports_nothing_heavy() -> None:
    """`evalaction --help` stays fast because heavy modules load only inside the stages that need them."""
    code = (
        "import sys; from evalaction.cli import main\n"
        "heavy = {'numpy', 'pandas', 'torch', 'onnxruntime', 'sklearn', 'scipy', 'matplotlib', 'pydantic', "
        "'captum', 'wandb', 'modal', 'roboflow', 'github', 'yaml', 'jinja2'}\n"
        "print(sorted(heavy & {m.split('.')[0] for m in sys.modules}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"


def test_a_one_row_test_set_runs_and_skips_the_int8_trial(demo_dir: Path) -> None:
    """Issue 14: a 1-row test set failed in readiness ("found 128 and 1"); the INT8 trial is skipped instead."""
    lines = (demo_dir / "data" / "test.csv").read_text().splitlines()
    (demo_dir / "data" / "test.csv").write_text("\n".join(lines[:2]) + "\n")
    plan = (demo_dir / "evalaction.yml").read_text().replace("n_bootstrap: 2000", "n_bootstrap: 100")
    plan += "readiness:\n  batch_sizes: [1]\n  time_budget_s: 0.1\n  measure_memory: false\n"
    (demo_dir / "evalaction.yml").write_text(plan)
    out = demo_dir / "out"
    result = CliRunner().invoke(main, ["run", "-c", str(demo_dir / "evalaction.yml"), "-o", str(out)])
    assert result.exit_code in (0, 1), result.output
    notes = json.loads((out / "readiness.json").read_text())["notes"]
    assert "INT8 trial skipped: it needs at least 2 labelled test rows (calibration and grading)" in notes

"""Shared fixtures: the repository root, the embedded demo and its one shared run, a small valid plan folder.

Markers (registered in pyproject.toml; `make test` runs them all, `-m "not slow"` skips some):
  e2e      tests/end_to_end: `entrypoint` against a local GitHub API server (marked here, by folder)
  browser  tests that drive headless Chromium (marked here, by module)
  slow     a test that takes seconds of its own (a full pipeline, a training run), marked where it is written
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "examples" / "digits"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the end-to-end folder `e2e` and the Chromium module `browser`, so no test has to remember to."""
    for item in items:
        parts = item.path.parts
        if "end_to_end" in parts:
            item.add_marker(pytest.mark.e2e)
        if item.path.name == "test_report_browser.py":
            item.add_marker(pytest.mark.browser)


@dataclass(frozen=True)
class DemoRun:
    """One `evalaction run` of the unmodified embedded demo: its output folder, exit code and printed text."""

    out: Path
    exit_code: int
    stdout: str
    stderr: str
    output: str


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    """The default demo run once per session through the CLI (about 4 s) and shared by every module that reads
    it. Read-only: a test that changes files copies `out` first.

    Under pytest-xdist each worker has its own session: the first worker to ask runs the demo in the folder the
    workers share (under a file lock) and the others read its output, so the suite pays for one run, not one per
    worker."""
    import fcntl
    import json
    import os

    from click.testing import CliRunner

    from evalaction.cli import main

    def run(out: Path) -> tuple[int, str, str, str]:
        result = CliRunner().invoke(main, ["run", "-c", str(DEMO / "evalaction.yml"), "-o", str(out)])
        return result.exit_code, result.stdout, result.stderr, result.output

    if "PYTEST_XDIST_WORKER" not in os.environ:  # one process: a private folder
        out = tmp_path_factory.mktemp("demo_run") / "out"
        return DemoRun(out, *run(out))
    shared = tmp_path_factory.getbasetemp().parent / "demo_run"  # the workers' common base folder
    shared.mkdir(exist_ok=True)
    out, record = shared / "out", shared / "run.json"
    with open(shared / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not record.is_file():
            record.write_text(json.dumps(run(out)))
    code, stdout, stderr, output = json.loads(record.read_text())
    return DemoRun(out, code, stdout, stderr, output)


@pytest.fixture
def demo_dir(tmp_path: Path) -> Path:
    """A private copy of the embedded demo (plan, data, models)."""
    dst = tmp_path / "digits"
    shutil.copytree(DEMO, dst, ignore=shutil.ignore_patterns("__pycache__", "out"))
    return dst


VALID_PLAN = """\
version: 1
task: multiclass
dataset:
  path: data/test.csv
  label_column: label
  id_column: id
models:
  candidate:
    path: models/candidate.onnx
    outputs: logits
  baseline:
    path: models/baseline.onnx
metrics:
  primary: accuracy
  compute: [macro_f1]
gates:
  thresholds:
    accuracy: ">= 0.9"
"""


@pytest.fixture
def plan_dir(tmp_path: Path) -> Path:
    """A folder with a valid plan and the files it names (the model files are only checked for existence)."""
    (tmp_path / "data").mkdir()
    (tmp_path / "models").mkdir()
    (tmp_path / "data" / "test.csv").write_text("id,label,f1\na,0,1.0\nb,1,2.0\n")
    (tmp_path / "models" / "candidate.onnx").write_bytes(b"x")
    (tmp_path / "models" / "baseline.onnx").write_bytes(b"x")
    (tmp_path / "evalaction.yml").write_text(VALID_PLAN)
    return tmp_path

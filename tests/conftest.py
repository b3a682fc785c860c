"""Shared fixtures: the repository root, the embedded demo, and a small valid plan folder."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "examples" / "digits"


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

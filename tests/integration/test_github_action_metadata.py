"""The action's metadata, Dockerfile and workflows pass the linters GitHub users rely on (all offline)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted([*ROOT.glob(".github/workflows/*.yml"), *ROOT.glob("examples/workflows/*.yml")])
BIN = Path(sys.executable).parent


def tool(name: str) -> str:
    """A dev dependency's executable: next to this Python, else on PATH; missing is a failure, not a skip."""
    found = BIN / name if (BIN / name).exists() else shutil.which(name)
    assert found, f"{name} is not installed; `pip install -e .[dev]` provides it"
    return str(found)


def run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=ROOT, check=False)


def test_hadolint_passes_on_the_dockerfile() -> None:
    done = run(tool("hadolint"), "--no-color", "Dockerfile")
    assert done.returncode == 0, done.stdout + done.stderr


def test_hadolint_would_catch_a_broken_dockerfile(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python\nWORKDIR app\nRUN cd /tmp && apt-get install git\nENTRYPOINT /entrypoint\n")
    assert run(tool("hadolint"), "--no-color", str(bad)).returncode != 0


def test_dockerfile_follows_githubs_rules_for_docker_actions() -> None:
    lines = [ln.strip() for ln in (ROOT / "Dockerfile").read_text().splitlines() if ln.strip()]
    instructions = [ln.split()[0] for ln in lines if not ln.startswith("#") and ln.split()[0].isupper()]
    assert "USER" not in instructions and "WORKDIR" not in instructions
    assert instructions[-1] == "ENTRYPOINT" and lines[-1] == 'ENTRYPOINT ["/entrypoint"]'
    text = (ROOT / "Dockerfile").read_text()
    assert "safe.directory '*'" in text and "git-lfs" in text
    assert "torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu" in text
    assert text.index("torch==2.13.0") < text.index("-c /opt/evalaction/requirements/image.lock")


def test_entrypoint_is_an_executable_thin_script() -> None:
    entry = ROOT / "entrypoint"
    assert os.access(entry, os.X_OK)
    text = entry.read_text()
    assert text.startswith("#!/usr/bin/env python3\n") and "evalaction.github.action import main" in text


def test_action_yml_validates() -> None:
    done = run(tool("check-jsonschema"), "--builtin-schema", "vendor.github-actions", "action.yml")
    assert done.returncode == 0, done.stdout + done.stderr


def test_action_yml_declares_what_the_settings_read() -> None:
    from evalaction.github.settings import ENV_NAMES

    action = yaml.safe_load((ROOT / "action.yml").read_text())
    assert action["runs"] == {"using": "docker", "image": "Dockerfile"}
    declared = {f"INPUT_{name.upper()}" for name in action["inputs"]}
    read = {name for name in ENV_NAMES.values() if name.startswith("INPUT_")}
    assert declared == read
    assert all(spec.get("description") for spec in action["inputs"].values())
    assert set(action["outputs"]) == {"verdict", "report-path", "comment-url", "summary"}
    assert action["inputs"]["github-token"]["default"] == "${{ github.token }}"


def test_every_workflow_validates_and_a_broken_one_would_not(tmp_path: Path) -> None:
    # One check-jsonschema process for all files (each start costs ~2 s); a known-bad workflow rides along
    # to prove the check can fail, and it must be the only file reported.
    bad = tmp_path / "bad.yml"
    bad.write_text("on: pull_request\njobs:\n  x:\n    runs-on: ubuntu-latest\n    stepz: []\n")
    files = [str(p) for p in WORKFLOWS] + [str(bad)]
    done = run(tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", "-o", "JSON", *files)
    report = json.loads(done.stdout)
    failing = {e["filename"] for e in report["errors"]} | {e["filename"] for e in report["parse_errors"]}
    assert failing == {str(bad)}, done.stdout


def test_the_examples_cover_the_three_setups() -> None:
    examples = {p.name: yaml.safe_load(p.read_text()) for p in ROOT.glob("examples/workflows/*.yml")}
    # PyYAML reads the key `on` as True (YAML 1.1).
    triggers = {name: set(wf[True]) for name, wf in examples.items()}
    assert triggers["evaluate-pr.yml"] == {"pull_request"}
    # A required status must never be skipped by a path filter (it would stay pending forever).
    assert "paths" not in examples["evaluate-pr.yml"][True]["pull_request"]
    assert "paths" not in examples["fork-safe-evaluate.yml"][True]["pull_request"]
    assert examples["evaluate-pr.yml"]["permissions"] == {
        "contents": "read",
        "pull-requests": "write",
        "statuses": "write",
    }
    assert triggers["evaluate-dispatch.yml"] == {"workflow_dispatch"}
    assert triggers["fork-safe-evaluate.yml"] == {"pull_request"}
    assert examples["fork-safe-evaluate.yml"]["permissions"] == {
        "contents": "read",
        "pull-requests": "write",
        "statuses": "write",
    }
    assert triggers["fork-safe-comment.yml"] == {"workflow_run"}
    assert len(WORKFLOWS) >= 7

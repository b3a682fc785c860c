"""The issue's fault scenarios, each a whole action run against the OpenAPI-checked fake GitHub.

These call `evalaction.github.action.main(env)`, the function `entrypoint` runs, in this process: the
pipeline's imports are paid once, so each run takes about a second (test_action_pr.py runs the real
`entrypoint` subprocess). The workspace is the PR's first push (a NO-GO, so exit code 1 is the verdict's).
"""

from __future__ import annotations

import io
import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from evalaction.github import action
from evalaction.github.publish import comment_marker
from tests.end_to_end.action_repo import DEMO, MODEL, TOKEN, Repo, build_repo, git, github_env, read_outputs
from tests.end_to_end.fake_github import FakeGitHub

PR = 2
MARKER = comment_marker("evalaction.yml")
BOT = "github-actions[bot]"  # who GITHUB_TOKEN (a `ghs_` token, as in action_repo.TOKEN) comments as


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Repo:
    return build_repo(tmp_path_factory.mktemp("faults"))


class Sleeps:
    """Stands in for time.sleep in urllib3 and the adapter: records instead of waiting."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> Sleeps:
    recorder = Sleeps()
    monkeypatch.setattr(time, "sleep", recorder)
    return recorder


def run(
    repo: Repo,
    fake: FakeGitHub,
    tmp: Path,
    head: str = "P1",
    edit: Callable[[dict[str, Any]], None] | None = None,
    **inputs: str,
) -> tuple[int, str, dict[str, str]]:
    repo.checkout_merge(head)
    env = github_env(repo, tmp, fake.base_url, head, **inputs)
    if edit is not None:  # change the event payload
        payload = json.loads(Path(env["GITHUB_EVENT_PATH"]).read_text())
        edit(payload)
        Path(env["GITHUB_EVENT_PATH"]).write_text(json.dumps(payload))
    out = io.StringIO()
    code = action.main(env, out=out)
    return code, out.getvalue(), read_outputs(tmp / "output")


def marker_comments(fake: FakeGitHub) -> list[str]:
    return [b for b in fake.comment_bodies(PR) if b.startswith(MARKER)]


def test_500_after_the_comment_was_created_leaves_one_comment(
    repo: Repo, fake: FakeGitHub, tmp_path: Path
) -> None:
    fake.faults.comment_post_500_after_create = 1
    code, _, outputs = run(repo, fake, tmp_path)
    assert code == 1 and outputs["verdict"] == "NO-GO"
    assert len(marker_comments(fake)) == 1
    assert [r.status for r in fake.calls("issues/create-comment")] == [500]  # never posted twice
    assert outputs["comment-url"] == fake.comments[PR][0]["html_url"]


def from_fork(payload: dict[str, Any]) -> None:
    payload["pull_request"]["head"]["repo"]["full_name"] = "mallory/Hello-World"


def test_a_fork_prs_read_only_token_saves_the_comment_and_keeps_the_verdicts_exit_code(
    repo: Repo, fake: FakeGitHub, tmp_path: Path
) -> None:
    fake.faults.forbid_comment_writes = True
    fake.faults.forbid_status_writes = True  # a fork PR's token cannot set statuses either
    code, stdout, outputs = run(repo, fake, tmp_path, edit=from_fork)
    assert code == 1 and outputs["verdict"] == "NO-GO" and outputs["comment-url"] == ""
    saved = repo.path / "evalaction-report" / "pr-comment.md"
    meta = json.loads((repo.path / "evalaction-report" / "pr-comment.json").read_text())
    assert saved.read_text().startswith(MARKER + "\n## ❌ NO-GO")
    assert meta["pr_number"] == PR and meta["marker"] == MARKER
    assert meta["status"]["state"] == "failure" and meta["status"]["context"] == "evalaction"
    assert stdout.count("::warning title=evalaction%3A PR comment not posted::") == 1
    # One warning for the statuses, not one per status: after a 403 the final status is not tried.
    assert stdout.count("::warning title=evalaction%3A commit status not set::") == 1
    assert len(fake.calls("repos/create-commit-status")) == 1
    assert "forbidden (HTTP 403: Resource not accessible by integration)" in stdout
    assert "verdict not published" not in stdout
    assert (tmp_path / "step_summary").read_text().startswith("## ❌ NO-GO")
    assert TOKEN not in stdout.replace(f"::add-mask::{TOKEN}", "")
    saved.unlink()


def test_403_on_a_same_repository_pr_is_not_published_and_exits_3(
    repo: Repo, fake: FakeGitHub, tmp_path: Path
) -> None:
    """Not a fork: a 403 is a missing permission, and the verdict reached nobody. Never a quiet job."""
    fake.faults.forbid_comment_writes = True
    fake.faults.forbid_status_writes = True
    code, stdout, outputs = run(repo, fake, tmp_path)
    assert code == 3 and outputs["verdict"] == "NO-GO"
    assert "::error title=evalaction%3A verdict not published::The verdict (NO-GO) was NOT published" in stdout
    assert "The verdict (NO-GO) was not published to GitHub." in (tmp_path / "step_summary").read_text()
    (repo.path / "evalaction-report" / "pr-comment.md").unlink()


def test_secondary_rate_limits_are_waited_out(
    repo: Repo, fake: FakeGitHub, tmp_path: Path, sleeps: Sleeps
) -> None:
    fake.faults.retry_after = "2"
    fake.faults.rate_limit.update(
        {"issues/list-comments": 1, "issues/create-comment": 1, "repos/create-commit-status": 1}
    )
    code, _, outputs = run(repo, fake, tmp_path)
    assert code == 1 and outputs["verdict"] == "NO-GO"
    assert len(marker_comments(fake)) == 1
    assert [r.status for r in fake.calls("issues/create-comment")] == [403, 201]
    head = repo.heads["P1"]
    assert [s["state"] for s in fake.statuses[head]] == ["pending", "failure"]
    # Retry-After honoured three times: the GET in urllib3, the POSTs in the adapter.
    assert sleeps.calls.count(2.0) == 3


def test_marker_on_the_last_page_of_150_comments_is_edited(repo: Repo, fake: FakeGitHub, tmp_path: Path) -> None:
    # The action's own earlier comment: written by GITHUB_TOKEN's identity, not by a person.
    fake.seed_comments(PR, 150, bodies={149: f"{MARKER}\n## stale verdict\n"}, logins={149: BOT})
    code, _, outputs = run(repo, fake, tmp_path)
    assert code == 1
    assert fake.comments[PR][149]["body"].startswith(MARKER + "\n## ❌ NO-GO")
    assert len(fake.comments[PR]) == 150 and fake.calls("issues/create-comment") == []
    assert [r.query.get("page", "1") for r in fake.calls("issues/list-comments")] == ["1", "2"]
    assert outputs["comment-url"] == fake.comments[PR][149]["html_url"]


def test_a_foreign_comment_with_the_marker_is_not_edited_and_ours_is_created(
    repo: Repo, fake: FakeGitHub, tmp_path: Path
) -> None:
    forged = f"{MARKER}\n## ✅ GO — looks great\n"
    fake.seed_comments(PR, 1, bodies={0: forged}, logins={0: "mallory"})
    code, _, outputs = run(repo, fake, tmp_path)
    assert code == 1
    assert fake.comments[PR][0]["body"] == forged and fake.calls("issues/update-comment") == []
    ours = fake.comments[PR][1]
    assert ours["user"]["login"] == BOT and ours["body"].startswith(MARKER + "\n## ❌ NO-GO")
    assert outputs["comment-url"] == ours["html_url"]


def test_lfs_pointer_baseline_without_git_lfs_is_one_line_naming_the_fix(
    tmp_path: Path, fake: FakeGitHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    lfs_repo = build_repo(tmp_path / "lfs", lfs_base=True)
    monkeypatch.setattr(action.shutil, "which", lambda name: None)  # git-lfs is not installed
    code, stdout, outputs = run(lfs_repo, fake, tmp_path / "env")
    assert code == 2
    errors = [line for line in stdout.splitlines() if line.startswith("::error")]
    assert len(errors) == 1
    assert MODEL in errors[0] and "lfs: true" in errors[0] and "Git LFS pointer" in errors[0]
    assert outputs["verdict"] == "ERROR"
    assert [s["state"] for s in fake.statuses[lfs_repo.heads["P1"]]] == ["pending", "error"]
    assert fake.comment_bodies(PR) == []


def test_pr_without_model_changes_comments_so_unless_on_change(
    repo: Repo, fake: FakeGitHub, tmp_path: Path
) -> None:
    code, _, outputs = run(repo, fake, tmp_path / "a", models="weights/**/*.safetensors")
    assert code == 0 and outputs["verdict"] == "SKIPPED"
    assert fake.comment_bodies(PR)[0].startswith(MARKER + "\n## ➖ No model weights changed")
    assert [s["state"] for s in fake.statuses[repo.heads["P1"]]] == ["pending", "success"]
    fake.comments.clear()
    code, _, outputs = run(repo, fake, tmp_path / "b", models="weights/**", comment_mode="on-change")
    assert code == 0 and fake.comment_bodies(PR) == []


def test_comment_mode_never_and_fail_on_no_go_false(repo: Repo, fake: FakeGitHub, tmp_path: Path) -> None:
    code, _, outputs = run(repo, fake, tmp_path, comment_mode="never", fail_on_no_go="false")
    assert code == 0 and outputs["verdict"] == "NO-GO"
    assert fake.comment_bodies(PR) == [] and fake.calls("issues/list-comments") == []
    assert fake.statuses[repo.heads["P1"]][-1]["state"] == "failure"  # the status still tells the truth


# The plan (action_repo.PLAN) names `gates.override: {label: ship-anyway, dispatch_input: override}`.
UPDATED_AT = "2019-05-15T15:20:33Z"  # pull_request.updated_at in the fixture payload


def label_event(action: str, label: str, *, sender: str, on_pr: bool, fork: bool = False) -> Callable[..., None]:
    """Turn the synchronize payload into a `labeled` / `unlabeled` event by `sender`."""

    def edit(payload: dict[str, Any]) -> None:
        payload["action"], payload["label"] = action, {"name": label}
        payload["sender"]["login"] = sender
        pr = payload["pull_request"]
        pr["labels"] = [{"name": "bug"}] + ([{"name": label}] if on_pr else [])
        if fork:
            pr["head"]["repo"]["full_name"] = "mallory/Hello-World"
            pr["user"]["login"] = "mallory"

    return edit


def test_the_plans_override_label_turns_no_go_into_go_with_who_and_when(
    repo: Repo, fake: FakeGitHub, tmp_path: Path
) -> None:
    edit = label_event("labeled", "ship-anyway", sender="lead", on_pr=True)
    code, stdout, outputs = run(repo, fake, tmp_path, edit=edit)
    assert code == 0 and outputs["verdict"] == "GO", stdout[-2000:]
    assert outputs["summary"].startswith(
        f"NO-GO overridden by @lead with label `ship-anyway` at {UPDATED_AT}. Without the override: 2 of "
    )
    pending, final = fake.statuses[repo.heads["P1"]]
    assert pending["state"] == "pending" and final["state"] == "success"
    assert final["description"] == (
        f"GO, NO-GO overridden by @lead at {UPDATED_AT} (label ship-anyway); failed: accuracy, macro_f1"
    )
    assert len(final["description"]) < 140
    (body,) = fake.comment_bodies(PR)
    heading = body.split("\n")[1]
    assert heading.startswith(
        f"## ✅ GO (override of a NO-GO by @lead with label `ship-anyway` at {UPDATED_AT}) — `{MODEL}`"
    )
    assert "| accuracy |" in body  # the failed gates' evidence stays in the table
    assert "::error" not in stdout and stdout.count("NO-GO overridden by @lead") >= 2  # warnings, not errors
    results = json.loads((repo.path / "evalaction-report" / "results.json").read_text())
    assert results["verdict"]["decision_without_override"] == "NO-GO"
    assert results["verdict"]["override"]["actor"] == "lead"


def test_the_same_pr_without_the_label_fails(repo: Repo, fake: FakeGitHub, tmp_path: Path) -> None:
    # Removing the label re-evaluates: the same NO-GO, now with nothing to override it.
    edit = label_event("unlabeled", "ship-anyway", sender="lead", on_pr=False)
    code, stdout, outputs = run(repo, fake, tmp_path, edit=edit)
    assert code == 1 and outputs["verdict"] == "NO-GO"
    final = fake.statuses[repo.heads["P1"]][-1]
    assert final["state"] == "failure" and "overrid" not in final["description"]
    assert fake.comment_bodies(PR)[0].startswith(MARKER + "\n## ❌ NO-GO — ")
    assert stdout.count("::error title=evalaction gate") == 2


def test_other_labels_do_not_start_an_evaluation(repo: Repo, fake: FakeGitHub, tmp_path: Path) -> None:
    edit = label_event("labeled", "documentation", sender="lead", on_pr=True)
    code, stdout, outputs = run(repo, fake, tmp_path, edit=edit)
    assert code == 0 and outputs["verdict"] == "SKIPPED"
    assert "label `documentation`, which is not the override label" in stdout
    assert fake.requests == []


def test_a_fork_author_cannot_override_their_own_pr(repo: Repo, fake: FakeGitHub, tmp_path: Path) -> None:
    edit = label_event("labeled", "ship-anyway", sender="mallory", on_pr=True, fork=True)
    code, stdout, outputs = run(repo, fake, tmp_path, edit=edit)
    assert code == 1 and outputs["verdict"] == "NO-GO"
    assert fake.statuses[repo.heads["P1"]][-1]["state"] == "failure"
    assert "::warning title=evalaction%3A override not applied::" in stdout
    body = fake.comment_bodies(PR)[0]
    assert "> ⚠️ Override label `ship-anyway` not applied: this PR comes from a fork" in body
    assert "added by the PR's author @mallory" in body


def test_workflow_dispatch_override_input_records_the_sender_now_and_the_reason(
    repo: Repo, fake: FakeGitHub, tmp_path: Path
) -> None:
    git(repo.path, "checkout", "-q", "--detach", repo.heads["P1"])
    env = github_env(repo, tmp_path, fake.base_url, "P1")
    payload = json.loads((Path(__file__).parents[1] / "fixtures/github/workflow_dispatch.json").read_text())
    payload["inputs"] = {"candidate": "", "baseline-ref": "main", "override": "accepted by @lead, ticket 12"}
    Path(env["GITHUB_EVENT_PATH"]).write_text(json.dumps(payload))
    env |= {"GITHUB_EVENT_NAME": "workflow_dispatch", "GITHUB_SHA": repo.heads["P1"], "GITHUB_REF": "refs/heads/x"}
    out = io.StringIO()
    assert action.main(env, out=out) == 0, out.getvalue()[-1500:]
    outputs = read_outputs(tmp_path / "output")
    assert outputs["verdict"] == "GO"
    when = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"  # now, in UTC
    assert re.match(
        rf"NO-GO overridden by @Codertocat with workflow_dispatch input `override` at {when} "
        r"\(reason: accepted by @lead, ticket 12\)\. Without the override: ",
        outputs["summary"],
    )
    final = fake.statuses[repo.heads["P1"]][-1]
    assert final["state"] == "success"
    assert re.fullmatch(
        rf"GO, NO-GO overridden by @Codertocat at {when} \(input override\); failed: accuracy, macro_f1",
        final["description"],
    )
    heading = (tmp_path / "step_summary").read_text().split("\n")[0]
    assert re.match(
        rf"## ✅ GO \(override of a NO-GO by @Codertocat with workflow_dispatch input `override` at {when}\)",
        heading,
    )


def test_the_removed_override_input_is_named_not_silently_dropped(tmp_path: Path) -> None:
    out = io.StringIO()
    action.main({"INPUT_OVERRIDE": "accuracy: fine", "GITHUB_EVENT_NAME": "push"}, out=out)
    assert "The `override` input was removed" in out.getvalue() and "gates.override" in out.getvalue()


@pytest.mark.parametrize(
    ("event", "action_name"), [("push", None), ("pull_request", "closed"), ("pull_request_target", None)]
)
def test_other_events_do_nothing_and_succeed(
    repo: Repo, fake: FakeGitHub, tmp_path: Path, event: str, action_name: str | None
) -> None:
    env = github_env(repo, tmp_path, fake.base_url, "P1")
    env["GITHUB_EVENT_NAME"] = event
    if action_name:
        payload = json.loads(Path(env["GITHUB_EVENT_PATH"]).read_text())
        payload["action"] = action_name
        Path(env["GITHUB_EVENT_PATH"]).write_text(json.dumps(payload))
    out = io.StringIO()
    assert action.main(env, out=out) == 0
    assert out.getvalue().count("::notice title=evalaction::") == 1
    assert read_outputs(tmp_path / "output")["verdict"] == "SKIPPED"
    assert fake.requests == []


def test_bad_input_is_exit_2_with_one_line(repo: Repo, fake: FakeGitHub, tmp_path: Path) -> None:
    env = github_env(repo, tmp_path, fake.base_url, "P1", comment_mode="loud")
    out = io.StringIO()
    assert action.main(env, out=out) == 2
    lines = out.getvalue().splitlines()
    assert (
        len(lines) == 1 and lines[0].startswith("::error title=evalaction::") and "INPUT_COMMENT-MODE" in lines[0]
    )
    code, stdout, _ = run(repo, fake, tmp_path / "plan", config="missing.yml")
    assert code == 2 and "missing.yml" in stdout
    assert fake.statuses[repo.heads["P1"]][-1]["state"] == "error"


def test_shallow_clone_uses_the_pr_files_api(tmp_path: Path, fake: FakeGitHub, repo: Repo) -> None:
    # What actions/checkout does with the default fetch-depth 1: only the merge commit, no history.
    clone = tmp_path / "shallow"
    clone.mkdir()
    git(clone, "init", "-q")
    git(clone, "remote", "add", "origin", f"file://{repo.path}")
    git(clone, "fetch", "-q", "--no-tags", "--depth=1", "origin", repo.merges["P1"])
    git(clone, "checkout", "-q", "--detach", repo.merges["P1"])
    shallow = Repo(clone, repo.base, repo.heads, repo.merges)
    assert git(clone, "rev-parse", "--is-shallow-repository") == "true"
    fake.seed_pr_files(PR, [(MODEL, "modified"), ("README.md", "added")])
    code, _, outputs = run(shallow, fake, tmp_path / "env")
    assert code == 1 and outputs["verdict"] == "NO-GO"
    assert len(fake.calls("pulls/list-files")) == 1
    # The baseline came from the base commit, fetched on demand (`git fetch --depth=1 origin <base>`).
    assert git(clone, "cat-file", "-t", repo.base) == "commit"


def test_several_changed_models_one_comment_and_a_new_model_has_no_baseline(
    tmp_path: Path, fake: FakeGitHub
) -> None:
    multi = build_repo(tmp_path / "multi")
    multi.push("P3", "P1", {"models/new/extra.onnx": (DEMO / "models" / "candidate.onnx").read_bytes()})
    code, stdout, outputs = run(multi, fake, tmp_path / "env", head="P3", models="models/**/*.onnx")
    assert code == 1 and outputs["verdict"] == "NO-GO"  # the worst of the two
    assert outputs["report-path"] == "evalaction-report/report.md"
    report = multi.path / "evalaction-report"
    assert (report / "models_digits.onnx" / "results.json").is_file()
    assert (report / "models_new_extra.onnx" / "results.json").is_file()
    (body,) = fake.comment_bodies(PR)
    assert body.count(MARKER) == 1 and body.count("\n---\n") == 1
    assert "## ❌ NO-GO" in body and "## ✅ GO" in body
    assert "`models/new/extra.onnx`: new in this PR" in body and "(no baseline)" in body
    assert outputs["summary"] == "models/digits.onnx: NO-GO; models/new/extra.onnx: GO"
    new_results = json.loads((report / "models_new_extra.onnx" / "results.json").read_text())
    vs_baseline = [g for g in new_results["verdict"]["gates"] if g["kind"] == "vs_baseline"]
    assert vs_baseline and all(g["status"] == "skipped" for g in vs_baseline)


@pytest.mark.parametrize(
    ("candidate", "verdict", "code"),
    [("", "NO-GO", 1), (MODEL, "NO-GO", 1), ("changes", "GO", 0)],
    ids=["checked-out", "path", "ref"],
)
def test_workflow_dispatch_evaluates_against_the_baseline_ref(
    repo: Repo, fake: FakeGitHub, tmp_path: Path, candidate: str, verdict: str, code: int
) -> None:
    """Dispatched on the PR's first push; `changes` (the branch, now at the second push) is a ref."""
    git(repo.path, "checkout", "-q", "--detach", repo.heads["P1"])
    env = github_env(repo, tmp_path, fake.base_url, "P1")
    payload = json.loads((Path(__file__).parents[1] / "fixtures/github/workflow_dispatch.json").read_text())
    payload["inputs"] = {"candidate": candidate, "baseline-ref": "main"}
    Path(env["GITHUB_EVENT_PATH"]).write_text(json.dumps(payload))
    env |= {"GITHUB_EVENT_NAME": "workflow_dispatch", "GITHUB_SHA": repo.heads["P1"], "GITHUB_REF": "refs/heads/x"}
    out = io.StringIO()
    assert action.main(env, out=out) == code, out.getvalue()[-1500:]
    outputs = read_outputs(tmp_path / "output")
    assert outputs["verdict"] == verdict and outputs["comment-url"] == ""
    assert fake.comment_bodies(PR) == [] and fake.calls("issues/list-comments") == []
    final = "failure" if verdict == "NO-GO" else "success"
    assert [s["state"] for s in fake.statuses[repo.heads["P1"]]] == ["pending", final]
    summary = (tmp_path / "step_summary").read_text()
    assert f"vs baseline `{repo.base[:7]}` (main)" in summary


def test_a_fork_prs_weights_are_evaluated_as_untrusted(
    repo: Repo, fake: FakeGitHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fork's run passes `untrusted` to inference, which refuses pickle-based weights even when allowed."""
    import evalaction.pipeline

    seen: list[Any] = []
    real = evalaction.pipeline.run_pipeline

    def recording(**kwargs: Any) -> Any:
        seen.append(kwargs["inference_options"])
        return real(**kwargs)

    monkeypatch.setattr(evalaction.pipeline, "run_pipeline", recording)
    code, _, _ = run(
        repo, fake, tmp_path, edit=label_event("labeled", "bug", sender="mallory", on_pr=True, fork=True)
    )
    assert code == 0  # another label: skipped before any evaluation
    assert seen == []
    code, _, _ = run(
        repo, fake, tmp_path, edit=label_event("labeled", "ship-anyway", sender="lead", on_pr=True, fork=True)
    )
    assert [o.untrusted for o in seen] == [True]
    code, _, _ = run(repo, fake, tmp_path)
    assert [o.untrusted for o in seen] == [True, False]

"""Acceptance: `entrypoint` run as GitHub runs it, on a PR in a temp git repo, against the fake GitHub API.

Push 1 replaces the production model with a worse one: NO-GO, exit 1, a comment is created, the head gets
`pending` then `failure`. Push 2 brings back an equivalent model: GO, exit 0, the same comment is edited,
the new head gets `pending` then `success`. GITHUB_SHA is the merge commit and never gets a status.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from evalaction.artifacts import RunResult
from tests.end_to_end.action_repo import (
    MODEL,
    RUN_ID,
    TOKEN,
    Repo,
    build_repo,
    github_env,
    read_outputs,
    run_entrypoint_process,
)
from tests.end_to_end.fake_github import FakeGitHub

PR = 2
MARKER = "<!-- evalaction:evalaction.yml -->"


@dataclass
class Run:
    exit_code: int
    stdout: str
    stderr: str
    outputs: dict[str, str]
    summary: str
    comments: list[dict[str, object]]
    results: RunResult


@dataclass
class Scenario:
    repo: Repo
    fake: FakeGitHub
    runs: dict[str, Run]


def run_entrypoint(repo: Repo, fake: FakeGitHub, tmp: Path, head: str) -> Run:
    repo.checkout_merge(head)
    done = run_entrypoint_process(repo.path, github_env(repo, tmp, fake.base_url, head))
    return Run(
        exit_code=done.returncode,
        stdout=done.stdout,
        stderr=done.stderr,
        outputs=read_outputs(tmp / "output"),
        summary=(tmp / "step_summary").read_text(),
        comments=[dict(c) for c in fake.comments.get(PR, [])],
        results=RunResult.read(repo.path / "evalaction-report" / "results.json"),
    )


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenario]:
    root = tmp_path_factory.mktemp("action-pr")
    repo = build_repo(root)
    with FakeGitHub() as fake:
        runs = {head: run_entrypoint(repo, fake, root / f"run-{head}", head) for head in ("P1", "P2")}
        yield Scenario(repo, fake, runs)


def test_every_request_matched_the_openapi_document(scenario: Scenario) -> None:
    assert scenario.fake.violations == []
    assert all(r.authorization == f"token {TOKEN}" for r in scenario.fake.requests)


def test_exit_codes_match_the_verdicts(scenario: Scenario) -> None:
    first, second = scenario.runs["P1"], scenario.runs["P2"]
    assert first.results.verdict.decision == "NO-GO", first.stdout[-2000:]
    assert first.exit_code == 1, first.stderr[-2000:]
    assert second.results.verdict.decision == "GO", second.stdout[-2000:]
    assert second.exit_code == 0, second.stderr[-2000:]


def test_first_run_creates_one_comment_second_run_edits_it(scenario: Scenario) -> None:
    first, second = scenario.runs["P1"], scenario.runs["P2"]
    assert len(first.comments) == 1 and len(second.comments) == 1
    assert first.comments[0]["id"] == second.comments[0]["id"]
    body1, body2 = str(first.comments[0]["body"]), str(second.comments[0]["body"])
    assert body1.startswith(MARKER + "\n## ❌ NO-GO") and "macro_f1" in body1
    assert body2.startswith(MARKER + "\n## ✅ GO") and "NO-GO" not in body2
    assert f"https://github.com/{scenario.fake.repository}/actions/runs/{RUN_ID}" in body2
    assert scenario.repo.heads["P2"][:7] in body2 and scenario.repo.base[:7] in body2
    writes = [r.operation_id for r in scenario.fake.requests if r.method != "GET"]
    assert writes.count("issues/create-comment") == 1
    assert writes.count("issues/update-comment") == 1


def test_statuses_pending_then_final_on_the_head_sha_not_the_merge(scenario: Scenario) -> None:
    repo, statuses = scenario.repo, scenario.fake.statuses
    run_url = f"https://github.com/{scenario.fake.repository}/actions/runs/{RUN_ID}"
    for head, final in (("P1", "failure"), ("P2", "success")):
        got = statuses[repo.heads[head]]
        assert [s["state"] for s in got] == ["pending", final]
        assert {s["context"] for s in got} == {"evalaction"}
        assert {s["target_url"] for s in got} == {run_url}
        assert all(len(str(s["description"])) < 140 for s in got)
    assert not set(statuses) & set(repo.merges.values())


def test_outputs_and_step_summary_are_written(scenario: Scenario) -> None:
    for head, verdict in (("P1", "NO-GO"), ("P2", "GO")):
        run = scenario.runs[head]
        assert run.outputs["verdict"] == verdict
        assert run.outputs["report-path"] == "evalaction-report/report.md"
        assert (scenario.repo.path / run.outputs["report-path"]).is_file()
        assert run.outputs["comment-url"] == run.comments[0]["html_url"]
        assert run.outputs["summary"] == " ".join(run.results.verdict.summary.split())
        heading = "## ❌ NO-GO" if verdict == "NO-GO" else "## ✅ GO"
        assert run.summary.startswith(heading) and "| gate | rule |" in run.summary


def test_workflow_commands_group_stages_and_annotate_failed_gates(scenario: Scenario) -> None:
    first = scenario.runs["P1"]
    for stage in ("plan", "inference", "metrics", "errors", "compare", "readiness", "verdict", "report"):
        assert f"::group::evalaction: {stage} ({MODEL})" in first.stdout
    assert first.stdout.count("::group::") == first.stdout.count("::endgroup::")
    failed = [g.name for g in first.results.verdict.failed]
    annotations = re.findall(r"^::error title=evalaction gate (\S+) failed,file=(\S+)::", first.stdout, re.M)
    assert sorted(annotations) == sorted((name, MODEL) for name in failed) and failed
    assert "::error" not in scenario.runs["P2"].stdout


def test_the_token_is_masked_and_never_printed(scenario: Scenario) -> None:
    for run in scenario.runs.values():
        assert f"::add-mask::{TOKEN}" in run.stdout
        assert run.stdout.count(TOKEN) == 1  # only inside the add-mask command
        assert TOKEN not in run.stderr and TOKEN not in run.summary
        assert all(TOKEN not in v for v in run.outputs.values())
    for path in (scenario.repo.path / "evalaction-report").rglob("*"):
        if path.is_file() and path.suffix in (".json", ".md", ".html"):
            assert TOKEN not in path.read_text(errors="ignore"), path

"""Failures are loud and never green, and the comment always describes the newest commit.

Whole action runs (`action.main(env)`) with the publishing limits made small through the environment
(EVALACTION_GITHUB_*), so a hanging API costs a second per attempt here instead of ten.
"""

from __future__ import annotations

import io
import socket
import time
from pathlib import Path

import pytest

from evalaction.github import action
from evalaction.github.publish import API_ATTEMPTS, API_BACKOFF_S, API_TIMEOUT_S, NETWORK_BUDGET_S, comment_marker
from tests.end_to_end.action_repo import Repo, build_repo, github_env, read_outputs
from tests.end_to_end.fake_github import FakeGitHub

PR = 2
MARKER = comment_marker("evalaction.yml")
FAST = {
    "EVALACTION_GITHUB_TIMEOUT_S": "1",
    "EVALACTION_GITHUB_ATTEMPTS": "2",
    "EVALACTION_GITHUB_BACKOFF_S": "0",
}


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Repo:
    built = build_repo(tmp_path_factory.mktemp("loud"))
    built.push("BROKEN", "P2", {"models/digits.onnx": b"these bytes are not an ONNX model"})
    return built


def run(repo: Repo, api_url: str, tmp: Path, head: str) -> tuple[int, str, dict[str, str], float]:
    repo.checkout_merge(head)
    env = github_env(repo, tmp, api_url, head) | FAST
    out = io.StringIO()
    started = time.monotonic()
    code = action.main(env, out=out)
    return code, out.getvalue(), read_outputs(tmp / "output"), time.monotonic() - started


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_the_default_limits_bound_a_hanging_api_to_a_minute() -> None:
    """One call's attempts (each timing out) and backoffs, after which the API counts as down."""
    worst = API_ATTEMPTS * API_TIMEOUT_S + sum(API_BACKOFF_S * 2**i for i in range(API_ATTEMPTS - 1))
    assert worst <= NETWORK_BUDGET_S <= 60


def test_unreachable_api_exits_3_with_an_error_and_the_summary_says_so(repo: Repo, tmp_path: Path) -> None:
    code, stdout, outputs, _ = run(repo, f"http://127.0.0.1:{closed_port()}", tmp_path, "P2")
    assert outputs["verdict"] == "GO"  # the evaluation itself worked...
    assert code == 3  # ...but nobody was told: never a green job
    errors = [line for line in stdout.splitlines() if line.startswith("::error")]
    assert len(errors) == 1 and errors[0].startswith(
        "::error title=evalaction%3A verdict not published::The verdict (GO) was NOT published to GitHub: "
    )
    assert "is unreachable (connection refused)" in errors[0]
    assert "(2 later call(s) skipped: the API was down)" in errors[0]  # the comment and the final status
    assert "statuses: write" not in stdout  # the cause, not a guess about permissions
    summary = (tmp_path / "step_summary").read_text()
    assert summary.startswith("## ✅ GO") and "The verdict (GO) was not published to GitHub." in summary


def test_hanging_api_is_given_up_after_bounded_attempts_and_exits_3(
    repo: Repo, fake: FakeGitHub, tmp_path: Path
) -> None:
    fake.faults.hang_s = 8.0
    code, stdout, outputs, elapsed = run(repo, fake.base_url, tmp_path, "P2")
    assert code == 3 and outputs["verdict"] == "GO"
    # Two attempts at the pending status (1 s each), then the API counts as down: nothing else is tried.
    assert len(fake.requests) == 2
    assert "did not answer within 1 s (timed out)" in stdout
    assert "::error title=evalaction%3A verdict not published::" in stdout
    assert "was not published to GitHub" in (tmp_path / "step_summary").read_text()
    assert elapsed < 30  # the evaluation (a few seconds) and 2 x 1 s, not 8 s per request


def test_an_error_after_a_go_puts_the_comment_in_an_error_state_for_the_new_commit(
    repo: Repo, fake: FakeGitHub, tmp_path: Path
) -> None:
    code, _, outputs, _ = run(repo, fake.base_url, tmp_path / "go", "P2")
    assert code == 0 and outputs["verdict"] == "GO"
    (first,) = fake.comment_bodies(PR)
    assert first.startswith(MARKER + "\n## ✅ GO")

    code, stdout, outputs, _ = run(repo, fake.base_url, tmp_path / "broken", "BROKEN")
    assert code in (2, 3) and outputs["verdict"] == "ERROR"
    (body,) = fake.comment_bodies(PR)  # the same comment, edited
    short = repo.heads["BROKEN"][:7]
    lines = body.split("\n")
    assert lines[0] == MARKER and lines[1] == f"## ⛔ ERROR — `evalaction.yml` on `{short}`"
    assert lines[3].startswith(f"The evaluation of `{short}` failed (exit code {code}): ")
    assert "**stale**" in body and "<details><summary>Previous verdict (stale)</summary>" in body
    assert "## ✅ GO" in body.split("Previous verdict (stale)")[1]  # the old verdict, only inside the stale part
    assert [s["state"] for s in fake.statuses[repo.heads["BROKEN"]]] == ["pending", "error"]
    assert (
        (tmp_path / "broken" / "step_summary")
        .read_text()
        .startswith(f"## ⛔ ERROR — `evalaction.yml` on `{short}`")
    )

    # A second error keeps one stale verdict, not a stale error around a stale verdict.
    code, _, _, _ = run(repo, fake.base_url, tmp_path / "again", "BROKEN")
    (body,) = fake.comment_bodies(PR)
    assert body.count("Previous verdict (stale)") == 1 and body.count("## ⛔ ERROR") == 1

"""A cancelled job: GitHub sends SIGINT, then SIGTERM about 7.5 s later, then kills the step.

`entrypoint` runs as a subprocess against the local GitHub stand-in. The signal is sent once the stand-in has
recorded the `pending` status, that is while the action evaluates (the pipeline takes seconds); the action
must exit 130/143 (never 0 or 1, the verdict codes), set that commit's status to `error` within a bounded
time, and never retry the POST.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.end_to_end.action_repo import ROOT, Repo, build_repo, github_env, read_outputs
from tests.end_to_end.fake_github import FakeGitHub

pytestmark = pytest.mark.e2e

# Publishing limits made small (the cancel POST's timeout is the smaller of 3 s and this one).
FAST = {"EVALACTION_GITHUB_TIMEOUT_S": "1", "EVALACTION_GITHUB_ATTEMPTS": "2", "EVALACTION_GITHUB_BACKOFF_S": "0"}


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Repo:
    return build_repo(tmp_path_factory.mktemp("cancel"))


def start_and_signal(
    repo: Repo, fake: FakeGitHub, tmp: Path, signum: int, *, hang_after_pending: bool = False
) -> tuple[subprocess.Popen[str], float]:
    """Start the entrypoint on PR head P2, wait for its pending status, send `signum`; (process, send time)."""
    repo.checkout_merge("P2")
    env = github_env(repo, tmp, fake.base_url, "P2") | FAST
    env["PYTHONPATH"] = str(ROOT)
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "entrypoint")],
        cwd=repo.path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    sha = repo.heads["P2"]
    deadline = time.monotonic() + 60
    while not fake.statuses.get(sha):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            out, err = proc.communicate()
            pytest.fail(f"no pending status before the run ended (exit {proc.returncode}):\n{out}\n{err}")
        time.sleep(0.01)  # polling the stand-in's state: the only wait here
    assert [s["state"] for s in fake.statuses[sha]] == ["pending"]
    if hang_after_pending:
        fake.faults.hang_s = 20.0  # every later request hangs: the cancel POST must give up on its own
    proc.send_signal(signum)
    return proc, time.monotonic()


def test_sigterm_while_evaluating_exits_143_and_sets_the_status_to_error(
    repo: Repo, fake: FakeGitHub, tmp_path: Path
) -> None:
    proc, sent = start_and_signal(repo, fake, tmp_path, signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=30)
    elapsed = time.monotonic() - sent
    assert proc.returncode == 143, stderr
    assert "Traceback" not in stderr
    sha = repo.heads["P2"]
    states = [(s["state"], s["description"]) for s in fake.statuses[sha]]
    assert states == [
        ("pending", "Evaluating evalaction.yml…"),
        ("error", "Cancelled (SIGTERM) before a verdict; re-run the job"),
    ]
    assert fake.statuses[sha][-1]["context"] == "evalaction"
    assert fake.comments.get(2, []) == []  # no verdict was published
    assert "::error title=evalaction::evalaction was cancelled (SIGTERM) before a verdict" in stdout
    assert read_outputs(tmp_path / "output")["verdict"] == "ERROR"
    assert (tmp_path / "step_summary").read_text().startswith("## ⛔ CANCELLED")
    assert elapsed < 10  # GitHub kills the step 7.5 s after SIGTERM (2.5 s in its docs' wording for the kill)


def test_sigint_with_a_hanging_api_exits_130_after_one_short_attempt(
    repo: Repo, fake: FakeGitHub, tmp_path: Path
) -> None:
    before = len(fake.requests)
    proc, sent = start_and_signal(repo, fake, tmp_path, signal.SIGINT, hang_after_pending=True)
    stdout, stderr = proc.communicate(timeout=30)
    elapsed = time.monotonic() - sent
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    later = fake.requests[before + 1 :]  # after the pending POST
    assert [(r.method, r.path) for r in later] == [
        ("POST", f"/repos/{fake.repository}/statuses/{repo.heads['P2']}")
    ]  # one attempt, no retry
    assert "::warning title=evalaction%3A commit status not set::" in stdout
    assert "did not answer within 1 s (timed out)" in stdout
    assert elapsed < 6  # one POST with a 1 s timeout (3 s by default), not the publisher's attempts

"""The real PyGithub client, built as the entrypoint builds it, against the OpenAPI-checked fake GitHub."""

from __future__ import annotations

import json
import time
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from evalaction.exceptions import CannotPostComment, ExternalServiceError
from evalaction.github.publish import (
    GitHubPublisher,
    comment_marker,
    github_retry,
    make_client,
    save_comment_for_later,
)
from tests.end_to_end.fake_github import FakeGitHub

TOKEN = "ghs_" + "t0k3n" * 8
PR = 2
SHA = "ec26c3e57ca3a959ca5aad62de7213c562f8c821"
MARKER = comment_marker("evalaction.yml")
RUN = "https://github.com/Codertocat/Hello-World/actions/runs/9"
BOT = "github-actions[bot]"  # who GITHUB_TOKEN comments as


@pytest.fixture
def fake() -> Iterator[FakeGitHub]:
    with FakeGitHub() as server:
        yield server
        assert server.violations == []


class Sleeps:
    """Records the adapter's waits instead of sleeping (GitHub's Retry-After can be a minute)."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def publisher(fake: FakeGitHub, sleeps: Sleeps | None = None, **client: Any) -> GitHubPublisher:
    gh = make_client(api_url=fake.base_url, token=TOKEN, **client)
    return GitHubPublisher(gh, fake.repository, sleep=sleeps or Sleeps(), backoff_s=0.01)


def body(text: str = "## ✅ GO") -> str:
    return f"{MARKER}\n{text}\n\n[Full report]({RUN})\n"


def marker_comments(fake: FakeGitHub) -> list[str]:
    return [b for b in fake.comment_bodies(PR) if b.startswith(MARKER)]


def test_first_run_creates_second_run_edits_third_run_skips(fake: FakeGitHub) -> None:
    pub = publisher(fake)
    first = pub.upsert_comment(PR, body("## ❌ NO-GO"), MARKER)
    assert first is not None and first.action == "created"
    second = pub.upsert_comment(PR, body("## ✅ GO"), MARKER)
    assert second is not None and second.action == "updated" and second.comment_id == first.comment_id
    third = pub.upsert_comment(PR, body("## ✅ GO"), MARKER)
    assert third is not None and third.action == "unchanged"
    assert marker_comments(fake) == [body("## ✅ GO")]
    assert [r.operation_id for r in fake.requests if r.method != "GET"] == [
        "issues/create-comment",
        "issues/update-comment",
    ]
    assert first.url.endswith(f"#issuecomment-{first.comment_id}")
    # The token travels in the header, as GitHub expects; PyGithub sends `token <value>`.
    assert {r.authorization for r in fake.requests} == {f"token {TOKEN}"}


def test_marker_on_the_last_of_150_comments_is_found_across_pages(fake: FakeGitHub) -> None:
    fake.seed_comments(
        PR, 150, bodies={149: body("old verdict"), 3: f"> {MARKER}\n> quoted by a human"}, logins={149: BOT}
    )
    result = publisher(fake).upsert_comment(PR, body("new verdict"), MARKER, author=BOT)
    assert result is not None and result.action == "updated"
    assert fake.comments[PR][149]["body"] == body("new verdict")
    assert fake.comments[PR][3]["body"].startswith("> ")  # a quoting reply is not ours
    pages = [r.query.get("page", "1") for r in fake.calls("issues/list-comments")]
    assert pages == ["1", "2"] and all(r.query["per_page"] == "100" for r in fake.calls("issues/list-comments"))
    assert fake.calls("issues/create-comment") == []


def test_two_plans_keep_two_comments(fake: FakeGitHub) -> None:
    pub = publisher(fake)
    other = comment_marker("vision/evalaction.yml")
    pub.upsert_comment(PR, body("a"), MARKER)
    pub.upsert_comment(PR, f"{other}\nb\n", other)
    pub.upsert_comment(PR, body("a2"), MARKER)
    assert fake.comment_bodies(PR) == [body("a2"), f"{other}\nb\n"]


def test_create_false_updates_but_never_creates(fake: FakeGitHub) -> None:
    pub = publisher(fake)
    assert pub.upsert_comment(PR, body(), MARKER, create=False) is None
    assert fake.comment_bodies(PR) == []
    pub.upsert_comment(PR, body("x"), MARKER)
    result = pub.upsert_comment(PR, body("y"), MARKER, create=False)
    assert result is not None and result.action == "updated" and marker_comments(fake) == [body("y")]


def test_500_after_the_comment_was_created_leaves_one_comment(fake: FakeGitHub) -> None:
    fake.faults.comment_post_500_after_create = 1
    sleeps = Sleeps()
    result = publisher(fake, sleeps).upsert_comment(PR, body(), MARKER)
    assert result is not None and result.action == "created"
    assert marker_comments(fake) == [body()]
    # One POST only: the HTTP layer did not replay it, the adapter found the comment instead.
    assert len(fake.calls("issues/create-comment")) == 1
    assert [r.method for r in fake.requests] == ["GET", "POST", "GET"]
    assert sleeps.calls == [0.01]


def test_502_before_creating_posts_again_once(fake: FakeGitHub) -> None:
    fake.faults.server_error["issues/create-comment"] = 1
    result = publisher(fake).upsert_comment(PR, body(), MARKER)
    assert result is not None and result.action == "created"
    assert marker_comments(fake) == [body()]
    assert [r.status for r in fake.calls("issues/create-comment")] == [502, 201]


def test_timeout_after_the_comment_was_created_leaves_one_comment(fake: FakeGitHub) -> None:
    fake.faults.comment_post_slow_after_create_s = 1.5
    result = publisher(fake, timeout_s=1).upsert_comment(PR, body(), MARKER)
    assert result is not None and result.action == "created"
    assert marker_comments(fake) == [body()]
    assert len(fake.calls("issues/create-comment")) == 1


def test_secondary_rate_limit_on_post_waits_retry_after_then_posts(fake: FakeGitHub) -> None:
    fake.faults.rate_limit["issues/create-comment"] = 1
    fake.faults.retry_after = "7"
    sleeps = Sleeps()
    result = publisher(fake, sleeps).upsert_comment(PR, body(), MARKER)
    assert result is not None and result.action == "created"
    assert sleeps.calls == [7.0]  # Retry-After, not the exponential backoff
    assert [r.status for r in fake.calls("issues/create-comment")] == [403, 201]
    assert marker_comments(fake) == [body()]


@pytest.mark.parametrize("status", [403, 429])
def test_secondary_rate_limit_on_get_is_retried_in_the_http_layer(
    fake: FakeGitHub, monkeypatch: pytest.MonkeyPatch, status: int
) -> None:
    import urllib3.util.retry

    slept: list[float] = []
    monkeypatch.setattr(
        urllib3.util.retry, "time", types.SimpleNamespace(sleep=slept.append, time=__import__("time").time)
    )
    fake.faults.rate_limit["issues/list-comments"] = 2
    fake.faults.rate_limit_status = status
    fake.faults.retry_after = "3"
    result = publisher(fake).upsert_comment(PR, body(), MARKER)
    assert result is not None and result.action == "created"
    assert [r.status for r in fake.calls("issues/list-comments")] == [status, status, 200]
    assert slept == [3.0, 3.0]  # urllib3 honoured Retry-After


def test_403_on_comments_is_cannot_post_comment_without_the_token(fake: FakeGitHub, tmp_path: Path) -> None:
    fake.faults.forbid_comment_writes = True
    with pytest.raises(CannotPostComment) as info:
        publisher(fake).upsert_comment(PR, body(), MARKER)
    message = str(info.value)
    assert getattr(info.value, "status", None) == 403
    assert "HTTP 403" in message and "workflow_run" in message and "\n" not in message
    assert TOKEN not in message
    assert len(fake.calls("issues/create-comment")) == 1  # a plain 403 is final: no retry

    status = {"state": "failure", "description": "NO-GO", "context": "evalaction"}
    out = tmp_path / "out"
    path = save_comment_for_later(out, body=body(), pr_number=PR, marker=MARKER, reason=message, status=status)
    assert path.read_text() == body()
    meta = json.loads((out / "pr-comment.json").read_text())
    assert meta == {
        "pr_number": PR,
        "marker": MARKER,
        "body_path": "pr-comment.md",
        "reason": message,
        "status": status,
    }


def test_403_on_editing_an_existing_comment(fake: FakeGitHub) -> None:
    publisher(fake).upsert_comment(PR, body("a"), MARKER)
    fake.faults.forbid_comment_writes = True
    with pytest.raises(CannotPostComment, match="edit comment"):
        publisher(fake).upsert_comment(PR, body("b"), MARKER)


def test_persistent_5xx_gives_up_with_a_named_error(fake: FakeGitHub) -> None:
    fake.faults.server_error["issues/create-comment"] = 10
    with pytest.raises(CannotPostComment, match="after 3 attempts: HTTP 502"):
        publisher(fake).upsert_comment(PR, body(), MARKER)
    assert fake.comment_bodies(PR) == []


def test_statuses_pending_then_final_on_the_head_sha(fake: FakeGitHub) -> None:
    pub = publisher(fake)
    pub.set_status(SHA, "pending", "Evaluating 1 model…", context="evalaction", target_url=RUN)
    pub.set_status(SHA, "failure", "NO-GO: " + "recall[7] worse; " * 20, context="evalaction", target_url=RUN)
    states = [(s["state"], s["context"], s["target_url"]) for s in fake.statuses[SHA]]
    assert states == [("pending", "evalaction", RUN), ("failure", "evalaction", RUN)]
    assert all(len(s["description"]) < 140 for s in fake.statuses[SHA])


def test_status_is_retried_on_5xx_and_rate_limits(fake: FakeGitHub) -> None:
    fake.faults.server_error["repos/create-commit-status"] = 1
    fake.faults.rate_limit["repos/create-commit-status"] = 1
    sleeps = Sleeps()
    publisher(fake, sleeps).set_status(SHA, "success", "GO", context="evalaction", target_url=None)
    assert [r.status for r in fake.calls("repos/create-commit-status")] == [502, 403, 201]
    assert [s["state"] for s in fake.statuses[SHA]] == ["success"]
    assert sleeps.calls == [0.01, 0.0]


def test_status_403_names_the_permission(fake: FakeGitHub) -> None:
    fake.faults.forbid_status_writes = True
    with pytest.raises(ExternalServiceError, match="statuses: write") as info:
        publisher(fake).set_status(SHA, "pending", "x", context="evalaction", target_url=RUN)
    assert TOKEN not in str(info.value)


def test_pr_files_are_read_across_pages(fake: FakeGitHub) -> None:
    fake.seed_pr_files(PR, [(f"models/m{i}.onnx", "modified") for i in range(130)] + [("README.md", "added")])
    files = publisher(fake).pr_files(PR)
    assert len(files) == 131 and files[-1]["filename"] == "README.md"
    assert len(fake.calls("pulls/list-files")) == 2


def test_enterprise_base_url_with_a_path_prefix() -> None:
    with FakeGitHub(prefix="/api/v3") as fake:
        fake.seed_comments(PR, 120, bodies={110: body("old")}, logins={110: BOT})
        pub = publisher(fake)
        pub.upsert_comment(PR, body("new"), MARKER, author=BOT)
        pub.set_status(SHA, "success", "GO", context="evalaction", target_url=RUN)
        assert fake.violations == []
        assert fake.comments[PR][110]["body"] == body("new")
        assert all(r.path.startswith("/repos/") for r in fake.requests)


def test_the_fake_rejects_requests_the_document_does_not_allow(fake: FakeGitHub) -> None:
    """The check must be able to fail: a wrong body, an undocumented query, an unknown path."""
    headers = {"Authorization": "token x"}
    url = f"{fake.base_url}/repos/{fake.repository}"
    assert (
        requests.post(f"{url}/issues/2/comments", json={"text": "x"}, headers=headers, timeout=5).status_code
        == 400
    )
    assert requests.get(f"{url}/issues/2/comments?per_page=x", headers=headers, timeout=5).status_code == 400
    assert requests.get(f"{url}/issues/2/comments?sort=asc", headers=headers, timeout=5).status_code == 400
    assert (
        requests.post(f"{url}/statuses/{SHA}", json={"state": "ok"}, headers=headers, timeout=5).status_code == 400
    )
    assert requests.get(f"{url}/issues/2", headers=headers, timeout=5).status_code == 400
    assert requests.get(f"{url}/issues/2/comments", timeout=5).status_code == 400  # no token
    assert len(fake.violations) == 6
    fake.violations.clear()


def test_retry_policy_never_replays_post() -> None:
    retry = github_retry()
    assert "POST" not in retry.allowed_methods
    assert {"GET", "PATCH"} <= set(retry.allowed_methods)
    assert retry.is_retry("GET", 502) and not retry.is_retry("POST", 502)


def test_a_foreign_comment_carrying_the_marker_is_never_edited(fake: FakeGitHub) -> None:
    """Anyone can post the marker first; only a marker comment by the token's own login is ours."""
    fake.seed_comments(PR, 2, bodies={0: body("✅ GO, trust me")}, logins={0: "mallory"})
    result = publisher(fake).upsert_comment(PR, body("❌ NO-GO"), MARKER, author=BOT)
    assert result is not None and result.action == "created"
    assert fake.comment_bodies(PR)[0] == body("✅ GO, trust me")  # untouched
    assert fake.comments[PR][2]["user"]["login"] == BOT and fake.comments[PR][2]["body"] == body("❌ NO-GO")
    assert fake.calls("issues/update-comment") == []
    # The next run finds its own comment, not mallory's.
    again = publisher(fake).upsert_comment(PR, body("❌ NO-GO again"), MARKER, author=BOT)
    assert again is not None and again.action == "updated" and again.comment_id == result.comment_id


def closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_an_unreachable_api_fails_fast_names_the_cause_and_is_then_skipped() -> None:
    from evalaction.github.publish import PublishFailed, PublishLimits

    limits = PublishLimits(timeout_s=1, attempts=3, backoff_s=0.0)
    gh = make_client(api_url=f"http://127.0.0.1:{closed_port()}", token=TOKEN, limits=limits)
    pub = GitHubPublisher(gh, "Codertocat/Hello-World", limits=limits, sleep=Sleeps())
    with pytest.raises(PublishFailed) as info:
        pub.set_status(SHA, "pending", "x", context="evalaction", target_url=RUN)
    assert info.value.kind == "unreachable"
    assert "is unreachable (connection refused)" in str(info.value) and "after 3 attempts" in str(info.value)
    assert "statuses: write" not in str(info.value) and TOKEN not in str(info.value)
    assert pub.down is info.value
    with pytest.raises(PublishFailed, match="failed earlier in this run") as later:
        pub.upsert_comment(PR, body(), MARKER, author=BOT)
    assert later.value.kind == "unreachable"


def test_a_hanging_api_times_out_once_per_attempt_then_is_skipped(fake: FakeGitHub) -> None:
    from evalaction.github.publish import PublishFailed, PublishLimits

    fake.faults.hang_s = 5.0
    limits = PublishLimits(timeout_s=1, attempts=2, backoff_s=0.0)
    gh = make_client(api_url=fake.base_url, token=TOKEN, limits=limits)
    pub = GitHubPublisher(gh, fake.repository, limits=limits, sleep=Sleeps())
    started = time.monotonic()
    with pytest.raises(PublishFailed) as info:
        pub.set_status(SHA, "pending", "x", context="evalaction", target_url=RUN)
    with pytest.raises(PublishFailed):
        pub.upsert_comment(PR, body(), MARKER, author=BOT)
    elapsed = time.monotonic() - started
    assert info.value.kind == "timeout" and "did not answer within 1 s (timed out)" in str(info.value)
    assert len(fake.requests) == 2  # two attempts of the status, nothing after
    assert elapsed < 4.5  # 2 attempts x 1 s, not 2 x 5 s


def test_the_authenticated_login_of_a_user_token_and_none_when_github_will_not_say() -> None:
    """GET /user answers for a user token; an installation token (GITHUB_TOKEN) gets a 403: None, no raise."""
    from types import SimpleNamespace

    class Client:
        requester = SimpleNamespace(is_lazy=True, base_url="https://api.github.com")

        def __init__(self, user: object) -> None:
            self.user = user

        def get_repo(self, name: str) -> object:
            return SimpleNamespace(full_name=name)

        def get_user(self) -> object:
            if isinstance(self.user, Exception):
                raise self.user
            return self.user

    from github import GithubException

    pub = GitHubPublisher(Client(SimpleNamespace(login="octocat")), "o/r")  # type: ignore[arg-type]
    assert pub.authenticated_login() == "octocat"
    refused = GithubException(403, {"message": "Resource not accessible by integration"}, None)
    assert GitHubPublisher(Client(refused), "o/r").authenticated_login() is None  # type: ignore[arg-type]

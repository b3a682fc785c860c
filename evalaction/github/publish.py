"""Publishing to GitHub: the sticky PR comment and the commit status, PyGithub behind one small adapter.

The `Github` client is built at the edge (`make_client`, called only by the entrypoint) and handed to
`GitHubPublisher`, so tests hand in a client pointed at a local fake API.

Retries, and why they never duplicate a comment:

* GET and PATCH are retried inside the HTTP layer (`github_retry`: urllib3 `Retry` via PyGithub's
  `GithubRetry`, which also waits out rate limits and honours `Retry-After`). PATCH of one comment with one
  body is idempotent: replaying it leaves the same state.
* POST is never retried by the HTTP layer: a POST that timed out or got a 5xx may have created the comment.
  `GitHubPublisher.upsert_comment` instead re-lists the comments looking for its marker before posting again.
* A commit status POST is safe to repeat (GitHub keeps the latest status per context), so the adapter retries
  it itself on 5xx, rate limits and timeouts.
"""

from __future__ import annotations

import json
import re
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from evalaction.errors import CannotPostComment, ExternalServiceError

if TYPE_CHECKING:  # PyGithub is imported lazily: the CLI must not pay for it at start-up.
    from github import Github
    from github.IssueComment import IssueComment
    from urllib3 import Retry

COMMENT_MAX_CHARS = 65_536  # GitHub rejects a longer issue comment body ("maximum is 65536 characters")
STATUS_DESCRIPTION_MAX_CHARS = 140  # GitHub rejects a longer commit status description
API_TIMEOUT_S = 20  # per HTTP request (connect and read), for every call
MAX_WAIT_S = 120.0  # give up rather than wait longer for a rate limit to reset
DEFAULT_SECONDARY_RATE_WAIT_S = 60.0  # GitHub: "wait at least one minute" when no Retry-After is given

StatusState = Literal["pending", "success", "failure", "error"]


class MissingCommentMarker(RuntimeError):
    """A comment body without its marker would never be found again: a bug, so not an EvalActionError."""


@dataclass(frozen=True)
class CommentResult:
    """What happened to the sticky comment."""

    comment_id: int
    url: str
    action: Literal["created", "updated", "unchanged"]


# ---------------------------------------------------------------------------------------- client


def github_retry(
    *, total: int = 4, backoff_factor: float = 1.0, secondary_rate_wait: float = DEFAULT_SECONDARY_RATE_WAIT_S
) -> Retry:
    """The HTTP-level retry policy: idempotent methods only, 5xx and rate limits, bounded waits."""
    from github import GithubRetry

    # urllib3's default idempotent set plus PATCH (one comment, one body: replaying is harmless), and
    # without POST, which GithubRetry adds by default: a replayed POST creates a second comment.
    return GithubRetry(
        total=total,
        backoff_factor=backoff_factor,
        allowed_methods=frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE", "PATCH"}),
        secondary_rate_wait=secondary_rate_wait,
        max_rate_limit_wait=MAX_WAIT_S,
        # Hand the last 5xx back as a response, so PyGithub raises a GithubException with its status
        # instead of an opaque urllib3 MaxRetryError.
        raise_on_status=False,
    )


def make_client(
    *, api_url: str, token: str | None, timeout_s: int = API_TIMEOUT_S, retry: Retry | None = None
) -> Github:
    """Build the PyGithub client; only the entrypoint and the CLI call this."""
    from github import Auth, Github

    return Github(
        auth=Auth.Token(token) if token else None,
        base_url=api_url,
        timeout=timeout_s,
        retry=retry if retry is not None else github_retry(),
        per_page=100,  # the API maximum: fewer pages to walk when looking for the marker
        # PyGithub's default throttle (0.25 s between requests, 1 s between writes) guards clients that
        # make many writes; a run makes at most ~5, and rate limits are retried, so it only adds latency.
        seconds_between_requests=None,
        seconds_between_writes=None,
        lazy=True,
    )


# ---------------------------------------------------------------------------------------- comment body


def comment_marker(config_path: str) -> str:
    """The hidden first line that identifies this action's comment for one evaluation plan."""
    # An HTML comment cannot contain `--` or `>`; percent-encode anything outside a safe path alphabet.
    safe = urllib.parse.quote(config_path.replace("\\", "/"), safe="/._-~+@").replace("--", "-%2D")
    return f"<!-- evalaction:{safe} -->"


def check_marker(body: str, marker: str) -> None:
    """Fail loudly when a rendered body does not start with its marker."""
    if body.split("\n", 1)[0].strip() != marker:
        raise MissingCommentMarker(
            f"The rendered PR comment does not start with {marker!r}; the template dropped it, so the "
            "comment could never be found and updated. Fix the report template."
        )


_DETAILS_TOKEN = re.compile(r"<details\b[^>]*>|</details\s*>", re.IGNORECASE)
_SUMMARY = re.compile(r"<summary\b[^>]*>(.*?)</summary\s*>", re.IGNORECASE | re.DOTALL)


def _top_level_details(body: str) -> list[tuple[int, int]]:
    """Spans of the outermost `<details>...</details>` blocks (nesting counted, unclosed ignored)."""
    spans: list[tuple[int, int]] = []
    depth = 0
    start = 0
    for match in _DETAILS_TOKEN.finditer(body):
        if match.group(0).startswith("</"):
            if depth == 0:
                continue
            depth -= 1
            if depth == 0:
                spans.append((start, match.end()))
        else:
            if depth == 0:
                start = match.start()
            depth += 1
    return spans


def fit_comment(body: str, *, report_url: str | None, limit: int = COMMENT_MAX_CHARS) -> str:
    """Shrink a comment body below `limit` characters, cutting `<details>` sections first.

    Sections are replaced from the last to the first by one line naming them and linking the full report;
    the text outside `<details>` (verdict, gate table, run link) is kept. Only if that text alone is too
    long (hundreds of gates) is it cut at a line boundary, keeping the first line (marker) and the last
    line (the run link).
    """
    if report_url and report_url not in body:
        body = body.rstrip("\n") + f"\n\n[Full report]({report_url})\n"
    if len(body) < limit:
        return body
    link = f"[full report]({report_url})" if report_url else "the full report in the run's artifacts"
    for start, end in reversed(_top_level_details(body)):
        summary = _SUMMARY.search(body, start, end)
        title = re.sub(r"<[^>]+>", "", summary.group(1)).strip() if summary else "Details"
        note = f"_{title}: cut to fit GitHub's {COMMENT_MAX_CHARS:,}-character comment limit; see the {link}._"
        # Blank lines around the note: a text line right after a table would render as one more row.
        body = body[:start] + f"\n{note}\n" + body[end:]
        if len(body) < limit:
            return body
    lines = body.rstrip("\n").split("\n")
    first, last = lines[0], lines[-1]
    note = f"_Comment cut to fit GitHub's {COMMENT_MAX_CHARS:,}-character limit; see the {link}._"
    budget = limit - len(first) - len(last) - len(note) - 8
    kept: list[str] = []
    for line in lines[1:-1]:
        budget -= len(line) + 1
        if budget < 0:
            break
        kept.append(line)
    return "\n".join([first, *kept, "", note, "", last]) + "\n"


def status_description(text: str) -> str:
    """A one-line commit status description within GitHub's 140-character limit."""
    line = " ".join(text.split())
    limit = STATUS_DESCRIPTION_MAX_CHARS - 1
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


def save_comment_for_later(
    out_dir: Path,
    *,
    body: str,
    pr_number: int,
    marker: str,
    reason: str,
    status: Mapping[str, str] | None = None,
) -> Path:
    """Write the comment where a follow-up `workflow_run` job can post it; returns the markdown path.

    `pr-comment.json` carries the PR number, the marker, why it was not posted and, optionally, the final
    commit status (`state`, `description`, `context`) for that job to set too
    (examples/workflows/fork-safe-comment.yml).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "pr-comment.md"
    path.write_text(body, encoding="utf-8")
    meta: dict[str, Any] = {
        "pr_number": pr_number,
        "marker": marker,
        "body_path": path.name,
        "reason": reason,
    }
    if status is not None:
        meta["status"] = dict(status)
    (out_dir / "pr-comment.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return path


# ---------------------------------------------------------------------------------------- adapter


class GitHubPublisher:
    """The only object that talks to the GitHub API: comments, statuses and PR files for one repository."""

    def __init__(
        self,
        client: Github,
        repository: str,
        *,
        max_attempts: int = 4,
        backoff_s: float = 2.0,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        # Lazy: objects are built from URLs, so each method makes exactly the calls it names (no
        # GET /repos/{o}/{r} or GET .../issues/{n} to "complete" an object first).
        if not client.requester.is_lazy:
            client = client.withLazy(True)
        self._repo = client.get_repo(repository)
        self._repository = repository
        self._max_attempts = max_attempts
        self._backoff_s = backoff_s
        self._sleep = sleep if sleep is not None else time.sleep  # looked up now: tests may patch it

    # ------------------------------------------------------------------ comments

    def find_comment(self, pr_number: int, marker: str) -> IssueComment | None:
        """The oldest comment whose first line is `marker`, searching every page."""
        issue = self._repo.get_issue(pr_number)
        try:
            for comment in issue.get_comments():
                # First line only: a reply quoting our comment starts with `>` and is not ours.
                if (comment.body or "").split("\n", 1)[0].strip() == marker:
                    return comment
        except Exception as exc:
            raise self._comment_error("list the comments of", pr_number, exc) from None
        return None

    def upsert_comment(
        self, pr_number: int, body: str, marker: str, *, create: bool = True
    ) -> CommentResult | None:
        """Edit this action's comment on the PR, or post it; never leaves two.

        With `create=False` an existing comment is updated but none is created (returns None).
        Raises `CannotPostComment` on 403 (read-only token, fork PR) or when retries run out.
        """
        check_marker(body, marker)
        if len(body) >= COMMENT_MAX_CHARS:
            raise ValueError(f"comment body has {len(body)} characters; pass it through fit_comment first")
        existing = self.find_comment(pr_number, marker)
        if existing is not None:
            return self._edit(pr_number, existing, body, action="updated")
        if not create:
            return None
        issue = self._repo.get_issue(pr_number)
        for attempt in range(1, self._max_attempts + 1):
            try:
                created = issue.create_comment(body)
                return CommentResult(created.id, created.html_url, "created")
            except Exception as exc:
                wait = self._retry_wait(exc, attempt)
                if wait is None:
                    spent = _is_transient(exc) and attempt >= self._max_attempts
                    attempts = self._max_attempts if spent else None
                    raise self._comment_error("post a comment on", pr_number, exc, attempts=attempts) from None
            # The POST may have reached GitHub before the failure: look before posting again.
            self._sleep(wait)
            existing = self.find_comment(pr_number, marker)
            if existing is not None:
                return self._edit(pr_number, existing, body, action="created")
        raise AssertionError("unreachable: the last attempt returns or raises")  # pragma: no cover

    def _edit(
        self, pr_number: int, comment: IssueComment, body: str, *, action: Literal["created", "updated"]
    ) -> CommentResult:
        if comment.body == body:
            # Skip the write; a comment found while reconciling a failed POST still counts as created.
            return CommentResult(comment.id, comment.html_url, "unchanged" if action == "updated" else action)
        try:
            comment.edit(body)
        except Exception as exc:
            raise self._comment_error(f"edit comment {comment.id} on", pr_number, exc) from None
        return CommentResult(comment.id, comment.html_url, action)

    # ------------------------------------------------------------------ statuses

    def set_status(
        self, sha: str, state: StatusState, description: str, *, context: str, target_url: str | None
    ) -> None:
        """Set the commit status for `context` on `sha`; repeated on 5xx/rate limits (latest status wins)."""
        commit = self._repo.get_commit(sha)
        kwargs: dict[str, Any] = {"description": status_description(description), "context": context}
        if target_url:
            kwargs["target_url"] = target_url
        for attempt in range(1, self._max_attempts + 1):
            try:
                commit.create_status(state, **kwargs)
                return
            except Exception as exc:
                wait = self._retry_wait(exc, attempt)
                if wait is None:
                    raise ExternalServiceError(
                        f"GitHub refused the `{state}` commit status on {sha[:12]} of {self._repository}: "
                        f"{_describe(exc)}; give the workflow `permissions: statuses: write`."
                    ) from None
            self._sleep(wait)

    # ------------------------------------------------------------------ PR files

    def pr_files(self, pr_number: int) -> list[dict[str, Any]]:
        """Every changed file of the PR (all pages), as the API's diff entries."""
        try:
            return [dict(f.raw_data) for f in self._repo.get_pull(pr_number).get_files()]
        except Exception as exc:
            raise ExternalServiceError(
                f"Cannot list the files of PR #{pr_number} in {self._repository}: {_describe(exc)}; "
                "check out with `fetch-depth: 0` so evalaction can use git instead."
            ) from None

    # ------------------------------------------------------------------ helpers

    def _retry_wait(self, exc: Exception, attempt: int) -> float | None:
        """Seconds to wait before trying again, or None when the failure is final or attempts are spent."""
        if attempt >= self._max_attempts or not _is_transient(exc):
            return None
        after = _retry_after(exc)
        wait = after if after is not None else self._backoff_s * 2 ** (attempt - 1)
        return wait if wait <= MAX_WAIT_S else None

    def _comment_error(
        self, verb: str, pr_number: int, exc: Exception, *, attempts: int | None = None
    ) -> CannotPostComment:
        status = getattr(exc, "status", None)
        tries = f" after {attempts} attempts" if attempts else ""
        fix = (
            "the token is read-only (fork PRs get one): grant `pull-requests: write`, or post the saved "
            "comment from a `workflow_run` job"
            if status == 403
            else "GitHub may be degraded; re-run the job"
        )
        error = CannotPostComment(
            f"Cannot {verb} PR #{pr_number} in {self._repository}{tries}: {_describe(exc)}; {fix}."
        )
        error.status = status  # type: ignore[attr-defined]  # lets the caller tell 403 from an outage
        return error


def _headers(exc: Exception) -> dict[str, str]:
    headers = getattr(exc, "headers", None) or {}
    return {str(k).lower(): str(v) for k, v in headers.items()}


def _retry_after(exc: Exception) -> float | None:
    value = _headers(exc).get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date; fall back to exponential backoff


def _is_transient(exc: Exception) -> bool:
    """5xx, a rate limit (403/429 with Retry-After or a rate-limit message), or a network failure."""
    import requests
    from github import GithubException, RateLimitExceededException

    if isinstance(exc, requests.RequestException):
        return True
    if isinstance(exc, GithubException):
        if exc.status >= 500:
            return True
        if exc.status in (403, 429):
            return isinstance(exc, RateLimitExceededException) or "retry-after" in _headers(exc)
    return False


def _describe(exc: Exception) -> str:
    """`HTTP 403: Resource not accessible by integration`, or the exception type for network errors."""
    status = getattr(exc, "status", None)
    data = getattr(exc, "data", None)
    if status is not None:
        message = data.get("message") if isinstance(data, dict) else None
        return f"HTTP {status}" + (f": {message}" if message else "")
    # requests' messages carry the URL (no token: it travels in a header) and can be long.
    return type(exc).__name__

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

Bounded failure (`PublishLimits`, the numbers docs/github-action.md documents): every request has a timeout,
every call a number of attempts, and once one call has failed on the network (connection refused, DNS,
timeout) the API counts as down for the rest of the run: later calls fail at once with the same cause instead
of waiting again. A run therefore spends at most about `attempts x timeout_s` plus the backoffs on an
unreachable or hanging API (33 s by default), and never more than `network_budget_s` in all. Failures are
`PublishFailed` errors whose `kind` names the cause: `unreachable`, `timeout`, `forbidden`, `server` (5xx
after the attempts), `rate-limited` or `other`; the action decides from it (a fork's read-only token is the
only failure that keeps the verdict's exit code).
"""

from __future__ import annotations

import json
import re
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from evalaction.exceptions import CannotPostComment, ExternalServiceError

if TYPE_CHECKING:  # PyGithub is imported lazily: the CLI must not pay for it at start-up.
    from github import Github
    from github.IssueComment import IssueComment
    from urllib3 import Retry

COMMENT_MAX_CHARS = 65_536  # GitHub rejects a longer issue comment body ("maximum is 65536 characters")
STATUS_DESCRIPTION_MAX_CHARS = 140  # GitHub rejects a longer commit status description
API_TIMEOUT_S = 10  # per HTTP request (whole seconds: PyGithub takes an int) (connect and read), for every call
API_ATTEMPTS = 3  # per call: the first try and two retries (5xx, rate limits, network errors)
API_BACKOFF_S = 1.0  # waits between attempts: 1 s, then 2 s (unless GitHub sends Retry-After)
NETWORK_BUDGET_S = 60.0  # most seconds a run spends in calls that fail on the network, all calls together
MAX_WAIT_S = 120.0  # give up rather than wait longer for a rate limit to reset
DEFAULT_SECONDARY_RATE_WAIT_S = 60.0  # GitHub: "wait at least one minute" when no Retry-After is given

FailureKind = Literal["unreachable", "timeout", "forbidden", "server", "rate-limited", "other"]


@dataclass(frozen=True)
class PublishLimits:
    """How long publishing may take; the action reads overrides from EVALACTION_GITHUB_* (settings.py)."""

    timeout_s: int = API_TIMEOUT_S
    attempts: int = API_ATTEMPTS
    backoff_s: float = API_BACKOFF_S
    network_budget_s: float = NETWORK_BUDGET_S


class PublishFailed(ExternalServiceError):
    """A GitHub call failed for good; `kind` names the cause, `status` the HTTP status when there was one."""

    def __init__(self, message: str, *, kind: FailureKind, status: int | None = None, cause: str = "") -> None:
        super().__init__(message)
        self.kind: FailureKind = kind
        self.status = status
        self.cause = cause or message  # the cause alone, in words (`the GitHub API at ... is unreachable`)


class CommentFailed(PublishFailed, CannotPostComment):
    """The sticky comment could not be written (`kind` says why)."""


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
    *,
    total: int = API_ATTEMPTS - 1,
    backoff_factor: float = API_BACKOFF_S,
    secondary_rate_wait: float = DEFAULT_SECONDARY_RATE_WAIT_S,
) -> Retry:
    """The HTTP-level retry policy: idempotent methods only, 5xx and rate limits, bounded waits."""
    from github import GithubRetry

    # urllib3's default idempotent set plus PATCH (one comment, one body: replaying is harmless), and
    # without POST, which GithubRetry adds by default: a replayed POST creates a second comment.
    return GithubRetry(
        total=total,
        # Network errors (refused, reset, timed out) are retried by the adapter, which counts their time
        # against the run's budget; here they would multiply with its attempts.
        connect=0,
        read=0,
        other=0,
        backoff_factor=backoff_factor,
        allowed_methods=frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE", "PATCH"}),
        secondary_rate_wait=secondary_rate_wait,
        max_rate_limit_wait=MAX_WAIT_S,
        # Hand the last 5xx back as a response, so PyGithub raises a GithubException with its status
        # instead of an opaque urllib3 MaxRetryError.
        raise_on_status=False,
    )


def make_client(
    *,
    api_url: str,
    token: str | None,
    timeout_s: int = API_TIMEOUT_S,
    retry: Retry | None = None,
    limits: PublishLimits | None = None,
) -> Github:
    """Build the PyGithub client; only the entrypoint and the CLI call this."""
    from github import Auth, Github

    if limits is not None:
        timeout_s = limits.timeout_s
        if retry is None:
            retry = github_retry(total=max(0, limits.attempts - 1), backoff_factor=limits.backoff_s)
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
        max_attempts: int = API_ATTEMPTS,
        backoff_s: float = API_BACKOFF_S,
        sleep: Callable[[float], None] | None = None,
        limits: PublishLimits | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        # Lazy: objects are built from URLs, so each method makes exactly the calls it names (no
        # GET /repos/{o}/{r} or GET .../issues/{n} to "complete" an object first).
        if not client.requester.is_lazy:
            client = client.withLazy(True)
        self._client = client
        self._repo = client.get_repo(repository)
        self._repository = repository
        self._api_url = client.requester.base_url
        self._limits = limits or PublishLimits(
            timeout_s=API_TIMEOUT_S, attempts=max_attempts, backoff_s=backoff_s, network_budget_s=NETWORK_BUDGET_S
        )
        self._max_attempts = self._limits.attempts
        self._backoff_s = self._limits.backoff_s
        self._sleep = sleep if sleep is not None else time.sleep  # looked up now: tests may patch it
        self._clock = clock if clock is not None else time.monotonic
        self._down: PublishFailed | None = None  # the network failure that makes every later call fail at once
        self._network_spent_s = 0.0  # seconds spent in calls that failed on the network

    @property
    def down(self) -> PublishFailed | None:
        """The network failure after which this publisher stopped calling GitHub; None while it works."""
        return self._down

    def authenticated_login(self) -> str | None:
        """The login of a user token (GET /user); None when GitHub does not say (an installation token)."""
        try:
            return str(self._attempt(lambda: self._client.get_user().login))
        except Exception:
            return None

    # ------------------------------------------------------------------ comments

    def find_comment(self, pr_number: int, marker: str, *, author: str | None = None) -> IssueComment | None:
        """The oldest comment whose first line is `marker` (and, with `author`, written by that login)."""
        issue = self._repo.get_issue(pr_number)

        def scan() -> IssueComment | None:
            for comment in issue.get_comments():
                # First line only: a reply quoting our comment starts with `>` and is not ours.
                if (comment.body or "").split("\n", 1)[0].strip() != marker:
                    continue
                # Marker AND author: anyone can post the marker; only our own comment is edited.
                if author is not None and (comment.user.login if comment.user else "") != author:
                    continue
                return comment
            return None

        try:
            return self._retrying(scan, network_only=True)
        except _GaveUp as gave_up:
            raise self._comment_error(
                "list the comments of", pr_number, gave_up.exc, attempts=gave_up.attempts
            ) from None

    def upsert_comment(
        self, pr_number: int, body: str, marker: str, *, create: bool = True, author: str | None = None
    ) -> CommentResult | None:
        """Edit this action's comment on the PR, or post it; never leaves two.

        `author` is the login the token acts as (`github-actions[bot]` for GITHUB_TOKEN): a comment with the
        marker by anyone else is left alone. With `create=False` an existing comment is updated but none is
        created (returns None). Raises `CommentFailed` (a `CannotPostComment`) with the cause's `kind`.
        """
        check_marker(body, marker)
        if len(body) >= COMMENT_MAX_CHARS:
            raise ValueError(f"comment body has {len(body)} characters; pass it through fit_comment first")
        existing = self.find_comment(pr_number, marker, author=author)
        if existing is not None:
            return self._edit(pr_number, existing, body, action="updated")
        if not create:
            return None
        issue = self._repo.get_issue(pr_number)
        for attempt in range(1, self._max_attempts + 1):
            try:
                created = self._attempt(lambda: issue.create_comment(body))
                return CommentResult(created.id, created.html_url, "created")
            except PublishFailed:
                raise
            except Exception as exc:
                wait = self._retry_wait(exc, attempt)
                if wait is None:
                    spent = _is_transient(exc) and attempt >= self._max_attempts
                    attempts = self._max_attempts if spent else None
                    raise self._comment_error("post a comment on", pr_number, exc, attempts=attempts) from None
            # The POST may have reached GitHub before the failure: look before posting again.
            self._sleep(wait)
            existing = self.find_comment(pr_number, marker, author=author)
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
            self._retrying(lambda: comment.edit(body), network_only=True)
        except _GaveUp as gave_up:
            raise self._comment_error(
                f"edit comment {comment.id} on", pr_number, gave_up.exc, attempts=gave_up.attempts
            ) from None
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
        try:
            self._retrying(lambda: commit.create_status(state, **kwargs), network_only=False)
        except _GaveUp as gave_up:
            kind = _classify(gave_up.exc)
            tries = f" after {gave_up.attempts} attempts" if gave_up.attempts > 1 else ""
            fix = _fix(
                kind,
                forbidden="the token may not write commit statuses (a fork PR's token is read-only; "
                "otherwise give the workflow `permissions: statuses: write`)",
            )
            raise self._failed(
                f"Cannot set the `{state}` commit status on {sha[:12]} of {self._repository}: "
                f"{self._cause(gave_up.exc)}{tries}; {fix}.",
                gave_up.exc,
            ) from None

    # ------------------------------------------------------------------ PR files

    def pr_files(self, pr_number: int) -> list[dict[str, Any]]:
        """Every changed file of the PR (all pages), as the API's diff entries."""
        try:
            return self._retrying(
                lambda: [dict(f.raw_data) for f in self._repo.get_pull(pr_number).get_files()], network_only=True
            )
        except _GaveUp as gave_up:
            raise self._failed(
                f"Cannot list the files of PR #{pr_number} in {self._repository}: {self._cause(gave_up.exc)}; "
                "check out with `fetch-depth: 0` so evalaction can use git instead.",
                gave_up.exc,
            ) from None

    # ------------------------------------------------------------------ helpers

    def _retrying(self, call: Callable[[], _T], *, network_only: bool) -> _T:
        """`call` with up to `attempts` tries on transient failures; `_GaveUp` when they run out.

        `network_only`: GET and PATCH, whose 5xx and rate limits the HTTP layer already retried; only network
        errors (which it leaves to us) are tried again here.
        """
        for attempt in range(1, self._max_attempts + 1):
            try:
                return self._attempt(call)
            except PublishFailed:
                raise
            except Exception as exc:
                network = _classify(exc) in ("unreachable", "timeout")
                wait = self._retry_wait(exc, attempt) if network or not network_only else None
                if wait is None:
                    raise _GaveUp(exc, attempt) from None
            self._sleep(wait)
        raise AssertionError("unreachable: the last attempt returns or raises")  # pragma: no cover

    def _attempt(self, call: Callable[[], _T]) -> _T:
        """One call, unless the API is already known to be down; time lost to the network is counted."""
        if self._down is not None:
            raise PublishFailed(
                f"Skipped: the GitHub API failed earlier in this run ({self._down.cause})", kind=self._down.kind
            )
        if self._network_spent_s >= self._limits.network_budget_s:
            raise PublishFailed(
                f"Skipped: {self._network_spent_s:.0f} s of this run's {self._limits.network_budget_s:g} s "
                "network budget for GitHub are spent",
                kind="timeout",
            )
        start = self._clock()
        try:
            return call()
        except Exception as exc:
            if _classify(exc) in ("unreachable", "timeout"):
                self._network_spent_s += self._clock() - start
            raise

    def _retry_wait(self, exc: Exception, attempt: int) -> float | None:
        """Seconds to wait before trying again, or None when the failure is final or attempts are spent."""
        if attempt >= self._max_attempts or not _is_transient(exc):
            return None
        after = _retry_after(exc)
        wait = after if after is not None else self._backoff_s * 2 ** (attempt - 1)
        if _classify(exc) in ("unreachable", "timeout"):
            if self._network_spent_s + wait >= self._limits.network_budget_s:
                return None
            self._network_spent_s += wait
        return wait if wait <= MAX_WAIT_S else None

    def _cause(self, exc: Exception) -> str:
        """The real cause in words: unreachable, timed out, forbidden, HTTP 5xx."""
        kind = _classify(exc)
        if kind == "unreachable":
            return f"the GitHub API at {self._api_url} is unreachable ({_network_reason(exc)})"
        if kind == "timeout":
            return (
                f"the GitHub API at {self._api_url} did not answer within {self._limits.timeout_s:g} s (timed out)"
            )
        if kind == "forbidden":
            return f"forbidden ({_describe(exc)})"
        return _describe(exc)

    def _failed(self, message: str, exc: Exception, *, comment: bool = False) -> PublishFailed:
        kind = _classify(exc)
        cls = CommentFailed if comment else PublishFailed
        error = cls(message, kind=kind, status=getattr(exc, "status", None), cause=self._cause(exc))
        if kind in ("unreachable", "timeout"):
            self._down = error
        return error

    def _comment_error(
        self, verb: str, pr_number: int, exc: Exception, *, attempts: int | None = None
    ) -> PublishFailed:
        kind = _classify(exc)
        tries = f" after {attempts} attempts" if attempts else ""
        fix = _fix(
            kind,
            forbidden="the token is read-only (fork PRs get one) or lacks `pull-requests: write`: grant it, or "
            "post the saved comment from a `workflow_run` job",
        )
        return self._failed(
            f"Cannot {verb} PR #{pr_number} in {self._repository}{tries}: {self._cause(exc)}; {fix}.",
            exc,
            comment=True,
        )


class _GaveUp(Exception):
    """The last failure of a call whose attempts ran out (or that is not worth repeating)."""

    def __init__(self, exc: Exception, attempts: int) -> None:
        super().__init__(str(exc))
        self.exc = exc
        self.attempts = attempts


_NETWORK_FIX = "check GITHUB_API_URL and https://www.githubstatus.com, then re-run the job"


def _fix(kind: str, *, forbidden: str) -> str:
    """What to do about a failed request of this kind (`_classify`); `forbidden` is the call's own advice."""
    return {"forbidden": forbidden, "unreachable": _NETWORK_FIX, "timeout": _NETWORK_FIX}.get(
        kind, "GitHub may be degraded; re-run the job"
    )


_T = TypeVar("_T")


def _classify(exc: BaseException) -> FailureKind:
    """The cause of a failed call, for the message and for the action's exit code."""
    import requests
    from github import GithubException

    if isinstance(exc, PublishFailed):
        return exc.kind
    if _has_timeout(exc):
        return "timeout"
    if isinstance(exc, requests.RequestException):
        return "unreachable"
    if isinstance(exc, GithubException):
        if exc.status >= 500:
            return "server"
        if exc.status in (403, 429):
            return "rate-limited" if _is_transient(exc) else "forbidden"
    return "other"


def _chain(exc: BaseException) -> list[BaseException]:
    """The exception, its causes, and the errors wrapped in its args or `reason` (requests -> urllib3)."""
    seen: list[BaseException] = []
    stack = [exc]
    while stack:
        e = stack.pop()
        if any(e is s for s in seen):
            continue
        seen.append(e)
        reason = getattr(e, "reason", None)
        for nested in (reason, e.__cause__, e.__context__, *e.args):
            if isinstance(nested, BaseException):
                stack.append(nested)
    return seen


def _has_timeout(exc: BaseException) -> bool:
    import socket

    import requests
    from urllib3.exceptions import NewConnectionError
    from urllib3.exceptions import TimeoutError as Urllib3Timeout

    # urllib3's NewConnectionError (refused, DNS) subclasses its ConnectTimeoutError for old callers' sake.
    return any(
        isinstance(e, requests.Timeout | Urllib3Timeout | socket.timeout) and not isinstance(e, NewConnectionError)
        for e in _chain(exc)
    )


def _network_reason(exc: BaseException) -> str:
    """`connection refused`, `name or service not known`, ... from the errno text, else the exception type."""
    for e in _chain(exc):
        m = re.search(r"\[Errno -?\d+\] ([^'\")\]]+)", str(e))
        if m:
            return m.group(1).strip().lower()
    return type(exc).__name__


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

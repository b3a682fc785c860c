"""The triggering event, parsed from `$GITHUB_EVENT_PATH` into one typed `EventContext`.

evalaction evaluates on `pull_request` (opened, synchronize, reopened) and `workflow_dispatch`. Any other
event or PR action is not an error: it yields `NoAction` with a message saying why, and the action exits 0.
Payload shapes: https://docs.github.com/en/webhooks/webhook-events-and-payloads#pull_request and
#workflow_dispatch.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from evalaction.errors import InvalidEvent

EVALUATED_PR_ACTIONS = ("opened", "synchronize", "reopened")
# Names accepted for the workflow_dispatch inputs; the examples use the first of each.
_CANDIDATE_INPUTS = ("candidate", "candidate-ref", "candidate_ref")
_BASELINE_INPUTS = ("baseline-ref", "baseline_ref", "baseline")


@dataclass(frozen=True)
class EventContext:
    """What the action needs from the event, whatever the event was."""

    event_name: Literal["pull_request", "workflow_dispatch"]
    action: str | None  # the PR action ("synchronize"), None for workflow_dispatch
    repository: str  # owner/name of the base repository
    head_sha: str  # the commit to evaluate and to set the status on (the PR head, not the merge commit)
    head_ref: str  # branch name of the candidate
    base_sha: str | None  # PR base commit; None on workflow_dispatch until the baseline ref is resolved
    base_ref: str | None  # base branch or the baseline ref to compare against
    actor: str
    pr_number: int | None = None
    is_fork: bool = False
    labels: tuple[str, ...] = ()
    candidate: str | None = None  # workflow_dispatch: a ref or a model path; None = the checked-out tree

    @property
    def is_pull_request(self) -> bool:
        """True when there is a PR to comment on."""
        return self.pr_number is not None


@dataclass(frozen=True)
class NoAction:
    """The event is valid but not one evalaction evaluates; `reason` is printed as-is."""

    reason: str


def load_event(path: str | Path) -> dict[str, Any]:
    """Read the event payload JSON; a missing or malformed file is a one-line `InvalidEvent`."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidEvent(
            f"Cannot read the event file GITHUB_EVENT_PATH={path}: {exc.strerror}; "
            "run inside GitHub Actions or point GITHUB_EVENT_PATH at a webhook payload JSON."
        ) from None
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidEvent(
            f"Event file {path} is not JSON (line {exc.lineno}: {exc.msg}); "
            "point GITHUB_EVENT_PATH at the webhook payload GitHub wrote."
        ) from None
    if not isinstance(payload, dict):
        raise InvalidEvent(f"Event file {path} holds a {type(payload).__name__}, expected a JSON object.")
    return payload


def parse_event(
    event_name: str | None,
    payload: Mapping[str, Any],
    *,
    github_sha: str | None = None,
    default_baseline_ref: str | None = None,
) -> EventContext | NoAction:
    """Turn an event name and payload into an `EventContext`, or `NoAction` for events not evaluated.

    `github_sha` is the commit the workflow checked out (workflow_dispatch evaluates it);
    `default_baseline_ref` is the action's `baseline-ref` input, used when the dispatch gives none.
    """
    if event_name == "pull_request":
        return _pull_request(payload)
    if event_name == "workflow_dispatch":
        return _workflow_dispatch(payload, github_sha=github_sha, default_baseline_ref=default_baseline_ref)
    if event_name == "pull_request_target":
        return NoAction(
            "evalaction does not run on `pull_request_target` (it would evaluate untrusted weights with a "
            "write token); trigger it on `pull_request` and comment from `workflow_run` for fork PRs."
        )
    return NoAction(
        f"evalaction runs on `pull_request` and `workflow_dispatch` events, not `{event_name}`; nothing to do."
    )


def _pull_request(payload: Mapping[str, Any]) -> EventContext | NoAction:
    action = _get(payload, "action", str)
    if action not in EVALUATED_PR_ACTIONS:
        return NoAction(
            f"pull_request action `{action}` is not evaluated (evalaction runs on "
            f"{', '.join(EVALUATED_PR_ACTIONS)}); nothing to do."
        )
    pr = _get(payload, "pull_request", dict)
    head = _get(pr, "head", dict, where="pull_request")
    base = _get(pr, "base", dict, where="pull_request")
    base_repo = _get(base, "repo", dict, where="pull_request.base")
    base_full_name = _get(base_repo, "full_name", str, where="pull_request.base.repo")
    # head.repo is null when the fork was deleted; treat that as a fork (least privilege).
    head_repo = head.get("repo")
    head_full_name = head_repo.get("full_name") if isinstance(head_repo, dict) else None
    labels = tuple(
        str(label["name"]) for label in pr.get("labels") or [] if isinstance(label, dict) and "name" in label
    )
    sender = payload.get("sender")
    user = pr.get("user")
    actor = (
        sender.get("login") if isinstance(sender, dict) else user.get("login") if isinstance(user, dict) else ""
    )
    return EventContext(
        event_name="pull_request",
        action=action,
        repository=base_full_name,
        pr_number=_get(pr, "number", int, where="pull_request"),
        head_sha=_sha(_get(head, "sha", str, where="pull_request.head"), "pull_request.head.sha"),
        head_ref=_get(head, "ref", str, where="pull_request.head"),
        base_sha=_sha(_get(base, "sha", str, where="pull_request.base"), "pull_request.base.sha"),
        base_ref=_get(base, "ref", str, where="pull_request.base"),
        is_fork=head_full_name != base_full_name,
        labels=labels,
        actor=str(actor or ""),
    )


def _workflow_dispatch(
    payload: Mapping[str, Any], *, github_sha: str | None, default_baseline_ref: str | None
) -> EventContext:
    ref = _get(payload, "ref", str)
    repo = _get(payload, "repository", dict)
    inputs = payload.get("inputs") or {}
    if not isinstance(inputs, dict):
        raise InvalidEvent(f"workflow_dispatch `inputs` is a {type(inputs).__name__}, expected an object.")
    candidate = _first_input(inputs, _CANDIDATE_INPUTS)
    baseline = _first_input(inputs, _BASELINE_INPUTS) or default_baseline_ref
    if baseline is None:
        default_branch = repo.get("default_branch")
        baseline = str(default_branch) if default_branch else None
    if baseline is None:
        raise InvalidEvent(
            "workflow_dispatch gave no baseline: expected an input `baseline-ref`, the action input "
            "`baseline-ref`, or `repository.default_branch` in the payload; add a `baseline-ref` input."
        )
    if not github_sha:
        raise InvalidEvent("GITHUB_SHA is empty on workflow_dispatch; run inside GitHub Actions.")
    sender = payload.get("sender")
    return EventContext(
        event_name="workflow_dispatch",
        action=None,
        repository=_get(repo, "full_name", str, where="repository"),
        head_sha=_sha(github_sha, "GITHUB_SHA"),
        head_ref=ref.removeprefix("refs/heads/"),
        base_sha=None,
        base_ref=baseline,
        actor=str(sender.get("login", "")) if isinstance(sender, dict) else "",
        candidate=candidate,
    )


def _first_input(inputs: Mapping[str, Any], names: tuple[str, ...]) -> str | None:
    for name in names:
        value = inputs.get(name)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def _get(obj: Mapping[str, Any], key: str, kind: type, *, where: str = "") -> Any:
    value = obj.get(key)
    # bool is an int in Python; a PR number must not be `true`.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        path = f"{where}.{key}" if where else key
        raise InvalidEvent(
            f"Event payload field `{path}`: expected {kind.__name__}, found {type(value).__name__}; "
            "is GITHUB_EVENT_PATH the payload of the event named by GITHUB_EVENT_NAME?"
        )
    return value


def _sha(value: str, field: str) -> str:
    if len(value) not in (40, 64) or any(c not in "0123456789abcdef" for c in value.lower()):
        raise InvalidEvent(f"Event field `{field}`: expected a full commit sha, found {value!r}.")
    return value

"""The triggering event, parsed from `$GITHUB_EVENT_PATH` into one typed `EventContext`.

evalaction evaluates on `pull_request` (opened, synchronize, reopened) and `workflow_dispatch`. Any other
event or PR action is not an error: it yields `NoAction` with a message saying why, and the action exits 0.
`labeled` / `unlabeled` are parsed too: the action evaluates them only when the label is the plan's override
label (`gates.override.label`), the one label that changes the verdict.
Payload shapes: https://docs.github.com/en/webhooks/webhook-events-and-payloads#pull_request and
#workflow_dispatch.

`override_request` reads the plan's override from the event (issue 8: "a PR label or workflow_dispatch input
named in the plan turns NO-GO into GO", with who set it and when):
  workflow_dispatch  the input `gates.override.dispatch_input`, set (not empty, not `false`): who = the sender,
                     when = now; its text is the reason. Only users with write access can dispatch.
  pull_request       the label `gates.override.label` on the PR. On its own `labeled` event, who = the sender
                     and when = the PR's `updated_at` (labelling updates it). On any other event the payload
                     does not say who added it: the request records that and the PR's `updated_at`.
  fork PRs           a fork's author may hold triage rights on the base repository and label their own PR,
                     and a push after the label changes the weights under it: on a fork PR the label counts
                     only on its `labeled` event, added by someone other than the PR's author. After a push,
                     re-apply it (remove and add).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from evalaction.exceptions import InvalidEvent

if TYPE_CHECKING:
    from evalaction.artifacts import OverrideRequest
    from evalaction.plan import OverrideSpec

EVALUATED_PR_ACTIONS = ("opened", "synchronize", "reopened")
LABEL_ACTIONS = ("labeled", "unlabeled")  # evaluated only for the plan's override label
_REASON_MAX_CHARS = 200  # a dispatch input's text, kept to one short line in the comment and the verdict
# Names accepted for the workflow_dispatch inputs; the examples use the first of each.
_CANDIDATE_INPUTS = ("candidate", "candidate-ref", "candidate_ref")
_BASELINE_INPUTS = ("baseline-ref", "baseline_ref", "baseline")
# workflow_dispatch: confirm a (fork) PR in a trusted run: its head is fetched as `refs/pull/N/head`.
_PR_INPUTS = ("pr-number", "pr_number", "pull-request")


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
    sender: str = ""  # the payload's sender.login (who triggered the event); empty when absent
    pr_author: str = ""  # pull_request.user.login
    updated_at: str = ""  # pull_request.updated_at (ISO 8601)
    event_label: str | None = None  # the label a `labeled` / `unlabeled` action is about
    inputs: Mapping[str, str] = field(default_factory=dict)  # workflow_dispatch inputs, booleans as "true"/"false"

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
    except UnicodeDecodeError as exc:
        raise InvalidEvent(
            f"Event file {path} is not UTF-8 JSON (byte 0x{exc.object[exc.start]:02x} at offset {exc.start}); "
            "point GITHUB_EVENT_PATH at the webhook payload GitHub wrote."
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
    if action not in EVALUATED_PR_ACTIONS + LABEL_ACTIONS:
        return NoAction(
            f"pull_request action `{action}` is not evaluated (evalaction runs on "
            f"{', '.join(EVALUATED_PR_ACTIONS)}, and on {' / '.join(LABEL_ACTIONS)} of the plan's override "
            "label); nothing to do."
        )
    event_label = None
    if action in LABEL_ACTIONS:
        event_label = _get(_get(payload, "label", dict), "name", str, where="label")
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
    sender = _login(payload.get("sender"))
    author = _login(pr.get("user"))
    updated_at = pr.get("updated_at")
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
        actor=sender or author,
        sender=sender,
        pr_author=author,
        updated_at=updated_at if isinstance(updated_at, str) else "",
        event_label=event_label,
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
    pr_number: int | None = None
    if (raw_pr := _first_input(inputs, _PR_INPUTS)) is not None:
        if not raw_pr.lstrip("#").isdigit() or int(raw_pr.lstrip("#")) < 1:
            raise InvalidEvent(
                f"workflow_dispatch input `pr-number`: expected a pull request number like 12, found {raw_pr!r}; "
                "fix the input."
            )
        pr_number = int(raw_pr.lstrip("#"))
    sender = _login(payload.get("sender"))
    return EventContext(
        event_name="workflow_dispatch",
        action=None,
        repository=_get(repo, "full_name", str, where="repository"),
        head_sha=_sha(github_sha, "GITHUB_SHA"),
        head_ref=ref.removeprefix("refs/heads/"),
        base_sha=None,
        base_ref=baseline,
        actor=sender,
        candidate=candidate,
        sender=sender,
        pr_number=pr_number,
        # A PR confirmed by number may come from a fork: its weights are data, never code.
        is_fork=pr_number is not None,
        inputs={
            str(k): ("true" if v else "false") if isinstance(v, bool) else str(v)
            for k, v in inputs.items()
            if isinstance(v, str | bool | int | float)
        },
    )


def override_request(
    ctx: EventContext, spec: OverrideSpec | None, *, now: str, fallback_actor: str = ""
) -> tuple[OverrideRequest | None, str]:
    """The override the event carries for the plan's `gates.override`, or None and why (empty: none asked).

    `now` is the current time (ISO 8601, UTC); `fallback_actor` is GITHUB_ACTOR, for a payload with no sender.
    The rules are in this module's docstring.
    """
    from evalaction.artifacts import OverrideRequest

    if spec is None:
        return None, ""
    if ctx.event_name == "workflow_dispatch":
        if spec.dispatch_input is None:
            return None, ""
        value = " ".join(ctx.inputs.get(spec.dispatch_input, "").split())
        if value.lower() in ("", "false"):
            return None, ""
        reason = "" if value.lower() == "true" else value[:_REASON_MAX_CHARS]
        who = ctx.sender or fallback_actor
        return OverrideRequest(
            source="workflow_dispatch", name=spec.dispatch_input, actor=who, at=now, reason=reason
        ), ""
    if spec.label is None or spec.label not in ctx.labels:
        return None, ""
    just_added = ctx.action == "labeled" and ctx.event_label == spec.label and bool(ctx.sender)
    actor = ctx.sender if just_added else ""
    if ctx.is_fork and not (just_added and ctx.sender != ctx.pr_author):
        why = (
            f"added by the PR's author @{ctx.pr_author}"
            if just_added
            else f"already on the PR at this `{ctx.action}` event, so who added it is unknown"
        )
        return None, (
            f"Override label `{spec.label}` not applied: this PR comes from a fork and the label was {why}; "
            "on a fork PR it counts only when someone other than the author adds it (after a push, remove "
            "and add it again)."
        )
    return OverrideRequest(source="label", name=spec.label, actor=actor, at=ctx.updated_at or now), ""


def _login(user: Any) -> str:
    """`sender.login` / `user.login`, or empty when the payload has no such user."""
    login = user.get("login") if isinstance(user, dict) else None
    return login if isinstance(login, str) else ""


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

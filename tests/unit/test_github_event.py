"""Event parsing, with the real webhook payloads from octokit/webhooks (tests/fixtures/github)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from evalaction.artifacts import OverrideRequest
from evalaction.exceptions import InvalidEvent
from evalaction.github.event import EventContext, NoAction, load_event, override_request, parse_event
from evalaction.plan import OverrideSpec

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "github"
HEAD = "ec26c3e57ca3a959ca5aad62de7213c562f8c821"
BASE = "f95f852bd8fca8fcc58a9a2d6c842781e32a215e"


def payload(name: str) -> dict[str, Any]:
    return load_event(FIXTURES / f"{name}.json")


@pytest.mark.parametrize("name", ["pull_request.opened", "pull_request.synchronize"])
def test_pull_request_payloads(name: str) -> None:
    ctx = parse_event("pull_request", payload(name))
    assert isinstance(ctx, EventContext)
    assert ctx.action == name.split(".")[1]
    assert ctx.pr_number == 2 and ctx.is_pull_request
    assert ctx.head_sha == HEAD
    assert ctx.base_sha == BASE
    assert ctx.head_ref == "changes"
    assert ctx.base_ref == "master"
    assert ctx.repository == "Codertocat/Hello-World"
    assert ctx.is_fork is False
    assert ctx.labels == ("bug",)
    assert ctx.actor == "Codertocat"


def test_reopened_is_evaluated() -> None:
    data = payload("pull_request.opened")
    data["action"] = "reopened"
    assert isinstance(parse_event("pull_request", data), EventContext)


@pytest.mark.parametrize("action", ["closed", "edited", "assigned"])
def test_other_pull_request_actions_do_nothing_with_a_reason(action: str) -> None:
    data = payload("pull_request.synchronize")
    data["action"] = action
    result = parse_event("pull_request", data)
    assert isinstance(result, NoAction)
    assert f"`{action}`" in result.reason and "synchronize" in result.reason


def test_labeled_is_parsed_with_the_label_and_who_added_it() -> None:
    data = payload("pull_request.synchronize")
    data["action"], data["label"] = "labeled", {"name": "ship-anyway"}
    data["sender"]["login"] = "lead"
    ctx = parse_event("pull_request", data)
    assert isinstance(ctx, EventContext)
    assert ctx.event_label == "ship-anyway" and ctx.sender == "lead" and ctx.pr_author == "Codertocat"
    assert ctx.updated_at == "2019-05-15T15:20:33Z"
    del data["label"]
    with pytest.raises(InvalidEvent, match="`label`"):
        parse_event("pull_request", data)


def test_fork_is_detected_by_head_repository() -> None:
    data = copy.deepcopy(payload("pull_request.synchronize"))
    data["pull_request"]["head"]["repo"]["full_name"] = "mallory/Hello-World"
    ctx = parse_event("pull_request", data)
    assert isinstance(ctx, EventContext) and ctx.is_fork
    data["pull_request"]["head"]["repo"] = None  # the fork was deleted
    ctx = parse_event("pull_request", data)
    assert isinstance(ctx, EventContext) and ctx.is_fork


@pytest.mark.parametrize("event", ["push", "issue_comment", "schedule", None])
def test_other_events_do_nothing_with_a_reason(event: str | None) -> None:
    result = parse_event(event, {})
    assert isinstance(result, NoAction)
    assert "pull_request" in result.reason and "workflow_dispatch" in result.reason


def test_pull_request_target_is_refused_with_the_safe_alternative() -> None:
    result = parse_event("pull_request_target", payload("pull_request.opened"))
    assert isinstance(result, NoAction) and "workflow_run" in result.reason


def test_workflow_dispatch_defaults_to_the_default_branch() -> None:
    sha = "1" * 40
    ctx = parse_event("workflow_dispatch", payload("workflow_dispatch"), github_sha=sha)
    assert isinstance(ctx, EventContext)
    assert ctx.event_name == "workflow_dispatch" and not ctx.is_pull_request
    assert ctx.head_sha == sha
    assert ctx.head_ref == "master"
    assert ctx.base_ref == "master"  # repository.default_branch in the payload
    assert ctx.candidate is None  # the payload's only input is `name`
    assert ctx.repository == "octo-org/octo-repo"
    assert ctx.actor == "Codertocat"


def test_workflow_dispatch_inputs_and_action_input() -> None:
    data = payload("workflow_dispatch")
    ctx = parse_event("workflow_dispatch", data, github_sha="2" * 40, default_baseline_ref="v1.0")
    assert isinstance(ctx, EventContext) and ctx.base_ref == "v1.0"
    data["inputs"] = {"candidate": "models/new.onnx", "baseline-ref": "release/2"}
    ctx = parse_event("workflow_dispatch", data, github_sha="2" * 40, default_baseline_ref="v1.0")
    assert isinstance(ctx, EventContext)
    assert ctx.candidate == "models/new.onnx" and ctx.base_ref == "release/2"


def test_workflow_dispatch_without_sha_is_bad_input() -> None:
    with pytest.raises(InvalidEvent, match="GITHUB_SHA"):
        parse_event("workflow_dispatch", payload("workflow_dispatch"), github_sha=None)


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        (("pull_request", "head", "sha"), None, "pull_request.head.sha"),
        (("pull_request", "number"), "2", "pull_request.number"),
        (("pull_request", "base", "sha"), "not-a-sha", "pull_request.base.sha"),
    ],
)
def test_malformed_payload_names_the_field(path: tuple[str, ...], value: Any, field: str) -> None:
    data = payload("pull_request.synchronize")
    node = data
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    with pytest.raises(InvalidEvent) as info:
        parse_event("pull_request", data)
    assert f"`{field}`" in str(info.value) and "\n" not in str(info.value)


def test_load_event_errors(tmp_path: Path) -> None:
    with pytest.raises(InvalidEvent, match="Cannot read the event file"):
        load_event(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(InvalidEvent, match="not JSON"):
        load_event(bad)
    bad.write_text(json.dumps([1, 2]))
    with pytest.raises(InvalidEvent, match="expected a JSON object"):
        load_event(bad)


# ------------------------------------------------------------------ the plan's override, read from the event

SPEC = OverrideSpec(label="ship-anyway", dispatch_input="override")
NOW = "2026-01-02T03:04:05Z"


def pr_event(
    action: str = "synchronize",
    *,
    labels: tuple[str, ...] = ("ship-anyway",),
    sender: str = "lead",
    event_label: str | None = None,
    fork: bool = False,
) -> EventContext:
    data = payload("pull_request.synchronize")
    data["action"] = action
    data["sender"]["login"] = sender
    data["pull_request"]["labels"] = [{"name": n} for n in labels]
    if event_label is not None:
        data["label"] = {"name": event_label}
    if fork:
        data["pull_request"]["head"]["repo"]["full_name"] = "Codertocat/Hello-World-fork"
    ctx = parse_event("pull_request", data)
    assert isinstance(ctx, EventContext)
    return ctx


def test_label_added_names_who_and_when() -> None:
    request, refused = override_request(pr_event("labeled", event_label="ship-anyway"), SPEC, now=NOW)
    assert refused == ""
    assert request == OverrideRequest(source="label", name="ship-anyway", actor="lead", at="2019-05-15T15:20:33Z")
    assert request.describe() == "by @lead with label `ship-anyway` at 2019-05-15T15:20:33Z"


def test_label_already_on_the_pr_records_that_nobody_is_named() -> None:
    request, refused = override_request(pr_event("synchronize"), SPEC, now=NOW)
    assert refused == "" and request is not None
    assert request.actor == "" and request.at == "2019-05-15T15:20:33Z"  # the PR's updated_at
    assert "present on the PR as of 2019-05-15T15:20:33Z" in request.describe()
    # another label's `labeled` event does not say who added this one
    other, _ = override_request(pr_event("labeled", event_label="bug"), SPEC, now=NOW)
    assert other is not None and other.actor == ""


@pytest.mark.parametrize(
    ("labels", "spec"),
    [(("bug",), SPEC), ((), SPEC), (("ship-anyway",), OverrideSpec(dispatch_input="override")), (("x",), None)],
)
def test_no_override_without_the_plans_label(labels: tuple[str, ...], spec: OverrideSpec | None) -> None:
    assert override_request(pr_event("synchronize", labels=labels), spec, now=NOW) == (None, "")


def test_fork_pr_needs_the_label_added_by_someone_other_than_the_author() -> None:
    by_reviewer = pr_event("labeled", event_label="ship-anyway", sender="lead", fork=True)
    request, refused = override_request(by_reviewer, SPEC, now=NOW)
    assert request is not None and request.actor == "lead" and refused == ""
    by_author = pr_event("labeled", event_label="ship-anyway", sender="Codertocat", fork=True)
    request, refused = override_request(by_author, SPEC, now=NOW)
    assert request is None and "added by the PR's author @Codertocat" in refused
    after_a_push = pr_event("synchronize", sender="Codertocat", fork=True)
    request, refused = override_request(after_a_push, SPEC, now=NOW)
    assert request is None and "already on the PR" in refused and "remove and add it again" in refused


@pytest.mark.parametrize(
    ("value", "reason"),
    [("true", ""), (True, ""), ("  accepted by  @lead,\nticket 12 ", "accepted by @lead, ticket 12")],
)
def test_dispatch_input_set_is_an_override_by_the_sender_now(value: Any, reason: str) -> None:
    data = payload("workflow_dispatch")
    data["inputs"] = {"override": value}
    ctx = parse_event("workflow_dispatch", data, github_sha="2" * 40)
    assert isinstance(ctx, EventContext)
    request, refused = override_request(ctx, SPEC, now=NOW)
    assert refused == ""
    assert request == OverrideRequest(
        source="workflow_dispatch", name="override", actor="Codertocat", at=NOW, reason=reason
    )


@pytest.mark.parametrize("value", ["", "false", False, None])
def test_dispatch_input_unset_or_false_is_no_override(value: Any) -> None:
    data = payload("workflow_dispatch")
    data["inputs"] = {"override": value}
    ctx = parse_event("workflow_dispatch", data, github_sha="2" * 40)
    assert isinstance(ctx, EventContext)
    assert override_request(ctx, SPEC, now=NOW) == (None, "")


def test_dispatch_without_a_sender_falls_back_to_github_actor() -> None:
    data = payload("workflow_dispatch")
    data["inputs"] = {"override": "true"}
    del data["sender"]
    ctx = parse_event("workflow_dispatch", data, github_sha="2" * 40)
    assert isinstance(ctx, EventContext)
    request, _ = override_request(ctx, SPEC, now=NOW, fallback_actor="octocat")
    assert request is not None and request.actor == "octocat"

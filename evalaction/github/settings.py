"""The action's inputs and the GitHub Actions environment, as one typed, frozen settings model.

GitHub hands a Docker action its inputs as environment variables `INPUT_<NAME>`, with the input name
upper-cased and hyphens kept (`github-token` -> `INPUT_GITHUB-TOKEN`); an input the workflow leaves out
arrives as an empty string. See https://docs.github.com/en/actions/sharing-automations/creating-actions/
metadata-syntax-for-github-actions#inputs and .../store-information-in-variables#default-environment-variables

Only the entrypoint reads `os.environ`; everything here takes a `Mapping`, so tests pass a dict.
pydantic-settings would read the environment itself; a plain model fed by `from_env` keeps that edge in one
place and needs no extra dependency.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from evalaction.exceptions import InvalidEvent

if TYPE_CHECKING:
    from evalaction.github.publish import PublishLimits


class CommentMode(StrEnum):
    """When the action writes its sticky PR comment."""

    ALWAYS = "always"  # every run, including "no model weights changed"
    ON_CHANGE = "on-change"  # only when a model changed (an existing comment is still kept up to date)
    NEVER = "never"


# field name -> environment variable; one table, so the names appear once.
_INPUTS: dict[str, str] = {
    "github_token": "INPUT_GITHUB-TOKEN",
    "config": "INPUT_CONFIG",
    "models": "INPUT_MODELS",
    "baseline_ref": "INPUT_BASELINE-REF",
    "fail_on_no_go": "INPUT_FAIL-ON-NO-GO",
    "comment_mode": "INPUT_COMMENT-MODE",
    "status_context": "INPUT_STATUS-CONTEXT",
    "working_directory": "INPUT_WORKING-DIRECTORY",
    "output_dir": "INPUT_OUTPUT-DIR",
}
_GITHUB_ENV: dict[str, str] = {
    "event_path": "GITHUB_EVENT_PATH",
    "event_name": "GITHUB_EVENT_NAME",
    "repository": "GITHUB_REPOSITORY",
    "sha": "GITHUB_SHA",
    "actor": "GITHUB_ACTOR",
    "api_url": "GITHUB_API_URL",
    "server_url": "GITHUB_SERVER_URL",
    "run_id": "GITHUB_RUN_ID",
    "output_path": "GITHUB_OUTPUT",
    "step_summary_path": "GITHUB_STEP_SUMMARY",
    "workspace": "GITHUB_WORKSPACE",
}
# How long publishing may take (evalaction.github.publish.PublishLimits); tests and slow GHES set them.
_TUNING: dict[str, str] = {
    "api_timeout_s": "EVALACTION_GITHUB_TIMEOUT_S",
    "api_attempts": "EVALACTION_GITHUB_ATTEMPTS",
    "api_backoff_s": "EVALACTION_GITHUB_BACKOFF_S",
    "api_network_budget_s": "EVALACTION_GITHUB_NETWORK_BUDGET_S",
}
ENV_NAMES: dict[str, str] = {**_INPUTS, **_GITHUB_ENV, **_TUNING}
_SECRET_FIELDS = frozenset({"github_token"})


class Settings(BaseModel):
    """Everything the action is told from outside: its inputs and the GITHUB_* environment."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # --- action inputs (action.yml carries the user-facing descriptions and defaults) ---
    github_token: SecretStr | None = None
    config: str = "evalaction.yml"
    models: tuple[str, ...] = ()  # globs; empty = the plan's model paths
    baseline_ref: str | None = None  # empty = the PR's base commit
    fail_on_no_go: bool | None = None  # empty = the plan's `gates.fail_on_no_go`
    comment_mode: CommentMode = CommentMode.ALWAYS
    status_context: str = "evalaction"
    working_directory: str = "."
    output_dir: str = "evalaction-report"
    # No `override` input: an override is the plan's `gates.override` label or dispatch input, read from the
    # event with who and when (evalaction.github.event.override_request). An input in the workflow file names
    # nobody, and a PR can edit the workflow it runs under.

    # --- the environment GitHub sets for every step ---
    event_path: str | None = None
    event_name: str | None = None
    repository: str | None = None
    sha: str | None = None
    actor: str | None = None  # GITHUB_ACTOR: who triggered the run (the payload's sender, when it has none)
    api_url: str = "https://api.github.com"
    server_url: str = "https://github.com"
    run_id: str | None = None
    output_path: str | None = None
    step_summary_path: str | None = None
    workspace: str | None = None

    # --- publishing limits (defaults: evalaction.github.publish; documented in docs/github-action.md) ---
    api_timeout_s: int = Field(default=10, ge=1, le=300)
    api_attempts: int = Field(default=3, ge=1, le=10)
    api_backoff_s: float = Field(default=1.0, ge=0, le=60)
    api_network_budget_s: float = Field(default=60.0, gt=0, le=600)

    @field_validator("models", mode="before")
    @classmethod
    def _split_globs(cls, value: Any) -> Any:
        # A multi-line YAML input or a comma-separated one-liner both read naturally in a workflow.
        if isinstance(value, str):
            return tuple(p.strip() for p in value.replace(",", "\n").splitlines() if p.strip())
        return value

    @field_validator("comment_mode", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("config", "working_directory", "output_dir")
    @classmethod
    def _relative_path(cls, value: str) -> str:
        # These are paths inside the checkout; an absolute path or `..` would escape the workspace.
        path = PurePosixPath(value)
        if path.is_absolute() or ".." in path.parts:
            raise ValueError(f"expected a path relative to the repository root, got {value!r}")
        return value

    @field_validator("repository")
    @classmethod
    def _owner_slash_name(cls, value: str | None) -> str | None:
        if value is not None and (value.count("/") != 1 or value.startswith("/") or value.endswith("/")):
            raise ValueError(f"expected `owner/name`, got {value!r}")
        return value

    @field_validator("api_url", "server_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Build settings from an environment mapping; empty strings count as unset."""
        values: dict[str, Any] = {}
        for field, name in ENV_NAMES.items():
            raw = env.get(name)
            if raw is not None and raw.strip() != "":
                values[field] = raw.strip() if field not in _SECRET_FIELDS else raw
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            raise InvalidEvent(_describe(exc)) from None

    @property
    def run_url(self) -> str | None:
        """Link to this workflow run, or None outside Actions."""
        if not (self.repository and self.run_id):
            return None
        return f"{self.server_url}/{self.repository}/actions/runs/{self.run_id}"

    def publish_limits(self) -> PublishLimits:
        """The publishing limits these settings ask for."""
        from evalaction.github.publish import PublishLimits

        return PublishLimits(
            timeout_s=self.api_timeout_s,
            attempts=self.api_attempts,
            backoff_s=self.api_backoff_s,
            network_budget_s=self.api_network_budget_s,
        )

    def token_value(self) -> str | None:
        """The token in clear, for the one place that authenticates the client."""
        return self.github_token.get_secret_value() if self.github_token else None


def _describe(exc: ValidationError) -> str:
    """One line naming the variable, the problem and the fix, never echoing a secret."""
    first = exc.errors()[0]
    field = str(first["loc"][0]) if first["loc"] else "?"
    name = ENV_NAMES.get(field, field)
    found = "" if field in _SECRET_FIELDS else f" (found {first.get('input')!r})"
    message = str(first["msg"]).removeprefix("Value error, ")
    kind = "input" if name.startswith("INPUT_") else "environment variable"
    if kind == "input":
        hint = f"fix the `{name.removeprefix('INPUT_').lower()}` input in the workflow's `with:` block"
    elif name.startswith("EVALACTION_"):
        hint = f"set {name} to a number in range, or unset it for the default"
    else:
        hint = "run inside GitHub Actions or set it as GitHub does"
    return f"{kind} {name}: {message}{found}; {hint}."


__all__ = ["ENV_NAMES", "CommentMode", "Settings"]

"""Settings from `INPUT_*` and `GITHUB_*` variables, as GitHub sets them for a Docker action."""

from __future__ import annotations

import pytest

from evalaction.exceptions import BadInput, InvalidEvent
from evalaction.github.settings import CommentMode, Settings

TOKEN = "ghs_" + "s3cr3t" * 6


def github_env(**inputs: str) -> dict[str, str]:
    """The environment of a Docker action step; inputs not given arrive as empty strings."""
    env = {
        "INPUT_GITHUB-TOKEN": TOKEN,
        "INPUT_CONFIG": "",
        "INPUT_MODELS": "",
        "INPUT_BASELINE-REF": "",
        "INPUT_FAIL-ON-NO-GO": "",
        "INPUT_COMMENT-MODE": "",
        "INPUT_STATUS-CONTEXT": "",
        "INPUT_WORKING-DIRECTORY": "",
        "INPUT_OUTPUT-DIR": "",
        "GITHUB_EVENT_PATH": "/github/workflow/event.json",
        "GITHUB_EVENT_NAME": "pull_request",
        "GITHUB_REPOSITORY": "octo/models",
        "GITHUB_SHA": "a" * 40,
        "GITHUB_ACTOR": "octocat",
        "GITHUB_API_URL": "https://api.github.com",
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_RUN_ID": "42",
        "GITHUB_OUTPUT": "/github/file_commands/set_output",
        "GITHUB_STEP_SUMMARY": "/github/file_commands/step_summary",
        "GITHUB_WORKSPACE": "/github/workspace",
        "HOME": "/github/home",
    }
    env.update({f"INPUT_{k.upper().replace('_', '-')}": v for k, v in inputs.items()})
    return env


def test_empty_inputs_are_unset_and_take_defaults() -> None:
    s = Settings.from_env(github_env())
    assert s.config == "evalaction.yml"
    assert s.models == ()
    assert s.baseline_ref is None
    assert s.fail_on_no_go is None  # the plan decides
    assert s.comment_mode is CommentMode.ALWAYS
    assert s.status_context == "evalaction"
    assert s.working_directory == "."
    assert s.event_name == "pull_request"
    assert s.actor == "octocat"
    assert s.run_url == "https://github.com/octo/models/actions/runs/42"


def test_hyphenated_inputs_are_read() -> None:
    s = Settings.from_env(
        github_env(
            config="ml/evalaction.yml",
            models="models/*.onnx\n  weights/**/*.safetensors, extra.pt\n",
            baseline_ref="release/1.2",
            fail_on_no_go="false",
            comment_mode="On-Change",
            status_context="evalaction/classifier",
            working_directory="ml",
        )
    )
    assert s.config == "ml/evalaction.yml"
    assert s.models == ("models/*.onnx", "weights/**/*.safetensors", "extra.pt")
    assert s.baseline_ref == "release/1.2"
    assert s.fail_on_no_go is False
    assert s.comment_mode is CommentMode.ON_CHANGE
    assert s.status_context == "evalaction/classifier"


def test_enterprise_urls_lose_the_trailing_slash() -> None:
    env = github_env() | {
        "GITHUB_API_URL": "https://ghe.example/api/v3/",
        "GITHUB_SERVER_URL": "https://ghe.example/",
    }
    s = Settings.from_env(env)
    assert s.api_url == "https://ghe.example/api/v3"
    assert s.run_url == "https://ghe.example/octo/models/actions/runs/42"


def test_token_is_secret_everywhere() -> None:
    s = Settings.from_env(github_env())
    assert s.token_value() == TOKEN
    for text in (str(s), repr(s), s.model_dump_json()):
        assert TOKEN not in text


@pytest.mark.parametrize(
    ("inputs", "needle"),
    [
        ({"comment_mode": "sometimes"}, "INPUT_COMMENT-MODE"),
        ({"fail_on_no_go": "perhaps"}, "INPUT_FAIL-ON-NO-GO"),
        ({"config": "/etc/passwd"}, "INPUT_CONFIG"),
        ({"working_directory": "../other"}, "INPUT_WORKING-DIRECTORY"),
    ],
)
def test_bad_inputs_are_one_line_bad_input_naming_the_variable(inputs: dict[str, str], needle: str) -> None:
    with pytest.raises(InvalidEvent) as info:
        Settings.from_env(github_env(**inputs))
    message = str(info.value)
    assert isinstance(info.value, BadInput)
    assert needle in message
    assert "\n" not in message
    assert "with:" in message  # the fix
    assert TOKEN not in message


def test_bad_repository_names_the_environment_variable() -> None:
    with pytest.raises(InvalidEvent, match="GITHUB_REPOSITORY"):
        Settings.from_env(github_env() | {"GITHUB_REPOSITORY": "not-a-repo"})


def test_no_token_is_allowed_until_something_needs_it() -> None:
    s = Settings.from_env(github_env() | {"INPUT_GITHUB-TOKEN": ""})
    assert s.github_token is None and s.token_value() is None

"""Which login the action's comments carry, and what an error comment keeps of the previous verdict."""

from __future__ import annotations

import pytest

from evalaction.github.action import GITHUB_ACTIONS_BOT, _stale_part, token_login

MARKER = "<!-- evalaction:evalaction.yml -->"


@pytest.mark.parametrize(
    ("token", "login"),
    [
        ("ghs_" + "x" * 36, GITHUB_ACTIONS_BOT),  # GITHUB_TOKEN: an installation token, no GET /user
        ("ghp_" + "x" * 36, None),  # a classic PAT: ask GET /user
        ("github_pat_" + "x" * 40, None),
        (None, None),
    ],
)
def test_the_token_kind_names_the_comment_author(token: str | None, login: str | None) -> None:
    assert token_login(token) == login


def test_a_verdict_comment_is_kept_whole_as_the_stale_part() -> None:
    assert _stale_part(f"{MARKER}\n## ✅ GO — x\n\nbody\n", MARKER) == "## ✅ GO — x\n\nbody\n"


def test_an_error_comment_keeps_only_its_inner_stale_verdict() -> None:
    body = (
        f"{MARKER}\n## ⛔ ERROR — `evalaction.yml` on `abc1234`\n\nfailed\n\n"
        "<details><summary>Previous verdict (stale)</summary>\n\n## ✅ GO — x\n\n</details>\n\nrun\n"
    )
    assert _stale_part(body, MARKER).strip() == "## ✅ GO — x"
    assert _stale_part(f"{MARKER}\n## ⛔ ERROR — `e.yml` on `abc1234`\n\nfailed\n", MARKER) == ""

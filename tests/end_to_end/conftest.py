"""The local GitHub stand-in every end-to-end test talks to; a test that sent it a request outside GitHub's
OpenAPI description fails here."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.end_to_end.fake_github import FakeGitHub


@pytest.fixture
def fake() -> Iterator[FakeGitHub]:
    with FakeGitHub() as server:
        yield server
        assert server.violations == []

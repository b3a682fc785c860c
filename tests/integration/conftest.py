"""Integration-layer pytest settings."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    # also registered in pyproject.toml's marker list; repeated here so the matrix runs under --strict-markers
    # whichever lands first
    config.addinivalue_line("markers", "e2e: runs the CLI or the action end to end on real files")

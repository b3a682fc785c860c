"""Workflow commands and file commands, checked against the runner's documented formats."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from evalaction.github import commands


def parse_github_output(text: str) -> dict[str, str]:
    """The runner's reader: `name=value` lines and `name<<DELIM` ... `DELIM` heredocs."""
    out: dict[str, str] = {}
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delimiter = line.split("<<", 1)
            end = lines.index(delimiter, i + 1)
            out[name] = "\n".join(lines[i + 1 : end])
            i = end + 1
        elif "=" in line:
            name, value = line.split("=", 1)
            out[name] = value
            i += 1
        else:
            i += 1
    return out


def test_set_output_is_multiline_safe(tmp_path: Path) -> None:
    path = tmp_path / "output"
    nasty = "line one\nEOF\nghadelimiter_\n=trailing<<x\n"
    commands.set_output(path, "verdict", "GO")
    commands.set_output(path, "summary", nasty)
    commands.set_output(path, "empty", "")
    assert parse_github_output(path.read_text()) == {"verdict": "GO", "summary": nasty, "empty": ""}


@pytest.mark.parametrize("name", ["", "a\nb", "a=b", "a<<b"])
def test_set_output_rejects_bad_names(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError):
        commands.set_output(tmp_path / "o", name, "x")


def test_escaping_follows_the_toolkit() -> None:
    # Cases from actions/toolkit packages/core/__tests__/command.test.ts.
    assert commands.command("some-command", "percent % percent % cr \r cr \r lf \n lf \n") == (
        "::some-command::percent %25 percent %25 cr %0D cr %0D lf %0A lf %0A"
    )
    assert commands.command(
        "some-command",
        "",
        {"name": "percent % percent % cr \r cr \r lf \n lf \n colon : colon : comma , comma ,"},
    ) == (
        "::some-command name=percent %25 percent %25 cr %0D cr %0D lf %0A lf %0A "
        "colon %3A colon %3A comma %2C comma %2C::"
    )
    assert commands.command("error", "x", {"title": None}) == "::error::x"


def test_annotations_group_and_mask() -> None:
    out = io.StringIO()
    with commands.group("metrics", out=out):
        commands.error("recall[7] dropped 6.1 pt\nsee report", title="gate: recall[7]", out=out)
        commands.warning("baseline missing", file="models/new.onnx", out=out)
        commands.add_mask("tok1\ntok2", out=out)
    assert out.getvalue().splitlines() == [
        "::group::metrics",
        "::error title=gate%3A recall[7]::recall[7] dropped 6.1 pt%0Asee report",
        "::warning file=models/new.onnx::baseline missing",
        "::add-mask::tok1",
        "::add-mask::tok2",
        "::endgroup::",
    ]


def test_group_closes_on_error() -> None:
    out = io.StringIO()
    with pytest.raises(RuntimeError), commands.group("stage", out=out):
        raise RuntimeError("boom")
    assert out.getvalue().endswith("::endgroup::\n")


def test_summary_appends_and_respects_the_1_mib_limit(tmp_path: Path) -> None:
    path = tmp_path / "summary.md"
    commands.append_summary(path, "# first")
    commands.append_summary(path, "second\n\n")
    assert path.read_text() == "# first\nsecond\n"
    commands.append_summary(path, "é" * commands.STEP_SUMMARY_MAX_BYTES)
    size = path.stat().st_size
    assert commands.STEP_SUMMARY_MAX_BYTES - 200 < size <= commands.STEP_SUMMARY_MAX_BYTES
    assert path.read_text(encoding="utf-8").rstrip().endswith("artifacts._")

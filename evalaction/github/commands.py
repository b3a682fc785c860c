"""Tiny helpers for GitHub Actions' file commands and workflow commands.

File commands (`$GITHUB_OUTPUT`, `$GITHUB_STEP_SUMMARY`) and the `::command::` syntax with its escaping rules:
https://docs.github.com/en/actions/writing-workflows/choosing-what-your-workflow-does/workflow-commands-for-github-actions
The escaping follows actions/toolkit `packages/core/src/command.ts` (`escapeData`, `escapeProperty`).
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

# GitHub refuses a step summary over 1 MiB ("upload aborted"); keep a margin for the truncation note.
STEP_SUMMARY_MAX_BYTES = 1024 * 1024
_SUMMARY_TRUNCATED = (
    "\n\n_Summary truncated to GitHub's 1 MiB limit; the full report is in the run's artifacts._\n"
)


def escape_data(value: str) -> str:
    """Escape a workflow command's message: `%`, CR and LF."""
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(value: str) -> str:
    """Escape a workflow command's property value: as data, plus `:` and `,`."""
    return escape_data(value).replace(":", "%3A").replace(",", "%2C")


def command(name: str, message: str = "", properties: Mapping[str, str | int | None] | None = None) -> str:
    """Format one workflow command line, e.g. `::error file=a.py,line=3::boom`."""
    props = ",".join(
        f"{key}={escape_property(str(value))}" for key, value in (properties or {}).items() if value is not None
    )
    return f"::{name}{' ' + props if props else ''}::{escape_data(message)}"


def set_output(path: str | Path, name: str, value: str) -> None:
    """Append `name` = `value` to `$GITHUB_OUTPUT`, multiline-safe (heredoc with a random delimiter)."""
    if not name or any(c in name for c in "\r\n=<"):
        raise ValueError(f"output name {name!r} must be non-empty without newlines, `=` or `<`")
    delimiter = f"ghadelimiter_{uuid.uuid4()}"
    # The runner ends the value at the first line equal to the delimiter; a random one cannot collide,
    # and the toolkit makes the same check.
    if delimiter in value:  # pragma: no cover - a uuid4 collision
        raise ValueError("output value contains the heredoc delimiter")
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(f"{name}<<{delimiter}\n{value}\n{delimiter}\n")


def append_summary(path: str | Path, markdown: str) -> None:
    """Append markdown to `$GITHUB_STEP_SUMMARY`, cut to GitHub's 1 MiB limit for one step."""
    target = Path(path)
    used = target.stat().st_size if target.exists() else 0
    data = markdown.rstrip("\n") + "\n"
    budget = STEP_SUMMARY_MAX_BYTES - used
    encoded = data.encode("utf-8")
    if len(encoded) > budget:
        note = _SUMMARY_TRUNCATED.encode("utf-8")
        keep = max(0, budget - len(note))
        data = encoded[:keep].decode("utf-8", errors="ignore") + _SUMMARY_TRUNCATED
    with target.open("a", encoding="utf-8") as fh:
        fh.write(data)


def error(message: str, *, title: str | None = None, file: str | None = None, out: TextIO | None = None) -> None:
    """Print an `::error::` annotation."""
    _emit(command("error", message, {"title": title, "file": file}), out)


def warning(message: str, *, title: str | None = None, file: str | None = None, out: TextIO | None = None) -> None:
    """Print a `::warning::` annotation."""
    _emit(command("warning", message, {"title": title, "file": file}), out)


def notice(message: str, *, title: str | None = None, out: TextIO | None = None) -> None:
    """Print a `::notice::` annotation."""
    _emit(command("notice", message, {"title": title}), out)


def add_mask(value: str, *, out: TextIO | None = None) -> None:
    """Ask the runner to mask `value` in every later log line (each line of a multi-line value)."""
    for line in value.splitlines() or [value]:
        if line.strip():
            _emit(command("add-mask", line), out)


@contextmanager
def group(title: str, *, out: TextIO | None = None) -> Iterator[None]:
    """Fold the log lines printed inside into one collapsible `::group::` section."""
    _emit(command("group", title), out)
    try:
        yield
    finally:
        _emit(command("endgroup"), out)


def _emit(line: str, out: TextIO | None) -> None:
    stream = out if out is not None else sys.stdout
    stream.write(line + "\n")
    stream.flush()

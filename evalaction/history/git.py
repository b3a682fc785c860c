"""Which prior versions of a model file exist in git, and their bytes.

`source: commits` lists the commits on the ref that changed the file, following renames
(`git log --follow --name-only -- <path>`); `source: tags` lists the tags matching a glob that are reachable
from the ref (`git tag --list <glob> --merged <ref>`), newest first. Versions with the same bytes as a newer one
(a revert, a tag on an unchanged file) or as the candidate are left out. The bytes come from
`git show <commit>:<path>`; a Git LFS pointer is smudged like the baseline's (`evalaction.github.changes`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from evalaction.exceptions import BadInput
from evalaction.github.changes import (
    _LFS_POINTER_MAX_BYTES,
    LFS_POINTER_PREFIX,
    GitCommandFailed,
    _git,
    _lfs_smudge,
    is_lfs_pointer,
    resolve_commit,
)

_RECORD, _FIELD = "\x1e", "\x1f"
# How many commits or tags are read, at most, per version wanted (reverts and no-op tags repeat a file).
_SCAN_FACTOR = 4


@dataclass(frozen=True)
class GitVersion:
    """One prior version: where it is in git (not yet read)."""

    label: str  # the tag, or the short sha
    commit: str
    date: str
    subject: str
    path: str  # the file's path at that commit (renames followed)


def repo_root(start: Path) -> Path:
    """The top of the git work tree holding `start`."""
    try:
        out = _git(start, ["rev-parse", "--show-toplevel"], what=f"the git repository holding {start}")
    except GitCommandFailed as exc:
        raise GitCommandFailed(
            f"`history`: expected {start} inside a git repository, found none ({exc}); run evalaction in a git "
            "checkout or remove the `history:` section"
        ) from None
    return Path(out.decode().strip())


def _check_arg(value: str, field: str) -> None:
    # git would read a leading dash as an option
    if value.startswith("-") or "\n" in value or "\x00" in value:
        raise BadInput(f"`history.{field}`: expected a git ref or glob, found {value!r}; remove the leading dash")


def discover(
    repo: Path,
    *,
    path: str,
    ref: str,
    source: str,
    tag_pattern: str,
    limit: int,
    skip_blobs: frozenset[str] = frozenset(),
) -> tuple[str, list[GitVersion]]:
    """(the commit `ref` names, up to `limit` versions newest first with distinct blobs, none in `skip_blobs`)."""
    _check_arg(ref, "ref")
    head = resolve_commit(repo, ref)
    listed = _tags(repo, head, tag_pattern, limit, path) if source == "tags" else _commits(repo, head, path, limit)
    seen = set(skip_blobs)
    out: list[GitVersion] = []
    for v in listed:
        blob = blob_id(repo, v.commit, v.path)
        if blob is None or blob in seen:  # deleted at that commit, or the same bytes as a newer version
            continue
        seen.add(blob)
        out.append(v)
        if len(out) == limit:
            break
    return head, out


def blob_id(repo: Path, commit: str, path: str) -> str | None:
    """The git blob id of `path` at `commit`, or None when the file is not there."""
    try:
        return _git(repo, ["rev-parse", "--verify", "--quiet", f"{commit}:{path}"]).decode().strip() or None
    except GitCommandFailed:
        return None


def _commits(repo: Path, head: str, path: str, limit: int) -> list[GitVersion]:
    fmt = f"{_RECORD}%H{_FIELD}%cI{_FIELD}%s"
    raw = _git(
        repo,
        ["log", "--follow", f"--format={fmt}", "--name-only", f"-n{limit * _SCAN_FACTOR + 1}", head, "--", path],
        what=f"the history of `{path}` at `{head[:12]}`",
    ).decode("utf-8", errors="replace")
    out = []
    for record in raw.split(_RECORD)[1:]:
        lines = record.splitlines()
        sha, date, subject = (lines[0].split(_FIELD) + ["", ""])[:3]
        at = next((line.strip() for line in lines[1:] if line.strip()), path)
        out.append(GitVersion(label=sha[:7], commit=sha, date=date, subject=subject, path=at))
    return out


def _tags(repo: Path, head: str, pattern: str, limit: int, path: str) -> list[GitVersion]:
    _check_arg(pattern, "tag_pattern")
    fmt = f"%(refname:short){_FIELD}%(creatordate:iso-strict){_FIELD}%(subject)"
    raw = _git(
        repo,
        ["tag", "--list", f"--merged={head}", "--sort=-creatordate", f"--format={fmt}", pattern],
        what=f"the tags matching `{pattern}`",
    ).decode("utf-8", errors="replace")
    out = []
    for line in raw.splitlines()[: limit * _SCAN_FACTOR + 1]:
        name, date, subject = (line.split(_FIELD) + ["", ""])[:3]
        if not name:
            continue
        commit = _git(repo, ["rev-parse", "--verify", f"refs/tags/{name}^{{commit}}"]).decode().strip()
        out.append(GitVersion(label=name, commit=commit, date=date, subject=subject, path=path))
    return out


def read_raw(repo: Path, version: GitVersion) -> bytes:
    """The blob as stored: the weights, or a Git LFS pointer to them."""
    return _git(repo, ["show", f"{version.commit}:{version.path}"], what=f"`{version.path}` at {version.label}")


def lfs_oid(content: bytes) -> str | None:
    """The sha256 a Git LFS pointer names (`oid sha256:<hex>`), or None when `content` is not a pointer.

    The pointer's oid is the sha256 of the weights (https://github.com/git-lfs/git-lfs/blob/main/docs/spec.md),
    so a cached version is recognised without downloading it.
    """
    if not (is_lfs_pointer(content[: len(LFS_POINTER_PREFIX)]) and len(content) < _LFS_POINTER_MAX_BYTES):
        return None
    for line in content.decode("utf-8", errors="replace").splitlines():
        if line.startswith("oid sha256:"):
            return line.removeprefix("oid sha256:").strip().lower()
    return None


def weights(repo: Path, version: GitVersion, content: bytes, *, git_lfs: str | None) -> bytes:
    """The weights: `content` itself, or the LFS object it points to (smudged like the baseline's)."""
    if lfs_oid(content) is None:
        return content
    if git_lfs is None:
        from evalaction.exceptions import LfsPointerInsteadOfWeights

        raise LfsPointerInsteadOfWeights(
            f"`{version.path}` at {version.label} is a Git LFS pointer and git-lfs is not installed; "
            "install git-lfs (the evalaction image has it)"
        )
    return _lfs_smudge(repo, git_lfs, version.path, content, version.commit)

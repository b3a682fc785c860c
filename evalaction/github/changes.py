"""Which model files a change touched, and the baseline version of each, taken from git.

Changed paths come from `git diff --name-status base...head` (three dots: changes on the PR side since the
merge base, the same set GitHub shows under "Files changed"). That needs the history back to the merge base
(`fetch-depth: 0` on actions/checkout); on a shallow clone the caller uses the PR files API instead and hands
the entries to `changes_from_api`.

The baseline of a model is the same path at the base commit (`git show base:path`), written to a temp
file. A Git LFS pointer there is smudged with `git lfs smudge` when git-lfs is installed; otherwise it is an
`LfsPointerInsteadOfWeights`. A model the PR adds has no baseline (None): gates against the baseline are
skipped, not failed.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from evalaction.exceptions import BadInput, InvalidEvent, LfsPointerInsteadOfWeights

Status = Literal["added", "modified", "deleted", "renamed", "copied", "type-changed"]

GIT_TIMEOUT_S = 120  # a diff or a show on a repo with large history; generous, but never unbounded
LFS_SMUDGE_TIMEOUT_S = 900  # smudging downloads the object; weights can be gigabytes
LFS_POINTER_PREFIX = b"version https://git-lfs.github.com/spec/v1"
# The spec says a pointer is < 1024 bytes (https://github.com/git-lfs/git-lfs/blob/main/docs/spec.md).
_LFS_POINTER_MAX_BYTES = 1024

_GIT_STATUS: dict[str, Status] = {
    "A": "added",
    "M": "modified",
    "D": "deleted",
    "R": "renamed",
    "C": "copied",
    "T": "type-changed",
}
# The PR files API spells statuses differently; "changed" is a mode change, "unchanged" a pure rename.
_API_STATUS: dict[str, Status] = {
    "added": "added",
    "modified": "modified",
    "removed": "deleted",
    "renamed": "renamed",
    "copied": "copied",
    "changed": "type-changed",
    "unchanged": "renamed",
}


class GitCommandFailed(BadInput):
    """git could not answer: not a repository, a shallow clone without the base commit, a missing path."""


@dataclass(frozen=True)
class FileChange:
    """One changed path; `previous_path` is where the file was at the base (renames and copies)."""

    path: str
    status: Status
    previous_path: str | None = None

    @property
    def baseline_path(self) -> str | None:
        """The path to read at the base commit, or None when the file is new."""
        if self.status == "added":
            return None
        return self.previous_path or self.path


def folder_prefix(repo_dir: Path) -> str:
    """`repo_dir` relative to the top of its work tree, as git spells it (`ml/`, or empty at the top)."""
    return _git(repo_dir, ["rev-parse", "--show-prefix"]).decode().strip()


def within_folder(changed: Iterable[FileChange], prefix: str) -> list[FileChange]:
    """The changes under `prefix` (`folder_prefix` of the action's `working-directory`), their paths relative to it.

    `git diff` and the PR files API name paths from the top of the work tree; the plan's model globs and paths
    are relative to the working directory. A file renamed into the folder from outside it counts as added.
    """
    if not prefix:
        return list(changed)
    out = []
    for c in changed:
        if not c.path.startswith(prefix):
            continue
        previous = c.previous_path
        if previous is not None and not previous.startswith(prefix):
            out.append(FileChange(path=c.path[len(prefix) :], status="added"))
            continue
        out.append(
            FileChange(
                path=c.path[len(prefix) :],
                status=c.status,
                previous_path=previous[len(prefix) :] if previous is not None else None,
            )
        )
    return out


# ---------------------------------------------------------------------------------------- listing


def is_shallow(repo_dir: Path) -> bool:
    """True when the clone is shallow, so `base...head` may not have a merge base."""
    out = _git(repo_dir, ["rev-parse", "--is-shallow-repository"]).decode().strip()
    return out == "true"


def changes_from_git(repo_dir: Path, base: str, head: str) -> list[FileChange]:
    """Changed files between the merge base of `base` and `head`, from `git diff --name-status -z`."""
    out = _git(repo_dir, ["diff", "--name-status", "-z", "--find-renames", f"{base}...{head}", "--"])
    return parse_name_status_z(out.decode("utf-8", errors="surrogateescape"))


def parse_name_status_z(text: str) -> list[FileChange]:
    """Parse `git diff --name-status -z`: `X\\0path\\0`, or `R<score>\\0old\\0new\\0` for renames/copies."""
    fields = text.split("\0")
    if fields and fields[-1] == "":
        fields.pop()
    changes: list[FileChange] = []
    i = 0
    while i < len(fields):
        code = fields[i]
        letter = code[:1]
        if letter in ("R", "C"):
            old, new = fields[i + 1], fields[i + 2]
            changes.append(FileChange(path=new, status=_GIT_STATUS[letter], previous_path=old))
            i += 3
        elif letter in _GIT_STATUS:
            changes.append(FileChange(path=fields[i + 1], status=_GIT_STATUS[letter]))
            i += 2
        else:
            # U (unmerged), X (unknown), B (broken pair) cannot come out of a two-commit diff.
            raise GitCommandFailed(f"Unexpected `git diff --name-status` code {code!r}; please report this.")
    return changes


def changes_from_api(entries: Iterable[Mapping[str, Any]]) -> list[FileChange]:
    """Changed files from the PR files API (`GET /repos/{o}/{r}/pulls/{n}/files`, already paginated)."""
    changes = []
    for entry in entries:
        status = _API_STATUS.get(str(entry.get("status")))
        if status is None:
            raise InvalidEvent(f"PR files API returned unknown status {entry.get('status')!r}.")
        previous = entry.get("previous_filename")
        changes.append(FileChange(path=str(entry["filename"]), status=status, previous_path=previous))
    return changes


# ---------------------------------------------------------------------------------------- matching


@lru_cache(maxsize=256)
def _glob_regex(pattern: str) -> re.Pattern[str]:
    """Translate a GitHub-style path glob: `*` stays within a directory, `**` crosses directories.

    These are the semantics of the `paths:` filter in workflow files
    (https://docs.github.com/en/actions/writing-workflows/workflow-syntax-for-github-actions#filter-pattern-cheat-sheet),
    so users can paste the same globs into `paths:` and `models:`.
    """
    out = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif c == "*":
            out.append("[^/]*")
            i += 1
        elif c == "?":
            out.append("[^/]")
            i += 1
        elif c == "[":
            end = pattern.find("]", i + 1)
            if end == -1:
                out.append(re.escape(c))
                i += 1
            else:
                body = pattern[i + 1 : end].replace("\\", "\\\\")
                out.append(f"[{'^' + body[1:] if body.startswith('!') else body}]")
                i = end + 1
        else:
            out.append(re.escape(c))
            i += 1
    return re.compile("".join(out) + r"\Z")


def matches(path: str, patterns: Sequence[str]) -> bool:
    """True when the repo-relative posix `path` matches any glob (a plain path matches itself)."""
    norm = str(PurePosixPath(path))
    return any(_glob_regex(str(PurePosixPath(p))).match(norm) for p in patterns)


def model_changes(changes: Iterable[FileChange], patterns: Sequence[str]) -> list[FileChange]:
    """The changes whose new path, or old path for a rename, matches a model glob."""
    return [
        c
        for c in changes
        if matches(c.path, patterns) or (c.previous_path is not None and matches(c.previous_path, patterns))
    ]


# ---------------------------------------------------------------------------------------- baseline


def is_lfs_pointer(head: bytes) -> bool:
    """True when the bytes (at least the first 64) look like a Git LFS pointer file."""
    return head.startswith(LFS_POINTER_PREFIX)


def check_not_lfs_pointer(path: Path) -> None:
    """Raise `LfsPointerInsteadOfWeights` when the checked-out file is a pointer, not the weights."""
    with path.open("rb") as fh:
        head = fh.read(len(LFS_POINTER_PREFIX))
    if is_lfs_pointer(head) and path.stat().st_size < _LFS_POINTER_MAX_BYTES:
        raise LfsPointerInsteadOfWeights(
            f"`{path}` is a Git LFS pointer, not model weights; check out with `lfs: true` "
            "(actions/checkout `with: lfs: true`) so the weights are downloaded."
        )


def extract_baseline(
    repo_dir: Path,
    base: str,
    change: FileChange,
    dest_dir: Path,
    *,
    git_lfs: str | None,
) -> Path | None:
    """Write the base version of a changed model to `dest_dir` and return its path.

    Returns None for a file the change adds (no baseline). `git_lfs` is the git-lfs executable
    (`shutil.which("git-lfs")` at the edge) or None when it is not installed.
    """
    base_path = change.baseline_path
    if base_path is None:
        return None
    # `rev:./path` is relative to `repo_dir` (the working directory), as `base_path` is
    content = _git(repo_dir, ["show", f"{base}:./{base_path}"], what=f"the baseline `{base_path}` at `{base}`")
    if is_lfs_pointer(content[: len(LFS_POINTER_PREFIX)]) and len(content) < _LFS_POINTER_MAX_BYTES:
        if git_lfs is None:
            raise LfsPointerInsteadOfWeights(
                f"The baseline `{base_path}` at `{base[:12]}` is a Git LFS pointer and git-lfs is not "
                "installed; check out with `lfs: true` on actions/checkout and install git-lfs "
                "(the evalaction image has it)."
            )
        content = _lfs_smudge(repo_dir, git_lfs, base_path, content, base)
    # Keep the file name: runners pick a loader by extension.
    target = dest_dir / "baseline" / PurePosixPath(base_path).name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(content)
    return target


def _lfs_smudge(repo_dir: Path, git_lfs: str, path: str, pointer: bytes, base: str) -> bytes:
    try:
        done = subprocess.run(
            [git_lfs, "smudge", "--", path],
            cwd=repo_dir,
            input=pointer,
            capture_output=True,
            timeout=LFS_SMUDGE_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise GitCommandFailed(
            f"`git lfs smudge {path}` took over {LFS_SMUDGE_TIMEOUT_S} s; check the LFS server is reachable."
        ) from None
    if done.returncode != 0 or is_lfs_pointer(done.stdout[: len(LFS_POINTER_PREFIX)]):
        reason = _first_line(done.stderr) or "it returned the pointer unchanged"
        raise LfsPointerInsteadOfWeights(
            f"Cannot fetch the Git LFS object of the baseline `{path}` at `{base[:12]}` ({reason}); "
            "check out with `lfs: true` on actions/checkout and keep `contents: read` permission."
        )
    return done.stdout


# ---------------------------------------------------------------------------------------- git


def _git(repo_dir: Path, args: list[str], *, what: str | None = None) -> bytes:
    """Run git with a timeout; failure is one line naming the command and git's own first line."""
    cmd = ["git", *args]
    try:
        done = subprocess.run(cmd, cwd=repo_dir, capture_output=True, timeout=GIT_TIMEOUT_S, check=False)
    except FileNotFoundError:
        raise GitCommandFailed("git is not installed; the evalaction image ships it.") from None
    except subprocess.TimeoutExpired:
        raise GitCommandFailed(f"`{' '.join(cmd)}` took over {GIT_TIMEOUT_S} s.") from None
    if done.returncode != 0:
        reason = _first_line(done.stderr)
        subject = what or f"`{' '.join(cmd)}`"
        raise GitCommandFailed(
            f"Cannot read {subject}: {reason}; check out with `fetch-depth: 0` on actions/checkout "
            "so the base commit is present."
        )
    return done.stdout


def _first_line(raw: bytes) -> str:
    for line in raw.decode("utf-8", errors="replace").splitlines():
        if line.strip():
            return line.strip()
    return ""


# ---------------------------------------------------------------------------------------- refs


def resolve_commit(repo_dir: Path, ref: str) -> str:
    """The commit sha a ref names; a branch only fetched as `origin/<ref>` (actions/checkout) counts too."""
    for candidate in (ref, f"origin/{ref}"):
        done = subprocess.run(
            ["git", "rev-parse", "--verify", "--quiet", f"{candidate}^{{commit}}"],
            cwd=repo_dir,
            capture_output=True,
            timeout=GIT_TIMEOUT_S,
            check=False,
        )
        if done.returncode == 0:
            return done.stdout.decode().strip()
    raise GitCommandFailed(
        f"Cannot find the git ref `{ref}` (nor `origin/{ref}`) in {repo_dir}; check the ref's spelling and "
        "check out with `fetch-depth: 0` on actions/checkout so every branch and tag is present."
    )


def _object_exists(repo_dir: Path, spec: str) -> bool:
    """`git cat-file -e <spec>`: True when the object is present."""
    done = subprocess.run(
        ["git", "cat-file", "-e", spec], cwd=repo_dir, capture_output=True, timeout=GIT_TIMEOUT_S, check=False
    )
    return done.returncode == 0


def exists_at(repo_dir: Path, rev: str, path: str) -> bool:
    """True when `path` is a file in commit `rev`."""
    return _object_exists(repo_dir, f"{rev}:{path}")


def fetch_commit(repo_dir: Path, sha: str) -> bool:
    """Best effort `git fetch --depth=1 origin <sha>` for a shallow clone; False when it fails.

    actions/checkout leaves the token in the local git config, so this works in a workflow; elsewhere the
    caller's later `git show` fails with the `fetch-depth: 0` fix.
    """
    try:
        done = subprocess.run(
            ["git", "fetch", "--no-tags", "--quiet", "--depth=1", "origin", sha],
            cwd=repo_dir,
            capture_output=True,
            timeout=GIT_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return False
    return done.returncode == 0


def has_commit(repo_dir: Path, sha: str) -> bool:
    """True when the commit object is present (a shallow clone may lack the base commit)."""
    return _object_exists(repo_dir, f"{sha}^{{commit}}")


def read_at(repo_dir: Path, rev: str, path: str) -> bytes | None:
    """The bytes of `path` (relative to `repo_dir`, which may be a subfolder of the repository) at `rev`.

    None when the commit has no such file; a missing commit or any other git failure raises.
    """
    rel = f"./{PurePosixPath(path).as_posix()}"
    if not exists_at(repo_dir, rev, rel):
        if not has_commit(repo_dir, rev):
            raise GitCommandFailed(
                f"Cannot read `{path}` at `{rev[:12]}`: the commit is not in the checkout; check out with "
                "`fetch-depth: 0` on actions/checkout so the base commit is present."
            )
        return None
    return _git(repo_dir, ["show", f"{rev}:{rel}"], what=f"`{path}` at `{rev[:12]}`")


def toplevel(repo_dir: Path) -> Path:
    """The root of the git work tree `repo_dir` is in (diff paths are relative to it)."""
    return Path(_git(repo_dir, ["rev-parse", "--show-toplevel"]).decode().strip()).resolve()


def fetch_pull_head(repo_dir: Path, pr_number: int) -> str:
    """Fetch `refs/pull/N/head` from origin (a fork's PR too) and return its commit sha.

    actions/checkout fetches branches and tags, never `refs/pull/*`; a full-depth checkout does not help.
    The ref lands under `refs/evalaction/pull/N/head`; nothing is checked out.
    """
    local = f"refs/evalaction/pull/{pr_number}/head"
    try:
        done = subprocess.run(
            ["git", "fetch", "--no-tags", "--quiet", "origin", f"+refs/pull/{pr_number}/head:{local}"],
            cwd=repo_dir,
            capture_output=True,
            timeout=GIT_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise GitCommandFailed(
            f"Fetching PR #{pr_number} (`refs/pull/{pr_number}/head`) took over {GIT_TIMEOUT_S} s."
        ) from None
    if done.returncode != 0:
        raise GitCommandFailed(
            f"Cannot fetch PR #{pr_number} (`refs/pull/{pr_number}/head` from origin): {_first_line(done.stderr)}; "
            "check the PR number and that actions/checkout left `origin` with its token (persist-credentials)."
        )
    return resolve_commit(repo_dir, local)


# ---------------------------------------------------------------------------------------- trees


def materialise(repo_dir: Path, rev: str, paths: Sequence[str], dest: Path, *, git_lfs: str | None) -> None:
    """Write `paths` (files or folders, relative to `repo_dir`) as they are at `rev` under `dest`, same layout.

    `dest/<path>` is the base commit's copy of `repo_dir/<path>`: `git archive` streamed into a tar reader
    whose `data` filter refuses absolute names, `..` and links leaving `dest`. Git LFS pointers are smudged
    as baselines are (`extract_baseline`). Every path must exist at `rev` (see `exists_at`).
    """
    import tarfile

    if not paths:
        return
    prefix = _git(repo_dir, ["rev-parse", "--show-prefix"]).decode().strip()
    toplevel = Path(_git(repo_dir, ["rev-parse", "--show-toplevel"]).decode().strip())
    dest.mkdir(parents=True, exist_ok=True)
    if any(dest.iterdir()):
        raise GitCommandFailed(f"{dest} is not empty; evalaction writes the base commit's files to a new folder.")
    staged = dest / ".archive"
    staged.mkdir()
    cmd = ["git", "archive", "--format=tar", rev, "--", *(f"{prefix}{p}" for p in paths)]
    proc = subprocess.Popen(cmd, cwd=toplevel, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
            tar.extractall(staged, filter="data")
        proc.wait(timeout=GIT_TIMEOUT_S)
    except (tarfile.TarError, subprocess.TimeoutExpired) as exc:
        proc.kill()
        proc.wait()
        raise GitCommandFailed(f"Cannot read {', '.join(paths)} at `{rev[:12]}` ({type(exc).__name__}).") from None
    if proc.returncode != 0:
        reason = _first_line(proc.stderr.read() if proc.stderr else b"")
        raise GitCommandFailed(
            f"Cannot read {', '.join(paths)} at `{rev[:12]}`: {reason}; check out with `fetch-depth: 0` "
            "on actions/checkout so the base commit is present."
        )
    inner = staged / prefix if prefix else staged
    moved: list[str] = []
    for path in sorted(paths, key=lambda p: len(PurePosixPath(p).parts)):  # a folder before a file inside it
        if any(path == m or path.startswith(m.rstrip("/") + "/") for m in moved):
            continue  # inside a folder already moved
        target = dest / path
        target.parent.mkdir(parents=True, exist_ok=True)
        if not (inner / path).exists():
            raise GitCommandFailed(
                f"`git archive {rev[:12]}` left out `{path}`; drop its `export-ignore` in .gitattributes."
            )
        (inner / path).rename(target)
        moved.append(path)
    import shutil

    shutil.rmtree(staged, ignore_errors=True)
    for path in paths:
        root = dest / path
        files = [root] if root.is_file() else [f for f in root.rglob("*") if f.is_file() and not f.is_symlink()]
        for f in files:
            if f.stat().st_size >= _LFS_POINTER_MAX_BYTES:
                continue
            content = f.read_bytes()
            if not is_lfs_pointer(content[: len(LFS_POINTER_PREFIX)]):
                continue
            rel = f.relative_to(dest).as_posix()
            if git_lfs is None:
                raise LfsPointerInsteadOfWeights(
                    f"`{rel}` at `{rev[:12]}` is a Git LFS pointer and git-lfs is not installed; check out with "
                    "`lfs: true` on actions/checkout and install git-lfs (the evalaction image has it)."
                )
            f.write_bytes(_lfs_smudge(repo_dir, git_lfs, rel, content, rev))

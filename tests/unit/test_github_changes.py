"""Changed models and baselines, from real temporary git repositories."""

from __future__ import annotations

import glob
import os
import stat
import subprocess
from pathlib import Path

import pytest

from evalaction.exceptions import BadInput, LfsPointerInsteadOfWeights
from evalaction.github.changes import (
    FileChange,
    GitCommandFailed,
    changes_from_api,
    changes_from_git,
    check_not_lfs_pointer,
    extract_baseline,
    is_shallow,
    matches,
    model_changes,
    parse_name_status_z,
)

LFS_POINTER = (
    b"version https://git-lfs.github.com/spec/v1\n"
    b"oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\n"
    b"size 12345\n"
)


def git(repo: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
    }
    done = subprocess.run(["git", *args], cwd=repo, env=env, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def write(repo: Path, rel: str, data: bytes) -> None:
    path = repo / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    """base: a, b, d, lfs.onnx, README; PR: a modified, b renamed, c added, d deleted, README edited."""
    root = tmp_path_factory.mktemp("repo")
    git(root, "init", "-q", "-b", "main")
    write(root, "models/a.onnx", b"A-base" * 100)
    write(root, "models/b.onnx", b"B-stays-the-same" * 100)
    write(root, "models/d.pt", b"D")
    write(root, "models/lfs.onnx", LFS_POINTER)
    write(root, "README.md", b"hi")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "base")
    base = git(root, "rev-parse", "HEAD")
    git(root, "checkout", "-q", "-b", "pr")
    write(root, "models/a.onnx", b"A-candidate" * 100)
    write(root, "models/sub/c.onnx", b"C-new")
    git(root, "mv", "models/b.onnx", "models/sub/b2.onnx")
    git(root, "rm", "-q", "models/d.pt")
    write(root, "models/lfs.onnx", LFS_POINTER.replace(b"12345", b"54321"))
    write(root, "README.md", b"hello")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "candidate")
    head = git(root, "rev-parse", "HEAD")
    # The base branch moves on after the PR forked: three dots must ignore this.
    git(root, "checkout", "-q", "main")
    write(root, "models/later.onnx", b"L")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "later on main")
    git(root, "checkout", "-q", "pr")
    return root, base, head


def test_changes_from_git(repo: tuple[Path, str, str]) -> None:
    root, _, head = repo
    changes = changes_from_git(root, "main", head)
    assert sorted(changes, key=lambda c: c.path) == [
        FileChange("README.md", "modified"),
        FileChange("models/a.onnx", "modified"),
        FileChange("models/d.pt", "deleted"),
        FileChange("models/lfs.onnx", "modified"),
        FileChange("models/sub/b2.onnx", "renamed", previous_path="models/b.onnx"),
        FileChange("models/sub/c.onnx", "added"),
    ]
    assert not is_shallow(root)


def test_model_changes_and_baselines(repo: tuple[Path, str, str], tmp_path: Path) -> None:
    root, base, head = repo
    models = model_changes(changes_from_git(root, base, head), ["models/**/*.onnx"])
    by_path = {c.path: c for c in models}
    assert set(by_path) == {"models/a.onnx", "models/lfs.onnx", "models/sub/b2.onnx", "models/sub/c.onnx"}

    a = extract_baseline(root, base, by_path["models/a.onnx"], tmp_path / "a", git_lfs=None)
    assert a is not None and a.name == "a.onnx" and a.read_bytes() == b"A-base" * 100
    renamed = extract_baseline(root, base, by_path["models/sub/b2.onnx"], tmp_path / "b", git_lfs=None)
    assert renamed is not None and renamed.read_bytes() == b"B-stays-the-same" * 100
    assert extract_baseline(root, base, by_path["models/sub/c.onnx"], tmp_path / "c", git_lfs=None) is None


def test_lfs_pointer_baseline_without_git_lfs_names_the_fix(repo: tuple[Path, str, str], tmp_path: Path) -> None:
    root, base, _ = repo
    with pytest.raises(LfsPointerInsteadOfWeights) as info:
        extract_baseline(root, base, FileChange("models/lfs.onnx", "modified"), tmp_path, git_lfs=None)
    message = str(info.value)
    assert "models/lfs.onnx" in message and "lfs: true" in message and "\n" not in message
    assert isinstance(info.value, BadInput)


def fake_git_lfs(tmp_path: Path, script: str) -> str:
    exe = tmp_path / "git-lfs"
    exe.write_text("#!/bin/sh\n" + script)
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    return str(exe)


def test_lfs_pointer_baseline_is_smudged_when_git_lfs_exists(repo: tuple[Path, str, str], tmp_path: Path) -> None:
    root, base, _ = repo
    # Stands in for `git lfs smudge`: checks it is fed the pointer and prints the "downloaded" weights.
    exe = fake_git_lfs(
        tmp_path, '[ "$1" = smudge ] || exit 9\ngrep -q "size 12345" || exit 8\nprintf "REAL-WEIGHTS"\n'
    )
    path = extract_baseline(root, base, FileChange("models/lfs.onnx", "modified"), tmp_path / "o", git_lfs=exe)
    assert path is not None and path.read_bytes() == b"REAL-WEIGHTS"


def test_failed_smudge_is_one_line(repo: tuple[Path, str, str], tmp_path: Path) -> None:
    root, base, _ = repo
    exe = fake_git_lfs(tmp_path, 'echo "batch request: missing protocol" >&2\nexit 2\n')
    with pytest.raises(LfsPointerInsteadOfWeights, match=r"missing protocol.*lfs: true"):
        extract_baseline(root, base, FileChange("models/lfs.onnx", "modified"), tmp_path / "o", git_lfs=exe)


def test_shallow_clone_is_detected_and_named(repo: tuple[Path, str, str], tmp_path: Path) -> None:
    root, base, head = repo
    clone = tmp_path / "shallow"
    subprocess.run(
        ["git", "clone", "-q", "--depth", "1", "--branch", "pr", f"file://{root}", str(clone)],
        check=True,
        capture_output=True,
    )
    assert is_shallow(clone)
    with pytest.raises(GitCommandFailed) as info:
        changes_from_git(clone, base, head)
    assert "fetch-depth: 0" in str(info.value) and "\n" not in str(info.value)


def test_missing_path_at_base_is_named(repo: tuple[Path, str, str], tmp_path: Path) -> None:
    root, base, _ = repo
    with pytest.raises(GitCommandFailed, match="models/ghost.onnx"):
        extract_baseline(root, base, FileChange("models/ghost.onnx", "modified"), tmp_path, git_lfs=None)


def test_parse_name_status_z() -> None:
    text = "M\0a b.onnx\0R087\0old/x.pt\0new/x.pt\0A\0c\0C100\0s\0t\0T\0link\0D\0gone\0"
    assert parse_name_status_z(text) == [
        FileChange("a b.onnx", "modified"),
        FileChange("new/x.pt", "renamed", previous_path="old/x.pt"),
        FileChange("c", "added"),
        FileChange("t", "copied", previous_path="s"),
        FileChange("link", "type-changed"),
        FileChange("gone", "deleted"),
    ]
    assert parse_name_status_z("") == []
    with pytest.raises(GitCommandFailed):
        parse_name_status_z("U\0conflict\0")


def test_changes_from_api_entries() -> None:
    entries = [
        {"filename": "models/a.onnx", "status": "modified"},
        {"filename": "models/new.onnx", "status": "renamed", "previous_filename": "models/old.onnx"},
        {"filename": "models/c.onnx", "status": "added"},
        {"filename": "models/d.onnx", "status": "removed"},
    ]
    changes = changes_from_api(entries)
    assert [c.baseline_path for c in changes] == ["models/a.onnx", "models/old.onnx", None, "models/d.onnx"]
    assert changes[3].status == "deleted"


TREE = [
    "model.onnx",
    "models/a.onnx",
    "models/a.pt",
    "models/sub/b.onnx",
    "models/sub/deep/c.onnx",
    "other/models/x.onnx",
    "weights/m1.safetensors",
    "weights/m2.safetensors",
    "weights/m10.bin",
]


@pytest.mark.parametrize(
    "pattern",
    [
        "*.onnx",
        "models/*.onnx",
        "models/**/*.onnx",
        "**/*.onnx",
        "models/**",
        "weights/m?.safetensors",
        "weights/m[12].*",
        "weights/m[!1]*",
        "models/sub/b.onnx",
        "**/models/*.onnx",
    ],
)
def test_globs_agree_with_python_glob_on_a_real_tree(tmp_path: Path, pattern: str) -> None:
    """Independent reference: `glob.glob(recursive=True)` over the same files on disk."""
    for rel in TREE:
        write(tmp_path, rel, b"x")
    expected = {p for p in glob.glob(pattern, root_dir=tmp_path, recursive=True) if (tmp_path / p).is_file()}
    assert {p for p in TREE if matches(p, [pattern])} == expected


def test_check_not_lfs_pointer(tmp_path: Path) -> None:
    pointer = tmp_path / "m.onnx"
    pointer.write_bytes(LFS_POINTER)
    with pytest.raises(LfsPointerInsteadOfWeights, match="lfs: true"):
        check_not_lfs_pointer(pointer)
    real = tmp_path / "r.onnx"
    real.write_bytes(b"\x08\x07" * 1000)
    check_not_lfs_pointer(real)

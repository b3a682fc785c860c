"""The test data a PR changes is read from the base commit: which paths are evidence, and their base copies."""

from __future__ import annotations

import stat
from pathlib import Path
from types import SimpleNamespace

import pytest

from evalaction.exceptions import LfsPointerInsteadOfWeights
from evalaction.github.changes import GitCommandFailed, materialise
from evalaction.github.plan_trust import Evidence, EvidenceChange, evidence, evidence_section, touches
from evalaction.plan.schema import DatasetSpec
from tests.unit.test_github_changes import LFS_POINTER, git, write


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """base: sub/data/{cat,dog}/*.png (one an LFS pointer), sub/data/train.csv; then a PR rewrites all of it."""
    root = tmp_path_factory.mktemp("evidence")
    git(root, "init", "-q", "-b", "main")
    write(root, "sub/data/cat/1.png", b"cat-1")
    write(root, "sub/data/dog/2.png", b"dog-2")
    write(root, "sub/data/dog/big.png", LFS_POINTER)
    write(root, "sub/data/train.csv", b"id,label\n1,cat\n")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "base")
    base = git(root, "rev-parse", "HEAD")
    write(root, "sub/data/cat/1.png", b"relabelled")
    write(root, "sub/data/cat/planted.png", b"planted")
    write(root, "sub/data/train.csv", b"id,label\n")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "pr")
    return root, base


def fake_git_lfs(tmp_path: Path) -> str:
    exe = tmp_path / "git-lfs"
    exe.write_text('#!/bin/sh\n[ "$1" = smudge ] || exit 9\ngrep -q "size 12345" || exit 8\nprintf "BIG-IMAGE"\n')
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    return str(exe)


def test_a_folder_and_a_file_in_it_come_back_as_at_the_base_commit(repo: tuple[Path, str], tmp_path: Path) -> None:
    root, base = repo
    dest = tmp_path / "copy"
    # run from a subfolder (the `working-directory` input): paths are relative to it, as the plan's are
    materialise(root / "sub", base, ["data/train.csv", "data"], dest, git_lfs=fake_git_lfs(tmp_path))
    files = sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file())
    assert files == ["data/cat/1.png", "data/dog/2.png", "data/dog/big.png", "data/train.csv"]
    assert (dest / "data/cat/1.png").read_bytes() == b"cat-1"
    assert (dest / "data/train.csv").read_bytes() == b"id,label\n1,cat\n"
    assert (dest / "data/dog/big.png").read_bytes() == b"BIG-IMAGE"  # the pointer, smudged
    assert (root / "sub/data/cat/1.png").read_bytes() == b"relabelled"  # the checkout is untouched


def test_an_lfs_pointer_without_git_lfs_names_the_fix(repo: tuple[Path, str], tmp_path: Path) -> None:
    root, base = repo
    with pytest.raises(LfsPointerInsteadOfWeights) as info:
        materialise(root, base, ["sub/data/dog"], tmp_path / "copy", git_lfs=None)
    assert "sub/data/dog/big.png" in str(info.value) and "lfs: true" in str(info.value)
    assert "\n" not in str(info.value)


def test_a_path_missing_at_the_base_commit_is_one_line(repo: tuple[Path, str], tmp_path: Path) -> None:
    root, base = repo
    with pytest.raises(GitCommandFailed) as info:
        materialise(root, base, ["sub/nowhere.csv"], tmp_path / "copy", git_lfs=None)
    assert "sub/nowhere.csv" in str(info.value) and "\n" not in str(info.value)


def test_a_folder_already_there_is_refused(repo: tuple[Path, str], tmp_path: Path) -> None:
    """The PR could have committed the destination (or a symlink to its own copy): never write into one."""
    root, base = repo
    write(tmp_path, "copy/data/train.csv", b"id,label\n")
    with pytest.raises(GitCommandFailed, match="not empty"):
        materialise(root / "sub", base, ["data/train.csv"], tmp_path / "copy", git_lfs=None)
    assert (tmp_path / "copy/data/train.csv").read_bytes() == b"id,label\n"


def loaded_with(base_dir: Path, **dataset: str) -> SimpleNamespace:
    return SimpleNamespace(plan=SimpleNamespace(dataset=DatasetSpec(**dataset)), base_dir=base_dir)


def test_evidence_names_the_test_set_the_coco_images_and_the_training_data(tmp_path: Path) -> None:
    write(tmp_path, "plans/coco/_annotations.coco.json", b"{}")
    plans = tmp_path / "plans"
    coco = evidence(
        loaded_with(plans, path="coco/_annotations.coco.json", train_manifest="../train.txt"), tmp_path
    )
    # the COCO file's images sit in its folder: a PR that swaps an image changes the evidence
    assert coco == [Evidence("path", "plans/coco"), Evidence("train_manifest", "train.txt")]
    csv = evidence(loaded_with(plans, path="data/test.csv", images_dir="imgs", train_path="data/train"), tmp_path)
    assert csv == [
        Evidence("path", "plans/data/test.csv"),
        Evidence("images_dir", "plans/imgs"),
        Evidence("train_path", "plans/data/train"),
    ]
    assert evidence(loaded_with(plans, path="data/test.csv"), tmp_path / "elsewhere") == []
    assert touches("plans/coco/img/1.jpg", "plans/coco") and touches("plans/coco", "plans/coco")
    assert not touches("plans/coco2/x.jpg", "plans/coco") and not touches("plans", "plans/coco")


def test_the_section_lists_the_files_and_says_which_copy_decided() -> None:
    change = EvidenceChange(
        "`abc1234` (main)",
        [f"data/img/{i}.png" for i in range(25)],
        from_base=[Evidence("path", "data/img")],
        from_pr=[Evidence("train_manifest", "train.txt")],
    )
    text = evidence_section(change)
    assert text.startswith("### ⚠️ Test data changed by this PR\n")
    assert "- `data/img/19.png`" in text and "- `data/img/20.png`" not in text and "- … 5 more" in text
    assert "used `dataset.path` (`data/img`) as it is on the base commit `abc1234` (main)" in text
    assert "land it in its own PR first" in text
    assert "has no `dataset.train_manifest` (`train.txt`), so this PR's copy is used" in text

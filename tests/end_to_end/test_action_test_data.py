"""The evidence comes from the trusted side too: a PR cannot relabel the test set to match its model.

A PR that swaps in the worse model (P1's) and rewrites `data/test.csv`'s labels to that model's own
predictions (plus one row the base file lacks) is judged on the base commit's test set: the same verdict as
P1, which changes only the model, and the base file's row count in results.json.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
from pathlib import Path

import pytest

from evalaction.github import action
from tests.end_to_end.action_repo import Repo, build_repo, git, github_env, read_outputs
from tests.end_to_end.fake_github import FakeGitHub

PR = 2


def relabelled(model: bytes, test_csv: bytes) -> bytes:
    """`test_csv` with every label replaced by `model`'s prediction, and one extra row (a new id)."""
    import numpy as np
    import onnxruntime as ort

    rows = list(csv.DictReader(io.StringIO(test_csv.decode())))
    pixels = [f"p{i:02d}" for i in range(64)]
    x = np.array([[float(r[p]) for p in pixels] for r in rows], dtype=np.float32) * 0.0625
    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    logits = session.run(None, {session.get_inputs()[0].name: x.reshape(-1, 1, 8, 8)})[0]
    for row, label in zip(rows, logits.argmax(axis=1), strict=True):
        row["label"] = str(int(label))
    rows.append({**rows[0], "id": "digit-planted"})
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


def show(repo: Path, rev: str, path: str) -> bytes:
    return subprocess.run(["git", "show", f"{rev}:{path}"], cwd=repo, capture_output=True, check=True).stdout


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Repo:
    built = build_repo(tmp_path_factory.mktemp("evidence"))
    worse = show(built.path, built.heads["P1"], "models/digits.onnx")
    # P4: P1's worse model, and the test labels rewritten to its predictions.
    planted = relabelled(worse, show(built.path, built.base, "data/test.csv"))
    built.push("P4", "P1", {"data/test.csv": planted})
    # P7: a PR of test data alone (what the comment asks for), on the base commit.
    built.heads["B"] = built.base
    built.push("P7", "B", {"data/test.csv": planted})
    return built


def run(repo: Repo, fake: FakeGitHub, tmp: Path, head: str) -> tuple[int, str, dict[str, str], dict]:
    repo.checkout_merge(head)
    env = github_env(repo, tmp, fake.base_url, head)
    out = io.StringIO()
    code = action.main(env, out=out)
    results = json.loads((repo.path / "evalaction-report" / "results.json").read_text())
    return code, out.getvalue(), read_outputs(tmp / "output"), results


def n_samples(results: dict) -> int:
    return int(results["plan"]["dataset"]["n_samples"])


def test_a_pr_that_relabels_the_test_set_is_judged_on_the_base_test_set(
    repo: Repo, fake: FakeGitHub, tmp_path: Path
) -> None:
    base_rows = show(repo.path, repo.base, "data/test.csv").decode().count("\n") - 1
    # The expected verdict: the same model with the test set untouched (P1 changes only the model).
    expected_code, _, expected, expected_results = run(repo, fake, tmp_path / "p1", "P1")
    assert expected["verdict"] == "NO-GO"  # the relabelling below would hide it

    code, stdout, outputs, results = run(repo, fake, tmp_path / "p4", "P4")
    pr_csv = (repo.path / "data" / "test.csv").read_text()
    assert "digit-planted" in pr_csv  # the checkout holds the PR's relabelled copy
    assert outputs["verdict"] == expected["verdict"] and code == expected_code, stdout[-2000:]
    assert n_samples(results) == base_rows == n_samples(expected_results)
    assert fake.statuses[repo.heads["P4"]][-1]["state"] == "failure"
    body = fake.comment_bodies(PR)[-1]
    assert body.split("\n")[1].startswith("## ❌ NO-GO")
    assert "### ⚠️ Test data changed by this PR" in body
    assert "- `data/test.csv`" in body
    assert "as it is on the base commit" in body and "land it in its own PR first" in body
    assert "::warning title=evalaction%3A test data changed by this PR::" in stdout
    assert not list(repo.path.glob(".evalaction-base-*"))  # the base copy is gone after the run


def test_a_pr_of_test_data_alone_evaluates_nothing_and_says_what_it_changes(
    repo: Repo, fake: FakeGitHub, tmp_path: Path
) -> None:
    repo.checkout_merge("P7")
    env = github_env(repo, tmp_path, fake.base_url, "P7")
    out = io.StringIO()
    code = action.main(env, out=out)
    assert code == 0 and read_outputs(tmp_path / "output")["verdict"] == "SKIPPED", out.getvalue()[-2000:]
    body = fake.comment_bodies(PR)[-1]
    assert "No model weights changed" in body
    assert "### ℹ️ Test data changed by this PR\n\n- `data/test.csv`" in body
    assert "once merged, the model PRs after it are" in body


def test_a_new_test_set_uses_the_prs_copy_and_says_so(tmp_path: Path, fake: FakeGitHub) -> None:
    fresh = build_repo(tmp_path / "new")
    # A base commit without the test set (nor the plan), and a PR that adds both with the worse model.
    git(fresh.path, "checkout", "-q", "--detach", fresh.base)
    git(fresh.path, "rm", "-q", "data/test.csv")
    git(fresh.path, "commit", "-q", "-m", "no test set yet")
    fresh.base = git(fresh.path, "rev-parse", "HEAD")
    (fresh.path / "models" / "digits.onnx").write_bytes(show(fresh.path, fresh.heads["P1"], "models/digits.onnx"))
    (fresh.path / "data").mkdir(exist_ok=True)
    (fresh.path / "data" / "test.csv").write_bytes(show(fresh.path, fresh.heads["P1"], "data/test.csv"))
    git(fresh.path, "add", "-A")
    git(fresh.path, "commit", "-q", "-m", "add the test set")
    fresh.heads["P6"] = fresh.merges["P6"] = git(fresh.path, "rev-parse", "HEAD")
    code, stdout, outputs, _ = run(fresh, fake, tmp_path / "env", "P6")
    assert outputs["verdict"] == "NO-GO" and code == 1, stdout[-2000:]
    body = fake.comment_bodies(PR)[-1]
    assert "### ⚠️ Test data changed by this PR" in body
    assert "has no `dataset.path` (`data/test.csv`), so this PR's copy is used" in body

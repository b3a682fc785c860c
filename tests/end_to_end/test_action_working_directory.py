"""The action's `working-directory`: a repository whose plan, data and models live in a subfolder.

`git diff` names changed files from the top of the work tree (`ml/models/digits.onnx`) while the plan's model
path is relative to the working directory (`models/digits.onnx`); the change must still be found, and the
baseline read from the same subfolder at the base commit.
"""

from __future__ import annotations

from pathlib import Path

from evalaction.artifacts import RunResult
from tests.end_to_end.action_repo import build_repo, github_env, read_outputs, run_entrypoint_process
from tests.end_to_end.fake_github import FakeGitHub


def test_a_plan_in_a_subfolder_finds_the_changed_model_and_its_baseline(tmp_path: Path) -> None:
    repo = build_repo(tmp_path, subdir="ml")
    with FakeGitHub() as fake:
        repo.checkout_merge("P1")  # the worse model: NO-GO against the production one
        env = github_env(repo, tmp_path / "gh", fake.base_url, "P1", working_directory="ml")
        done = run_entrypoint_process(repo.path, env)
        states = [s["state"] for s in fake.statuses.get(repo.heads["P1"], [])]
    assert done.returncode == 1, done.stdout + done.stderr
    outputs = read_outputs(tmp_path / "gh" / "output")
    assert outputs["verdict"] == "NO-GO"
    assert states == ["pending", "failure"]
    results = list((repo.path / "ml" / "evalaction-report").rglob("results.json"))
    assert len(results) == 1
    run = RunResult.read(results[0])
    assert run.inference.baseline is not None  # the base commit's ml/models/digits.onnx was found
    assert run.compare is not None and run.compare.n_samples == 360

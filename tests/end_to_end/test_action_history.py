"""The action with `history:` in the plan: prior versions come from the PR's base branch, not from the PR.

    main:  V1 (an early CNN: noisy weights) -- V2 (the MLP) -- B (the production CNN)
                                                                \\
    PR #2:                                                       P1 (the production CNN, re-exported)
                                                                  \\
                                                                   M1 = merge of P1 into B (the checkout)

The candidate makes the same predictions as B, so it is the best so far (tied with B); the comment says so,
with the three base-branch versions in its trend table and chart.
"""

from __future__ import annotations

from pathlib import Path

from evalaction.artifacts import RunResult
from tests.end_to_end.action_repo import (
    DEMO,
    MODEL,
    PLAN,
    Repo,
    commit_all,
    git,
    github_env,
    reexported,
    run_entrypoint_process,
)
from tests.end_to_end.fake_github import FakeGitHub

HISTORY_PLAN = (
    PLAN.replace(
        "readiness: {latency_repeats: 20, warmup: 1, measure_memory: false, quantization: {enabled: false}}",
        "readiness: {enabled: false}",
    ).replace("  plots: false", "  plots: false\n  thresholds: {enabled: false}")
    + "history: {versions: 3}\n"
)


def _noisy(model: bytes) -> bytes:
    import numpy as np
    import onnx
    from onnx import numpy_helper

    proto = onnx.load_from_string(model)
    rng = np.random.default_rng(0)
    for init in proto.graph.initializer:
        w = numpy_helper.to_array(init)
        if w.dtype == np.float32 and w.size > 1:
            init.CopyFrom(
                numpy_helper.from_array(w + rng.normal(0, 0.3 * w.std(), w.shape).astype(np.float32), init.name)
            )
    return proto.SerializeToString()


def _build(root: Path) -> Repo:
    repo = root / "workspace"
    repo.mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    (repo / "data").mkdir()
    (repo / "data" / "test.csv").write_bytes((DEMO / "data" / "test.csv").read_bytes())
    (repo / "models").mkdir()
    (repo / "evalaction.yml").write_text(HISTORY_PLAN)
    (repo / ".gitignore").write_text("evalaction-report/\n")
    production = (DEMO / "models" / "candidate.onnx").read_bytes()
    for message, data in (
        ("V1 early CNN", _noisy(production)),
        ("V2 MLP", (DEMO / "models" / "baseline.onnx").read_bytes()),
        ("B production model", production),
    ):
        (repo / MODEL).write_bytes(data)
        base = commit_all(repo, message)
    git(repo, "checkout", "-q", "-b", "changes")
    (repo / MODEL).write_bytes(reexported(production))
    p1 = commit_all(repo, "P1 re-export")
    git(repo, "checkout", "-q", "--detach", base)
    git(repo, "merge", "-q", "--no-ff", "-m", "Merge P1", p1)
    merge = git(repo, "rev-parse", "HEAD")
    return Repo(repo, base, {"P1": p1}, {"P1": merge})


def test_history_comes_from_the_base_branch(tmp_path: Path) -> None:
    repo = _build(tmp_path)
    with FakeGitHub() as fake:
        done = run_entrypoint_process(repo.path, github_env(repo, tmp_path / "run", fake.base_url, "P1"))
        comments = [str(c["body"]) for c in fake.comments.get(2, [])]
    assert done.returncode in (0, 1), done.stderr
    run = RunResult.read(repo.path / "evalaction-report" / "results.json")
    h = run.history
    assert h is not None
    assert h.ref == f"{repo.base} @ {repo.base[:12]}"
    assert [v.subject for v in h.versions] == ["V1 early CNN", "V2 MLP", "B production model"]
    assert h.versions[-1].comparison is not None and h.versions[-1].comparison.delta == 0.0
    assert h.candidate_is_best is True and h.best == h.versions[-1].label
    assert h.cache_misses == 3
    (body,) = comments
    assert "**History:** the candidate is the best so far on accuracy" in body
    assert "xychart-beta" in body
    for v in h.versions:
        assert f"`{v.label}`" in body

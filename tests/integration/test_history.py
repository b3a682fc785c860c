"""History end to end: a generated git repository whose model file slid a little in each of 6 commits.

Version k (k = 0..5) classifies x > 0.5 + 0.005 k as positive on a grid of 1000 points x = (i + 0.5) / 1000
labelled x > 0.5, so it gets exactly 5 k points wrong: each commit costs 0.5 pt of accuracy, too little for
`vs_baseline` (not_worse, margin 1.5 pt) to notice, while the best prior version is 2.5 pt ahead, which
`vs_best_prior` (same rule) catches. Expected accuracies come from scikit-learn on predictions computed here
with numpy, not from evalaction.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from evalaction.artifacts import RunResult
from evalaction.cli import main

N = 1000
STEP = 0.005
SCALE = 50.0

PLAN = """\
version: 1
name: sliding model
task: binary
dataset: {path: data/test.csv, label_column: label, id_column: id}
models:
  candidate: {path: models/model.onnx, outputs: logits}
  baseline: {path: base/model.onnx, outputs: logits}
metrics: {primary: accuracy, compute: [macro_f1], plots: false}
compare: {n_bootstrap: 1000, seed: 0}
readiness: {enabled: false}
errors: {attributions: {enabled: false}}
history: {versions: 5}
gates:
  vs_baseline: {accuracy: {rule: not_worse, margin: 0.015}}
  vs_best_prior: {accuracy: {rule: not_worse, margin: 0.015}}
"""


def _x() -> np.ndarray:
    return (np.arange(N) + 0.5) / N


def _threshold(k: int) -> float:
    return 0.5 + STEP * k


def _model(path: Path, k: int) -> None:
    """logits = [s (t - x), s (x - t)]: class 1 when x > t."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    t = _threshold(k)
    w = np.array([[-SCALE, SCALE]], np.float32)
    b = np.array([SCALE * t, -SCALE * t], np.float32)
    graph = helper.make_graph(
        [helper.make_node("Gemm", ["input", "W", "b"], ["logits"])],
        f"v{k}",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 1])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 2])],
        [numpy_helper.from_array(w, "W"), numpy_helper.from_array(b, "b")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))


def _reference_accuracy(k: int) -> float:
    from sklearn.metrics import accuracy_score

    x = _x()
    return float(accuracy_score(x > 0.5, x > _threshold(k)))


def _git(repo: Path, *args: str, day: int = 1) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
        "GIT_AUTHOR_DATE": f"2026-01-{day:02d}T12:00:00+00:00",
        "GIT_COMMITTER_DATE": f"2026-01-{day:02d}T12:00:00+00:00",
    }
    done = subprocess.run(["git", *args], cwd=repo, env=env, capture_output=True, text=True, check=True)
    return done.stdout


def _commit_version(repo: Path, k: int) -> None:
    _model(repo / "models" / "model.onnx", k)
    _git(repo, "add", "models/model.onnx")
    _git(repo, "commit", "-q", "-m", f"model v{k + 1}", day=k + 1)


def _set_baseline(repo: Path) -> None:
    """The version before HEAD's, as the action takes it from the base branch."""
    (repo / "base").mkdir(exist_ok=True)
    blob = subprocess.run(
        ["git", "show", "HEAD~1:models/model.onnx"], cwd=repo, capture_output=True, check=True
    ).stdout
    (repo / "base" / "model.onnx").write_bytes(blob)


@pytest.fixture(scope="module")
def sliding_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = tmp_path_factory.mktemp("sliding")
    _git(repo, "init", "-q", "-b", "main")
    (repo / "data").mkdir()
    x = _x()
    rows = "\n".join(f"s{i:04d},{int(v > 0.5)},{v:.6f}" for i, v in enumerate(x))
    (repo / "data" / "test.csv").write_text("id,label,x\n" + rows + "\n")
    (repo / "evalaction.yml").write_text(PLAN)
    _git(repo, "add", "data", "evalaction.yml")
    for k in range(6):
        _commit_version(repo, k)
    _set_baseline(repo)
    return repo


def _run(repo: Path, out: Path) -> tuple[int, RunResult, str]:
    result = CliRunner().invoke(main, ["run", "-c", str(repo / "evalaction.yml"), "-o", str(out)])
    assert result.exit_code in (0, 1), result.output
    return result.exit_code, RunResult.read(out / "results.json"), (out / "report.md").read_text()


def test_slow_slide_is_caught_and_cached(sliding_repo: Path) -> None:
    repo = sliding_repo
    out = repo / "out"
    code, run, md = _run(repo, out)

    h = run.history
    assert h is not None
    # the candidate (HEAD's file, v6) is left out; the 5 commits before it, oldest first
    assert [v.subject for v in h.versions] == [f"model v{k}" for k in range(1, 6)]
    assert [v.date[:10] for v in h.versions] == [f"2026-01-{d:02d}" for d in range(1, 6)]
    for k, v in enumerate(h.versions):
        assert v.primary == pytest.approx(_reference_accuracy(k), abs=1e-12)
        assert v.comparison is not None
        assert v.comparison.delta == pytest.approx(_reference_accuracy(5) - _reference_accuracy(k), abs=1e-12)
    assert h.cache_misses == 5 and h.cache_hits == 0
    # trails the best (v1) by the summed decline: 5 steps of 0.5 pt
    assert h.best == h.versions[0].label
    assert h.candidate_is_best is False
    assert h.trails_best_by == pytest.approx(_reference_accuracy(0) - _reference_accuracy(5), abs=1e-12)
    assert h.trails_best_by == pytest.approx(5 * STEP, abs=1e-9)

    gates = {(g.kind, g.name): g for g in run.verdict.gates}
    assert gates[("vs_baseline", "accuracy")].status == "pass"
    assert gates[("vs_best_prior", "accuracy")].status == "fail"
    assert gates[("vs_best_prior", "accuracy")].observed == pytest.approx(-5 * STEP, abs=1e-9)
    assert run.verdict.decision == "NO-GO" and code == 1
    # one Holm family over both kinds of test
    assert h.holm_family == ["accuracy", "vs_best_prior:accuracy"]
    assert run.compare is not None and run.compare.holm_family == h.holm_family

    # the comment: the trend table, the Mermaid chart, how far behind the best
    assert "xychart-beta" in md
    assert f"trails the best prior version `{h.best}` by 2.5 pt on accuracy" in md
    for v in h.versions:
        assert f"`{v.label}`" in md
    line = next(x for x in md.splitlines() if x.strip().startswith("line ["))
    chart = json.loads(line.strip()[len("line ") :])
    assert chart == pytest.approx([_reference_accuracy(k) for k in range(6)], abs=1e-4)
    assert (out / "history.json").is_file()
    html = (out / "report.html").read_text()
    assert "<h2>History</h2>" in html and f"trails the best prior version {h.best} by 2.5 pt" in html

    # the next version: only it is scored, the 4 others come from the cache
    _commit_version(repo, 6)
    _set_baseline(repo)
    out2 = repo / "out2"
    (repo / "evalaction.yml").write_text(
        PLAN.replace("history: {versions: 5}", "history: {versions: 5, cache_dir: out/history_cache}")
    )
    _, run2, md2 = _run(repo, out2)
    h2 = run2.history
    assert h2 is not None
    assert [v.subject for v in h2.versions] == [f"model v{k}" for k in range(2, 7)]
    assert (h2.cache_hits, h2.cache_misses) == (4, 1)
    assert [v.cached for v in h2.versions] == [True, True, True, True, False]
    assert "4 from the cache" in md2

    # a re-run into the first output folder: the run's own files are replaced, the cache under it is kept
    _, run3, _ = _run(repo, out)
    assert run3.history is not None
    assert (run3.history.cache_hits, run3.history.cache_misses) == (5, 0)


def test_demo_history_repository(tmp_path: Path) -> None:
    """examples/digits/make_history.py: four versions of the candidate in a new repo; the demo's bytes intact."""
    import importlib.util

    from evalaction.plan import load_plan
    from tests.conftest import DEMO

    spec = importlib.util.spec_from_file_location("make_history", DEMO / "make_history.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    before = (DEMO / "models" / "candidate.onnx").read_bytes()
    plan_path = module.build(tmp_path / "repo")
    repo = plan_path.parent
    log = _git(repo, "log", "--format=%s", "--", "models/candidate.onnx").splitlines()
    assert log == ["CNN, retrained", "CNN, early (noise 0.15)", "CNN, early (noise 0.3)", "first release: the MLP"]
    assert (
        (repo / "models" / "candidate.onnx").read_bytes()
        == before
        == (DEMO / "models/candidate.onnx").read_bytes()
    )
    first = subprocess.run(
        ["git", "show", "HEAD~3:models/candidate.onnx"], cwd=repo, capture_output=True, check=True
    ).stdout
    assert first == (DEMO / "models" / "baseline.onnx").read_bytes()
    plan = load_plan(plan_path).plan
    assert plan.history is not None and plan.history.versions == 5
    assert plan.gates.vs_best_prior["accuracy"].rule == "not_worse"
    with pytest.raises(SystemExit, match="inside this repository"):
        module.build(DEMO / "tmp-history")

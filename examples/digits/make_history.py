"""Give the demo a history: a temporary git repository where `models/candidate.onnx` has prior versions.

    python examples/digits/make_history.py [--out DIR] [--run]

The repository (a new temporary folder unless `--out` names an empty one; never this repository) gets the
demo's data, plan and baseline, then four commits of `models/candidate.onnx`, a day apart:

    1. the MLP baseline, as the model's first release
    2-3. the CNN candidate with Gaussian noise added to every weight (scale 0.3, then 0.15 of each tensor's
         standard deviation, seeded): an early CNN that was improved on
    4. the real candidate

The plan gets `history: {versions: 5}` and a `vs_best_prior` gate, so `evalaction run` in that folder scores
the three prior versions, draws the trend and checks the candidate against the best of them. The committed
demo models are only read. `--run` runs evalaction there and prints where the report is.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
NOISE = (0.3, 0.15)  # noise scale of versions 2 and 3, as a fraction of each weight tensor's std
SEED = 0
HISTORY_PLAN = """
history:
  versions: 5          # prior versions of models/candidate.onnx from `git log --follow`
"""
BEST_PRIOR_GATE = """  vs_best_prior:        # the same rules as vs_baseline, against the best prior version
    accuracy: {rule: not_worse, margin: 0.01}
"""


def noisy(model_bytes: bytes, scale: float, seed: int) -> bytes:
    """The ONNX model with N(0, (scale * std)^2) noise on every float initializer (seeded)."""
    import numpy as np
    import onnx
    from onnx import numpy_helper

    model = onnx.load_from_string(model_bytes)
    rng = np.random.default_rng(seed)
    for init in model.graph.initializer:
        w = numpy_helper.to_array(init)
        if w.dtype != np.float32 or w.size < 2:
            continue
        noise = rng.normal(0.0, scale * float(w.std()), size=w.shape).astype(np.float32)
        init.CopyFrom(numpy_helper.from_array(w + noise, init.name))
    return model.SerializeToString()


def _git(repo: Path, *args: str, day: int = 1) -> None:
    stamp = f"2026-03-{day:02d}T09:00:00+00:00"
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "evalaction demo",
        "GIT_AUTHOR_EMAIL": "demo@example.com",
        "GIT_COMMITTER_NAME": "evalaction demo",
        "GIT_COMMITTER_EMAIL": "demo@example.com",
        "GIT_AUTHOR_DATE": stamp,
        "GIT_COMMITTER_DATE": stamp,
    }
    subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True)


def plan_with_history(text: str) -> str:
    """The demo plan plus `history:` and a `vs_best_prior` gate (after `vs_baseline`'s rules)."""
    marker = "  budgets:\n"
    if marker not in text:
        raise SystemExit("examples/digits/evalaction.yml has no `gates.budgets`: update make_history.py")
    gated = text.replace(marker, BEST_PRIOR_GATE + marker, 1)
    return gated + HISTORY_PLAN


def build(repo: Path) -> Path:
    """Create the repository with the demo's history; returns the plan's path."""
    if repo.resolve().is_relative_to(HERE.parents[1]):
        raise SystemExit(f"{repo} is inside this repository; pick a folder outside it")
    repo.mkdir(parents=True, exist_ok=True)
    if any(repo.iterdir()):
        raise SystemExit(f"{repo} is not empty")
    _git(repo, "init", "-q", "-b", "main")
    shutil.copytree(HERE / "data", repo / "data")
    (repo / "models").mkdir()
    shutil.copy2(HERE / "models" / "baseline.onnx", repo / "models" / "baseline.onnx")
    plan = repo / "evalaction.yml"
    plan.write_text(plan_with_history((HERE / "evalaction.yml").read_text()))
    (repo / ".gitignore").write_text("out/\n")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "test set, plan and baseline", day=1)
    candidate = (HERE / "models" / "candidate.onnx").read_bytes()
    versions = [
        ("first release: the MLP", (HERE / "models" / "baseline.onnx").read_bytes()),
        *[(f"CNN, early (noise {s:g})", noisy(candidate, s, SEED + i)) for i, s in enumerate(NOISE)],
        ("CNN, retrained", candidate),
    ]
    for day, (message, content) in enumerate(versions, start=2):
        (repo / "models" / "candidate.onnx").write_bytes(content)
        _git(repo, "add", "models/candidate.onnx")
        _git(repo, "commit", "-q", "-m", message, day=day)
    return plan


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None, help="an empty folder outside this repository")
    parser.add_argument("--run", action="store_true", help="run evalaction on it and print the report's path")
    args = parser.parse_args(argv)
    repo = args.out or Path(tempfile.mkdtemp(prefix="evalaction-history-"))
    plan = build(repo)
    print(f"demo with history: {repo}")
    if not args.run:
        print(f"run: evalaction run -c {plan} -o {repo / 'out'}")
        return 0
    done = subprocess.run(
        [sys.executable, "-m", "evalaction.cli", "run", "-c", str(plan), "-o", str(repo / "out")]
    )
    if done.returncode > 1:
        return done.returncode
    print(f"Open {repo / 'out' / 'report.html'} (also report.md)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

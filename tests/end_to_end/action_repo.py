"""A temporary git repository shaped like a user's, and the environment GitHub gives the action in it.

History (as actions/checkout leaves it on `pull_request`, with `fetch-depth: 0`):

    main:  B  (models/digits.onnx = the demo's candidate: the model in production)
             \\
    PR #2:    P1 (a worse model: the demo's baseline) -- P2 (the production model, re-exported)
             \\                                       \\
              M1 = merge of P1 into B                  M2 = merge of P2 into B   (GITHUB_SHA, the checkout)

The plan is the demo's, made cheap (fewer bootstrap resamples and latency repeats, no PNG plots) so a run takes
seconds.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "examples" / "digits"
FIXTURES = ROOT / "tests" / "fixtures" / "github"
TOKEN = "ghs_" + "e2eT0ken" * 5
REPOSITORY = "Codertocat/Hello-World"  # the repository in the real webhook payloads
RUN_ID = "4242"
MODEL = "models/digits.onnx"

PLAN = """\
version: 1
name: digits
task: multiclass
dataset:
  path: data/test.csv
  label_column: label
  id_column: id
  feature_columns: ["p*"]
  class_names: ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]
models:
  candidate:
    path: models/digits.onnx
    outputs: logits
    preprocessing: {scale: 0.0625, input_shape: [1, 8, 8]}
metrics:
  primary: accuracy
  compute: [macro_f1]
  # no PNGs: they cost about a second a run and no end-to-end test reads them (tests/integration do)
  plots: false
compare: {n_bootstrap: 200, seed: 0}
readiness: {latency_repeats: 20, warmup: 1, measure_memory: false, quantization: {enabled: false}}
errors: {attributions: {enabled: false}}
gates:
  thresholds:
    accuracy: ">= 0.95"
  vs_baseline:
    macro_f1: {rule: not_worse, margin: 0.01}
  override: {label: ship-anyway, dispatch_input: override}
"""

LFS_POINTER = (
    b"version https://git-lfs.github.com/spec/v1\n"
    b"oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\n"
    b"size 25994\n"
)


def git(repo: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "Codertocat",
        "GIT_AUTHOR_EMAIL": "codertocat@example.com",
        "GIT_COMMITTER_NAME": "Codertocat",
        "GIT_COMMITTER_EMAIL": "codertocat@example.com",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
    }
    done = subprocess.run(["git", *args], cwd=repo, env=env, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def commit_all(repo: Path, message: str) -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


def reexported(model: bytes) -> bytes:
    """The same network with new metadata: different bytes, identical predictions."""
    import onnx

    proto = onnx.load_from_string(model)
    proto.doc_string = "re-exported with a newer exporter"
    return proto.SerializeToString()


@dataclass
class Repo:
    path: Path
    base: str  # B
    heads: dict[str, str]  # "P1"/"P2" -> sha
    merges: dict[str, str]  # "P1"/"P2" -> the merge commit actions/checkout would check out

    def checkout_merge(self, head: str) -> None:
        git(self.path, "checkout", "-q", "--detach", self.merges[head])

    def push(self, name: str, parent: str, files: dict[str, bytes]) -> None:
        """Another push to the PR: a commit on `parent` with `files`, and its merge into the base."""
        git(self.path, "checkout", "-q", "--detach", self.heads[parent])
        for rel, data in files.items():
            (self.path / rel).parent.mkdir(parents=True, exist_ok=True)
            (self.path / rel).write_bytes(data)
        self.heads[name] = commit_all(self.path, f"push {name}")
        git(self.path, "checkout", "-q", "--detach", self.base)
        git(self.path, "merge", "-q", "--no-ff", "-m", f"Merge {name}", self.heads[name])
        self.merges[name] = git(self.path, "rev-parse", "HEAD")


def build_repo(root: Path, *, lfs_base: bool = False, subdir: str = "") -> Repo:
    """The repository above; with `lfs_base`, B stores the model as a Git LFS pointer instead; with `subdir`,
    the plan, data and models live in that folder of the repository (the action's `working-directory`)."""
    repo = root / "workspace"
    repo.mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    home = repo / subdir
    (home / "data").mkdir(parents=True)
    (home / "data" / "test.csv").write_bytes((DEMO / "data" / "test.csv").read_bytes())
    (home / "models").mkdir()
    (home / "evalaction.yml").write_text(PLAN)
    (repo / ".gitignore").write_text("evalaction-report/\n")
    production = (DEMO / "models" / "candidate.onnx").read_bytes()
    (home / MODEL).write_bytes(LFS_POINTER if lfs_base else production)
    base = commit_all(repo, "production model")
    git(repo, "checkout", "-q", "-b", "changes")
    (home / MODEL).write_bytes((DEMO / "models" / "baseline.onnx").read_bytes())
    (repo / "README.md").write_text("A smaller model.\n")
    p1 = commit_all(repo, "try a smaller model")
    (home / MODEL).write_bytes(reexported(production))
    p2 = commit_all(repo, "back to the production network, re-exported")
    merges = {}
    for name, sha in (("P1", p1), ("P2", p2)):
        git(repo, "checkout", "-q", "--detach", base)
        git(repo, "merge", "-q", "--no-ff", "-m", f"Merge {sha[:7]} into {base[:7]}", sha)
        merges[name] = git(repo, "rev-parse", "HEAD")
    repo_obj = Repo(repo, base, {"P1": p1, "P2": p2}, merges)
    repo_obj.checkout_merge("P1")
    return repo_obj


def event_payload(repo: Repo, head: str, *, action: str = "synchronize") -> dict[str, Any]:
    """The real `pull_request.synchronize` payload, pointed at this repository's commits."""
    payload: dict[str, Any] = copy.deepcopy(json.loads((FIXTURES / "pull_request.synchronize.json").read_text()))
    payload["action"] = action
    payload["pull_request"]["head"]["sha"] = repo.heads[head]
    payload["pull_request"]["base"]["sha"] = repo.base
    payload["before"] = repo.base if head == "P1" else repo.heads["P1"]  # any earlier push will do
    payload["after"] = repo.heads[head]
    return payload


def github_env(repo: Repo, tmp: Path, api_url: str, head: str, **inputs: str) -> dict[str, str]:
    """The environment a Docker action step gets (file commands in `tmp`), for PR #2 at `head`."""
    tmp.mkdir(parents=True, exist_ok=True)
    event = tmp / "event.json"
    event.write_text(json.dumps(event_payload(repo, head)))
    for name in ("output", "step_summary"):
        (tmp / name).write_text("")
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp),
        "CI": "true",
        "GITHUB_ACTIONS": "true",
        "GITHUB_EVENT_NAME": "pull_request",
        "GITHUB_EVENT_PATH": str(event),
        "GITHUB_REPOSITORY": REPOSITORY,
        "GITHUB_SHA": repo.merges[head],  # the merge commit, not the PR head
        "GITHUB_REF": "refs/pull/2/merge",
        "GITHUB_API_URL": api_url,
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_RUN_ID": RUN_ID,
        "GITHUB_OUTPUT": str(tmp / "output"),
        "GITHUB_STEP_SUMMARY": str(tmp / "step_summary"),
        "GITHUB_WORKSPACE": str(repo.path),
        "INPUT_GITHUB-TOKEN": TOKEN,
        "INPUT_CONFIG": "evalaction.yml",
        "INPUT_MODELS": "",
        "INPUT_BASELINE-REF": "",
        "INPUT_FAIL-ON-NO-GO": "",
        "INPUT_COMMENT-MODE": "",
        "INPUT_STATUS-CONTEXT": "",
        "INPUT_WORKING-DIRECTORY": "",
        "INPUT_OUTPUT-DIR": "",
    }
    env.update({f"INPUT_{k.upper().replace('_', '-')}": v for k, v in inputs.items()})
    return env


def run_entrypoint_process(workspace: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`entrypoint` as GitHub starts the container: in the workspace, with this checkout's evalaction (as the
    image's installed copy would be)."""
    return subprocess.run(
        [sys.executable, str(ROOT / "entrypoint")],
        cwd=workspace,
        env={**env, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def read_outputs(path: Path) -> dict[str, str]:
    """Parse `$GITHUB_OUTPUT` as the runner does (`name<<DELIM` heredocs)."""
    out: dict[str, str] = {}
    lines = path.read_text().split("\n")
    i = 0
    while i < len(lines):
        if "<<" in lines[i]:
            name, delimiter = lines[i].split("<<", 1)
            end = lines.index(delimiter, i + 1)
            out[name] = "\n".join(lines[i + 1 : end])
            i = end + 1
        else:
            i += 1
    return out

"""Run a built evalaction image on the digits demo the way GitHub runs a Docker action, against the fake API.

    python -m tests.end_to_end.image_smoke IMAGE

Builds the test repository of action_repo.py (a PR whose first push is a worse model: NO-GO), writes the
`pull_request.synchronize` event, starts the OpenAPI-checked fake GitHub on 127.0.0.1, and runs
`docker run --network host` with the workspace mounted at /github/workspace (GitHub's layout) and the
environment a Docker action step gets. Exits non-zero unless the image reached the verdict (exit code 1),
posted one comment, set `pending` then `failure` on the PR head, and wrote its outputs and summary.
CI runs this on every push and the release workflow before it pushes an image (.github/workflows/).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.end_to_end.action_repo import build_repo, github_env, read_outputs
from tests.end_to_end.fake_github import FakeGitHub

WORKSPACE = "/github/workspace"
FILES = "/github/file_commands"
WORKFLOW = "/github/workflow"


def main(image: str) -> int:
    # ignore_cleanup_errors: the container writes the report as root into the mounted workspace.
    with (
        tempfile.TemporaryDirectory(prefix="evalaction-image-", ignore_cleanup_errors=True) as tmp,
        FakeGitHub() as fake,
    ):
        root = Path(tmp)
        repo = build_repo(root)
        repo.checkout_merge("P1")
        files = root / "files"
        env = github_env(repo, files, fake.base_url, "P1")
        workflow = root / "workflow"
        workflow.mkdir()
        shutil.copy(env["GITHUB_EVENT_PATH"], workflow / "event.json")
        env |= {
            "GITHUB_WORKSPACE": WORKSPACE,
            "GITHUB_EVENT_PATH": f"{WORKFLOW}/event.json",
            "GITHUB_OUTPUT": f"{FILES}/output",
            "GITHUB_STEP_SUMMARY": f"{FILES}/step_summary",
            "HOME": "/github/home",
        }
        env.pop("PATH", None)  # the image's own
        cmd = ["docker", "run", "--rm", "--network", "host", "--workdir", WORKSPACE]
        cmd += ["-v", f"{repo.path}:{WORKSPACE}", "-v", f"{files}:{FILES}", "-v", f"{workflow}:{WORKFLOW}"]
        for key in env:
            cmd += ["-e", key]  # values from the environment below: the token never appears in `ps`
        cmd.append(image)
        done = subprocess.run(cmd, env={**os.environ, **env}, check=False)  # -e KEY takes the value from here
        outputs = read_outputs(files / "output")
        heads = fake.statuses.get(repo.heads["P1"], [])
        problems = []
        if done.returncode != 1:
            problems.append(f"exit code {done.returncode}, expected 1 (NO-GO)")
        if outputs.get("verdict") != "NO-GO":
            problems.append(f"output verdict {outputs.get('verdict')!r}, expected NO-GO")
        if [s["state"] for s in heads] != ["pending", "failure"]:
            problems.append(f"statuses {[s['state'] for s in heads]}, expected pending then failure")
        if len(fake.comment_bodies(2)) != 1:
            problems.append(f"{len(fake.comment_bodies(2))} comments, expected 1")
        if not (files / "step_summary").read_text().startswith("## ❌ NO-GO"):
            problems.append("the step summary does not start with the verdict")
        if fake.violations:
            problems.append(f"requests the GitHub API would refuse: {fake.violations[:3]}")
        for p in problems:
            print(f"::error title=image smoke test::{p}")
        if not problems:
            print(f"image smoke test passed: {image} -> NO-GO, 1 comment, statuses pending/failure")
        return 1 if problems else 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: python -m tests.end_to_end.image_smoke IMAGE")
    raise SystemExit(main(sys.argv[1]))

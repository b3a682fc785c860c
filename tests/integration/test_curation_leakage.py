"""A leaking test set through the real CLI: the plan makes leakage blocking, so the verdict is NO-GO and names it."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from click.testing import CliRunner

from evalaction.cli import main

N_LEAKED = 12


def _leaky_demo(demo_dir: Path, blocking: bool) -> Path:
    """The demo with a training file that holds 12 test rows (under their own ids) and a blocking leakage gate."""
    data = demo_dir / "data"
    test = pd.read_csv(data / "test.csv")
    train = pd.read_csv(data / "train.csv")
    pd.concat([train, test.iloc[5 : 5 + N_LEAKED]]).to_csv(data / "train_leaky.csv", index=False)
    plan = demo_dir / "evalaction.yml"
    text = plan.read_text().replace("train_path: data/train.csv", "train_path: data/train_leaky.csv")
    # a quick run: the verdict under test depends on neither the bootstrap size, latency, plots nor attributions
    assert "n_bootstrap: 2000" in text and "  primary: accuracy\n" in text
    text = text.replace("n_bootstrap: 2000", "n_bootstrap: 200").replace(
        "  primary: accuracy\n", "  primary: accuracy\n  plots: false\n"
    )
    text += "readiness: {enabled: false}\nerrors: {attributions: {enabled: false}}\n"
    gate = f"  curation:\n    leakage: {{max: 0, blocking: {'true' if blocking else 'false'}}}\n"
    plan.write_text(text.replace("  fail_on_no_go: true\n", gate + "  fail_on_no_go: true\n"))
    return plan


def test_blocking_leakage_gives_no_go_naming_the_leak(demo_dir: Path) -> None:
    plan = _leaky_demo(demo_dir, blocking=True)
    out = demo_dir / "out"
    result = CliRunner().invoke(main, ["run", "-c", str(plan), "-o", str(out)])
    assert result.exit_code == 1, result.output
    assert result.stdout.startswith("verdict: NO-GO")
    assert f"leakage: {N_LEAKED} test samples also in the training data" in result.stdout

    verdict = json.loads((out / "verdict.json").read_text())
    leak = verdict["gates"][0]
    assert (leak["name"], leak["kind"], leak["status"], leak["blocking"]) == ("leakage", "curation", "fail", True)
    assert leak["observed"] == N_LEAKED
    assert any("remove the leaking samples" in s for s in verdict["next_steps"])

    # the count agrees with an independent reference: test rows whose features appear in the training file
    test = pd.read_csv(demo_dir / "data/test.csv")
    train = pd.read_csv(demo_dir / "data/train_leaky.csv")
    cols = [c for c in test.columns if c.startswith("p")]
    keys = set(map(tuple, train[cols].to_numpy()))
    expected = sum(tuple(r) in keys for r in test[cols].to_numpy())
    card = json.loads((out / "plan.json").read_text())["dataset"]
    assert card["leakage"]["n"] == expected == N_LEAKED
    assert card["leakage"]["examples"][:3] == list(test["id"].iloc[5:8])
    assert card["train_overlap"] == N_LEAKED


def test_plan_command_shows_the_leak_without_failing(demo_dir: Path) -> None:
    plan = _leaky_demo(demo_dir, blocking=False)
    result = CliRunner().invoke(main, ["plan", "-c", str(plan)])
    assert result.exit_code == 0, result.output
    assert f"overlap with the training set: {N_LEAKED}" in result.stdout
    assert f"leakage: {N_LEAKED} test samples also appear in the training data" in result.stdout

"""The acceptance run on the embedded demo: negative flips with both models' attributions side by side, a gallery
per category, the PR-comment tables, and attributions switched off by the plan."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from evalaction.artifacts import InferenceResult, PlanResult
from tests.conftest import DEMO, DemoRun


@pytest.fixture(scope="module")
def demo(demo_run: DemoRun):  # type: ignore[no-untyped-def]
    """The plan, results and output folder of the session's one run of the demo (read-only)."""
    from evalaction.artifacts import RunResult
    from evalaction.plan import load_plan

    assert demo_run.exit_code in (0, 1), demo_run.output
    return load_plan(DEMO / "evalaction.yml"), RunResult.read(demo_run.out / "results.json"), demo_run.out


def test_negative_flips_have_both_models_attributions_side_by_side(demo) -> None:
    _, run, out = demo
    errors = run.errors
    assert errors.n_negative_flips > 0
    explained = errors.attributions
    assert explained is not None and explained.methods == ["occlusion"] and explained.seconds > 0
    flips = [s for s in explained.samples if s.category == "negative_flip"]
    assert [s.id for s in flips] == [e.id for e in errors.negative_flips[: len(flips)]]
    assert len(explained.samples) <= 6  # the demo plan's default budget
    html = (out / "report.html").read_text()
    for s in flips:
        by_role = {a.role: a for a in s.attributions}
        assert set(by_role) == {"baseline", "candidate"}
        # each model explained for its own prediction: the baseline was right, the candidate is not
        assert by_role["baseline"].target == s.label != by_role["candidate"].target
        assert (out / s.figure).stat().st_size > 1000
        block = html.split(f"<h4>{s.id} — negative flip")[1].split("<h4>")[0]
        assert 'src="data:image/png;base64,' in block
        assert block.count("<td>baseline</td>") == 1 and block.count("<td>candidate</td>") == 1


def test_every_category_with_examples_has_an_embedded_gallery(demo) -> None:
    _, run, out = demo
    html = (out / "report.html").read_text()
    with_examples = [c for c in run.errors.categories if c.examples]
    assert {c.key for c in with_examples} >= {"negative_flips", "confidently_wrong", "out_of_distribution"}
    for c in with_examples:
        assert c.gallery == f"errors/gallery_{c.key}.png" and (out / c.gallery).is_file()
        section = html.split(f'<h3 id="err-{c.key}">')[1].split("<h3")[0]
        assert f'alt="{c.title} gallery"' in section and 'src="data:image/png;base64,' in section


def test_pr_comment_has_the_category_table_and_the_regressions(demo) -> None:
    _, run, out = demo
    md = (out / "report.md").read_text()
    section = md.split("<details><summary>Errors:")[1].split("</details>")[0]
    assert "| category | count | wrong | reading |" in section
    for c in run.errors.categories:
        assert f"| {c.title} | {c.count}" in section
    for e in run.errors.negative_flips:
        assert re.search(rf"\| {re.escape(e.id)} \| {e.label} \| {e.baseline_predicted} \(", section)
    assert "data:image" not in md  # images stay out of the PR comment
    assert "Attributions (occlusion) for" in section


def test_the_plan_can_switch_attributions_off(demo, tmp_path: Path) -> None:
    import shutil

    from evalaction.stages.errors import run_errors

    loaded, run, out = demo
    for name in ("predictions_candidate.parquet", "predictions_baseline.parquet"):
        shutil.copy(out / name, tmp_path / name)
    plan: PlanResult = run.plan
    errors_spec = plan.plan.errors.model_copy(
        update={"attributions": plan.plan.errors.attributions.model_copy(update={"enabled": False})}
    )
    off = plan.model_copy(update={"plan": plan.plan.model_copy(update={"errors": errors_spec})})
    inference: InferenceResult = run.inference
    result = run_errors(
        plan=off,
        inference=inference,
        out_dir=tmp_path,
        candidate_path=loaded.resolve(loaded.plan.models.candidate.path),
    )
    assert result.attributions is not None and not result.attributions.enabled
    assert "switched off" in (result.attributions.skipped or "")
    assert not list((tmp_path / "errors").glob("explain_*.png"))
    assert result.n_negative_flips == run.errors.n_negative_flips

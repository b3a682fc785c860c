"""plan_trust: which gate changes loosen or tighten, rule by rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from evalaction.github.plan_trust import PlanChange, plan_diff, section
from evalaction.plan import parse_plan
from tests.end_to_end.action_repo import PLAN


def plan(text: str = PLAN):  # type: ignore[no-untyped-def]
    return parse_plan(text, Path("evalaction.yml"))


def diff(new: str) -> PlanChange:
    change = plan_diff(plan(), plan(new), config="evalaction.yml", base_label="`abc1234` (main)")
    assert change is not None
    return change


@pytest.mark.parametrize(
    ("old", "new", "effect"),
    [
        ('accuracy: ">= 0.95"', 'accuracy: ">= 0.5"', "loosens"),
        ('accuracy: ">= 0.95"', 'accuracy: ">= 0.99"', "tightens"),
        ('accuracy: ">= 0.95"', 'accuracy: "> 0.95"', "changes"),
        ('accuracy: ">= 0.95"', 'accuracy: {rule: ">= 0.95", blocking: false}', "loosens"),
        ('accuracy: ">= 0.95"', 'accuracy: {rule: ">= 0.99", blocking: false}', "changes"),
    ],
)
def test_threshold_effects(old: str, new: str, effect: str) -> None:
    (change,) = diff(PLAN.replace(old, new)).gates
    assert change.name == "thresholds.accuracy" and change.effect == effect


@pytest.mark.parametrize(
    ("new", "effect"),
    [
        ("{rule: not_worse, margin: 0.5}", "loosens"),
        ("{rule: not_worse, margin: 0.0}", "tightens"),
        ("{rule: better, margin: 0.01}", "tightens"),
    ],
)
def test_vs_baseline_effects(new: str, effect: str) -> None:
    (change,) = diff(PLAN.replace("{rule: not_worse, margin: 0.01}", new)).gates
    assert change.name == "vs_baseline.macro_f1" and change.effect == effect


def test_removed_gate_loosens_added_gate_tightens_and_settings_are_listed() -> None:
    text = PLAN.replace('    accuracy: ">= 0.95"\n', '    macro_f1: ">= 0.9"\n').replace(
        "  override:", "  fail_on_no_go: false\n  override:"
    )
    change = diff(text)
    assert [(c.name, c.old, c.new, c.effect) for c in change.gates] == [
        ("thresholds.accuracy", ">= 0.95", "", "loosens"),
        ("thresholds.macro_f1", "", ">= 0.9", "tightens"),
    ]
    assert [(c.name, c.effect) for c in change.settings] == [("gates.fail_on_no_go", "loosens")]
    text = section(change, decision="NO-GO", under_pr="GO", override_label="ship-anyway")
    assert "| `thresholds.accuracy` | `>= 0.95` | — | loosens |" in text
    assert "**✅ GO** (base plan: ❌ NO-GO)" in text


def test_an_equal_plan_is_no_change() -> None:
    assert plan_diff(plan(), plan(PLAN + "\n# a comment\n"), config="e.yml", base_label="x") is None


def test_without_a_decision_there_is_no_verdict_line() -> None:
    text = section(diff(PLAN.replace(">= 0.95", ">= 0.5")), decision="", under_pr=None, override_label=None)
    assert "Under this PR's plan" not in text and "could not be computed" not in text
    assert "the audited override (`gates.override`, which the base plan does not name)" in text

"""The verdict on constructed stage results: every decision path, every kind of gate, skips, override, JUnit."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import pytest
from statsmodels.stats.proportion import proportion_confint

from evalaction.artifacts import (
    ClassFlips,
    CompareResult,
    DatasetCard,
    Flips,
    MetricComparison,
    MetricsResult,
    ModelMetrics,
    ModelReadiness,
    OverrideRequest,
    PlanResult,
    ReadinessResult,
    VerdictResult,
)
from evalaction.plan import Plan
from evalaction.readiness.models import (
    ModelProfile,
    QuantizationReport,
    QuantizationTrial,
    ReadinessProfile,
    SlownessTest,
)
from evalaction.report.junit import render_junit
from evalaction.stages.verdict import run_verdict, wilson_interval

CLASSES = ["0", "1", "2"]
SUPPORT = {"0": 40, "1": 30, "2": 30}


def _plan(gates: dict[str, Any], baseline: bool = True) -> PlanResult:
    models: dict[str, Any] = {"candidate": {"path": "c.onnx"}}
    if baseline:
        models["baseline"] = {"path": "b.onnx"}
    plan = Plan.model_validate(
        {
            "task": "multiclass",
            "dataset": {"path": "t.csv", "slice_columns": ["ink"]},
            "models": models,
            "metrics": {"primary": "accuracy", "compute": ["macro_f1", "log_loss"]},
            "gates": gates,
        }
    )
    card = DatasetCard(
        source="t.csv",
        format="csv",
        n_samples=100,
        n_features=64,
        classes=CLASSES,
        class_counts=SUPPORT,
        duplicate_samples=0,
        duplicate_ids=0,
        labels_outside_classes={},
        missing_values=0,
        fingerprint="0" * 64,
    )
    return PlanResult(plan=plan, plan_path="evalaction.yml", base_dir=".", dataset=card)


def _model_metrics(accuracy: float, recall: dict[str, float]) -> ModelMetrics:
    return ModelMetrics(
        overall={"accuracy": accuracy, "macro_f1": accuracy - 0.01, "log_loss": 0.2},
        per_class={"recall": recall},
        per_slice={"ink": {"light": {"n": 40.0, "accuracy": 0.85}, "dark": {"n": 60.0, "accuracy": 0.98}}},
    )


def _metrics(baseline: bool = True) -> MetricsResult:
    return MetricsResult(
        candidate=_model_metrics(0.95, {"0": 1.0, "1": 0.9, "2": 0.8}),
        baseline=_model_metrics(0.94, {"0": 1.0, "1": 0.9, "2": 0.9}) if baseline else None,
        classes=CLASSES,
        class_support=SUPPORT,
    )


def _comparison(
    metric: str, base: float, cand: float, low: float, high: float, outcome: str = "inconclusive", **extra: Any
) -> MetricComparison:
    return MetricComparison(
        metric=metric,
        baseline=base,
        candidate=cand,
        delta=cand - base,
        ci_low=low,
        ci_high=high,
        confidence=0.95,
        tost_ci_low=low,
        tost_ci_high=high,
        tost_confidence=0.9,
        p_value=0.2,
        p_adjusted=0.2,
        test="paired bootstrap (percentile)",
        outcome=outcome,
        **extra,
    )


FLIPS = Flips(
    n_negative=7,
    n_positive=12,
    per_class={
        "0": ClassFlips(n=40, negative=0, positive=4),
        "1": ClassFlips(n=30, negative=2, positive=3),
        "2": ClassFlips(n=30, negative=5, positive=5),
    },
    negative_ids=[],
    positive_ids=[],
    listed_limit=20,
)


COMPARE = CompareResult(
    comparisons=[
        _comparison("accuracy", 0.94, 0.95, -0.005, 0.025),
        _comparison("macro_f1", 0.93, 0.94, -0.02, 0.03),
        _comparison("recall[2]", 0.9, 0.8, -0.18, -0.02, outcome="worse"),
        _comparison("log_loss", 0.25, 0.2, -0.08, -0.02),
    ],
    n_bootstrap=2000,
    alpha=0.05,
    seed=0,
    n_samples=100,
    flips=FLIPS,
)


def _headline(p95: float, size_mb: float) -> ModelReadiness:
    return ModelReadiness(
        size_mb=size_mb,
        load_s=0.01,
        latency_p50_ms=p95 / 2,
        latency_p95_ms=p95,
        latency_p99_ms=p95 * 1.2,
        repeats=100,
        peak_memory_mb=70.0,
    )


def _profile(ratio: float, low: float, high: float) -> ReadinessProfile:
    model = ModelProfile(
        path="c.onnx", file_size_bytes=1, parameter_count=1, load_time_ms=1.0, peak_memory_bytes=None, latency=()
    )
    slowness = SlownessTest(
        batch_size=1,
        n_pairs=100,
        ratio=ratio,
        ci_low=low,
        ci_high=high,
        confidence=0.95,
        margin=0.05,
        significantly_slower=low > 1.05,
        method="paired percentile bootstrap",
    )
    return ReadinessProfile(
        candidate=model, baseline=model, slowness=(slowness,), threads=1, warmup=5, memory_method="test"
    )


def _readiness(
    p95: float = 3.0, size_mb: float = 12.4, ratio: tuple[float, float, float] = (1.0, 0.97, 1.03), **extra: Any
) -> ReadinessResult:
    return ReadinessResult(
        candidate=_headline(p95, size_mb),
        baseline=_headline(2.9, 9.3),
        profile=_profile(*ratio),
        **extra,
    )


def _verdict(
    gates: dict[str, Any],
    *,
    baseline: bool = True,
    readiness: ReadinessResult | None = None,
    override: OverrideRequest | None = None,
) -> VerdictResult:
    return run_verdict(
        plan=_plan(gates, baseline),
        metrics=_metrics(baseline),
        compare=COMPARE if baseline else None,
        readiness=readiness or _readiness(),
        override=override,
    )


def _gate(v: VerdictResult, name: str) -> Any:
    return next(g for g in v.gates if g.name == name)


def test_go_when_every_gate_passes() -> None:
    v = _verdict(
        {
            "thresholds": {"accuracy": ">= 0.9", "recall[1]": ">= 0.85"},
            "vs_baseline": {"accuracy": {"rule": "not_worse", "margin": 0.01}},
            "budgets": {"latency_p95_ms": 5, "model_size_mb": 50, "latency_ratio": 1.1},
            "errors": {"negative_flips": 10},
        }
    )
    assert v.decision == "GO"
    assert [g.status for g in v.gates] == ["pass"] * 7
    assert v.summary == "All 7 evaluated gates pass."
    assert not v.conditions and not v.next_steps


def test_go_with_conditions_when_only_a_warning_gate_fails() -> None:
    v = _verdict({"thresholds": {"accuracy": ">= 0.9", "recall[2]": {"rule": ">= 0.85", "blocking": False}}})
    assert v.decision == "GO WITH CONDITIONS"
    assert _gate(v, "recall[2]").status == "fail" and not _gate(v, "recall[2]").blocking
    assert v.conditions == [
        "deploy with monitoring on class 2: recall[2] = 0.8 (interval 0.6269 to 0.9049) misses >= 0.85"
    ]
    assert v.summary == "Every blocking gate passes; 1 warning gate(s) fail."


@pytest.mark.parametrize(
    ("gates", "name", "next_step"),
    [
        ({"thresholds": {"accuracy": ">= 0.99"}}, "accuracy", "improve accuracy"),
        ({"thresholds": {"recall[2]": ">= 0.85"}}, "recall[2]", "retrain with more data for class 2"),
        ({"thresholds": {"recall[*]": ">= 0.85"}}, "recall[*]", "improve recall"),
        (
            {"thresholds": {"accuracy[ink=light]": ">= 0.9"}},
            "accuracy[ink=light]",
            "retrain with more data like ink=light",
        ),
        ({"thresholds": {"log_loss": "<= 0.1"}}, "log_loss", "improve log_loss"),
        ({"vs_baseline": {"recall[2]": "not_worse"}}, "recall[2]", "find what regressed recall[2]"),
        # inconclusive, not worse: no regression to look for (issue #17)
        ({"vs_baseline": {"accuracy": "better"}}, "accuracy", "accuracy is not shown better, nor shown worse"),
        ({"budgets": {"latency_p95_ms": 2.5}}, "latency_p95_ms", "reduce the p95 latency at batch 1"),
        ({"budgets": {"model_size_mb": 10}}, "model_size_mb", "reduce the model size"),
        ({"budgets": {"peak_memory_mb": 50}}, "peak_memory_mb", "reduce the peak memory"),
        ({"budgets": {"load_time_ms": 5}}, "load_time_ms", "reduce the session load time"),
        ({"errors": {"negative_flips": 5}}, "negative_flips", "review the negative flips (baseline right"),
        ({"errors": {"negative_flips[2]": 3}}, "negative_flips[2]", "review the negative flips in class 2"),
    ],
)
def test_no_go_for_each_kind_of_blocking_gate(gates: dict[str, Any], name: str, next_step: str) -> None:
    v = _verdict(gates)
    assert v.decision == "NO-GO"
    failed = _gate(v, name)
    assert failed.status == "fail" and failed.blocking
    assert v.summary.startswith(f"1 of 1 gates block: {name} ")
    assert len(v.next_steps) == 1 and v.next_steps[0].startswith(next_step)


def test_gate_evidence_numbers() -> None:
    v = _verdict(
        {
            "thresholds": {"recall[*]": ">= 0.85", "accuracy[ink=*]": ">= 0.9", "accuracy": ">= 0.9"},
            "vs_baseline": {"log_loss": "better", "recall[2]": {"rule": "not_worse", "margin": 0.2}},
            "budgets": {"latency_p95_ms": 2.5, "latency_ratio": 1.1},
            "errors": {"negative_flips[2]": 3},
        },
        readiness=_readiness(ratio=(1.8, 1.7, 1.9)),
    )
    worst_class = _gate(v, "recall[*]")
    assert worst_class.observed == 0.8 and worst_class.reason.startswith(
        "misses >= 0.85 in 1 of 3: recall[2] = 0.8"
    )
    worst_slice = _gate(v, "accuracy[ink=*]")
    assert worst_slice.observed == 0.85 and "accuracy[ink=light] = 0.85" in worst_slice.reason
    assert worst_slice.interval == pytest.approx(proportion_confint(34, 40, alpha=0.05, method="wilson"))
    accuracy = _gate(v, "accuracy")
    assert accuracy.interval == pytest.approx(proportion_confint(95, 100, alpha=0.05, method="wilson"))
    # lower is better: log_loss 0.25 -> 0.2 with the delta's interval below zero is `better`
    assert _gate(v, "log_loss").status == "pass"
    assert _gate(v, "recall[2]").status == "pass"  # -18..-2 pt is within a 20 pt margin
    latency = _gate(v, "latency_p95_ms")
    assert latency.observed == 3.0 and "(baseline 2.9 ms), over the 2.5 ms budget" in latency.reason
    ratio = _gate(v, "latency_ratio")
    assert ratio.status == "fail" and ratio.observed == 1.8 and ratio.interval == (1.7, 1.9)
    assert "1.80x (95% CI [1.70, 1.90], 100 interleaved pairs), significantly over the 1.1x budget" in ratio.reason
    flips = _gate(v, "negative_flips[2]")
    assert flips.observed == 5
    assert flips.reason == "5 negative flips in class 2 (5 positive, 30 samples), over the limit of 3"


def test_a_rule_the_compare_stage_decided_is_taken_as_decided() -> None:
    decided = COMPARE.model_copy(
        update={
            "comparisons": [
                _comparison(
                    "macro_f1",
                    0.93,
                    0.94,
                    -0.02,
                    0.03,
                    gated=True,
                    rule="not_worse",
                    margin=0.01,
                    passed=False,
                    reason="the 90% TOST interval's lower end -0.02 is below -0.01",
                )
            ]
        }
    )
    v = run_verdict(
        plan=_plan({"vs_baseline": {"macro_f1": {"rule": "not_worse", "margin": 0.01}}}),
        metrics=_metrics(),
        compare=decided,
        readiness=_readiness(),
    )
    gate = _gate(v, "macro_f1")
    assert gate.status == "fail" and gate.reason.endswith("the 90% TOST interval's lower end -0.02 is below -0.01")
    assert v.decision == "NO-GO"


def test_a_slower_candidate_within_the_ratio_budget_passes() -> None:
    # 1.08x [1.02, 1.12]: slower, but not significantly beyond a 1.1x budget
    v = _verdict({"budgets": {"latency_ratio": 1.1}}, readiness=_readiness(ratio=(1.08, 1.02, 1.12)))
    assert v.decision == "GO"


def test_skipped_gates_without_a_baseline() -> None:
    gates = {
        "thresholds": {"accuracy": ">= 0.9"},
        "vs_baseline": {"accuracy": "not_worse"},
        "errors": {"negative_flips": 3},
    }
    readiness = ReadinessResult(candidate=_headline(3.0, 12.4), baseline=None)
    v = run_verdict(
        plan=_plan({**gates, "budgets": {"latency_ratio": 1.1}}, baseline=False),
        metrics=_metrics(baseline=False),
        compare=None,
        readiness=readiness,
    )
    assert [g.status for g in v.gates] == ["pass", "skipped", "skipped", "skipped"]
    assert v.decision == "GO"
    assert v.summary.startswith("All 1 evaluated gates pass (3 skipped: no baseline to compare against")


def test_no_go_when_no_gate_could_be_evaluated_unless_the_plan_allows_it() -> None:
    v = _verdict({"vs_baseline": {"accuracy": "not_worse"}}, baseline=False)
    assert v.decision == "NO-GO"
    assert v.summary.startswith("None of the 1 gates could be evaluated (no baseline")
    assert v.gates[-1].kind == "plan" and v.gates[-1].status == "fail"
    allowed = _verdict({"vs_baseline": {"accuracy": "not_worse"}, "allow_no_gates": True}, baseline=False)
    assert allowed.decision == "GO" and "allows a GO without gates" in allowed.summary


def test_no_gates_is_a_plain_no_go_unless_the_plan_says_otherwise() -> None:
    v = _verdict({})
    assert v.decision == "NO-GO"
    assert v.summary == "No gates are configured, so nothing supports a GO."
    assert v.next_steps == ["add `gates:` to the plan (thresholds, vs_baseline rules, budgets, error limits)"]
    allowed = _verdict({"allow_no_gates": True})
    assert allowed.decision == "GO"
    assert allowed.summary.startswith("No gates are configured; the plan allows a GO without gates")
    assert [g.status for g in allowed.gates] == ["skipped"]


def test_a_metric_undefined_on_the_test_set_fails_its_gate() -> None:
    v = _verdict({"thresholds": {"recall[7]": ">= 0.5"}})
    assert v.decision == "NO-GO"
    assert "class `7` is not in the class list" in _gate(v, "recall[7]").reason


OVERRIDE = OverrideRequest(source="label", name="ship-it", actor="alice", at="2026-11-27T16:00:00Z")


def test_override_named_in_the_plan_turns_no_go_into_go_and_is_recorded() -> None:
    gates = {"thresholds": {"accuracy": ">= 0.99"}, "override": {"label": "ship-it"}}
    v = _verdict(gates, override=OVERRIDE)
    assert v.decision == "GO" and v.decision_without_override == "NO-GO"
    assert v.override == OVERRIDE
    assert v.summary.startswith(
        "NO-GO overridden by @alice with label `ship-it` at 2026-11-27T16:00:00Z. Without the override: 1 of 1"
    )
    assert _gate(v, "accuracy").status == "fail"  # the evidence stays as it was


def test_override_not_named_in_the_plan_is_ignored_and_said() -> None:
    v = _verdict(
        {"thresholds": {"accuracy": ">= 0.99"}, "override": {"dispatch_input": "force"}}, override=OVERRIDE
    )
    assert v.decision == "NO-GO" and v.decision_without_override is None
    assert "Override label `ship-it` by @alice ignored" in v.summary
    dispatch = OverrideRequest(source="workflow_dispatch", name="force", actor="bob", at="2026-11-27T17:00:00Z")
    forced = _verdict(
        {"thresholds": {"accuracy": ">= 0.99"}, "override": {"dispatch_input": "force"}}, override=dispatch
    )
    assert forced.decision == "GO" and "with workflow_dispatch input `force`" in forced.summary


def test_override_without_a_named_actor_or_with_a_reason_says_so_everywhere() -> None:
    gates = {"thresholds": {"accuracy": ">= 0.99"}, "override": {"label": "ship-it", "dispatch_input": "force"}}
    present = OverrideRequest(source="label", name="ship-it", actor="", at="2026-11-27T16:00:00Z")
    v = _verdict(gates, override=present)
    assert v.decision == "GO"
    assert v.summary.startswith(
        "NO-GO overridden with label `ship-it`, present on the PR as of 2026-11-27T16:00:00Z "
        "(who added it is not in the event). Without the override:"
    )
    assert present.brief() == "label ship-it on the PR as of 2026-11-27T16:00:00Z"
    forced = OverrideRequest(
        source="workflow_dispatch", name="force", actor="bob", at="2026-11-27T17:00:00Z", reason="ticket 12"
    )
    v = _verdict(gates, override=forced)
    assert "at 2026-11-27T17:00:00Z (reason: ticket 12). Without" in v.summary
    assert forced.brief() == "@bob at 2026-11-27T17:00:00Z (input force)"
    props = {p.get("name"): p.get("value") for p in ET.fromstring(render_junit(v)).iter("property")}
    assert props["decision"] == "GO"
    assert props["override"] == "by @bob with workflow_dispatch input `force` at 2026-11-27T17:00:00Z"


def test_override_of_a_go_changes_nothing() -> None:
    v = _verdict({"thresholds": {"accuracy": ">= 0.9"}, "override": {"label": "ship-it"}}, override=OVERRIDE)
    assert v.decision == "GO" and v.decision_without_override is None
    assert v.summary.endswith("not applied: the decision is already GO.")


def test_a_failed_size_budget_cites_an_int8_trial_that_would_fit() -> None:
    trial = QuantizationTrial(
        method="dynamic",
        status="ok",
        file_size_bytes=3_000_000,
        size_ratio=0.28,
        accuracy=0.949,
        fp32_accuracy=0.95,
        accuracy_delta=-0.001,
        pays=False,
        note="Dynamic INT8 does not pay on this model: it is slower than fp32.",
    )
    quantization = QuantizationReport(
        candidate_path="c.onnx",
        fp32_file_size_bytes=12_400_000,
        preprocessed=True,
        calibration_size=50,
        n_eval=50,
        accuracy_tolerance=0.01,
        trials=(trial,),
    )
    v = _verdict({"budgets": {"model_size_mb": 10}}, readiness=_readiness(quantization=quantization))
    assert v.next_steps[0].startswith("dynamic INT8 cuts the size to 28% with accuracy -0.1 pt")


def test_wilson_interval_matches_statsmodels() -> None:
    for k, n, conf in [(95, 100, 0.95), (0, 20, 0.9), (20, 20, 0.99), (7, 13, 0.95)]:
        expected = proportion_confint(k, n, alpha=1 - conf, method="wilson")
        assert wilson_interval(k, n, conf) == pytest.approx(expected, abs=1e-12)


def test_junit_has_one_test_case_per_gate() -> None:
    v = _verdict(
        {
            "thresholds": {"accuracy": ">= 0.9", "recall[2]": {"rule": ">= 0.85", "blocking": False}},
            "vs_baseline": {"accuracy": "better"},
            "errors": {"negative_flips": 10},
        },
        baseline=True,
    )
    root = ET.fromstring(render_junit(v))
    suite = root.find("testsuite")
    assert suite is not None
    cases = suite.findall("testcase")
    assert [(c.get("classname"), c.get("name")) for c in cases] == [
        ("evalaction.gates.threshold", "accuracy"),
        ("evalaction.gates.threshold", "recall[2]"),
        ("evalaction.gates.vs_baseline", "accuracy"),
        ("evalaction.gates.errors", "negative_flips"),
    ]
    failures = {c.get("name"): c.find("failure") for c in cases if c.find("failure") is not None}
    assert set(failures) == {"recall[2]", "accuracy"}
    assert failures["recall[2]"].get("type") == "warning"
    assert suite.get("tests") == "4" and suite.get("failures") == "2" and suite.get("skipped") == "0"
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert props["decision"] == "NO-GO"

    skipped = _verdict(
        {"vs_baseline": {"accuracy": "not_worse"}, "thresholds": {"accuracy": ">= 0.9"}}, baseline=False
    )
    root = ET.fromstring(render_junit(skipped))
    assert root.get("skipped") == "1"
    assert [c.find("skipped") is not None for c in root.iter("testcase")] == [False, True]


def test_readiness_says_why_sklearn_onnx_parameters_are_not_counted() -> None:
    """Issue #17: "parameters 0 | 0" for scikit-learn ONNX models, whose weights live in node attributes."""
    from evalaction.report.readiness_view import readiness_view

    zero = ModelProfile(
        path="m.onnx", file_size_bytes=1, parameter_count=0, load_time_ms=1.0, peak_memory_bytes=None, latency=()
    )
    profile = ReadinessProfile(
        candidate=zero, baseline=zero, slowness=(), threads=1, warmup=5, memory_method="test"
    )
    view = readiness_view(ReadinessResult(candidate=None, baseline=None, profile=profile))
    params = dict(view.rows)["parameters"]
    assert params == ["n/a (see note)", "n/a (see note)"]
    assert any("node attributes" in n and "skl2onnx" in n for n in view.notes)


def test_curation_headline_does_not_repeat_the_gate_name() -> None:
    from evalaction.artifacts import GateResult
    from evalaction.stages.verdict import _headline

    g = GateResult(
        name="leakage",
        kind="curation",
        rule="<= 0",
        observed=3.0,
        status="fail",
        blocking=True,
        reason="leakage: 3 test samples also in the training data",
    )
    assert _headline(g) == "leakage: 3 test samples also in the training data"

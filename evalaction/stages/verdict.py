"""Stage 6b: apply every gate of the plan and decide GO / GO WITH CONDITIONS / NO-GO, each gate with its evidence."""

from __future__ import annotations

from typing import TYPE_CHECKING

from evalaction.artifacts import GateResult, VerdictResult
from evalaction.config import parse_metric_ref

if TYPE_CHECKING:
    from evalaction.artifacts import CompareResult, MetricsResult, PlanResult, ReadinessResult

_OPS = {
    ">=": lambda a, b: a >= b,
    ">": lambda a, b: a > b,
    "<=": lambda a, b: a <= b,
    "<": lambda a, b: a < b,
}


def _observed(metrics: MetricsResult, ref: str) -> float | None:
    name, cls = parse_metric_ref(ref)
    if cls is None:
        return metrics.candidate.overall.get(name)
    return metrics.candidate.per_class.get(name, {}).get(cls)


def _fmt(v: float) -> str:
    return f"{v:.4g}"


def threshold_gates(plan: PlanResult, metrics: MetricsResult) -> list[GateResult]:
    out = []
    for ref, gate in plan.plan.gates.thresholds.items():
        value = _observed(metrics, ref)
        if value is None:
            why = metrics.candidate.undefined.get(parse_metric_ref(ref)[0], "no value on this test set")
            out.append(
                GateResult(
                    name=ref,
                    kind="threshold",
                    rule=gate.rule,
                    observed=None,
                    status="fail",
                    blocking=gate.blocking,
                    reason=f"{ref} is undefined: {why}",
                )
            )
            continue
        ok = _OPS[gate.op](value, gate.value)
        out.append(
            GateResult(
                name=ref,
                kind="threshold",
                rule=gate.rule,
                observed=value,
                status="pass" if ok else "fail",
                blocking=gate.blocking,
                reason=f"{ref} = {_fmt(value)} {'meets' if ok else 'misses'} {gate.rule}",
            )
        )
    return out


def baseline_gates(plan: PlanResult, compare: CompareResult | None) -> list[GateResult]:
    out = []
    for ref, gate in plan.plan.gates.vs_baseline.items():
        rule = f"{gate.rule.replace('_', ' ')}" + (f", margin {gate.margin:g}" if gate.margin else "")
        cmp = compare.get(ref) if compare else None
        if cmp is None and compare is not None and ref in compare.undefined:
            out.append(
                GateResult(
                    name=ref,
                    kind="vs_baseline",
                    rule=rule,
                    observed=None,
                    status="fail",
                    blocking=gate.blocking,
                    reason=f"{ref} could not be compared: {compare.undefined[ref]}",
                )
            )
            continue
        if cmp is None:
            out.append(
                GateResult(
                    name=ref,
                    kind="vs_baseline",
                    rule=rule,
                    observed=None,
                    status="skipped",
                    blocking=gate.blocking,
                    reason="no baseline to compare against; gate skipped",
                )
            )
            continue
        if cmp.passed is not None:
            # The compare stage decided the rule (evalaction/stats/outcome.py: not_worse and equivalent on the
            # 1 - 2 alpha interval, better on the 1 - alpha interval and Holm).
            out.append(
                GateResult(
                    name=ref,
                    kind="vs_baseline",
                    rule=rule,
                    observed=cmp.delta,
                    interval=(cmp.ci_low, cmp.ci_high),
                    status="pass" if cmp.passed else "fail",
                    blocking=gate.blocking,
                    reason=f"delta {cmp.delta:+.4f} ({cmp.outcome}); {cmp.reason}",
                )
            )
            continue
        from evalaction.metrics.catalog import CATALOG

        hib = CATALOG[parse_metric_ref(ref)[0]].higher_is_better
        low, high = (cmp.ci_low, cmp.ci_high) if hib else (-cmp.ci_high, -cmp.ci_low)
        if gate.rule == "not_worse":
            ok = low > -gate.margin
            why = f"the {cmp.confidence:.0%} interval's lower end {_fmt(low)} is {'above' if ok else 'not above'} -{gate.margin:g}"
        elif gate.rule == "better":
            ok = low > gate.margin
            why = f"the {cmp.confidence:.0%} interval's lower end {_fmt(low)} is {'above' if ok else 'not above'} {gate.margin:g}"
        else:
            ok = -gate.margin <= low and high <= gate.margin
            why = (
                f"the interval [{_fmt(low)}, {_fmt(high)}] is {'inside' if ok else 'not inside'} +-{gate.margin:g}"
            )
        out.append(
            GateResult(
                name=ref,
                kind="vs_baseline",
                rule=rule,
                observed=cmp.delta,
                interval=(cmp.ci_low, cmp.ci_high),
                status="pass" if ok else "fail",
                blocking=gate.blocking,
                reason=f"delta {cmp.delta:+.4f} ({cmp.outcome}); {why}",
            )
        )
    return out


def budget_gates(plan: PlanResult, readiness: ReadinessResult) -> list[GateResult]:
    out = []
    for name, gate in plan.plan.gates.budgets.items():
        cand = readiness.candidate
        value = None if cand is None else getattr(cand, name.replace("model_size_mb", "size_mb"), None)
        rule = f"<= {gate.max:g}"
        if value is None:
            why = readiness.skipped or f"{name} was not measured"
            out.append(
                GateResult(
                    name=name,
                    kind="budget",
                    rule=rule,
                    observed=None,
                    status="skipped",
                    blocking=gate.blocking,
                    reason=why,
                )
            )
            continue
        ok = value <= gate.max
        out.append(
            GateResult(
                name=name,
                kind="budget",
                rule=rule,
                observed=float(value),
                status="pass" if ok else "fail",
                blocking=gate.blocking,
                reason=f"{name} = {_fmt(value)} {'within' if ok else 'over'} the budget {gate.max:g}",
            )
        )
    return out


def run_verdict(
    *, plan: PlanResult, metrics: MetricsResult, compare: CompareResult | None, readiness: ReadinessResult
) -> VerdictResult:
    """GO when every blocking gate passes; GO WITH CONDITIONS when only non-blocking gates fail; else NO-GO."""
    gates = [*threshold_gates(plan, metrics), *baseline_gates(plan, compare), *budget_gates(plan, readiness)]
    if not gates:
        return VerdictResult(
            decision="NO-GO",
            gates=[
                GateResult(
                    name="gates",
                    kind="plan",
                    rule="at least one gate",
                    observed=0,
                    status="fail",
                    blocking=True,
                    reason="the plan configures no gates, so nothing supports a GO",
                )
            ],
            summary="No gates are configured: nothing supports a GO.",
            next_steps=["add `gates:` to the plan (thresholds, vs_baseline rules or budgets)"],
        )
    from evalaction.stages.plan import curation_gates

    gates = [*curation_gates(plan), *gates]  # the test set's own gates first: they qualify every other gate
    blocking_fail = [g for g in gates if g.status == "fail" and g.blocking]
    warn_fail = [g for g in gates if g.status == "fail" and not g.blocking]
    passed = sum(g.status == "pass" for g in gates)
    skipped = sum(g.status == "skipped" for g in gates)
    tail = f" ({skipped} skipped)" if skipped else ""
    if blocking_fail:
        return VerdictResult(
            decision="NO-GO",
            gates=gates,
            summary=f"{len(blocking_fail)} of {len(gates)} gates fail{tail}: "
            + "; ".join(g.reason for g in blocking_fail),
            next_steps=[_next_step(g) for g in blocking_fail],
        )
    if warn_fail:
        return VerdictResult(
            decision="GO WITH CONDITIONS",
            gates=gates,
            summary=f"Every blocking gate passes; {len(warn_fail)} warning gate(s) fail{tail}.",
            conditions=[f"monitor {g.name}: {g.reason}" for g in warn_fail],
        )
    return VerdictResult(decision="GO", gates=gates, summary=f"All {passed} gates pass{tail}.")


def _next_step(g: GateResult) -> str:
    if g.kind == "curation":
        from evalaction.stages.plan import curation_next_step

        return curation_next_step(g)
    if g.kind == "budget":
        return f"reduce {g.name} (smaller model, INT8 quantization) or raise the budget with a recorded reason"
    name, cls = parse_metric_ref(g.name)
    if cls is not None:
        return f"add training data for class `{cls}` or revisit its {name} gate with a recorded override"
    return f"improve {g.name} before merging (more data, tuning), or relax the gate with a recorded reason"

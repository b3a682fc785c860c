"""Stage 6b: apply every gate of the plan and decide GO / GO WITH CONDITIONS / NO-GO, each gate with its evidence.

Gates (plan `gates:`), each giving name, rule, observed value with its interval, pass / fail / skipped, why:
  thresholds   absolute rules on a metric: overall `accuracy`, per class `recall[7]`, every class
               `recall[*]`, per slice `accuracy[ink=light]`, every slice `accuracy[ink=*]`
  vs_baseline  better / not_worse / equivalent with a margin, on the compare stage's paired interval
  vs_best_prior  the same rules against the best prior version (plan `history:`, evalaction/history/)
  budgets      readiness: batch-1 latency percentiles, size, peak memory, load time, and `latency_ratio`
               (fails only when the candidate is significantly slower than the baseline by more than it)
  errors       error-analysis limits: `negative_flips` overall or in a class (`negative_flips[7]`)
  curation     the test set's own checks (leakage, duplicates, class balance), from the plan stage

Decision:
  no gate configured, or none could be evaluated  -> NO-GO, unless `gates.allow_no_gates: true`
  a blocking gate fails                           -> NO-GO, with the reasons and a next step for each
  only warning gates (`blocking: false`) fail     -> GO WITH CONDITIONS, the conditions listed
  otherwise                                       -> GO
A NO-GO becomes GO only through the override the plan names (a PR label or a workflow_dispatch input),
and the verdict records who set it and when. The override arrives as data from the caller.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from evalaction.artifacts import GateResult, VerdictResult
from evalaction.plan import parse_metric_ref

if TYPE_CHECKING:
    from evalaction.artifacts import (
        CompareResult,
        HistoryResult,
        MetricsResult,
        OverrideRequest,
        PlanResult,
        ReadinessResult,
    )

_OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": lambda a, b: a >= b,
    ">": lambda a, b: a > b,
    "<=": lambda a, b: a <= b,
    "<": lambda a, b: a < b,
}
# proportions whose interval follows from their count: accuracy over the samples, recall over the class
_PROPORTIONS = {"accuracy", "recall"}


def _fmt(v: float) -> str:
    return f"{v:.4g}"


def wilson_interval(successes: int, n: int, confidence: float) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (Wilson 1927; Brown, Cai & DasGupta 2001).

    With p = successes / n and z the normal quantile at (1 + confidence) / 2:
        (p + z^2 / 2n  +-  z * sqrt(p (1 - p) / n + z^2 / 4n^2)) / (1 + z^2 / n)
    Unlike p +- z sqrt(p(1-p)/n) it stays inside [0, 1] and keeps its coverage near p = 1, where
    accuracy gates live.
    """
    from math import sqrt
    from statistics import NormalDist

    z = NormalDist().inv_cdf((1 + confidence) / 2)
    p = successes / n
    centre = p + z * z / (2 * n)
    half = z * sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    scale = 1 + z * z / n
    return max(0.0, (centre - half) / scale), min(1.0, (centre + half) / scale)


# ------------------------------------------------------------------------------------------------ thresholds


@dataclass(frozen=True)
class _Observation:
    ref: str  # `recall[7]`, `accuracy[ink=light]`
    value: float | None
    n: int | None  # samples the value rests on (for the interval); None when unknown
    why_missing: str = ""


def _observations(metrics: MetricsResult, ref: str) -> list[_Observation]:
    """The values a threshold gate judges: one, or one per class / slice value for `[*]` and `[col=*]`."""
    name, part = parse_metric_ref(ref)
    cand = metrics.candidate
    undefined = cand.undefined.get(name, "no value on this test set")
    if part is None:
        n = sum(metrics.class_support.values()) or None
        return [_Observation(ref, cand.overall.get(name), n, undefined)]
    if "=" not in part:
        per_class = cand.per_class.get(name, {})
        classes = metrics.classes if part == "*" else [part]
        if part != "*" and part not in metrics.classes:
            return [_Observation(ref, None, None, f"class `{part}` is not in the class list {metrics.classes}")]
        return [
            _Observation(f"{name}[{c}]", per_class.get(c), metrics.class_support.get(c), undefined)
            for c in classes
        ]
    column, value = (s.strip() for s in part.split("=", 1))
    rows = cand.per_slice.get(column)
    if rows is None:
        return [_Observation(ref, None, None, f"slice column `{column}` was not computed")]
    values = sorted(rows) if value == "*" else [value]
    out = []
    for v in values:
        row = rows.get(v)
        if row is None:
            out.append(_Observation(ref, None, None, f"no test sample has {column} = {v!r}; found {sorted(rows)}"))
            continue
        count = row.get("n")
        missing = "" if name in row else f"{name} is not computed per slice (only aggregate metrics are)"
        out.append(
            _Observation(f"{name}[{column}={v}]", row.get(name), None if count is None else int(count), missing)
        )
    return out


def _interval(name: str, obs: _Observation, confidence: float) -> tuple[float, float] | None:
    if name not in _PROPORTIONS or obs.value is None or not obs.n:
        return None
    return wilson_interval(round(obs.value * obs.n), obs.n, confidence)


def threshold_gates(plan: PlanResult, metrics: MetricsResult) -> list[GateResult]:
    """Absolute rules on the candidate's metrics; a gate over many classes or slices fails if any one does."""
    from evalaction.metrics.catalog import CATALOG

    confidence = 1 - plan.plan.compare.alpha
    out = []
    for ref, gate in plan.plan.gates.thresholds.items():
        name = parse_metric_ref(ref)[0]
        observations = _observations(metrics, ref)
        missing = [o for o in observations if o.value is None]
        failing = [o for o in observations if o.value is not None and not _OPS[gate.op](o.value, gate.value)]
        defined = [o for o in observations if o.value is not None]
        sign = 1 if CATALOG[name].higher_is_better else -1
        worst = min(defined, key=lambda o: sign * (o.value or 0.0)) if defined else None
        status: Literal["pass", "fail"]
        if missing:
            first = missing[0]
            reason = f"{first.ref} is undefined: {first.why_missing}"
            status = "fail"
        elif failing:
            listed = ", ".join(f"{o.ref} = {_fmt(o.value or 0.0)}" for o in failing[:5])
            many = f" in {len(failing)} of {len(observations)}" if len(observations) > 1 else ""
            reason = f"misses {gate.rule}{many}: {listed}"
            status = "fail"
        else:
            assert worst is not None  # no missing values, so at least one defined observation
            scope = f" (lowest: {worst.ref})" if len(observations) > 1 and sign > 0 else ""
            scope = f" (highest: {worst.ref})" if len(observations) > 1 and sign < 0 else scope
            reason = f"{worst.ref} = {_fmt(worst.value or 0.0)} meets {gate.rule}{scope}"
            status = "pass"
        interval = None if worst is None else _interval(name, worst, confidence)
        if interval is not None:
            reason += f"; {confidence:.0%} Wilson interval [{_fmt(interval[0])}, {_fmt(interval[1])}]"
        out.append(
            GateResult(
                name=ref,
                kind="threshold",
                rule=gate.rule,
                observed=None if worst is None else worst.value,
                interval=interval,
                status=status,
                blocking=gate.blocking,
                reason=reason,
            )
        )
    return out


# ----------------------------------------------------------------------------------------------- vs baseline


def baseline_gates(plan: PlanResult, compare: CompareResult | None) -> list[GateResult]:
    """Rules against the baseline on the compare stage's paired delta and interval (higher is better here)."""
    from evalaction.metrics.catalog import higher_is_better

    out = []
    for ref, gate in plan.plan.gates.vs_baseline.items():
        rule = gate.rule.replace("_", " ") + (f", margin {gate.margin:g}" if gate.margin else "")
        cmp = compare.get(ref) if compare else None
        if cmp is None:
            # a metric the test set cannot compare fails its gate; without a baseline the gate is skipped
            undefined = compare.undefined.get(ref) if compare is not None else None
            if undefined is not None:
                status, reason = "fail", f"{ref} could not be compared: {undefined}"
            else:
                why = "no baseline to compare against" if compare is None else f"the comparison has no {ref}"
                status, reason = "skipped", f"{why}; gate skipped"
            out.append(
                GateResult(
                    name=ref,
                    kind="vs_baseline",
                    rule=rule,
                    observed=None,
                    status=status,  # type: ignore[arg-type]
                    blocking=gate.blocking,
                    reason=reason,
                )
            )
            continue
        low, high, level = cmp.decisive_interval if cmp.passed is not None else (cmp.ci_low, cmp.ci_high, 0.0)
        level = level or cmp.confidence
        evidence = (
            f"{ref} {cmp.baseline:.4g} -> {cmp.candidate:.4g}, delta {cmp.delta:+.4f} "
            f"({level:.0%} CI [{low:+.4f}, {high:+.4f}], {cmp.outcome})"
        )
        if cmp.passed is not None:
            # The compare stage decided the rule (evalaction/stats/outcome.py: not_worse and equivalent on the
            # 1 - 2 alpha interval, better on the 1 - alpha interval and Holm); the interval shown is that one.
            # A fail the test set is too small to avoid (stats/power.py) says so, and may be a condition only.
            undecidable = cmp.undecidable if not cmp.passed and cmp.outcome != "worse" else None
            blocking = gate.blocking and not (undecidable and plan.plan.gates.undecidable == "condition")
            out.append(
                GateResult(
                    name=ref,
                    kind="vs_baseline",
                    rule=rule,
                    observed=cmp.delta,
                    interval=(low, high),
                    status="pass" if cmp.passed else "fail",
                    blocking=blocking,
                    reason=f"{evidence}; {cmp.reason}" + (f"; {undecidable}" if undecidable else ""),
                    undecidable=undecidable,
                )
            )
            continue
        # judge the improvement: the delta itself for higher-is-better metrics, its negation otherwise
        hib = higher_is_better(parse_metric_ref(ref)[0])
        low, high = (cmp.ci_low, cmp.ci_high) if hib else (-cmp.ci_high, -cmp.ci_low)
        if gate.rule == "not_worse":
            ok = low > -gate.margin
            why = f"the interval's lower end {_fmt(low)} is {'above' if ok else 'not above'} -{gate.margin:g}"
        elif gate.rule == "better":
            ok = low > gate.margin
            why = f"the interval's lower end {_fmt(low)} is {'above' if ok else 'not above'} {gate.margin:g}"
        else:
            ok = -gate.margin <= low and high <= gate.margin
            inside = "inside" if ok else "not inside"
            why = f"the interval [{_fmt(low)}, {_fmt(high)}] is {inside} +-{gate.margin:g}"
        out.append(
            GateResult(
                name=ref,
                kind="vs_baseline",
                rule=rule,
                observed=cmp.delta,
                interval=(cmp.ci_low, cmp.ci_high),
                status="pass" if ok else "fail",
                blocking=gate.blocking,
                reason=f"{evidence}; {why}",
            )
        )
    return out


# --------------------------------------------------------------------------------------------------- budgets

# budget name -> (ModelReadiness field, unit, scale to the budget's unit, words); the report uses it too
BUDGET_FIELDS = {
    "latency_p50_ms": ("latency_p50_ms", "ms", 1.0, "p50 latency at batch 1"),
    "latency_p95_ms": ("latency_p95_ms", "ms", 1.0, "p95 latency at batch 1"),
    "latency_p99_ms": ("latency_p99_ms", "ms", 1.0, "p99 latency at batch 1"),
    "model_size_mb": ("size_mb", "MB", 1.0, "model size"),
    "peak_memory_mb": ("peak_memory_mb", "MB", 1.0, "peak memory"),
    "load_time_ms": ("load_s", "ms", 1000.0, "session load time"),
}


def _latency_ratio_gate(name: str, limit: float, blocking: bool, readiness: ReadinessResult) -> GateResult:
    rule = f"not significantly above {limit:g}x the baseline"
    test = readiness.profile.slowness_at(1) if readiness.profile else None
    if test is None:
        why = readiness.skipped or "no baseline was profiled"
        return GateResult(
            name=name, kind="budget", rule=rule, observed=None, status="skipped", blocking=blocking, reason=why
        )
    ok = test.ci_low <= limit
    verdict = "within" if ok else "significantly over"
    return GateResult(
        name=name,
        kind="budget",
        rule=rule,
        observed=test.ratio,
        interval=(test.ci_low, test.ci_high),
        status="pass" if ok else "fail",
        blocking=blocking,
        reason=(
            f"candidate/baseline median latency at batch 1 = {test.ratio:.2f}x "
            f"({test.confidence:.0%} CI [{test.ci_low:.2f}, {test.ci_high:.2f}], {test.n_pairs} interleaved pairs), "
            f"{verdict} the {limit:g}x budget"
        ),
    )


def budget_gates(plan: PlanResult, readiness: ReadinessResult) -> list[GateResult]:
    """Readiness budgets on the candidate's batch-1 numbers, with the baseline's beside them."""
    out = []
    for name, gate in plan.plan.gates.budgets.items():
        if name == "latency_ratio":
            out.append(_latency_ratio_gate(name, gate.max, gate.blocking, readiness))
            continue
        field, unit, scale, words = BUDGET_FIELDS[name]
        cand, base = readiness.candidate, readiness.baseline
        raw = None if cand is None else getattr(cand, field)
        rule = f"<= {gate.max:g} {unit}"
        if raw is None:
            why = readiness.skipped or (
                "peak memory was not measured (`readiness.measure_memory: false`)"
                if name == "peak_memory_mb"
                else f"{words} was not measured"
            )
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
        value = float(raw) * scale
        base_raw = None if base is None else getattr(base, field)
        beside = "" if base_raw is None else f" (baseline {_fmt(float(base_raw) * scale)} {unit})"
        ok = value <= gate.max
        out.append(
            GateResult(
                name=name,
                kind="budget",
                rule=rule,
                observed=value,
                status="pass" if ok else "fail",
                blocking=gate.blocking,
                reason=f"{words} = {_fmt(value)} {unit}{beside}, {'within' if ok else 'over'} the {gate.max:g} {unit} budget",
            )
        )
    return out


# ---------------------------------------------------------------------------------------------------- errors


def _flip_count(ref: str, compare: CompareResult | None, classes: list[str]) -> tuple[int | None, str]:
    """(negative flips, why) for `negative_flips` or `negative_flips[class]`; None when they cannot be counted."""
    flips = compare.flips if compare is not None else None
    if flips is None:
        return None, "no baseline, so no negative flips to count" if compare is None else "no flips for this task"
    cls = parse_metric_ref(ref)[1]
    if cls is None:
        return flips.n_negative, f"{flips.n_negative} negative flips ({flips.n_positive} positive)"
    if cls not in flips.per_class:
        return None, f"class `{cls}` is not in the class list {classes}; fix the gate's name"
    c = flips.per_class[cls]
    return c.negative, f"{c.negative} negative flips in class {cls} ({c.positive} positive, {c.n} samples)"


def error_gates(plan: PlanResult, compare: CompareResult | None, metrics: MetricsResult) -> list[GateResult]:
    """Limits on negative flips (baseline right, candidate wrong), overall or within one true class."""
    out = []
    for ref, gate in plan.plan.gates.errors.items():
        count, why = _flip_count(ref, compare, metrics.classes)
        status: Literal["pass", "fail", "skipped"]
        if count is None:
            # a class the test set does not have is a misconfigured gate: fail it rather than wave it through
            status = "fail" if compare is not None and compare.flips is not None else "skipped"
            reason = why if status == "fail" else f"{why}; gate skipped"
        else:
            status = "pass" if count <= gate.max else "fail"
            reason = f"{why}, {'within' if status == 'pass' else 'over'} the limit of {gate.max}"
        out.append(
            GateResult(
                name=ref,
                kind="errors",
                rule=f"<= {gate.max}",
                observed=None if count is None else float(count),
                status=status,
                blocking=gate.blocking,
                reason=reason,
            )
        )
    return out


# -------------------------------------------------------------------------------------------------- decision


def _subject(g: GateResult) -> str:
    """What a gate is about, for a sentence: `class 7`, `ink=light`, `accuracy`, `p95 latency`."""
    if g.kind == "budget":
        return BUDGET_FIELDS[g.name][3] if g.name in BUDGET_FIELDS else "latency against the baseline"
    if g.kind == "curation":
        return "the test set"
    part = parse_metric_ref(g.name)[1]
    if part is None or part == "*" or part.endswith("=*"):
        return g.name.split("[")[0] if g.kind != "errors" else "negative flips"
    return f"slice {part}" if "=" in part else f"class {part}"


def _condition(g: GateResult) -> str:
    return f"deploy with monitoring on {_subject(g)}: {_headline(g)}"


def _int8_hint(readiness: ReadinessResult | None, budget: str) -> str | None:
    """A quantization trial that would help this budget, cited from the readiness evidence."""
    if readiness is None or readiness.quantization is None:
        return None
    for t in readiness.quantization.trials:
        if t.status != "ok" or t.accuracy_delta is None:
            continue
        within = t.accuracy_delta >= -readiness.quantization.accuracy_tolerance
        if budget == "model_size_mb" and within and (t.size_ratio or 1.0) < 1.0:
            return (
                f"{t.method} INT8 cuts the size to {t.size_ratio:.0%} with accuracy {t.accuracy_delta * 100:+.1f} pt "
                "(see Deployment readiness)"
            )
        if budget.startswith("latency") and t.pays:
            return f"{t.note} (see Deployment readiness)"
    return None


def _headline(g: GateResult) -> str:
    """One short clause for the verdict's summary; the gate's full evidence stays in its `reason`."""
    if g.kind == "vs_baseline" and g.observed is not None and g.undecidable:
        from evalaction.stats.power import is_proportion

        def amount(x: float) -> str:
            return f"{100 * x:+.1f} pt" if is_proportion(g.name) else f"{x:+.4g}"

        ci = f" (deciding interval {amount(g.interval[0])} to {amount(g.interval[1])})" if g.interval else ""
        return f"{g.name} `{g.rule}` is undecided on this test set (too few rows): delta {amount(g.observed)}{ci}"
    if g.kind in ("vs_baseline", "vs_best_prior") and g.observed is not None:
        ci = f" (CI {g.interval[0]:+.4g} to {g.interval[1]:+.4g})" if g.interval else ""
        against = "the baseline" if g.kind == "vs_baseline" else "the best prior version"
        return f"{g.name} fails `{g.rule}` against {against}: delta {g.observed:+.4g}{ci}"
    if g.kind == "threshold" and g.observed is not None:
        ci = f" (interval {g.interval[0]:.4g} to {g.interval[1]:.4g})" if g.interval else ""
        return f"{g.name} = {g.observed:.4g}{ci} misses {g.rule}"
    # curation reasons already start with the gate's name ("leakage: 3 test samples ...")
    return g.reason if g.reason.startswith(f"{g.name}:") else f"{g.name} {g.reason}"


def _next_step(g: GateResult, readiness: ReadinessResult | None, task: str = "multiclass") -> str:
    if g.kind == "curation":
        from evalaction.stages.plan import curation_next_step

        return curation_next_step(g)
    if g.kind == "budget":
        hint = _int8_hint(readiness, g.name)
        if g.name == "latency_ratio":
            return "profile what made the candidate slower than the baseline, or raise `latency_ratio` with a recorded reason"
        base = (
            f"reduce the {_subject(g)} (smaller architecture, pruning) or raise the budget with a recorded reason"
        )
        return f"{hint}; or {base}" if hint else base
    if g.kind == "errors":
        part = parse_metric_ref(g.name)[1]
        where = f" in class {part}" if part else ""
        return f"review the negative flips{where} (baseline right, candidate wrong) and add training data for them"
    if g.kind in ("vs_baseline", "vs_best_prior") and g.undecidable:
        return f"{g.undecidable}: add test rows or widen the margin; the result is inconclusive, not a regression"
    if g.kind == "vs_best_prior":
        return (
            f"compare with the best prior version (History section) to find where {g.name} slid, commit by commit"
        )
    if (
        g.kind == "vs_baseline" and ", inconclusive)" in g.reason
    ):  # the evidence names the outcome (baseline_gates)
        shown = "shown better" if g.rule.startswith("better") else "shown within the margin"
        return (
            f"{g.name} is not {shown}, nor shown worse (inconclusive): review the negative flips, or add test "
            "rows to narrow the interval"
        )
    if g.kind == "vs_baseline" and task == "regression":
        return (
            f"find what regressed {g.name} against the baseline, starting with the regression flips (rows the "
            "candidate misses by more than the baseline) and the slices with the largest errors in the errors section"
        )
    if g.kind == "vs_baseline":
        return f"find what regressed {g.name} against the baseline, starting with the negative flips in the errors section"
    if task == "regression" and g.kind == "threshold":
        return (
            f"improve {_subject(g)}: look at the largest residuals and the slices with the largest errors in the "
            "errors section (outliers, missing features), or relax the gate with a recorded reason"
        )
    part = parse_metric_ref(g.name)[1]
    if part is not None and part != "*" and "=" not in part:
        return f"retrain with more data for class {part}"
    if part is not None and "=" in part and not part.endswith("=*"):
        return f"retrain with more data like {part}"
    return f"improve {_subject(g)} (more data, tuning) before merging, or relax the gate with a recorded reason"


def _no_evidence(plan: PlanResult, gates: list[GateResult], why: str) -> VerdictResult:
    allowed = plan.plan.gates.allow_no_gates
    marker = GateResult(
        name="gates",
        kind="plan",
        rule="at least one gate evaluated",
        observed=float(sum(g.status != "skipped" for g in gates)),
        status="skipped" if allowed else "fail",
        blocking=not allowed,
        reason=why + ("; the plan allows a GO without gates" if allowed else "; nothing supports a GO"),
    )
    if allowed:
        summary = f"{why[0].upper()}{why[1:]}; the plan allows a GO without gates (`gates.allow_no_gates: true`)."
        return VerdictResult(decision="GO", gates=[*gates, marker], summary=summary)
    return VerdictResult(
        decision="NO-GO",
        gates=[*gates, marker],
        summary=f"{why[0].upper()}{why[1:]}, so nothing supports a GO.",
        next_steps=["add `gates:` to the plan (thresholds, vs_baseline rules, budgets, error limits)"]
        if not gates
        else ["provide a baseline so the gates can be evaluated, or add gates that need none"],
    )


def decide(plan: PlanResult, gates: list[GateResult], readiness: ReadinessResult | None) -> VerdictResult:
    """The decision from the gate results (before any override)."""
    if not gates:
        return _no_evidence(plan, gates, "no gates are configured")
    skipped = [g for g in gates if g.status == "skipped"]
    if len(skipped) == len(gates):
        return _no_evidence(
            plan, gates, f"none of the {len(gates)} gates could be evaluated ({skipped[0].reason})"
        )
    blocking = [g for g in gates if g.status == "fail" and g.blocking]
    warnings = [g for g in gates if g.status == "fail" and not g.blocking]
    tail = f" ({len(skipped)} skipped: {skipped[0].reason})" if skipped else ""
    if blocking:
        listed = "; ".join(_headline(g) for g in blocking)
        also = f" {len(warnings)} warning gate(s) fail as well." if warnings else ""
        return VerdictResult(
            decision="NO-GO",
            gates=gates,
            summary=f"{len(blocking)} of {len(gates)} gates block{tail}: {listed}.{also}",
            conditions=[_condition(g) for g in warnings],
            next_steps=list(dict.fromkeys(_next_step(g, readiness, plan.plan.task) for g in blocking)),
        )
    if warnings:
        return VerdictResult(
            decision="GO WITH CONDITIONS",
            gates=gates,
            summary=f"Every blocking gate passes; {len(warnings)} warning gate(s) fail{tail}.",
            conditions=[_condition(g) for g in warnings],
        )
    passed = len(gates) - len(skipped)
    return VerdictResult(decision="GO", gates=gates, summary=f"All {passed} evaluated gates pass{tail}.")


def apply_override(plan: PlanResult, verdict: VerdictResult, request: OverrideRequest | None) -> VerdictResult:
    """Turn NO-GO into GO when `request` is the override the plan names; record it either way."""
    if request is None:
        return verdict
    spec = plan.plan.gates.override
    named = spec is not None and (
        (request.source == "label" and request.name == spec.label)
        or (request.source == "workflow_dispatch" and request.name == spec.dispatch_input)
    )
    if not named:
        note = f" Override {request.what} {request.by} ignored: `gates.override` in the plan does not name it."
        return verdict.model_copy(update={"override": request, "summary": verdict.summary + note})
    if verdict.decision != "NO-GO":
        note = f" Override {request.what} {request.by} not applied: the decision is already {verdict.decision}."
        return verdict.model_copy(update={"override": request, "summary": verdict.summary + note})
    reason = f" (reason: {request.reason})" if request.reason else ""
    return verdict.model_copy(
        update={
            "decision": "GO",
            "decision_without_override": "NO-GO",
            "override": request,
            "summary": f"NO-GO overridden {request.describe()}{reason}. Without the override: {verdict.summary}",
        }
    )


def run_verdict(
    *,
    plan: PlanResult,
    metrics: MetricsResult,
    compare: CompareResult | None,
    readiness: ReadinessResult,
    override: OverrideRequest | None = None,
    history: HistoryResult | None = None,
) -> VerdictResult:
    """Every gate with its evidence, the decision, its conditions or next steps, and the override if any."""
    from evalaction.history.stage import best_prior_gates
    from evalaction.stages.plan import curation_gates

    gates = [
        *curation_gates(plan),  # the test set's own gates first: they qualify every other gate
        *threshold_gates(plan, metrics),
        *baseline_gates(plan, compare),
        *best_prior_gates(plan, history),
        *budget_gates(plan, readiness),
        *error_gates(plan, compare, metrics),
    ]
    return apply_override(plan, decide(plan, gates, readiness), override)

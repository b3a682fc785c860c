"""`evalaction plan`: the validated plan and the test set's card, as markdown."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from evalaction.artifacts import PlanResult


def render_plan_markdown(result: PlanResult, baseline_error: float | None = None) -> str:
    """The plan card: settings, every gate the run will apply (curation included), power, the test set."""
    from evalaction.stages.plan import plan_power

    p, d = result.plan, result.dataset
    lines = [f"# Evaluation plan: {p.name or result.plan_path}", ""]
    lines += [f"- task: **{p.task}**", f"- primary metric: **{p.metrics.primary}**"]
    lines.append(f"- metrics: {', '.join(p.metric_list)}")
    lines.append(f"- candidate: `{p.models.candidate.path}` ({p.models.candidate.resolved_format})")
    if p.models.baseline:
        lines.append(f"- baseline: `{p.models.baseline.path}` ({p.models.baseline.resolved_format})")
    else:
        lines.append("- baseline: none (gates against the baseline will be skipped)")
    lines.append(
        f"- comparison: {p.compare.n_bootstrap} paired bootstrap resamples, alpha {p.compare.alpha}, seed {p.compare.seed}"
    )
    if p.history is not None:
        h = p.history
        where = f"tags `{h.tag_pattern}`" if h.source == "tags" else "commits that changed the model"
        lines.append(
            f"- history: {h.versions} prior versions ({where}) on `{h.ref or 'HEAD (the action: the base branch)'}`, "
            "re-scored on this test set"
        )
    lines += ["", "## Gates", ""]
    if p.gates.count == 0:
        lines.append("No gates configured: the verdict will be NO-GO (nothing supports a GO).")
    else:
        lines += ["| gate | kind | rule | blocking |", "|---|---|---|---|"]
        for ref, g in p.gates.thresholds.items():
            lines.append(f"| {ref} | threshold | {g.rule} | {'yes' if g.blocking else 'no'} |")
        for ref, b in p.gates.vs_baseline.items():
            margin = f", margin {b.margin:g}" if b.margin else ""
            lines.append(f"| {ref} | vs baseline | {b.rule}{margin} | {'yes' if b.blocking else 'no'} |")
        for ref, b in p.gates.vs_best_prior.items():
            margin = f", margin {b.margin:g}" if b.margin else ""
            lines.append(f"| {ref} | vs best prior | {b.rule}{margin} | {'yes' if b.blocking else 'no'} |")
        for name, m in p.gates.budgets.items():
            lines.append(f"| {name} | budget | <= {m.max:g} | {'yes' if m.blocking else 'no'} |")
        for ref, e in p.gates.errors.items():
            lines.append(f"| {ref} | errors | <= {e.max} | {'yes' if e.blocking else 'no'} |")
    curation = p.gates.curation.items()
    if curation:
        if p.gates.count == 0:
            lines += ["", "| gate | kind | rule | blocking |", "|---|---|---|---|"]
        for cname, c in curation:
            rule = f">= {c.min:g}" if hasattr(c, "min") else f"<= {c.max}"
            lines.append(f"| {cname} | curation | {rule} | {'yes' if c.blocking else 'no'} |")
    power = plan_power(result, baseline_error)
    if power:
        lines += ["", "## Can this test set decide the gates against the baseline?", ""]
        for pw in power:
            mark = "⚠️ " if pw.decidable is False else ""
            lines.append(f"- {mark}{pw.sentence}")
        if any(pw.decidable is False for pw in power):
            handling = "a condition" if p.gates.undecidable == "condition" else "blocking"
            lines.append(
                f"- an undecidable gate that fails is {handling} (`gates.undecidable: block | condition`); "
                "80 % power for a candidate equal to the baseline"
            )
    lines.append(f"\nfail on NO-GO: {'yes' if p.gates.fail_on_no_go else 'no'}")
    lines += ["", f"## Test set: `{p.dataset.path}`", ""]
    lines.append(f"- samples: {d.n_samples}" + (f", features: {d.n_features}" if d.n_features else ""))
    if d.classes:
        total = max(1, sum(d.class_counts.values()))
        lines.append(f"- classes: {len(d.classes)}")
        lines += ["", "| class | n | share |", "|---|---|---|"]
        lines += [f"| {c} | {n} | {100 * n / total:.1f}% |" for c, n in d.class_counts.items()]
        lines.append("")
    lines.append(f"- duplicate samples: {d.duplicate_samples}; duplicate ids: {d.duplicate_ids}")
    outside = sum(d.labels_outside_classes.values())
    lines.append(f"- labels outside the class list: {outside}")
    lines.append(f"- missing values: {d.missing_values}")
    if d.invalid_values:
        dropped = f", {d.dropped_rows} rows dropped (`dataset.invalid_values: drop`)" if d.dropped_rows else ""
        lines.append(f"- invalid feature values (NaN, infinite or beyond float32): {d.invalid_values}{dropped}")
    if d.train_overlap is not None:
        lines.append(f"- overlap with the training set: {d.train_overlap}")
    for col, counts in d.slices.items():
        lines.append(f"- slice `{col}`: " + ", ".join(f"{v} ({n})" for v, n in counts.items()))
    lines.append(f"- fingerprint: `{d.fingerprint}`")
    for w in d.warnings:
        lines.append(f"- ⚠️ {w}")
    return "\n".join(lines) + "\n"

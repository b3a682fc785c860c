"""Render a RunResult as markdown (PR comment, job summary) and as one self-contained HTML file."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from evalaction.artifacts import GateResult, MetricComparison, RunResult

DECISION_ICON = {"GO": "✅", "GO WITH CONDITIONS": "⚠️", "NO-GO": "❌"}
STATUS_ICON = {"pass": "✅ pass", "fail": "❌ fail", "skipped": "➖ skipped"}


def fmt(value: Any, digits: int = 4) -> str:
    """A number for a table: 4 significant digits; `n/a` for missing."""
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def pct(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{100 * value:.{digits}f}%"


def delta_pt(value: float | None, digits: int = 1) -> str:
    """A difference of proportions in percentage points, signed."""
    return "n/a" if value is None else f"{100 * value:+.{digits}f} pt"


def pval(p: float | None) -> str:
    """A p-value for a reader: 3 significant digits, `< 0.001` below that (never `0`), n/a when missing."""
    if p is None:
        return "n/a"
    return "< 0.001" if p < 0.001 else f"{p:.3g}"


def _is_rate(metric: str) -> bool:
    from evalaction.plan import metric_is_rate, parse_metric_ref

    try:
        return metric_is_rate(parse_metric_ref(metric)[0])
    except ValueError:
        return True


def delta_in(value: float | None, metric: str, *companions: float | None) -> str:
    """A difference in the metric's own units: percentage points for a rate (`+1.2 pt`), else the plain number
    with as many decimals as the largest of `value` and `companions` needs for 3 significant digits
    (RMSE: `+4.9`, with its interval `[-2.5, +10.5]`)."""
    if value is None:
        return "n/a"
    if _is_rate(metric):
        return delta_pt(value)
    return f"{value:+.{_decimals(value, *companions)}f}"


def _decimals(*values: float | None) -> int:
    import math

    finite = [abs(v) for v in values if v is not None and math.isfinite(v) and v != 0]
    if not finite:
        return 1
    return max(0, min(6, 2 - math.floor(math.log10(max(finite)))))


def bar(value: float, scale: float = 1.0, width: int = 10) -> str:
    """A small text bar (no image host needed in a PR comment)."""
    n = min(width, round(abs(value) / scale * width)) if scale > 0 else 0
    return "▇" * n


def code_spans(text: Any) -> Any:
    """HTML: escape `text`, then turn its markdown code spans (`accuracy not_worse 2 pt`) into <code> elements,
    so reasons written once for the comment read the same in the HTML report (no literal backticks)."""
    import re

    from markupsafe import Markup, escape

    escaped = str(escape("" if text is None else str(text)))
    return Markup(re.sub(r"`([^`]+)`", r"<code>\1</code>", escaped))


def _env() -> Any:
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    env = Environment(
        loader=PackageLoader("evalaction", "report/templates"),
        autoescape=select_autoescape(enabled_extensions=("html.j2",), default_for_string=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(
        fmt=fmt,
        pct=pct,
        delta_pt=delta_pt,
        delta_in=delta_in,
        bar=bar,
        code=code_spans,
        pval=pval,
        pclause=_p_clause,
    )
    env.globals.update(DECISION_ICON=DECISION_ICON, STATUS_ICON=STATUS_ICON)
    return env


def gate_cells(g: GateResult, run: RunResult) -> tuple[str, str]:
    """The gate table's `candidate` and `vs baseline` cells for one gate."""
    from evalaction.stages.verdict import BUDGET_FIELDS

    cmp = run.compare.get(g.name) if run.compare else None
    interval = f" [{fmt(g.interval[0])}, {fmt(g.interval[1])}]" if g.interval else ""
    if g.kind == "vs_baseline":
        cand = fmt(cmp.candidate) if cmp else "n/a"
        if not g.interval:
            return cand, "—"
        label = decisive_label(cmp) if cmp else ""
        lo, hi = g.interval
        versus = (
            f"{delta_in(g.observed, g.name, lo, hi)}, {label} "
            f"[{delta_in(lo, g.name, g.observed, hi)}, {delta_in(hi, g.name, g.observed, lo)}]"
        )
        return cand, versus
    if g.kind == "vs_best_prior" and run.history is not None:
        best = run.history.best_prior_get(g.name)
        versus = (
            "—" if g.observed is None else f"{delta_in(g.observed, g.name)} vs best prior `{run.history.best}`"
        )
        if g.observed is not None and g.interval:
            versus += f" [{delta_in(g.interval[0], g.name)}, {delta_in(g.interval[1], g.name)}]"
        return (fmt(best.candidate) if best else "n/a"), versus
    if g.kind == "threshold":
        return fmt(g.observed) + interval, delta_in(cmp.delta, g.name) if cmp else "—"
    if g.kind == "budget" and g.name == "latency_ratio":
        ratio = "n/a" if g.observed is None else f"{g.observed:.2f}x"
        return ratio + (f" [{g.interval[0]:.2f}, {g.interval[1]:.2f}]" if g.interval else ""), "(ratio)"
    if g.kind == "budget" and g.observed is not None and run.readiness.baseline is not None:
        field, unit, scale, _ = BUDGET_FIELDS[g.name]
        base = getattr(run.readiness.baseline, field)
        return fmt(g.observed), "—" if base is None else f"{g.observed - float(base) * scale:+.3g} {unit}"
    flips = run.compare.flips if run.compare else None
    if g.kind == "errors" and g.observed is not None and flips is not None:
        cls = g.name[g.name.index("[") + 1 : -1] if "[" in g.name else None
        gained = flips.n_positive if cls is None else flips.per_class[cls].positive
        return fmt(g.observed), f"{fmt(g.observed)} lost / {gained} gained"
    return fmt(g.observed), "—"


def decisive_label(cmp: MetricComparison) -> str:
    """`90% CI (decides not_worse)`: the interval a gate is decided on, named so it cannot be misread."""
    _, _, level = cmp.decisive_interval
    rule = f" (decides {cmp.rule})" if cmp.rule else ""
    return f"{100 * level:.0f}% CI{rule}"


def significant_changes(run: RunResult) -> list[str]:
    """Every compared metric whose change is significant (Holm), better or worse, for the headline area."""
    if run.compare is None:
        return []
    out = []
    for c in run.compare.comparisons:
        if c.outcome not in ("better", "worse"):
            continue
        word = "better" if c.outcome == "better" else "worse"
        gate = ""
        if c.gated and c.passed:
            gate = f", within the `{c.rule}` gate"
        out.append(
            f"{c.metric} {word}: {fmt(c.baseline)} → {fmt(c.candidate)} (p {_p_clause(c.p_adjusted)}{gate})"
        )
    return out


def margin_clause(c: MetricComparison) -> str:
    """The bound the rule puts on the delta, in its direction: a lower-is-better metric (RMSE, log loss) may rise
    by at most the margin under `not_worse` (`+2.00`), a higher-is-better one fall by at most it (`-1.0 pt`)."""
    if not c.margin or c.rule is None:
        return ""
    if c.rule == "equivalent":
        return f"against the margins ±{delta_in(c.margin, c.metric).lstrip('+')}"
    worse_side = c.rule == "not_worse"
    sign = -1.0 if worse_side == c.higher_is_better else 1.0
    return f"against the margin {delta_in(sign * c.margin, c.metric)}"


def power_clause(c: MetricComparison) -> str:
    """What the gate can decide on this test set (stats/power.py), for the comparison's notes."""
    if c.detectable is None or c.rule is None:
        return ""
    d = delta_in(c.detectable if c.higher_is_better or c.rule == "equivalent" else -c.detectable, c.metric)
    if c.rule == "equivalent":
        what = f"passes with 80 % power when the true Δ is within ±{d.lstrip('+')}"
    else:
        what = f"passes with 80 % power when the true Δ is {'≥' if c.higher_is_better else '≤'} {d}"
    rows = f"; ~{c.rows_needed:,} rows decide it for a candidate equal to the baseline" if c.rows_needed else ""
    return f"{what}{rows}"


def _p_clause(p: float) -> str:
    text = pval(p)
    return text if text.startswith("<") else f"= {text}"


def data_uri(path: Path) -> str | None:
    """A PNG in the output folder as a data: URI, so report.html stays one self-contained file."""
    import base64

    if not path.is_file():
        return None
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _context(run: RunResult, run_url: str | None, out_dir: Path | None = None) -> dict[str, Any]:
    from evalaction.report.readiness_view import readiness_view

    metrics = run.metrics
    per_class_rows: list[dict[str, Any]] = []
    if metrics.baseline is not None:
        cand = metrics.candidate.per_class.get("recall", {})
        base = metrics.baseline.per_class.get("recall", {})
        for c in metrics.classes:
            b, k = base.get(c), cand.get(c)
            d = None if b is None or k is None else k - b
            per_class_rows.append(
                {"cls": c, "n": metrics.class_support.get(c, 0), "base": b, "cand": k, "delta": d}
            )
        per_class_rows.sort(key=lambda r: (r["delta"] is None, -abs(r["delta"] or 0)))
    else:
        cand = metrics.candidate.per_class.get("recall", {})
        per_class_rows = [
            {"cls": c, "n": metrics.class_support.get(c, 0), "base": None, "cand": cand.get(c), "delta": None}
            for c in metrics.classes
        ]
    max_delta = max((abs(r["delta"]) for r in per_class_rows if r["delta"] is not None), default=0.0)
    plan = run.plan.plan
    return {
        "run": run,
        "plan": plan,
        "title": plan.name or Path(run.plan.plan_path).name,
        "candidate_path": plan.models.candidate.path,
        "per_class_rows": per_class_rows,
        "max_delta": max_delta,
        "run_url": run_url,
        "total_seconds": sum(t.seconds for t in run.timings),
        "gate_cells": [gate_cells(g, run) for g in run.verdict.gates],
        "significant": significant_changes(run),
        # said once: in the next steps when a step names it, else under the summary
        "undecidable": [
            g.undecidable
            for g in run.verdict.gates
            if g.undecidable and not any(g.undecidable in step for step in run.verdict.next_steps)
        ],
        "decisive_label": decisive_label,
        "power_clause": power_clause,
        "margin_clause": margin_clause,
        "readiness": readiness_view(run.readiness),
        # errors section: PNGs referenced relative to the output folder, embedded when the folder is known
        "embed": (lambda rel: data_uri(out_dir / rel)) if out_dir is not None else (lambda rel: None),
        "detection": _detection_context(run, out_dir),
        "history": _history_context(run),
    }


def _history_context(run: RunResult) -> dict[str, Any] | None:
    from evalaction.history.view import history_view

    return history_view(run.history)


def _detection_context(run: RunResult, out_dir: Path | None) -> dict[str, Any] | None:
    if run.detection is None:
        return None
    from evalaction.detection.report import detection_context

    return detection_context(run, out_dir)


def render_markdown(run: RunResult, *, run_url: str | None = None, out_dir: Path | None = None) -> str:
    """The report as GitHub-flavoured markdown: verdict first, then why, then the evidence in <details>."""
    from evalaction.report.metrics_section import metrics_markdown

    # detection has its own section (templates/_detection.md.j2) in place of the classification metrics
    metrics_md = "" if run.detection else metrics_markdown(run.metrics, run.plan.plan.task)
    return str(
        _env().get_template("report.md.j2").render(**_context(run, run_url, out_dir), metrics_md=metrics_md)
    )


def render_html(run: RunResult, *, run_url: str | None = None, out_dir: Path | None = None) -> str:
    """The report as one self-contained HTML file (works when downloaded as an artifact): the plots and drawings
    saved under `out_dir` are embedded as data URIs."""
    from evalaction.report.metrics_section import metrics_html_context

    plots = {} if run.detection else metrics_html_context(run.metrics, run.plan.plan.task, out_dir)
    context = {**_context(run, run_url, out_dir), **plots}
    return str(_env().get_template("report.html.j2").render(**context))


def write_reports(run: RunResult, out_dir: Path, *, run_url: str | None = None) -> dict[str, Path]:
    """results.json, report.md, report.html and the gates as JUnit XML in the output folder."""
    from evalaction.report.junit import render_junit

    paths = {
        "results": out_dir / "results.json",
        "markdown": out_dir / "report.md",
        "html": out_dir / "report.html",
        "junit": out_dir / "gates.junit.xml",
    }
    paths["results"].write_text(run.model_dump_json(indent=2) + "\n", encoding="utf-8")
    paths["markdown"].write_text(render_markdown(run, run_url=run_url, out_dir=out_dir), encoding="utf-8")
    paths["html"].write_text(render_html(run, run_url=run_url, out_dir=out_dir), encoding="utf-8")
    paths["junit"].write_text(render_junit(run.verdict), encoding="utf-8")
    return paths


def load_run(out_dir: Path) -> RunResult:
    """Read a saved run back (for `evalaction report`)."""
    from evalaction.artifacts import RunResult
    from evalaction.exceptions import BadInput

    path = out_dir / "results.json"
    if not path.is_file():
        raise BadInput(f"{path}: no results.json in {out_dir}; pass the output folder of `evalaction run`")
    try:
        return RunResult.model_validate_json(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        first = str(exc).splitlines()[0]
        raise BadInput(
            f"{path}: not a results.json of this evalaction version ({first}); re-run `evalaction run`"
        ) from None

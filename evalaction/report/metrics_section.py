"""The metrics part of the reports: markdown for the PR comment (text pictures, no images) and the context the
HTML template needs (tables, and the plots as base64 data URIs, so report.html stays one self-contained file).

Pure functions of the saved results (and, for the images, of the PNGs in the output folder), so
`evalaction report out/` re-renders them without recomputing anything.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evalaction.report.textviz import (
    MetricRow,
    delta,
    fmt_delta,
    fmt_value,
    md_code,
    md_escape,
    metric_table,
    per_class_delta_table,
    value_bars,
)

if TYPE_CHECKING:
    from evalaction.artifacts import MetricsResult, ModelMetrics
    from evalaction.metrics.values import ThresholdPoint, ThresholdTuning

PER_CLASS_ROWS = 10
IN_SAMPLE_CAVEAT = (
    "Tuned on this test set itself: the gains are in-sample and optimistic; confirm a threshold on held-out data "
    "before shipping it."
)
PLOT_TITLES = {
    "confusion": "Confusion matrices (counts and row-normalised)",
    "per_class_f1": "F1 per class",
    "roc": "ROC curves",
    "pr": "Precision-recall curves",
    "reliability": "Reliability diagram",
    "residuals": "Residuals",
}


def _direction(name: str) -> tuple[bool | None, bool]:
    """(higher_is_better, value in [0, 1]) from the registry; unknown names read as plain numbers."""
    from evalaction.exceptions import BadInput
    from evalaction.metrics.registry import get_metric

    try:
        m = get_metric(name)
    except BadInput:
        return None, False
    return m.higher_is_better, m.unit_interval


def _metric_rows(metrics: MetricsResult, names: list[str]) -> list[MetricRow]:
    rows = []
    for name in names:
        higher, points = _direction(name)
        rows.append(
            MetricRow(
                name=name,
                baseline=None if metrics.baseline is None else metrics.baseline.overall.get(name),
                candidate=metrics.candidate.overall.get(name),
                higher_is_better=higher,
                points=points,
            )
        )
    return rows


def _requested(metrics: MetricsResult) -> list[str]:
    return metrics.requested or list(metrics.candidate.overall)


def _sentence(text: str) -> str:
    """One of our own messages as a markdown line: its backticks are meant, only HTML is neutralised."""
    return text.replace("<", "&lt;").replace("\n", " ")


def _caveats(metrics: MetricsResult, names: list[str]) -> list[str]:
    out = []
    for role, mm in (("candidate", metrics.candidate), ("baseline", metrics.baseline)):
        if mm is None:
            continue
        for name in names:
            if name in mm.undefined:
                out.append(f"{md_code(name)} ({role}) is undefined: {_sentence(mm.undefined[name])}")
            elif name in mm.notes:
                out.append(f"{md_code(name)} ({role}): {_sentence(mm.notes[name])}")
    if metrics.n_outside_labels:
        out.append(
            f"{metrics.n_outside_labels} test samples have labels outside the class list; they count as errors"
        )
    return out


def _point_cells(p: ThresholdPoint | None) -> str:
    if p is None:
        return "— | — | — | —"
    t = "argmax" if p.threshold is None else f"{p.threshold:.3g}"
    return f"{t} | {fmt_value(p.precision)} | {fmt_value(p.recall)} | {fmt_value(p.f1)}"


def _threshold_markdown(mm: ModelMetrics, task: str) -> list[str]:
    if not mm.thresholds:
        return []
    lines = [
        "",
        "**Threshold tuning** (candidate" + (", one-vs-rest per class" if task != "binary" else "") + ")",
        "",
        f"_{IN_SAMPLE_CAVEAT}_",
        "",
    ]
    lines += [f"- {_sentence(text)}" for text in mm.threshold_findings] or [
        "- no threshold improves on the default"
    ]
    if task == "binary":
        t = next(iter(mm.thresholds.values()))
        if t.undefined:
            return [*lines, f"- undefined: {_sentence(t.undefined)}"]
        lines += ["", "| operating point | threshold | precision | recall | F1 |", "|---|---:|---:|---:|---:|"]
        lines.append(f"| {md_escape(t.reference_label)} | {_point_cells(t.reference)} |")
        lines.append(f"| best F1 | {_point_cells(t.best_f1)} |")
        lines.append(f"| Youden's J | {_point_cells(t.youden)} |")
        if t.constraint:
            lines.append(f"| {md_escape(t.constraint)} | {_point_cells(t.constrained)} |")
            if t.constraint_note:
                lines.append(f"\n{_sentence(t.constraint_note)}")
    return lines


def _slices_markdown(metrics: MetricsResult, primary: str) -> list[str]:
    cand = metrics.candidate
    if not cand.per_slice:
        return []
    higher, points = _direction(primary)
    lines: list[str] = []
    base = metrics.baseline
    for column, values in cand.per_slice.items():
        lines += ["", f"Slice {md_code(column)} ({md_escape(primary)}):", ""]
        if base is not None:
            lines += [f"| {md_escape(column)} | n | baseline | candidate | Δ |", "|---|---:|---:|---:|---|"]
        else:
            lines += [f"| {md_escape(column)} | n | candidate |", "|---|---:|---:|"]
        for value, row in values.items():
            n = int(row.get("n") or 0)
            c = row.get(primary)
            if base is None:
                lines.append(f"| {md_code(value)} | {n:,} | {fmt_value(c)} |")
                continue
            b = base.per_slice.get(column, {}).get(value, {}).get(primary)
            d = fmt_delta(delta(b, c, points=points), points=points, higher_is_better=higher)
            lines.append(f"| {md_code(value)} | {n:,} | {fmt_value(b)} | {fmt_value(c)} | {d} |")
    if cand.worst_slices:
        lines += ["", f"Worst slices for the candidate ({md_escape(primary)} vs overall):", ""]
        lines += ["| slice | n | value | overall | short by |", "|---|---:|---:|---:|---:|"]
        for g in cand.worst_slices:
            gap = _gap_text(g.gap, points)
            lines.append(
                f"| {md_code(f'{g.column}={g.value}')} | {g.n:,} | {fmt_value(g.metric_value)} | "
                f"{fmt_value(g.overall)} | {gap} |"
            )
    return lines


def _gap_text(gap: float, points: bool) -> str:
    """How far a slice falls short, in the same units in the comment and the HTML report."""
    return f"{100 * gap:.1f} pt" if points else f"{gap:.3g}"


def metrics_markdown(metrics: MetricsResult, task: str) -> str:
    """The body of the PR comment's "Metrics" section: overall deltas, per-class deltas with text bars, caveats,
    slices and threshold findings."""
    names = _requested(metrics)
    has_base = metrics.baseline is not None
    parts = [metric_table(_metric_rows(metrics, names), baseline="baseline" if has_base else None).rstrip("\n")]
    caveats = _caveats(metrics, names)
    if caveats:
        parts.append("\n".join(f"- {c}" for c in caveats))
    cand = metrics.candidate
    if task != "regression" and "recall" in cand.per_class:
        support = {c: metrics.class_support.get(c) for c in metrics.classes}
        if metrics.baseline is not None:
            for metric in ("recall", "f1"):
                if metric in cand.per_class and metric in metrics.baseline.per_class:
                    title = f"Per-class {metric}, biggest change first:"
                    table = per_class_delta_table(
                        metric,
                        metrics.baseline.per_class[metric],
                        cand.per_class[metric],
                        support,
                        limit=PER_CLASS_ROWS,
                    )
                    parts.append(f"{title}\n\n{table.rstrip()}")
        else:
            recall = cand.per_class["recall"]
            lowest = sorted(recall, key=lambda c: (recall[c] is None, recall[c] or 0.0))[:PER_CLASS_ROWS]
            parts.append(
                "Per-class recall (candidate, lowest first):\n\n"
                + value_bars({c: recall[c] for c in lowest}).rstrip()
            )
    extra = _slices_markdown(metrics, names[0]) + _threshold_markdown(cand, task) if names else []
    if extra:
        parts.append("\n".join(extra).strip("\n"))
    if metrics.plots:
        parts.append(
            "Plots (residuals against prediction, residual distribution) are in the HTML report."
            if task == "regression"
            else "Plots (confusion matrices, curves, calibration) are in the HTML report."
        )
    return "\n\n".join(parts) + "\n"


# ------------------------------------------------------------------------------------------------------ HTML


def _data_uri(path: Path) -> str | None:
    if not path.is_file():
        return None
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def plot_images(metrics: MetricsResult, out_dir: Path | None) -> list[dict[str, str]]:
    """[{name, title, uri}] for every saved plot that is still on disk (missing files are skipped)."""
    if out_dir is None:
        return []
    images = []
    for name, rel in metrics.plots.items():
        uri = _data_uri(out_dir / rel)
        if uri is not None:
            images.append({"name": name, "title": PLOT_TITLES.get(name, name), "uri": uri})
    return images


def _fmt_delta_html(name: str, base: float | None, cand: float | None) -> dict[str, Any]:
    higher, points = _direction(name)
    d = delta(base, cand, points=points)
    text = fmt_delta(d, points=points, higher_is_better=higher).replace("**", "")
    worse = d is not None and higher is not None and abs(d) > 0 and (d < 0) == higher and not text.startswith("=")
    return {"text": text, "worse": worse}


def _overall_value(name: str, value: float | None) -> str:
    """An overall value as the comment writes it: 3 decimals for rates, 4 otherwise, counts as integers."""
    if value is not None and name == "support":
        return f"{int(round(value)):,}"
    return fmt_value(value, digits=3 if _direction(name)[1] else 4)


def metrics_html_context(metrics: MetricsResult, task: str, out_dir: Path | None) -> dict[str, Any]:
    """What `_metrics.html.j2` reads: rows of the overall and per-class tables, thresholds, images."""
    cand, base = metrics.candidate, metrics.baseline
    requested = _requested(metrics)
    overall = []
    for name in requested + [n for n in cand.overall if n not in requested]:
        b = None if base is None else base.overall.get(name)
        c = cand.overall.get(name)
        why = cand.undefined.get(name) or cand.notes.get(name) or ""
        overall.append(
            {
                "name": name,
                "requested": name in requested,
                "base": b,
                "cand": c,
                "base_text": _overall_value(name, b),
                "cand_text": _overall_value(name, c),
                "delta": _fmt_delta_html(name, b, c),
                "why": why,
            }
        )
    per_class_metrics = [m for m in ("precision", "recall", "f1", "roc_auc") if m in cand.per_class]
    per_class = []
    for cls in metrics.classes:
        row: dict[str, Any] = {"cls": cls, "n": metrics.class_support.get(cls), "cells": []}
        for m in per_class_metrics:
            bv = None if base is None else base.per_class.get(m, {}).get(cls)
            cv = cand.per_class[m].get(cls)
            row["cells"].append({"base": bv, "cand": cv, "delta": _fmt_delta_html(m, bv, cv)})
        per_class.append(row)
    tunings: list[ThresholdTuning] = list(cand.thresholds.values())
    return {
        "mx": {
            "overall": overall,
            "per_class_metrics": per_class_metrics,
            "per_class": per_class,
            "has_baseline": base is not None,
            "images": plot_images(metrics, out_dir),
            "worst_slices": [
                {"g": g, "gap": _gap_text(g.gap, _direction(requested[0])[1] if requested else True)}
                for g in cand.worst_slices
            ],
            "in_sample_caveat": IN_SAMPLE_CAVEAT,
            "primary": requested[0] if requested else None,
            "slices": cand.per_slice,
            "findings": cand.threshold_findings,
            "tunings": tunings,
            "binary": task == "binary",
            "n_outside": metrics.n_outside_labels,
        }
    }

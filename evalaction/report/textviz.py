"""Pictures made of text for the PR comment, which cannot show hosted images: markdown tables with deltas and
arrows, per-class deltas sorted by size, and small bars drawn with block characters.

Pure string functions; no numpy, no I/O. Values in [0, 1] (accuracy, recall, ...) show their differences in
percentage points ("+0.8 pt"); other values (log loss, MAE) show plain differences. The arrow says better (▲) or
worse (▼) for the metric's direction, the sign the raw change: log loss falling 0.02 is `▲ −0.02`. Bars are plain
text, not code spans, which GitHub draws as dark boxes around the block characters.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

UP = "▲"
DOWN = "▼"
SAME = "="
FULL = "▇"
WORSE = "▇"
BETTER = "▃"
# Eighths of a block cell's height; the last character of a bar carries the fractional part.
PARTIAL = ("", "▁", "▂", "▃", "▄", "▅", "▆", "▇")
NA = "n/a"
# Deltas smaller than this (in points, or in raw units for raw metrics) count as unchanged.
EPSILON_POINTS = 0.05


def md_escape(text: str) -> str:
    """Escape what would break a markdown table cell or inject markup: pipes, backticks, angle brackets."""
    return (
        str(text)
        .replace("\\", "\\\\")
        .replace("|", "\\|")
        .replace("`", "\\`")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace("\n", " ")
    )


def md_code(text: str) -> str:
    """`text` as an inline code span in a table cell: a backtick cannot be escaped inside one, so it becomes
    a quote; a pipe still needs its backslash (GitHub splits cells before it parses code spans)."""
    return "`" + str(text).replace("`", "'").replace("|", "\\|").replace("\n", " ") + "`"


def fmt_value(value: float | None, *, digits: int = 3) -> str:
    """A metric value with `digits` decimals, or n/a."""
    if value is None or not math.isfinite(value):
        return NA
    return f"{value:.{digits}f}"


def delta(base: float | None, cand: float | None, *, points: bool = True) -> float | None:
    """cand - base, in percentage points when `points`; None when either side is undefined."""
    if base is None or cand is None or not (math.isfinite(base) and math.isfinite(cand)):
        return None
    return (cand - base) * (100.0 if points else 1.0)


def fmt_delta(d: float | None, *, points: bool = True, higher_is_better: bool | None = True) -> str:
    """`▲ +0.8 pt`, `▼ −6.1 pt` (bold when it is a change for the worse), `= 0.0 pt`, or n/a."""
    if d is None:
        return NA
    unit = " pt" if points else ""
    number = f"{abs(d):.1f}" if points else f"{abs(d):.3g}"
    if abs(d) < (EPSILON_POINTS if points else 1e-12):
        return f"{SAME} 0.0{unit}" if points else f"{SAME} 0"
    sign = "+" if d > 0 else "−"
    worse = higher_is_better is not None and (d < 0) == higher_is_better
    up = d > 0 if higher_is_better is None else not worse
    text = f"{UP if up else DOWN} {sign}{number}{unit}"
    return f"**{text}**" if worse else text


def text_bar(length: float, *, max_cells: int = 20, full: str = FULL) -> str:
    """A bar of `length` cells: whole cells of `full`, the fraction as a partial-height block (▇▇▇▃ = 3.4).

    Longer bars are cut at `max_cells` and end with `…`.
    """
    if length is None or not math.isfinite(length) or length <= 0:
        return ""
    if length > max_cells:
        return full * (max_cells - 1) + "…"
    whole = int(length)
    eighths = int(round((length - whole) * 8))
    if eighths == 8:
        whole, eighths = whole + 1, 0
    return full * whole + PARTIAL[eighths]


def delta_bar(d: float | None, *, higher_is_better: bool | None = True, max_cells: int = 20) -> str:
    """One cell per whole point of |Δ| (rounded): `▇` for a change for the worse, `▃` for the better (or for a
    metric without a direction)."""
    if d is None or not math.isfinite(d):
        return ""
    cells = int(abs(d) + 0.5)  # half up, not banker's rounding
    worse = higher_is_better is not None and (d < 0) == higher_is_better
    return text_bar(cells, max_cells=max_cells, full=WORSE if worse else BETTER)


@dataclass(frozen=True)
class MetricRow:
    """One row of the overall table."""

    name: str
    baseline: float | None
    candidate: float | None
    higher_is_better: bool | None = True
    points: bool = True  # value in [0, 1]: show the delta in percentage points


def metric_table(
    rows: Sequence[MetricRow], *, baseline: str | None = "baseline", candidate: str = "candidate"
) -> str:
    """| metric | baseline | candidate | Δ | with arrows; changes for the worse in bold.

    `baseline=None` (no baseline to compare with) gives | metric | candidate |.
    """
    if baseline is None:
        lines = [f"| metric | {md_escape(candidate)} |", "|---|---:|"]
        for r in rows:
            lines.append(f"| {md_escape(r.name)} | {fmt_value(r.candidate, digits=3 if r.points else 4)} |")
        return "\n".join(lines) + "\n"
    lines = [f"| metric | {md_escape(baseline)} | {md_escape(candidate)} | Δ |", "|---|---:|---:|---|"]
    for r in rows:
        d = delta(r.baseline, r.candidate, points=r.points)
        digits = 3 if r.points else 4
        lines.append(
            f"| {md_escape(r.name)} | {fmt_value(r.baseline, digits=digits)} | "
            f"{fmt_value(r.candidate, digits=digits)} | "
            f"{fmt_delta(d, points=r.points, higher_is_better=r.higher_is_better)} |"
        )
    return "\n".join(lines) + "\n"


def per_class_delta_table(
    metric: str,
    baseline: Mapping[str, float | None],
    candidate: Mapping[str, float | None],
    support: Mapping[str, float | int | None] | None = None,
    *,
    limit: int | None = None,
    higher_is_better: bool = True,
) -> str:
    """Per-class `metric` base → cand with Δ in points, biggest change first, and a `delta_bar`.

    Undefined deltas sort last.

    When `limit` cuts rows, a last line says how many were left out.
    """
    classes = list(dict.fromkeys([*baseline, *candidate]))
    deltas = {c: delta(baseline.get(c), candidate.get(c)) for c in classes}
    # Largest |Δ| first; ties and undefined keep the class order, so the output is deterministic.
    order = sorted(classes, key=lambda c: (deltas[c] is None, -abs(deltas[c] or 0.0), classes.index(c)))
    shown = order if limit is None else order[:limit]
    head = "| class | n |" if support is not None else "| class |"
    rule = "|---|---:|" if support is not None else "|---|"
    lines = [f"{head} {md_escape(metric)} base → cand | Δ | |", f"{rule}---|---:|---|"]
    for c in shown:
        d = deltas[c]
        bar = delta_bar(d, higher_is_better=higher_is_better)
        n = ""
        if support is not None:
            s = support.get(c)
            n = f" {NA if s is None else f'{int(s):,}'} |"
        lines.append(
            f"| {md_code(c)} |{n} {fmt_value(baseline.get(c))} → {fmt_value(candidate.get(c))} | "
            f"{fmt_delta(d, higher_is_better=higher_is_better)} | {bar} |"
        )
    if limit is not None and len(order) > limit:
        rest = len(order) - limit
        lines.append(f"\n{rest} more {'class' if rest == 1 else 'classes'} not shown; the HTML report lists all.")
    return "\n".join(lines) + "\n"


def value_bars(values: Mapping[str, float | None], *, width: int = 20, lo: float = 0.0, hi: float = 1.0) -> str:
    """A table of bars, one per label, scaled so that `hi` fills `width` cells (e.g. per-class recall)."""
    lines = ["| | value | |", "|---|---:|---|"]
    span = hi - lo if hi > lo else 1.0
    for label, v in values.items():
        cells = 0.0 if v is None else max(0.0, min(1.0, (v - lo) / span)) * width
        bar = text_bar(cells, max_cells=width + 1)
        lines.append(f"| {md_code(label)} | {fmt_value(v)} | {bar} |")
    return "\n".join(lines) + "\n"

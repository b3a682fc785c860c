"""What the report shows of the history: a headline, the trend table's rows and the Mermaid chart's series."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from evalaction.artifacts import HistoryResult


def _plain(x: float | None) -> str:
    """A number as Mermaid's xychart reads it: plain decimals, no exponent (`0.000001`, not `1e-06`)."""
    if x is None:
        return "0"
    text = f"{float(x):.6f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def _label(text: str) -> str:
    # a Mermaid string cannot hold a double quote
    return text.replace('"', "'")


def history_view(history: HistoryResult | None) -> dict[str, Any] | None:
    """The template context of `_history.md.j2` / `_history.html.j2`; None without a history."""
    if history is None:
        return None
    from evalaction.report.render import _is_rate, delta_in, fmt

    points = _is_rate(history.primary)  # a rate: differences in percentage points, the chart inside [0, 1]

    def delta(v: float | None) -> str:
        return delta_in(v, history.primary)

    def interval(ci: tuple[float, float] | None, d: bool = False) -> str:
        if ci is None:
            return ""
        f = delta if d else fmt
        return f"[{f(ci[0])}, {f(ci[1])}]"

    rows = []
    for v in history.versions:
        c = v.comparison
        rows.append(
            {
                "label": v.label,
                "date": v.date[:10],
                "subject": v.subject[:60],
                "value": fmt(v.primary),
                "ci": interval(v.primary_ci),
                "delta": delta(c.delta) if c else "n/a",
                "delta_ci": interval((c.ci_low, c.ci_high), d=True) if c else "",
                "outcome": c.outcome if c else "",
                "best": v.label == history.best,
                "cached": v.cached,
                "error": v.error,
            }
        )
    scored = history.scored
    if history.candidate_is_best is None:
        headline = "no prior version could be scored, so there is no trend yet"
    elif history.candidate_is_best:
        lead = ""
        if history.best is not None:
            best = next(v for v in scored if v.label == history.best)
            gain = (history.candidate_primary or 0.0) - (best.primary or 0.0)
            lead = f" ({delta(gain)} on the best prior version `{history.best}`)"
        headline = f"the candidate is the best so far on {history.primary}{lead}"
    else:
        behind = delta(history.trails_best_by).lstrip("+")
        headline = f"the candidate trails the best prior version `{history.best}` by {behind} on {history.primary}"
    chart_labels = [_label(v.label) for v in scored] + ["candidate"]
    values = [v.primary for v in scored] + [history.candidate_primary]
    finite = [float(x) for x in values if x is not None]
    span = (max(finite) - min(finite)) if finite else 0.0
    pad = max(span * 0.2, 0.005 if points else abs(max(finite, default=1.0)) * 0.01 or 0.01)
    low = min(finite, default=0.0) - pad
    high = max(finite, default=1.0) + pad
    if min(finite, default=0.0) >= 0:
        low = max(0.0, low)  # a metric that never goes negative keeps its axis at or above 0
    if points:
        low, high = max(0.0, low), min(1.0, high)
    n = len(history.versions)
    cache = (
        f"{n} prior version(s) of `{history.path}` on `{history.ref}` ({history.source}): "
        f"{history.cache_misses} scored in this run, {history.cache_hits} from the cache"
    )
    return {
        "headline": headline,
        "rows": rows,
        "candidate": {
            "value": fmt(history.candidate_primary),
            "ci": interval(history.candidate_ci),
        },
        "chart": {
            "x": json.dumps(chart_labels, ensure_ascii=False),
            "line": "[" + ", ".join(_plain(x) for x in values) + "]",
            "low": _plain(low),
            "high": _plain(high),
        }
        if scored and history.candidate_primary is not None
        else None,
        "cache": cache,
        "best_prior": history.best_prior,
        "delta": delta,
    }

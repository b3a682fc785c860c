"""The trend as a PNG for report.html: each prior version's primary metric with its interval, then the candidate."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from evalaction.artifacts import HistoryResult


def draw_trend(history: HistoryResult, path: Path) -> Path:
    """Primary metric by version (oldest left), intervals as error bars, the best prior as a dashed line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = [(v.label, v.primary, v.primary_ci) for v in history.scored]
    if history.candidate_primary is not None:
        points.append(("candidate", history.candidate_primary, history.candidate_ci))
    labels = [p[0] for p in points]
    values = [float(p[1] or 0.0) for p in points]
    lows = [v - (p[2][0] if p[2] else v) for v, p in zip(values, points, strict=True)]
    highs = [(p[2][1] if p[2] else v) - v for v, p in zip(values, points, strict=True)]
    fig, ax = plt.subplots(figsize=(max(4.0, 0.9 * len(points) + 1.5), 3.0), dpi=100)
    try:
        xs = list(range(len(points)))
        ax.plot(xs, values, color="#4c72b0", linewidth=1.5, zorder=1)
        ax.errorbar(xs, values, yerr=[lows, highs], fmt="none", ecolor="#4c72b0", alpha=0.5, capsize=3)
        colours = ["#4c72b0"] * len(points)
        if history.candidate_primary is not None:
            colours[-1] = "#2ca02c" if history.candidate_is_best else "#d62728"
        ax.scatter(xs, values, c=colours, s=36, zorder=2)
        best = next((v.primary for v in history.versions if v.label == history.best), None)
        if best is not None:
            ax.axhline(best, color="#999999", linestyle="--", linewidth=1, label=f"best prior ({history.best})")
            ax.legend(loc="best", fontsize=8, frameon=False)
        ax.set_xticks(xs, labels, rotation=30, ha="right", fontsize=8)
        ax.set_ylabel(history.primary)
        ax.set_title(f"{history.primary} by version, on today's test set", fontsize=10)
        ax.grid(axis="y", alpha=0.3)
        fig.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path)
    finally:
        plt.close(fig)
    return path

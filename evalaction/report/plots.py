"""PNG plots for the HTML report: each function draws one figure, writes it to `path` and returns the path.

matplotlib is imported inside the functions (it costs ~0.3 s) and drawn through the object API with the Agg
canvas, never pyplot, so there is no global figure state and no display backend. Files are deterministic:
fixed sizes and dpi, and the PNG `Software` tag (which carries the matplotlib version) is dropped.

Speed: text is what matplotlib draws slowest, so margins are fixed by hand (a layout engine draws every text
twice), panels share their axes and tick labels, and confusion matrices annotate only the cells that matter.

Models are passed as an ordered mapping label -> data, normally {"baseline": ..., "candidate": ...}; one
model alone works too.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from evalaction.metrics.curves import (
    BinaryCurve,
    average_precision_from_curve,
    binary_curve,
    calibration_bins,
    roc_auc_from_curve,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

DPI = 100
MAX_CURVE_POINTS = 400
MAX_SCATTER_POINTS = 4000
MAX_CLASS_PANELS = 12
MAX_ANNOTATED_CLASSES = 15
_COLORS = {"baseline": "#8c8c8c", "candidate": "#1f77b4"}
_OTHER_COLORS = ("#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b")


def _color(label: str, i: int) -> str:
    return _COLORS.get(label, _OTHER_COLORS[i % len(_OTHER_COLORS)])


def _figure(width: float, height: float) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=DPI)


def _save(fig: Figure, path: str | Path) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(fig)
    fig.savefig(out, format="png", dpi=DPI, metadata={"Software": None})
    return out


def _short(name: str, width: int = 12) -> str:
    return name if len(name) <= width else name[: width - 1] + "…"


def _thin(n: int, limit: int) -> np.ndarray:
    """Evenly spaced indices keeping the first and last point."""
    if n <= limit:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, limit).round().astype(np.int64))


def confusion_matrices(path: str | Path, matrices: Mapping[str, np.ndarray], classes: Sequence[str]) -> Path:
    """Counts and row-normalised confusion matrices, one row of panels per model (rows = true class).

    Both panels print every non-zero cell (up to 15 classes), so an off-diagonal confusion such as 0.40 of
    one class predicted as another is read, not guessed from a shade.
    """
    k = len(classes)
    side = min(2.2 + 0.32 * k, 7.0)
    rows = len(matrices)
    fig = _figure(2 * side + 0.8, side * rows + 0.2)
    axes = fig.subplots(
        rows,
        2,
        squeeze=False,
        gridspec_kw={
            "left": 0.12,
            "right": 0.98,
            "bottom": 0.9 / (side * rows),
            "top": 1 - 0.45 / (side * rows),
            "wspace": 0.25,
            "hspace": 0.35,
        },
    )
    ticks = [_short(c, 8) for c in classes]
    annotate = k <= MAX_ANNOTATED_CLASSES
    for row, (label, cm) in enumerate(matrices.items()):
        cm = np.asarray(cm, dtype=np.float64)
        totals = cm.sum(axis=1, keepdims=True)
        norm = np.divide(cm, totals, out=np.zeros_like(cm), where=totals > 0)
        for col, (data, kind) in enumerate(((cm, "counts"), (norm, "row-normalised"))):
            ax = axes[row][col]
            vmax = 1.0 if col else max(float(data.max()), 1.0)
            ax.imshow(data, cmap="Blues", vmin=0.0, vmax=vmax, interpolation="nearest", aspect="auto")
            ax.set_title(f"{label}: {kind}", fontsize=10)
            ax.set_xticks(range(k), ticks, rotation=90 if k > 6 else 0, fontsize=7)
            ax.set_yticks(range(k), ticks if col == 0 else [], fontsize=7)
            if row == rows - 1:
                ax.set_xlabel("predicted", fontsize=8)
            if col == 0:
                ax.set_ylabel("true", fontsize=8)
            if not annotate:
                continue
            for i, j in zip(*np.nonzero(cm), strict=True):
                text = f"{int(data[i, j])}" if col == 0 else f"{data[i, j]:.2f}"
                ax.text(
                    j,
                    i,
                    text,
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if data[i, j] > 0.55 * vmax else "black",
                )
    return _save(fig, path)


def _curves_per_class(
    y_true: np.ndarray, scores: Mapping[str, np.ndarray], classes: Sequence[str]
) -> tuple[list[int], dict[str, dict[int, BinaryCurve]]]:
    """Which classes get a panel (binary: only the positive one) and their curves for each model."""
    y_true = np.asarray(y_true)
    k = len(classes)
    candidates = [c for c in range(k) if 0 < np.count_nonzero(y_true == c) < y_true.size]
    if k == 2:
        candidates = [1] if 1 in candidates else []
    curves = {
        label: {c: binary_curve(y_true == c, np.asarray(s)[:, c]) for c in candidates}
        for label, s in scores.items()
    }
    if len(candidates) > MAX_CLASS_PANELS:
        # The classes where the last model (normally the candidate) is weakest are the ones worth a look.
        last = curves[list(curves)[-1]]
        candidates = sorted(candidates, key=lambda c: (roc_auc_from_curve(last[c]), c))[:MAX_CLASS_PANELS]
        candidates.sort()
    return candidates, curves


def _panel_grid(n: int) -> tuple[Figure, list[Axes]]:
    """n square panels (up to 4 a row) sharing both axes on [0, 1]; tick labels on the outer panels only."""
    cols = min(4, max(n, 1))
    rows = max(1, math.ceil(n / cols))
    size = 5.0 if n <= 1 else 3.0
    fig = _figure(size * cols + 0.6, size * rows + 0.6)
    axes = list(
        fig.subplots(
            rows,
            cols,
            squeeze=False,
            sharex=True,
            sharey=True,
            gridspec_kw={
                "left": 0.5 / (size * cols),
                "right": 0.98,
                "bottom": 0.45 / (size * rows + 0.6),
                "top": 1 - 0.75 / (size * rows + 0.6),
                "wspace": 0.08,
                "hspace": 0.18,
            },
        ).ravel()
    )
    for ax in axes:
        # a little room past [0, 1]: a perfect curve (AUC 1) runs along x = 0 and y = 1, under the frame
        ax.set_xlim(-0.02, 1.02)
        ax.set_ylim(-0.02, 1.03)
        ax.set_xticks([0, 0.5, 1])
        ax.set_yticks([0, 0.5, 1])
        ax.tick_params(labelsize=7)
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig, axes


def _outer_labels(axes: list[Axes], n: int, xlabel: str, ylabel: str) -> None:
    """Axis labels on the lowest panel of each column and on the first column only."""
    cols = min(4, max(n, 1))
    for i, ax in enumerate(axes[:n]):
        if i + cols >= n:
            ax.set_xlabel(xlabel, fontsize=8)
            ax.xaxis.set_tick_params(labelbottom=True)
        if i % cols == 0:
            ax.set_ylabel(ylabel, fontsize=8)


def _empty(path: str | Path, message: str) -> Path:
    fig = _figure(5.0, 1.2)
    ax = fig.subplots(gridspec_kw={"left": 0, "right": 1, "bottom": 0, "top": 1})
    ax.axis("off")
    ax.text(0.5, 0.5, message, ha="center", va="center", fontsize=10)
    return _save(fig, path)


def _title(classes: Sequence[str], shown: list[int], what: str) -> str | None:
    if len(classes) == 2:
        return None
    if len(shown) < len(classes):
        return f"{what}, one-vs-rest: {len(shown)} of {len(classes)} classes (lowest candidate AUC)"
    return f"{what}, one-vs-rest per class"


def roc_curves(
    path: str | Path, y_true: np.ndarray, scores: Mapping[str, np.ndarray], classes: Sequence[str]
) -> Path:
    """ROC curves, every model on the same axis (multiclass: one panel per class, one-vs-rest)."""
    shown, curves = _curves_per_class(y_true, scores, classes)
    if not shown:
        return _empty(path, "ROC curve undefined: the test set has a single class")
    fig, axes = _panel_grid(len(shown))
    for ax, c in zip(axes, shown, strict=False):
        ax.plot([0, 1], [0, 1], color="#cccccc", linewidth=0.8, linestyle="--")
        for i, (label, per_class) in enumerate(curves.items()):
            cv = per_class[c]
            fpr = np.r_[0.0, cv.fps / cv.n_neg]
            tpr = np.r_[0.0, cv.tps / cv.n_pos]
            keep = _thin(fpr.size, MAX_CURVE_POINTS)
            auc = roc_auc_from_curve(cv)
            ax.plot(
                fpr[keep],
                tpr[keep],
                color=_color(label, i),
                linewidth=1.6 + 0.8 * (len(curves) - 1 - i),  # the first model drawn wider: equal curves both show
                label=f"{label} AUC {auc:.3f}",
                zorder=3 + i,
                clip_on=False,
            )
        ax.set_title(
            f"{_short(classes[c], 20)}" if len(classes) > 2 else f"ROC, positive = {classes[c]}", fontsize=9
        )
        ax.legend(loc="lower right", fontsize=7)
    _outer_labels(axes, len(shown), "false-positive rate", "true-positive rate")
    title = _title(classes, shown, "ROC")
    if title:
        fig.suptitle(title, fontsize=11)
    return _save(fig, path)


def pr_curves(
    path: str | Path, y_true: np.ndarray, scores: Mapping[str, np.ndarray], classes: Sequence[str]
) -> Path:
    """Precision-recall curves, every model on the same axis, AP in the legend (multiclass: per class)."""
    shown, curves = _curves_per_class(y_true, scores, classes)
    if not shown:
        return _empty(path, "PR curve undefined: the test set has a single class")
    fig, axes = _panel_grid(len(shown))
    for ax, c in zip(axes, shown, strict=False):
        for i, (label, per_class) in enumerate(curves.items()):
            cv = per_class[c]
            recall = np.r_[0.0, cv.tps / cv.n_pos]
            precision = np.r_[1.0, cv.precision]
            keep = _thin(recall.size, MAX_CURVE_POINTS)
            ap = average_precision_from_curve(cv)
            ax.step(
                recall[keep],
                precision[keep],
                where="post",
                color=_color(label, i),
                linewidth=1.6 + 0.8 * (len(curves) - 1 - i),
                label=f"{label} AP {ap:.3f}",
                zorder=3 + i,
                clip_on=False,
            )
        prevalence = curves[list(curves)[0]][c].n_pos / np.asarray(y_true).size
        ax.axhline(prevalence, color="#cccccc", linewidth=0.8, linestyle="--")
        ax.set_title(
            f"{_short(classes[c], 20)}" if len(classes) > 2 else f"PR, positive = {classes[c]}", fontsize=9
        )
        ax.legend(loc="lower left", fontsize=7)
    _outer_labels(axes, len(shown), "recall", "precision")
    title = _title(classes, shown, "Precision-recall")
    if title:
        fig.suptitle(title, fontsize=11)
    return _save(fig, path)


def reliability_diagram(
    path: str | Path,
    task: str,
    y_true: np.ndarray,
    scores: Mapping[str, np.ndarray],
    *,
    n_bins: int = 15,
    positive: str | None = None,
) -> Path:
    """Observed frequency vs mean confidence per bin for every model, with ECE, and the bin counts below.

    Binary: P(`positive`) against the observed share of `positive`, named on the axes and in the title."""
    from evalaction.metrics.registry import calibration_inputs

    fig = _figure(6.0, 6.5)
    top, bottom = fig.subplots(
        2,
        1,
        height_ratios=[3, 1],
        sharex=True,
        gridspec_kw={"left": 0.13, "right": 0.97, "bottom": 0.09, "top": 0.94, "hspace": 0.08},
    )
    top.plot([0, 1], [0, 1], color="#cccccc", linewidth=0.8, linestyle="--", label="perfectly calibrated")
    width = 1.0 / n_bins / max(len(scores), 1)
    for i, (label, s) in enumerate(scores.items()):
        conf, outcome = calibration_inputs(task, np.asarray(y_true), np.asarray(s, dtype=np.float64))  # type: ignore[arg-type]
        bins = calibration_bins(conf, outcome, n_bins)
        filled = bins.count > 0
        top.plot(
            bins.confidence[filled],
            bins.observed[filled],
            marker="o",
            markersize=3.5,
            linewidth=1.4,
            color=_color(label, i),
            label=f"{label} ECE {bins.ece():.3f}",
        )
        bottom.bar(bins.edges[:-1] + i * width, bins.count, width=width, align="edge", color=_color(label, i))
    name = f"`{positive}`" if positive else "positive"
    what = f"fraction {name}" if task == "binary" else "accuracy"
    top.set_ylabel(f"observed {what}", fontsize=9)
    top.set_xlim(0, 1)
    top.set_ylim(0, 1.01)
    top.legend(loc="upper left", fontsize=8)
    top.set_title(
        "Reliability diagram" + (" (top-label confidence)" if task != "binary" else f" (positive class {name})"),
        fontsize=11,
    )
    bottom.set_xlabel(f"predicted P({name})" if task == "binary" else "confidence", fontsize=9)
    bottom.set_ylabel("samples", fontsize=9)
    return _save(fig, path)


def per_class_bars(
    path: str | Path,
    values: Mapping[str, Mapping[str, float | None]],
    classes: Sequence[str],
    *,
    metric: str = "F1",
) -> Path:
    """Grouped bars of a per-class metric, one bar per model; undefined values are marked n/a."""
    k = len(classes)
    rotate = k > 8
    width_in = min(max(6.0, 0.55 * k * max(len(values), 1) + 1.5), 20.0)
    fig = _figure(width_in, 4.5 if rotate else 4.0)
    # margins in inches: the y label and its ticks need ~0.75 in whatever the width; legend above the axes
    ax = fig.subplots(
        gridspec_kw={"left": 0.75 / width_in, "right": 0.98, "bottom": 0.26 if rotate else 0.12, "top": 0.86}
    )
    width = 0.8 / max(len(values), 1)
    x = np.arange(k)
    for i, (label, per_class) in enumerate(values.items()):
        heights = [per_class.get(c) for c in classes]
        ax.bar(
            x + (i - (len(values) - 1) / 2) * width,
            [h if h is not None else 0.0 for h in heights],
            width=width,
            color=_color(label, i),
            label=label,
        )
        for j, h in enumerate(heights):
            if h is None:
                ax.text(
                    x[j] + (i - (len(values) - 1) / 2) * width,
                    0.02,
                    "n/a",
                    rotation=90,
                    fontsize=6,
                    ha="center",
                    va="bottom",
                )
    ax.set_xticks(
        x, [_short(c) for c in classes], rotation=45 if rotate else 0, ha="right" if rotate else "center"
    )
    ax.set_ylim(0, 1.05)
    ax.set_ylabel(metric)
    ax.set_title(f"{metric} per class", fontsize=11, loc="left")
    ax.legend(fontsize=8, loc="lower right", bbox_to_anchor=(1.0, 1.0), ncol=max(len(values), 1), frameon=False)
    ax.grid(axis="y", color="#eeeeee")
    ax.set_axisbelow(True)
    return _save(fig, path)


def residual_plots(path: str | Path, y_true: np.ndarray, preds: Mapping[str, np.ndarray]) -> Path:
    """Residual (y_true - y_pred) against prediction, and the residual histogram, for every model."""
    y = np.asarray(y_true, dtype=np.float64)
    fig = _figure(11.0, 4.2)
    scatter, hist = fig.subplots(
        1, 2, gridspec_kw={"left": 0.07, "right": 0.98, "bottom": 0.13, "top": 0.92, "wspace": 0.22}
    )
    keep = _thin(y.size, MAX_SCATTER_POINTS)
    residuals = {label: y - np.asarray(p, dtype=np.float64) for label, p in preds.items()}
    everything = np.concatenate(list(residuals.values()))
    lo, hi = (float(everything.min()), float(everything.max())) if everything.size else (0.0, 1.0)
    edges = np.linspace(lo, hi if hi > lo else lo + 1.0, 41)
    for i, (label, r) in enumerate(residuals.items()):
        p = np.asarray(preds[label], dtype=np.float64)
        style: dict[str, Any] = {"color": _color(label, i)}
        scatter.scatter(p[keep], r[keep], s=4, alpha=0.4, label=label, linewidths=0, **style)
        hist.hist(
            r,
            bins=edges,
            histtype="step",
            linewidth=1.4,
            label=f"{label} (MAE {np.mean(np.abs(r)):.3g})",
            **style,
        )
    scatter.axhline(0.0, color="#999999", linewidth=0.8)
    scatter.set_xlabel("predicted")
    scatter.set_ylabel("residual (true - predicted)")
    scatter.set_title("Residual vs predicted" + (f" ({keep.size} of {y.size})" if keep.size < y.size else ""))
    scatter.legend(fontsize=8)
    hist.set_xlabel("residual (true - predicted)")
    hist.set_ylabel("samples")
    hist.set_title("Residual distribution")
    hist.legend(fontsize=8)
    return _save(fig, path)


def predicted_vs_actual(
    path: str | Path, y_true: np.ndarray, preds: Mapping[str, np.ndarray], marked: Sequence[int] | np.ndarray = ()
) -> Path:
    """Predicted against actual for every model, the y = x line, and the `marked` rows (largest residuals)
    circled on the candidate's points."""
    y = np.asarray(y_true, dtype=np.float64)
    fig = _figure(5.6, 5.0)
    ax = fig.add_axes((0.14, 0.11, 0.82, 0.82))
    keep = _thin(y.size, MAX_SCATTER_POINTS)
    values = [y, *(np.asarray(p, dtype=np.float64) for p in preds.values())]
    lo = float(min(v.min() for v in values)) if y.size else 0.0
    hi = float(max(v.max() for v in values)) if y.size else 1.0
    ax.plot([lo, hi], [lo, hi], color="#999999", linewidth=0.8, label="predicted = actual")
    for i, (label, p) in enumerate(preds.items()):
        p = np.asarray(p, dtype=np.float64)
        ax.scatter(y[keep], p[keep], s=6, alpha=0.5, linewidths=0, color=_color(label, i), label=label)
    if len(marked) and "candidate" in preds:
        m = np.asarray(list(marked), dtype=np.int64)
        cand = np.asarray(preds["candidate"], dtype=np.float64)
        ax.scatter(
            y[m],
            cand[m],
            s=40,
            facecolors="none",
            edgecolors="#cf222e",
            linewidths=1.0,
            label=f"largest residuals ({m.size})",
        )
    ax.set_xlabel("actual")
    ax.set_ylabel("predicted")
    ax.set_title("Predicted vs actual" + (f" ({keep.size} of {y.size})" if keep.size < y.size else ""))
    ax.legend(fontsize=8)
    return _save(fig, path)

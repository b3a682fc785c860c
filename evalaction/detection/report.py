"""What the report's detection section shows (templates/_detection.md.j2 and _detection.html.j2): the COCO
numbers side by side, per-class AP deltas, TIDE's error shares, the operating point, the worst images (embedded
in the HTML as data URIs when their PNGs are in the output folder), and per-class PR curves as inline SVG.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from evalaction.artifacts import RunResult

STAT_LABELS = {
    "map": "mAP@[.5:.95]",
    "map_50": "mAP@.5",
    "map_75": "mAP@.75",
    "map_small": "mAP small",
    "map_medium": "mAP medium",
    "map_large": "mAP large",
    "ar_1": "AR@1",
    "ar_10": "AR@10",
    "ar_100": "AR@100",
    "ar_small": "AR small",
    "ar_medium": "AR medium",
    "ar_large": "AR large",
}


def _delta(cand: float | None, base: float | None) -> float | None:
    return None if cand is None or base is None else cand - base


def pr_svg(cand: list[float], base: list[float] | None, *, width: int = 200, height: int = 150) -> str:
    """A precision-recall curve (precision at recall 0..1 in steps of 0.01) as a small inline SVG."""
    pad = 24
    w, h = width - pad - 6, height - pad - 6

    def points(curve: list[float]) -> str:
        n = len(curve) - 1
        return " ".join(f"{pad + w * i / n:.1f},{6 + h * (1 - p):.1f}" for i, p in enumerate(curve))

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img">',
        f'<rect x="{pad}" y="6" width="{w}" height="{h}" fill="none" stroke="#d0d7de"/>',
        f'<text x="{pad + w / 2}" y="{height - 4}" font-size="10" text-anchor="middle">recall</text>',
        f'<text x="10" y="{6 + h / 2}" font-size="10" text-anchor="middle" '
        f'transform="rotate(-90 10 {6 + h / 2})">precision</text>',
    ]
    if base is not None:
        parts.append(
            f'<polyline fill="none" stroke="#8c959f" stroke-dasharray="4 2" stroke-width="1.5" '
            f'points="{points(base)}"/>'
        )
    parts.append(f'<polyline fill="none" stroke="#0969da" stroke-width="2" points="{points(cand)}"/>')
    parts.append("</svg>")
    return "".join(parts)


def _image_src(out_dir: Path | None, rel: str | None) -> str | None:
    if rel is None:
        return None
    if out_dir is not None and (out_dir / rel).is_file():
        data = base64.b64encode((out_dir / rel).read_bytes()).decode("ascii")
        return f"data:image/png;base64,{data}"
    return rel


def detection_context(run: RunResult, out_dir: Path | None) -> dict[str, Any]:
    """Rows and figures for the detection section of the report."""
    from markupsafe import Markup

    from evalaction.detection.tide import ERROR_LABELS, ERROR_TYPES, SPECIAL

    det = run.detection
    assert det is not None
    cm, bm = det.metrics.candidate, det.metrics.baseline
    overall = [
        {
            "label": label,
            "name": name,
            "cand": cm.stats.get(name),
            "base": None if bm is None else bm.stats.get(name),
            "delta": None if bm is None else _delta(cm.stats.get(name), bm.stats.get(name)),
        }
        for name, label in STAT_LABELS.items()
    ]
    classes: list[dict[str, Any]] = []
    for cls, n in det.card.boxes_per_class.items():
        cand, cand50 = cm.per_class["ap"].get(cls), cm.per_class["ap_50"].get(cls)
        base = None if bm is None else bm.per_class["ap"].get(cls)
        base50 = None if bm is None else bm.per_class["ap_50"].get(cls)
        classes.append(
            {
                "cls": cls,
                "n": n,
                "cand": cand,
                "base": base,
                "delta": _delta(cand, base),
                "cand50": cand50,
                "base50": base50,
                "delta50": _delta(cand50, base50),
            }
        )
    if bm is not None:
        classes.sort(key=lambda r: (r["delta"] is None, -abs(r["delta"] or 0)))
    max_delta = max((abs(r["delta"]) for r in classes if r["delta"] is not None), default=0.0)
    ce, be = det.errors.candidate, det.errors.baseline
    tide_rows = [
        {
            "label": ERROR_LABELS[kind],
            "kind": kind,
            "cand_n": ce.tide.counts.get(kind, 0),
            "cand_dap": ce.tide.delta_ap.get(kind, 0.0),
            "cand_share": ce.tide.share(kind),
            "base_n": None if be is None else be.tide.counts.get(kind, 0),
            "base_dap": None if be is None else be.tide.delta_ap.get(kind, 0.0),
        }
        for kind in ERROR_TYPES
    ]
    special_labels = {"false_positive": "every false positive removed", "false_negative": "every missed box found"}
    special_rows = [
        {
            "label": special_labels[kind],
            "cand_dap": ce.tide.delta_ap.get(kind, 0.0),
            "cand_share": ce.tide.share(kind),
            "base_dap": None if be is None else be.tide.delta_ap.get(kind, 0.0),
        }
        for kind in SPECIAL
    ]
    worst = [dict(w.model_dump(), src=_image_src(out_dir, w.drawing)) for w in det.errors.worst_images]
    curves = {
        cls: Markup(pr_svg(curve, None if bm is None else bm.pr_curves.get(cls)))  # noqa: S704 (our own SVG)
        for cls, curve in cm.pr_curves.items()
    }
    return {
        "card": det.card,
        "overall": overall,
        "classes": classes,
        "max_delta": max_delta,
        "tide": {
            "fg": ce.tide.fg_iou,
            "bg": ce.tide.bg_iou,
            "cand_ap": ce.tide.ap,
            "base_ap": None if be is None else be.tide.ap,
        },
        "tide_rows": tide_rows,
        "special_rows": special_rows,
        "operating": {"cand": ce.operating, "base": None if be is None else be.operating},
        "worst": worst,
        "curves": curves,
        "warnings": det.warnings,
        "has_baseline": bm is not None,
    }

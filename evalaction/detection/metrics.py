"""COCO box metrics through pycocotools: mAP@[.5:.95], mAP@.5, mAP@.75, size buckets, AR, per-class AP, and
per-class precision-recall curves (from `COCOeval.eval['precision']`).

The summary numbers are pycocotools' own `COCOeval.stats`; `summarize_value` reproduces `COCOeval.summarize`'s
`_summarize` expression by expression (mean of the valid cells of the precision or recall array), so that the
bootstrap, which builds those arrays itself, reports numbers computed the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from evalaction.detection.coco import coco_results, quiet

if TYPE_CHECKING:
    import numpy as np
    from pycocotools.cocoeval import COCOeval

    from evalaction.detection.coco import GroundTruth


@dataclass(frozen=True)
class StatSpec:
    """One summary number as `COCOeval.summarize` defines it: AP or AR, IoU threshold, area range, max dets."""

    ap: bool
    iou: float | None  # None: averaged over IoU 0.50:0.05:0.95
    area: str  # all, small, medium, large
    max_dets: int


# The order of COCOeval.stats (cocoeval.py, `_summarizeDets`).
STATS: dict[str, StatSpec] = {
    "map": StatSpec(True, None, "all", 100),
    "map_50": StatSpec(True, 0.5, "all", 100),
    "map_75": StatSpec(True, 0.75, "all", 100),
    "map_small": StatSpec(True, None, "small", 100),
    "map_medium": StatSpec(True, None, "medium", 100),
    "map_large": StatSpec(True, None, "large", 100),
    "ar_1": StatSpec(False, None, "all", 1),
    "ar_10": StatSpec(False, None, "all", 10),
    "ar_100": StatSpec(False, None, "all", 100),
    "ar_small": StatSpec(False, None, "small", 100),
    "ar_medium": StatSpec(False, None, "medium", 100),
    "ar_large": StatSpec(False, None, "large", 100),
}
PER_CLASS: dict[str, StatSpec] = {
    "ap": StatSpec(True, None, "all", 100),
    "ap_50": StatSpec(True, 0.5, "all", 100),
    "ap_75": StatSpec(True, 0.75, "all", 100),
    "ar_100": StatSpec(False, None, "all", 100),
}
# The metric names the plan may use (evalaction/metrics/catalog.py): the summary numbers without the AR buckets.
OVERALL = ("map", "map_50", "map_75", "map_small", "map_medium", "map_large", "ar_1", "ar_10", "ar_100")
AREA_NOTE = {"small": "area < 32²", "medium": "32² <= area < 96²", "large": "area >= 96²"}


def evaluate(gt: GroundTruth, detections: list[dict[str, Any]]) -> COCOeval:
    """COCOeval (bbox, default parameters) after evaluate, accumulate and summarize, silenced."""
    from pycocotools.cocoeval import COCOeval

    gt_coco = gt.coco()
    dt_coco = coco_results(gt_coco, detections)
    E = COCOeval(gt_coco, dt_coco, iouType="bbox")
    with quiet():
        E.evaluate()
        E.accumulate()
        E.summarize()
    return E


def summarize_value(
    precision: np.ndarray,
    recall: np.ndarray,
    spec: StatSpec,
    *,
    iou_thrs: np.ndarray,
    area_labels: list[str],
    max_dets: list[int],
    k: int | None = None,
) -> float:
    """`COCOeval.summarize._summarize`: mean of the cells > -1 of precision[T,R,K,A,M] or recall[T,K,A,M].

    -1 marks a category with no ground truth in the area range; -1 is returned when no cell is valid.
    `k` restricts to one category (per-class AP).
    """
    import numpy as np

    a = [i for i, lbl in enumerate(area_labels) if lbl == spec.area]
    m = [i for i, d in enumerate(max_dets) if d == spec.max_dets]
    s = precision if spec.ap else recall
    if spec.iou is not None:
        s = s[np.where(spec.iou == iou_thrs)[0]]
    if k is not None:
        s = s[:, :, k : k + 1] if spec.ap else s[:, k : k + 1]
    s = s[:, :, :, a, m] if spec.ap else s[:, :, a, m]
    valid = s[s > -1]
    return -1.0 if len(valid) == 0 else float(np.mean(valid))


def _value(v: float) -> float | None:
    return None if v < 0 else float(v)


def summary(E: COCOeval) -> dict[str, float | None]:
    """The 12 COCO summary numbers by name; None where pycocotools reports -1 (nothing to measure)."""
    return {name: _value(float(v)) for name, v in zip(STATS, E.stats, strict=True)}


def per_class(E: COCOeval, gt: GroundTruth) -> dict[str, dict[str, float | None]]:
    """Metric -> class name -> value, for the evaluated classes (None: the class has no ground truth)."""
    p = E.params
    names = gt.category_names
    index = {int(c): k for k, c in enumerate(p.catIds)}
    out: dict[str, dict[str, float | None]] = {}
    for metric, spec in PER_CLASS.items():
        out[metric] = {
            names[c]: _value(
                summarize_value(
                    E.eval["precision"],
                    E.eval["recall"],
                    spec,
                    iou_thrs=p.iouThrs,
                    area_labels=p.areaRngLbl,
                    max_dets=p.maxDets,
                    k=index[c],
                )
            )
            for c in gt.class_ids
        }
    return out


def pr_curves(E: COCOeval, gt: GroundTruth, iou: float = 0.5) -> dict[str, list[float]]:
    """Class name -> interpolated precision at recall 0, 0.01, ..., 1 (IoU `iou`, all areas, 100 dets).

    This is the curve COCO's AP averages; classes without ground truth are left out.
    """
    import numpy as np

    p = E.params
    t = int(np.where(iou == p.iouThrs)[0][0])
    index = {int(c): k for k, c in enumerate(p.catIds)}
    names = gt.category_names
    out = {}
    for c in gt.class_ids:
        curve = E.eval["precision"][t, :, index[c], 0, -1]
        if (curve > -1).all():
            out[names[c]] = [round(float(v), 4) for v in curve]
    return out


def undefined_reasons(stats: dict[str, float | None]) -> dict[str, str]:
    """Why a summary number has no value (pycocotools' -1)."""
    out = {}
    for name, value in stats.items():
        if value is None:
            area = STATS[name].area
            where = f"in the {area} bucket ({AREA_NOTE[area]})" if area in AREA_NOTE else "in the test set"
            out[name] = f"no ground-truth box {where}"
    return out


def counts_by_class(gt: GroundTruth, detections: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """Class name -> {gt: non-crowd boxes, detections: detections}."""
    names = gt.category_names
    out = {names[c]: {"gt": 0, "detections": 0} for c in gt.class_ids}
    for a in gt.annotations:
        name = names[a["category_id"]]
        if name in out and not a["iscrowd"]:
            out[name]["gt"] += 1
    for d in detections:
        name = names[d["category_id"]]
        if name in out:
            out[name]["detections"] += 1
    return out


def size_buckets(gt: GroundTruth) -> dict[str, int]:
    """Non-crowd ground-truth boxes per COCO size bucket (by the annotation's `area`, as COCO buckets them)."""
    out = {"small": 0, "medium": 0, "large": 0}
    for a in gt.annotations:
        if a["iscrowd"]:
            continue
        area = a["area"]
        out["small" if area < 32**2 else "medium" if area < 96**2 else "large"] += 1
    return out

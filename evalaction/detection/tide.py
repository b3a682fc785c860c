"""Detection error analysis in the spirit of TIDE (Bolya, Foley, Hays & Hoffman, "TIDE: A General Toolbox for
Identifying Object Detection Errors", ECCV 2020; reference code github.com/dbolya/tide).

Every false positive at the foreground IoU t_f (0.5) gets exactly one type, tested in TIDE's order
(tidecv/quantify.py, `TIDERun._eval_image`), with IoU_max the detection's highest IoU with a ground-truth box:
  loc   localization: t_b <= IoU_max <= t_f with a box of its own class
  cls   classification: IoU_max >= t_f with a box of another class
  dupe  duplicate: IoU_max >= t_f with a box of its own class already matched by a higher-scoring detection
  bkg   background: IoU_max <= t_b with every box (t_b = 0.1)
  both  classification and localization: anything else (t_b < IoU_max < t_f with another class's box)
and every ground-truth box no detection matched, and no cls/loc error points at, is
  miss  missed.
Each type's weight is the AP it costs: fix only that type with TIDE's oracle, re-evaluate, and take
dAP = max(AP_fixed - AP, 0) (TIDE clips the rare negative). The oracles (tidecv/errors/main_errors.py):
cls -> give the detection its box's class; loc -> move it onto its box; of several cls/loc errors on one box
only the highest-scoring is fixed and the rest suppressed, and one on a box already matched is suppressed;
dupe, bkg, both -> suppress; miss -> drop the box from the ground truth. Two more oracles bound the rest:
every false positive suppressed (`false_positive`) and every unmatched box dropped (`false_negative`).

Here, unlike tidecv, matching and AP are pycocotools' own (`COCOeval` at IoU t_f, all areas, 100 detections per
image and class; crowd boxes make the detections on them ignored, not errors), and every oracle is re-evaluated
by COCOeval, so the base AP is exactly the report's AP@t_f. A fixed cls/loc detection is moved onto its box so
that COCOeval's greedy matching gives it that box.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from evalaction.detection.coco import MAX_DETS, GroundTruth, coco_from_dict, coco_results, quiet

if TYPE_CHECKING:
    import numpy as np

ERROR_TYPES = ("cls", "loc", "both", "dupe", "bkg", "miss")
ERROR_LABELS = {
    "cls": "classification",
    "loc": "localization",
    "both": "class + location",
    "dupe": "duplicate",
    "bkg": "background",
    "miss": "missed",
}
SPECIAL = ("false_positive", "false_negative")


def match_image(
    dets: np.ndarray, gts: np.ndarray, crowd: np.ndarray, iou_thr: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """pycocotools' greedy matching (`COCOeval.evaluateImg`) of one image and class at one IoU threshold.

    `dets` (D, 4) xywh in descending score order; `gts` (G, 4) xywh; `crowd` (G,) bool. Returns
    (matched gt index per detection or -1, detection ignored (matched a crowd box), gt matched).
    Non-crowd boxes are tried first; each detection takes the best still-free box with IoU >= threshold (a later
    box with equal IoU wins, as in pycocotools); crowd boxes can be matched many times and make the detection
    ignored.
    """
    import numpy as np
    from pycocotools import mask as mask_utils

    D, G = len(dets), len(gts)
    dt_gt = np.full(D, -1, dtype=np.int64)
    dt_ignored = np.zeros(D, dtype=bool)
    gt_matched = np.zeros(G, dtype=bool)
    if D == 0 or G == 0:
        return dt_gt, dt_ignored, gt_matched
    order = np.argsort(crowd.astype(int), kind="mergesort")
    ious = np.asarray(
        mask_utils.iou(dets.tolist(), gts[order].tolist(), crowd[order].astype(int).tolist())
    ).reshape(D, G)
    is_crowd = crowd[order]
    taken = np.zeros(G, dtype=bool)
    for d in range(D):
        best_iou, m = min(iou_thr, 1 - 1e-10), -1
        for g in range(G):
            if taken[g] and not is_crowd[g]:
                continue
            if m > -1 and not is_crowd[m] and is_crowd[g]:
                break
            if ious[d, g] < best_iou:
                continue
            best_iou, m = ious[d, g], g
        if m == -1:
            continue
        taken[m] = True
        dt_gt[d] = order[m]
        dt_ignored[d] = bool(is_crowd[m])
    gt_matched[order[taken & ~is_crowd]] = True
    return dt_gt, dt_ignored, gt_matched


@dataclass
class Analysis:
    """Every detection's and every ground-truth box's status at IoU t_f (indices into the inputs)."""

    det_status: list[str]  # tp, ignored, dropped (past 100 per image and class), or an error type
    det_target: list[int]  # the ground-truth annotation index an error points at (-1: none)
    det_fixed: list[bool]  # cls/loc: this detection is the one TIDE's oracle turns into a true positive
    gt_status: list[str]  # tp, crowd, miss, or "covered" (unmatched, but a cls/loc error points at it)
    gt_det: list[int]  # the detection that matched the box (-1: none)

    def errors(self, kind: str) -> list[int]:
        """Indices of the detections (or, for miss, of the ground-truth boxes) with error `kind`."""
        if kind == "miss":
            return [i for i, s in enumerate(self.gt_status) if s == "miss"]
        return [i for i, s in enumerate(self.det_status) if s == kind]

    def counts(self) -> dict[str, int]:
        return {kind: len(self.errors(kind)) for kind in ERROR_TYPES}


def analyze(
    gt: GroundTruth, detections: list[dict[str, Any]], *, fg_iou: float = 0.5, bg_iou: float = 0.1
) -> Analysis:
    """Match at `fg_iou` as pycocotools does and give every false positive and missed box its TIDE type."""
    import numpy as np
    from pycocotools import mask as mask_utils

    det_status = ["dropped"] * len(detections)
    det_target = [-1] * len(detections)
    det_fixed = [False] * len(detections)
    gt_status = ["crowd" if a["iscrowd"] else "miss" for a in gt.annotations]
    gt_det = [-1] * len(gt.annotations)
    gt_by_image: dict[Any, list[int]] = {}
    for j, a in enumerate(gt.annotations):
        gt_by_image.setdefault(a["image_id"], []).append(j)
    det_by_image: dict[Any, list[int]] = {}
    for i, d in enumerate(detections):
        det_by_image.setdefault(d["image_id"], []).append(i)

    # 1. pycocotools' matching, per image and class, on the 100 best detections of each
    for image_id, dis in det_by_image.items():
        gis = gt_by_image.get(image_id, [])
        for c in {detections[i]["category_id"] for i in dis}:
            ds = [i for i in dis if detections[i]["category_id"] == c]
            ds = [ds[k] for k in np.argsort([-detections[i]["score"] for i in ds], kind="mergesort")][:MAX_DETS]
            gs = [j for j in gis if gt.annotations[j]["category_id"] == c]
            dt_gt, dt_ig, _ = match_image(
                np.array([detections[i]["bbox"] for i in ds], dtype=float).reshape(-1, 4),
                np.array([gt.annotations[j]["bbox"] for j in gs], dtype=float).reshape(-1, 4),
                np.array([bool(gt.annotations[j]["iscrowd"]) for j in gs], dtype=bool),
                fg_iou,
            )
            for i, m, ig in zip(ds, dt_gt, dt_ig, strict=True):
                if ig:
                    det_status[i] = "ignored"
                elif m >= 0:
                    det_status[i] = "tp"
                    gt_status[gs[m]] = "tp"
                    gt_det[gs[m]] = i
                else:
                    det_status[i] = "fp"

    # 2. TIDE's types, image by image, detections by descending score (its BestGTMatch order)
    best: dict[int, tuple[float, int]] = {}  # gt index -> (score, detection) of the best cls/loc error on it
    for image_id in gt.image_ids:
        dis = [i for i in det_by_image.get(image_id, []) if det_status[i] == "fp"]
        if not dis:
            continue
        dis = [dis[k] for k in np.argsort([-detections[i]["score"] for i in dis], kind="mergesort")]
        gis = [j for j in gt_by_image.get(image_id, []) if not gt.annotations[j]["iscrowd"]]
        if not gis:
            for i in dis:
                det_status[i] = "bkg"
            continue
        gboxes = [gt.annotations[j]["bbox"] for j in gis]
        gcls = np.array([gt.annotations[j]["category_id"] for j in gis])
        used = np.array([gt_status[j] == "tp" for j in gis])
        ious = np.asarray(mask_utils.iou([detections[i]["bbox"] for i in dis], gboxes, [0] * len(gis))).reshape(
            len(dis), len(gis)
        )
        for row, i in enumerate(dis):
            iou = ious[row]
            same = iou * (gcls == detections[i]["category_id"])
            other = iou * (gcls != detections[i]["category_id"])
            if bg_iou <= same.max() <= fg_iou:
                kind, target = "loc", int(same.argmax())
            elif other.max() >= fg_iou:
                kind, target = "cls", int(other.argmax())
            elif (same * used).max() >= fg_iou:
                kind, target = "dupe", int((same * used).argmax())
            elif iou.max() <= bg_iou:
                kind, target = "bkg", -1
            else:
                kind, target = "both", int(iou.argmax())
            det_status[i] = kind
            det_target[i] = -1 if target < 0 else gis[target]
            if kind in ("cls", "loc") and not used[target]:
                j = gis[target]
                gt_status[j] = "covered"
                score = detections[i]["score"]
                if j not in best or best[j][0] < score:
                    best[j] = (score, i)
    for _, i in best.values():
        det_fixed[i] = True
    return Analysis(det_status, det_target, det_fixed, gt_status, gt_det)


def oracle(
    gt: GroundTruth, detections: list[dict[str, Any]], analysis: Analysis, kind: str
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(ground-truth dict, detections) with every error of `kind` fixed by TIDE's oracle."""
    dataset = gt.dataset()
    dets = [dict(d) for d in detections]
    drop: set[int] = set()
    if kind in ("cls", "loc"):
        for i in analysis.errors(kind):
            if analysis.det_fixed[i]:
                target = gt.annotations[analysis.det_target[i]]
                dets[i]["category_id"] = target["category_id"]
                dets[i]["bbox"] = list(target["bbox"])
            else:
                drop.add(i)
    elif kind in ("dupe", "bkg", "both"):
        drop.update(analysis.errors(kind))
    elif kind == "false_positive":
        drop.update(i for i, s in enumerate(analysis.det_status) if s in ERROR_TYPES)
    gone: set[int] = set()
    if kind == "miss":
        gone = set(analysis.errors("miss"))
    elif kind == "false_negative":
        gone = {j for j, s in enumerate(analysis.gt_status) if s in ("miss", "covered")}
    if gone:
        dataset["annotations"] = [a for j, a in enumerate(dataset["annotations"]) if j not in gone]
    return dataset, [d for i, d in enumerate(dets) if i not in drop]


def ap_at(dataset: dict[str, Any], detections: list[dict[str, Any]], iou: float) -> float:
    """COCO AP at one IoU threshold (all areas, 100 detections), by pycocotools; -1 when nothing to measure."""
    import numpy as np
    from pycocotools.cocoeval import COCOeval

    gt_coco = coco_from_dict(dataset)
    E = COCOeval(gt_coco, coco_results(gt_coco, detections), iouType="bbox")
    E.params.iouThrs = np.array([iou])
    E.params.areaRng = [[0**2, 1e5**2]]
    E.params.areaRngLbl = ["all"]
    E.params.maxDets = [MAX_DETS]
    with quiet():
        E.evaluate()
        E.accumulate()
    s = E.eval["precision"]
    valid = s[s > -1]
    return -1.0 if len(valid) == 0 else float(np.mean(valid))


@dataclass
class TideSummary:
    ap: float  # AP at fg IoU, pycocotools
    counts: dict[str, int]
    delta_ap: dict[str, float]  # per main error type and the two special oracles
    analysis: Analysis = field(repr=False)


def tide(
    gt: GroundTruth, detections: list[dict[str, Any]], *, fg_iou: float = 0.5, bg_iou: float = 0.1
) -> TideSummary:
    """Counts and dAP of each error type (see the module docstring)."""
    analysis = analyze(gt, detections, fg_iou=fg_iou, bg_iou=bg_iou)
    base = ap_at(gt.dataset(), detections, fg_iou)
    deltas = {}
    for kind in (*ERROR_TYPES, *SPECIAL):
        counts = analysis.counts()
        if kind in ERROR_TYPES and counts[kind] == 0:
            deltas[kind] = 0.0
            continue
        fixed = ap_at(*oracle(gt, detections, analysis, kind), fg_iou)
        deltas[kind] = max(fixed - base, 0.0) if base >= 0 and fixed >= 0 else 0.0
    return TideSummary(ap=base, counts=analysis.counts(), delta_ap=deltas, analysis=analysis)

"""TIDE error types on constructed cases with known answers, one per type, and pycocotools-equal matching.

Expected AP@0.5 values are worked out by hand with COCO's 101-point interpolation: precision at recall
thresholds 0, 0.01, ..., 1 is the best precision at that recall or above (0 past the highest recall), averaged.
"""

from __future__ import annotations

import numpy as np
import pytest

from evalaction.detection.metrics import evaluate
from evalaction.detection.tide import ERROR_TYPES, analyze, match_image, tide
from tests.unit.detection_cases import det, ground_truth, random_case

BOX = [10, 10, 40, 40]


def ap101(points: list[tuple[float, float]]) -> float:
    """AP from (recall, precision) points by COCO's 101-point rule, written independently of pycocotools."""
    total = 0.0
    for r in np.linspace(0, 1, 101):
        total += max((p for rc, p in points if rc >= r - 1e-12), default=0.0)
    return total / 101


CASES = {
    # a box of class A detected as B: AP(A) 0 -> 1 when the class is corrected (B has no boxes: not in the mean)
    "cls": (
        ground_truth([{"image_id": 1, "category_id": 1, "bbox": BOX}]),
        [det(1, 2, BOX, 0.9)],
        0.0,
        1.0,
    ),
    # the right class at IoU 0.3: AP 0 -> 1 when the box is moved onto the object
    "loc": (
        ground_truth([{"image_id": 1, "category_id": 1, "bbox": BOX}]),
        [det(1, 1, [10, 10, 40, 12], 0.9)],
        0.0,
        1.0,
    ),
    # a wrong-class, badly placed box ranked above a true positive of its class: AP(A) 0.5, mAP (0.5 + 1) / 2
    "both": (
        ground_truth(
            [
                {"image_id": 1, "category_id": 1, "bbox": [100, 100, 40, 40]},
                {"image_id": 1, "category_id": 2, "bbox": BOX},
            ]
        ),
        [det(1, 1, [10, 10, 40, 12], 0.9), det(1, 1, [100, 100, 40, 40], 0.5), det(1, 2, BOX, 0.8)],
        ap101([(0.0, 0.0), (1.0, 0.5)]) / 2 + 0.5,
        0.25,
    ),
    # a duplicate between two true positives: TP, FP, TP
    "dupe": (
        ground_truth(
            [{"image_id": 1, "category_id": 1, "bbox": BOX}, {"image_id": 2, "category_id": 1, "bbox": BOX}]
        ),
        [det(1, 1, BOX, 0.9), det(1, 1, [12, 12, 40, 40], 0.8), det(2, 1, BOX, 0.7)],
        ap101([(0.5, 1.0), (0.5, 0.5), (1.0, 2 / 3)]),
        1 - ap101([(0.5, 1.0), (0.5, 0.5), (1.0, 2 / 3)]),
    ),
    # a confident box on nothing ranked above the true positive: FP, TP
    "bkg": (
        ground_truth([{"image_id": 1, "category_id": 1, "bbox": BOX}]),
        [det(1, 1, [150, 150, 20, 20], 0.95), det(1, 1, BOX, 0.5)],
        ap101([(0.0, 0.0), (1.0, 0.5)]),
        1 - ap101([(0.0, 0.0), (1.0, 0.5)]),
    ),
    # one of two boxes never detected: recall stops at 0.5
    "miss": (
        ground_truth(
            [{"image_id": 1, "category_id": 1, "bbox": BOX}, {"image_id": 2, "category_id": 1, "bbox": BOX}]
        ),
        [det(1, 1, BOX, 0.9)],
        ap101([(0.5, 1.0)]),
        1 - ap101([(0.5, 1.0)]),
    ),
}


@pytest.mark.parametrize("kind", list(CASES))
def test_each_error_type_on_its_constructed_case(kind: str) -> None:
    gt, dets, ap, gain = CASES[kind]
    result = tide(gt, dets)
    assert result.counts == {k: int(k == kind) for k in ERROR_TYPES}
    assert result.ap == pytest.approx(ap, abs=1e-12)
    # the base AP is the report's AP@0.5 (pycocotools, default parameters)
    assert result.ap == pytest.approx(evaluate(gt, dets).stats[1], abs=1e-15)
    for k in ERROR_TYPES:
        assert result.delta_ap[k] == pytest.approx(gain if k == kind else 0.0, abs=1e-12), k


def test_background_when_the_image_has_no_boxes() -> None:
    gt = ground_truth([{"image_id": 1, "category_id": 1, "bbox": BOX}])
    result = tide(gt, [det(2, 1, BOX, 0.9), det(1, 1, BOX, 0.8)])
    assert result.counts["bkg"] == 1 and result.delta_ap["bkg"] == pytest.approx(1 - ap101([(0, 0), (1, 0.5)]))


def test_only_the_best_error_on_a_box_is_fixed() -> None:
    """Two classification errors point at one box: the oracle fixes the higher-scoring one, suppresses the other;
    the box is explained by them, so it is not also a missed box."""
    gt = ground_truth([{"image_id": 1, "category_id": 1, "bbox": BOX}])
    dets = [det(1, 2, BOX, 0.6), det(1, 2, [11, 11, 40, 40], 0.9)]
    a = analyze(gt, dets)
    assert a.det_status == ["cls", "cls"] and a.det_fixed == [False, True]
    assert a.gt_status == ["covered"]
    assert tide(gt, dets).delta_ap["cls"] == pytest.approx(1.0)


def test_an_error_on_an_already_found_box_is_suppressed_not_fixed() -> None:
    gt = ground_truth([{"image_id": 1, "category_id": 1, "bbox": BOX}])
    dets = [det(1, 1, BOX, 0.5), det(1, 2, BOX, 0.9)]  # the right box is found; B on it is a cls error
    a = analyze(gt, dets)
    assert a.det_status == ["tp", "cls"] and a.det_fixed == [False, False]


def test_crowd_boxes_make_detections_ignored_not_errors() -> None:
    gt = ground_truth([{"image_id": 1, "category_id": 1, "bbox": [0, 0, 100, 100]}])
    gt.annotations[0]["iscrowd"] = 1
    a = analyze(gt, [det(1, 1, [10, 10, 20, 20], 0.9)])
    assert a.det_status == ["ignored"] and a.gt_status == ["crowd"]


@pytest.mark.parametrize("seed", range(5))
def test_matching_equals_pycocotools(seed: int) -> None:
    """match_image gives the same matches as COCOeval.evaluateImg at IoU 0.5 (crowd boxes included)."""
    from tests.unit.test_detection_bootstrap import _gt

    doc, dets = random_case(seed, ties=True)
    gt = _gt(doc)
    E = evaluate(gt, dets)
    p = E.params
    n_img, n_area = len(p.imgIds), len(p.areaRng)
    for k, cat in enumerate(p.catIds):
        for i, image_id in enumerate(p.imgIds):
            e = E.evalImgs[k * n_area * n_img + i]  # area "all"
            if e is None:
                continue
            ds = sorted(
                (d for d in dets if d["image_id"] == image_id and d["category_id"] == cat),
                key=lambda d: -d["score"],
            )  # sorted() is stable, as pycocotools' mergesort
            gs = [a for a in gt.annotations if a["image_id"] == image_id and a["category_id"] == cat]
            dt_gt, dt_ig, _ = match_image(
                np.array([d["bbox"] for d in ds], dtype=float).reshape(-1, 4),
                np.array([a["bbox"] for a in gs], dtype=float).reshape(-1, 4),
                np.array([bool(a["iscrowd"]) for a in gs], dtype=bool),
                0.5,
            )
            got = [0 if m < 0 else gs[m]["id"] for m in dt_gt]
            assert got == list(e["dtMatches"][0]), (k, i)
            assert list(dt_ig) == list(e["dtIgnore"][0].astype(bool))

"""COCO box metrics against pycocotools itself, called directly on the same files (the reference)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from evalaction.detection.coco import load_results, quiet
from evalaction.detection.metrics import (
    PER_CLASS,
    STATS,
    evaluate,
    per_class,
    pr_curves,
    summarize_value,
    summary,
)
from tests.unit.detection_cases import random_case, write_case


def _reference(gt_path: Path, res_path: Path):  # noqa: ANN202 (pycocotools has no types)
    """pycocotools as its README runs it: COCO(file), loadRes(file), evaluate, accumulate, summarize."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with quiet():
        gt = COCO(str(gt_path))
        E = COCOeval(gt, gt.loadRes(str(res_path)), "bbox")
        E.evaluate()
        E.accumulate()
        E.summarize()
    return E


def test_fixed_case_equals_pycocotools_exactly(tmp_path: Path) -> None:
    """A fixed small case: every summary number equals COCOeval.stats exactly, not approximately."""
    doc = {
        "images": [
            {"id": 1, "file_name": "a.png"},
            {"id": 2, "file_name": "b.png"},
            {"id": 3, "file_name": "c.png"},
        ],
        "categories": [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 10, 50, 40], "area": 2000, "iscrowd": 0},
            {"id": 2, "image_id": 1, "category_id": 2, "bbox": [100, 20, 120, 110], "area": 13200, "iscrowd": 0},
            {"id": 3, "image_id": 2, "category_id": 1, "bbox": [5, 5, 20, 20], "area": 400, "iscrowd": 0},
            {"id": 4, "image_id": 2, "category_id": 1, "bbox": [60, 60, 30, 30], "area": 900, "iscrowd": 0},
            {"id": 5, "image_id": 3, "category_id": 2, "bbox": [0, 0, 200, 150], "area": 30000, "iscrowd": 0},
        ],
    }
    dets = [
        {"image_id": 1, "category_id": 1, "bbox": [12, 11, 48, 40], "score": 0.95},
        {"image_id": 1, "category_id": 2, "bbox": [95, 25, 120, 100], "score": 0.80},
        {"image_id": 1, "category_id": 1, "bbox": [100, 20, 120, 110], "score": 0.40},
        {"image_id": 2, "category_id": 1, "bbox": [6, 4, 18, 22], "score": 0.70},
        {"image_id": 2, "category_id": 1, "bbox": [70, 70, 30, 30], "score": 0.65},
        {"image_id": 2, "category_id": 2, "bbox": [60, 60, 30, 30], "score": 0.30},
        {"image_id": 3, "category_id": 2, "bbox": [10, 0, 180, 160], "score": 0.90},
    ]
    gt_path, res_path, gt = write_case(tmp_path, doc, dets)
    ref = _reference(gt_path, res_path)
    ours = evaluate(gt, load_results(res_path, gt, "candidate"))
    got = summary(ours)
    assert list(got) == list(STATS)
    for name, expected in zip(STATS, ref.stats, strict=True):
        assert got[name] == (None if expected < 0 else float(expected)), name
    # the numbers are not trivial: they differ between IoU thresholds
    assert 0 < got["map"] < got["map_50"] <= 1


@pytest.mark.parametrize("seed", range(6))
def test_random_cases_equal_pycocotools(tmp_path: Path, seed: int) -> None:
    doc, dets = random_case(seed, ties=seed % 2 == 0)
    gt_path, res_path, gt = write_case(tmp_path, doc, dets)
    ref = _reference(gt_path, res_path)
    ours = evaluate(gt, load_results(res_path, gt, "candidate"))
    assert np.array_equal(ours.eval["precision"], ref.eval["precision"])
    assert np.array_equal(ours.stats, ref.stats)
    # summarize_value is COCOeval.summarize's expression, cell for cell
    p = ref.params
    for name, spec in STATS.items():
        value = summarize_value(
            ref.eval["precision"],
            ref.eval["recall"],
            spec,
            iou_thrs=p.iouThrs,
            area_labels=p.areaRngLbl,
            max_dets=p.maxDets,
        )
        assert value == ref.stats[list(STATS).index(name)], name


def test_per_class_ap_and_pr_curves_read_coco_precision(tmp_path: Path) -> None:
    doc, dets = random_case(3, ties=False)
    gt_path, res_path, gt = write_case(tmp_path, doc, dets)
    ref = _reference(gt_path, res_path)
    ours = evaluate(gt, load_results(res_path, gt, "candidate"))
    classes = per_class(ours, gt)
    assert set(classes) == set(PER_CLASS)
    prec = ref.eval["precision"]
    for k, cat in enumerate(ref.params.catIds):
        name = f"c{cat - 1}"
        cell = prec[:, :, k, 0, -1]
        expected = None if (cell <= -1).all() else float(np.mean(cell[cell > -1]))
        assert classes["ap"][name] == expected
        if expected is not None:
            assert classes["ap_50"][name] == float(np.mean(prec[0, :, k, 0, -1]))
    # the mean of the per-class APs is mAP (up to the order of summation)
    aps = [v for v in classes["ap"].values() if v is not None]
    assert np.mean(aps) == pytest.approx(ref.stats[0], abs=1e-12)
    curves = pr_curves(ours, gt)
    for curve in curves.values():
        assert len(curve) == 101
        assert all(a >= b for a, b in zip(curve, curve[1:], strict=False))  # the envelope is non-increasing


def test_no_detections_gives_zero_not_a_crash(tmp_path: Path) -> None:
    doc, _ = random_case(1)
    gt_path, _, gt = write_case(tmp_path, doc, [])
    stats = summary(evaluate(gt, []))
    assert stats["map"] == 0.0 and stats["ar_100"] == 0.0


def test_undefined_buckets_are_none(tmp_path: Path) -> None:
    doc = {
        "images": [{"id": 1, "file_name": "a.png"}],
        "categories": [{"id": 1, "name": "a"}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10], "area": 100, "iscrowd": 0}
        ],
    }
    _, _, gt = write_case(tmp_path, doc, [])
    stats = summary(evaluate(gt, [{"image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10], "score": 1.0}]))
    assert stats["map"] == pytest.approx(1.0) and stats["map_small"] == pytest.approx(1.0)  # 1 / (1 + eps)
    assert stats["map_medium"] is None and stats["map_large"] is None
    json.dumps(stats)


def test_every_detection_catalog_metric_is_computed() -> None:
    """The plan's detection metric names (metrics/catalog.py) are the ones the detection metrics stage fills."""
    from evalaction.detection.metrics import OVERALL
    from evalaction.metrics.catalog import CATALOG, metric_names

    names = metric_names("detection")
    assert {n for n in names if not CATALOG[n].per_class} == set(OVERALL)
    assert {n for n in names if CATALOG[n].per_class} <= set(PER_CLASS)
    assert all(CATALOG[n].higher_is_better for n in names)

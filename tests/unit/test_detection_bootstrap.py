"""The image-level bootstrap re-accumulates exactly what pycocotools computes on the resampled image set."""

from __future__ import annotations

import json

import numpy as np
import pytest

from evalaction.detection.bootstrap import ImageBootstrap, cells_for, jackknife_deltas, paired_image_bootstrap
from evalaction.detection.coco import GroundTruth, coco_from_dict, coco_results, quiet
from evalaction.detection.metrics import STATS, evaluate
from tests.unit.detection_cases import random_case

ALL_CELLS = {(a, m) for a in ("all", "small", "medium", "large") for m in (1, 10, 100)}


def _gt(doc: dict) -> GroundTruth:
    from pathlib import Path

    return GroundTruth(
        path=Path("gt.json"),
        images_dir=Path("."),
        images=doc["images"],
        categories=doc["categories"],
        annotations=doc["annotations"],
        source_ids=[a["id"] for a in doc["annotations"]],
        class_ids=[c["id"] for c in doc["categories"]],
    )


def _resampled_reference(doc: dict, dets: list[dict], counts: np.ndarray):  # noqa: ANN202
    """pycocotools on the resampled set, built as a new COCO set: image i copied counts[i] times under new,
    consecutive ids (in the original id order), each copy with its own annotations and detections."""
    from pycocotools.cocoeval import COCOeval

    images, anns, ds = [], [], []
    for i, im in enumerate(sorted(doc["images"], key=lambda im: im["id"])):
        for _ in range(int(counts[i])):
            new_id = len(images) + 1
            images.append(dict(im, id=new_id))
            for a in doc["annotations"]:
                if a["image_id"] == im["id"]:
                    anns.append(dict(a, id=len(anns) + 1, image_id=new_id))
            ds += [dict(d, image_id=new_id) for d in dets if d["image_id"] == im["id"]]
    gt = coco_from_dict(
        json.loads(json.dumps({"images": images, "categories": doc["categories"], "annotations": anns}))
    )
    E = COCOeval(gt, coco_results(gt, ds), "bbox")
    with quiet():
        E.evaluate()
        E.accumulate()
        E.summarize()
    return E


@pytest.mark.parametrize("seed", range(8))
def test_reaccumulation_equals_pycocotools_on_the_resampled_set(seed: int) -> None:
    """Bit for bit: precision, recall and all 12 summary numbers; even-numbered seeds have tied scores."""
    doc, dets = random_case(seed, ties=seed % 2 == 0)
    E = evaluate(_gt(doc), dets)
    boot = ImageBootstrap(E, ALL_CELLS)
    n = boot.n_images
    # the identity resample is pycocotools' own accumulate
    precision, recall = boot.arrays(np.ones(n, dtype=np.int64))
    assert np.array_equal(precision, E.eval["precision"]) and np.array_equal(recall, E.eval["recall"])
    counts = np.bincount(np.random.default_rng(seed).integers(0, n, n), minlength=n)
    assert counts.max() > 1 and (counts == 0).any()
    ref = _resampled_reference(doc, dets, counts)
    precision, recall = boot.arrays(counts)
    assert np.array_equal(precision, ref.eval["precision"])
    assert np.array_equal(recall, ref.eval["recall"])
    values = [boot.value(name, precision, recall, {}) for name in STATS]
    assert np.array_equal(np.nan_to_num(values, nan=-1.0), ref.stats)


def test_tied_scores_within_an_image_keep_pycocotools_order() -> None:
    """Two tied detections in one image, one right and one wrong: copies interleave (right, wrong, right, wrong),
    which a plain repeat of each detection (right, right, wrong, wrong) would get wrong."""
    doc = {
        "images": [{"id": 1, "file_name": "a.png"}, {"id": 2, "file_name": "b.png"}],
        "categories": [{"id": 1, "name": "a"}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10], "area": 100, "iscrowd": 0},
            {"id": 2, "image_id": 2, "category_id": 1, "bbox": [0, 0, 10, 10], "area": 100, "iscrowd": 0},
        ],
    }
    dets = [
        {"image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10], "score": 0.5},
        {"image_id": 1, "category_id": 1, "bbox": [50, 50, 10, 10], "score": 0.5},
    ]
    E = evaluate(_gt(doc), dets)
    boot = ImageBootstrap(E, {("all", 100)})
    counts = np.array([2, 1])
    precision, _ = boot.arrays(counts)
    ref = _resampled_reference(doc, dets, counts)
    assert np.array_equal(precision, ref.eval["precision"][:, :, :, :1, 2:])
    # recall 1/3 reached at precision 1, recall 2/3 at precision 2/3: AP@.5 = (34 + 33 * 2/3) / 101
    assert boot.value("map_50", precision, np.zeros((10, 1, 1, 1)), {}) == pytest.approx((34 + 22) / 101)


def test_paired_bootstrap_uses_the_same_images_for_both_models() -> None:
    """Identical models give a delta of exactly 0 on every resample; different ones a seeded, repeatable spread."""
    doc, dets = random_case(2, n_images=20, ties=False)
    gt = _gt(doc)
    cells = cells_for(["map", "ap[c1]"])
    one, two = ImageBootstrap(evaluate(gt, dets), cells), ImageBootstrap(evaluate(gt, dets[::2]), cells)
    same = paired_image_bootstrap(
        one,
        ImageBootstrap(evaluate(gt, dets), cells),
        ["map", "ap[c1]"],
        class_index={"c1": 1},
        n_resamples=50,
        seed=3,
    )
    assert np.all(same["map"] == 0) and np.all(np.nan_to_num(same["ap[c1]"]) == 0)
    a = paired_image_bootstrap(one, two, ["map"], class_index={}, n_resamples=50, seed=3)["map"]
    b = paired_image_bootstrap(one, two, ["map"], class_index={}, n_resamples=50, seed=3)["map"]
    assert np.array_equal(a, b) and a.std() > 0


def test_jackknife_leaves_each_image_out_as_pycocotools_would() -> None:
    """Leave-one-image-out deltas equal mAP differences computed by pycocotools without that image."""
    doc, dets = random_case(4, n_images=10, ties=True)
    gt = _gt(doc)
    worse = [d for k, d in enumerate(dets) if k % 3]
    cells = cells_for(["map"])
    cand, base = ImageBootstrap(evaluate(gt, dets), cells), ImageBootstrap(evaluate(gt, worse), cells)
    jack = jackknife_deltas(base, cand, ["map"], class_index={})["map"]
    assert len(jack) == 10
    for i in (0, 7):
        counts = np.ones(10, dtype=np.int64)
        counts[i] = 0
        ref = _resampled_reference(doc, dets, counts).stats[0] - _resampled_reference(doc, worse, counts).stats[0]
        assert jack[i] == ref
    groups = jackknife_deltas(base, cand, ["map"], class_index={}, max_groups=4)["map"]
    assert len(groups) == 4 and np.isfinite(groups).all()

"""COCO ground truth and results: one-line errors for bad files, and the normalisation pycocotools needs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evalaction.detection.coco import load_ground_truth, load_results
from evalaction.exceptions import InvalidDataset, ModelOutputInvalid

GOOD = {
    "images": [{"id": 0, "file_name": "a.png", "width": 100, "height": 80}, {"id": 1, "file_name": "b.png"}],
    "categories": [
        {"id": 0, "name": "pets", "supercategory": "none"},
        {"id": 1, "name": "cat", "supercategory": "pets"},
        {"id": 2, "name": "dog", "supercategory": "pets"},
    ],
    "annotations": [
        {"id": 0, "image_id": 0, "category_id": 1, "bbox": [10, 10, 20, 20], "area": 300, "iscrowd": 0},
        {"id": 1, "image_id": 1, "category_id": 2, "bbox": [5, 5, 10, 10]},
    ],
}


def _write(tmp_path: Path, doc: object, name: str = "gt.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    return path


def test_good_file_is_normalised_for_pycocotools(tmp_path: Path) -> None:
    gt = load_ground_truth(_write(tmp_path, GOOD))
    # re-numbered 1..N: pycocotools reads annotation id 0 as "unmatched"
    assert [a["id"] for a in gt.annotations] == [1, 2]
    assert gt.source_ids == [0, 1]
    assert gt.annotations[1]["area"] == 100.0 and gt.annotations[1]["iscrowd"] == 0
    # Roboflow's placeholder parent category is not a class
    assert gt.class_names == ["cat", "dog"]
    assert any("placeholder" in w for w in gt.warnings)
    assert any("no `area`" in w for w in gt.warnings)
    assert gt.images_dir == tmp_path


def test_roboflow_export_folder_is_found(tmp_path: Path) -> None:
    (tmp_path / "test").mkdir()
    _write(tmp_path / "test", GOOD, "_annotations.coco.json")
    assert load_ground_truth(tmp_path).path.name == "_annotations.coco.json"
    with pytest.raises(InvalidDataset, match="Roboflow COCO export"):
        load_ground_truth(tmp_path / "test" / "missing")


def _broken(**changes: object) -> dict:
    doc = json.loads(json.dumps(GOOD))
    for path, value in changes.items():
        section, index, key = path.split("__")
        if value is None:
            del doc[section][int(index)][key]
        else:
            doc[section][int(index)][key] = value
    return doc


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        (_broken(annotations__0__image_id=7), r"annotations\[0\] has image_id 7, not in `images`"),
        (_broken(annotations__1__category_id=9), r"annotations\[1\] has category_id 9, not in `categories`"),
        (_broken(annotations__0__bbox=[1, 2, -3, 4]), r"annotations\[0\] has a negative box size \(width -3"),
        (_broken(annotations__0__bbox=[1, 2, 3]), r"`bbox` should be four finite numbers"),
        (_broken(annotations__0__bbox=None), r"annotations\[0\] has no `bbox`"),
        (_broken(images__1__file_name=None), r"images\[1\] has no `file_name`"),
        (_broken(images__1__id=0), r"image id 0 appears twice"),
        (_broken(categories__2__name="cat"), r"categories 1 and 2 are both named 'cat'"),
        ({"images": []}, r"has no `categories`"),
        ([1, 2], r"a list of detections is a results file"),
    ],
)
def test_bad_ground_truth_fails_in_one_line(tmp_path: Path, doc: object, message: str) -> None:
    with pytest.raises(InvalidDataset, match=message) as info:
        load_ground_truth(_write(tmp_path, doc))
    assert "\n" not in str(info.value)
    assert str(info.value).startswith("gt.json: ")


def test_unreadable_json_is_named(tmp_path: Path) -> None:
    path = tmp_path / "gt.json"
    path.write_text("{not json")
    with pytest.raises(InvalidDataset, match=r"gt.json: cannot read as COCO JSON"):
        load_ground_truth(path)


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ({"image_id": 5, "category_id": 1, "bbox": [0, 0, 1, 1], "score": 0.5}, r"image_id 5, not an image"),
        ({"image_id": 0, "category_id": 3, "bbox": [0, 0, 1, 1], "score": 0.5}, r"category_id 3, not in"),
        ({"image_id": 0, "category_id": 1, "bbox": [0, 0, 1, 1]}, r"has no `score`"),
        ({"category_id": 1, "bbox": [0, 0, 1, 1], "score": 0.5}, r"has no `image_id`.*file names"),
        ({"image_id": 0, "category_id": 1, "bbox": [5, 5, 2, -1], "score": 0.5}, r"negative box size"),
        ({"image_id": 0, "category_id": 1, "bbox": [0, 0, 1, 1], "score": float("nan")}, r"`score` should be"),
    ],
)
def test_bad_results_fail_in_one_line(tmp_path: Path, item: dict, message: str) -> None:
    gt = load_ground_truth(_write(tmp_path, GOOD))
    path = _write(
        tmp_path, [{"image_id": 1, "category_id": 2, "bbox": [0, 0, 3, 3], "score": 0.9}, item], "r.json"
    )
    with pytest.raises(ModelOutputInvalid, match=message) as info:
        load_results(path, gt, "candidate")
    assert str(info.value).startswith("candidate results r.json: detection [1]")
    assert "\n" not in str(info.value)


def test_results_must_be_a_list(tmp_path: Path) -> None:
    gt = load_ground_truth(_write(tmp_path, GOOD))
    with pytest.raises(ModelOutputInvalid, match="expected a JSON list of detections"):
        load_results(_write(tmp_path, {"images": []}, "r.json"), gt, "baseline")
    wrapped = {"annotations": [{"image_id": 0, "category_id": 1, "bbox": [0, 0, 1, 1], "score": 1}]}
    assert len(load_results(_write(tmp_path, wrapped, "w.json"), gt, "baseline")) == 1


def test_zero_based_annotation_ids_would_mislead_pycocotools(tmp_path: Path) -> None:
    """Why annotations are re-numbered: pycocotools records a match by the box's id, and id 0 reads as no match."""
    import numpy as np
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    from evalaction.detection.coco import quiet
    from evalaction.detection.metrics import evaluate

    doc = {
        "images": [{"id": 1, "file_name": "a.png"}],
        "categories": [{"id": 1, "name": "a"}],
        "annotations": [
            {"id": 0, "image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10], "area": 100, "iscrowd": 0}
        ],
    }
    dets = [
        {"image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10], "score": 0.9},
        {"image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10], "score": 0.8},
    ]
    gt_path = _write(tmp_path, doc)
    with quiet():
        raw = COCO(str(gt_path))
        E = COCOeval(raw, raw.loadRes(json.loads(json.dumps(dets))), "bbox")
        E.evaluate()
    dtm = E.evalImgs[0]["dtMatches"][0]
    assert np.array_equal(dtm, [0, 0])  # the true positive is recorded as "matched id 0": a false positive
    ours = evaluate(load_ground_truth(gt_path), dets)
    assert np.array_equal(ours.evalImgs[0]["dtMatches"][0], [1, 0])  # one true positive, one duplicate

"""Decoding detector outputs: box formats, layouts, NMS, and the way back from the input size to the image."""

from __future__ import annotations

import numpy as np
import pytest

from evalaction.detection.decode import Resize, batched_nms, box_iou, decode, nms, to_xyxy
from evalaction.detection.spec import DetectorSpec
from evalaction.exceptions import ModelOutputInvalid


def test_box_formats() -> None:
    xyxy = np.array([[10.0, 20.0, 50.0, 80.0]])
    assert np.array_equal(to_xyxy(xyxy, "xyxy"), xyxy)
    assert np.array_equal(to_xyxy(np.array([[10.0, 20.0, 40.0, 60.0]]), "xywh"), xyxy)
    assert np.array_equal(to_xyxy(np.array([[30.0, 50.0, 40.0, 60.0]]), "cxcywh"), xyxy)


def test_iou_against_pycocotools() -> None:
    from pycocotools import mask as mask_utils

    rng = np.random.default_rng(0)
    xywh = np.column_stack([rng.uniform(0, 50, (30, 2)), rng.uniform(1, 40, (30, 2))])
    xyxy = to_xyxy(xywh, "xywh")
    ref = np.asarray(mask_utils.iou(xywh.tolist(), xywh.tolist(), [0] * 30))
    for i in range(30):
        assert box_iou(xyxy[i], xyxy) == pytest.approx(ref[i], abs=1e-12)


def _reference_nms(boxes: np.ndarray, scores: np.ndarray, thr: float) -> list[int]:
    """The textbook loop: visit by score, keep a box unless it overlaps a kept one by more than thr."""
    kept: list[int] = []
    for i in sorted(range(len(scores)), key=lambda i: -scores[i]):
        if all(box_iou(boxes[k], boxes[i : i + 1])[0] <= thr for k in kept):
            kept.append(i)
    return kept


def test_nms_against_the_textbook_loop() -> None:
    rng = np.random.default_rng(1)
    for _ in range(20):
        xy = rng.uniform(0, 60, (40, 2))
        boxes = np.column_stack([xy, xy + rng.uniform(5, 40, (40, 2))])
        scores = rng.uniform(size=40)
        assert nms(boxes, scores, 0.5).tolist() == _reference_nms(boxes, scores, 0.5)


def test_nms_by_hand_and_class_wise() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30], [0, 0, 10, 10]], dtype=float)
    scores = np.array([0.9, 0.8, 0.7, 0.6])
    assert nms(boxes, scores, 0.5).tolist() == [0, 2]  # IoU(0, 1) = 81 / 119 = 0.68 > 0.5
    # box 3 repeats box 0 but is another class: kept
    assert sorted(batched_nms(boxes, scores, np.array([0, 0, 0, 1]), 0.5).tolist()) == [0, 2, 3]


def test_letterbox_and_stretch_round_trip() -> None:
    r = Resize.letterbox(height=100, width=200, in_h=64, in_w=64)
    assert (r.scale_x, r.pad_x, r.pad_y) == (0.32, 0.0, 16.0)
    s = Resize.stretch(height=100, width=200, in_h=64, in_w=64)
    assert (s.scale_x, s.scale_y) == (0.32, 0.64)


SPEC_ARGS = {"score_threshold": 0.25, "nms_iou": 0.5}


def test_yolo_v5_decode() -> None:
    """cx, cy, w, h, objectness, 2 class probabilities; score = objectness * class probability."""
    rows = np.array(
        [
            [32, 32, 20, 10, 0.9, 0.9, 0.1],  # class 0 at 0.81
            [33, 32, 20, 10, 0.8, 0.8, 0.2],  # overlaps the first: suppressed
            [10, 10, 4, 4, 0.5, 0.2, 0.8],  # class 1 at 0.4; class 0 at 0.1 is under the threshold
        ]
    )[None]
    r = Resize.stretch(height=128, width=256, in_h=64, in_w=64)
    got = decode([rows], DetectorSpec(layout="yolo_v5", **SPEC_ARGS), r, [7, 9], image_id=3, label="m")
    assert [(d["category_id"], d["score"]) for d in got] == [(7, 0.81), (9, 0.4)]
    assert got[0]["bbox"] == [(22 / 0.25), 54.0, 80.0, 20.0]  # x 22..42 -> 88..168; y 27..37 -> 54..74
    assert got[1]["bbox"] == [32.0, 16.0, 16.0, 8.0]
    assert all(d["image_id"] == 3 for d in got)


def test_yolo_v8_decode_is_transposed_and_normalized_boxes_scale() -> None:
    rows = np.array([[0.5, 0.5, 0.25, 0.5, 0.1, 0.7]])  # normalised cx, cy, w, h; 2 class scores
    spec = DetectorSpec(layout="yolo_v8", normalized=True, **SPEC_ARGS)
    got = decode([rows.T[None]], spec, Resize.stretch(64, 64, 64, 64), [1, 2], image_id=1, label="m")
    assert got == [{"image_id": 1, "category_id": 2, "bbox": [24.0, 16.0, 16.0, 32.0], "score": 0.7}]


def test_boxes_scores_classes_with_letterbox_and_background() -> None:
    boxes = np.array([[[0, 16, 32, 48], [10, 20, 20, 30]]], dtype=float)  # xyxy in the 64 x 64 input
    scores = np.array([[0.9, 0.1]])
    classes = np.array([[1.0, 2.0]])  # 0 would be background
    spec = DetectorSpec(layout="boxes_scores_classes", background_class=True, **SPEC_ARGS)
    r = Resize.letterbox(height=100, width=200, in_h=64, in_w=64)  # scale 0.32, pad_y 16
    got = decode([boxes, scores, classes], spec, r, [5, 6], image_id="a", label="m")
    assert got == [{"image_id": "a", "category_id": 5, "bbox": [0.0, 0.0, 100.0, 100.0], "score": 0.9}]


def test_boxes_scores_per_class() -> None:
    boxes = np.array([[0, 0, 10, 10], [0, 0, 10, 10]], dtype=float)
    scores = np.array([[0.1, 0.9, 0.3], [0.6, 0.05, 0.0]])  # column 0 is background here
    spec = DetectorSpec(layout="boxes_scores", background_class=True, **SPEC_ARGS)
    got = decode([boxes, scores], spec, Resize.stretch(10, 10, 10, 10), [1, 2], image_id=1, label="m")
    assert [(d["category_id"], d["score"]) for d in got] == [(1, 0.9), (2, 0.3)]


@pytest.mark.parametrize(
    ("outputs", "spec", "message"),
    [
        ([np.zeros((1, 4, 4))], DetectorSpec(layout="yolo_v5"), r"needs more than 5 columns"),
        ([np.zeros((1, 3, 4))], DetectorSpec(layout="boxes_scores"), r"needs 2 outputs, the model gives 1"),
        (
            [np.zeros((3, 4)), np.zeros(3), np.zeros(2)],
            DetectorSpec(layout="boxes_scores_classes"),
            r"disagree in length \(3, 3, 2\)",
        ),
        (
            [np.array([[1, 1, 4, 4, 0.9, 0.1, 0.1, 0.9]])],
            DetectorSpec(layout="yolo_v5"),
            r"class index 2 but 2 classes are mapped; set `detector.class_ids`",
        ),
        ([np.full((1, 7), np.nan)], DetectorSpec(layout="yolo_v5", score_threshold=0), r"NaN or inf"),
    ],
)
def test_bad_outputs_fail_in_one_line(outputs: list, spec: DetectorSpec, message: str) -> None:
    with pytest.raises(ModelOutputInvalid, match=message):
        decode(outputs, spec, Resize.stretch(8, 8, 8, 8), [1, 2], image_id=1, label="candidate model m.onnx")

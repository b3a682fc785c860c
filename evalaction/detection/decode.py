"""ONNX detector outputs -> COCO detections: the declared layout, box format, score threshold, class-wise NMS,
and the way back from the network's input size to the image's pixels. Pure numpy.

The decode of each layout (`DetectorSpec.layout`; a leading batch axis of 1 is dropped first):
  boxes_scores_classes  boxes (N, 4), scores (N,), classes (N,)          -> one detection per row
  boxes_scores          boxes (N, 4), scores (N, C)                      -> one per row and class over threshold
  yolo_v5               (N, 5 + C): box, objectness, class probabilities -> score = objectness * class prob.,
                                                                             one per row and class over threshold
  yolo_v8               (4 + C, N), transposed to (N, 4 + C): box, class scores -> one per row and class
Boxes are converted to xyxy in input pixels (multiplying normalised boxes by the input size), filtered by
`score_threshold`, suppressed class by class at `nms_iou`, cut to the `max_detections` best, mapped back to the
image (undoing the stretch or the letterbox), clipped to it, and written as COCO [x, y, width, height].
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from evalaction.exceptions import ModelOutputInvalid

if TYPE_CHECKING:
    import numpy as np

    from evalaction.detection.spec import DetectorSpec


@dataclass(frozen=True)
class Resize:
    """How an image of (height, width) became the network input of (in_h, in_w)."""

    height: int
    width: int
    in_h: int
    in_w: int
    scale_x: float  # input pixels per image pixel
    scale_y: float
    pad_x: float
    pad_y: float

    @classmethod
    def stretch(cls, height: int, width: int, in_h: int, in_w: int) -> Resize:
        return cls(height, width, in_h, in_w, in_w / width, in_h / height, 0.0, 0.0)

    @classmethod
    def letterbox(cls, height: int, width: int, in_h: int, in_w: int) -> Resize:
        """Keep the aspect ratio; centre the image and pad the rest (as YOLO's `letterbox`)."""
        r = min(in_h / height, in_w / width)
        new_w, new_h = max(1, round(width * r)), max(1, round(height * r))
        # whole-pixel padding, as YOLO's letterbox: round(d / 2 - 0.1) on the left/top
        pad_x, pad_y = round((in_w - new_w) / 2 - 0.1), round((in_h - new_h) / 2 - 0.1)
        return cls(height, width, in_h, in_w, new_w / width, new_h / height, float(pad_x), float(pad_y))


def to_xyxy(boxes: np.ndarray, fmt: str) -> np.ndarray:
    """(N, 4) boxes in xyxy, xywh (corner + size) or cxcywh (centre + size) -> xyxy."""
    import numpy as np

    b = boxes.astype(np.float64)
    if fmt == "xyxy":
        return b.copy()
    if fmt == "xywh":
        return np.stack([b[:, 0], b[:, 1], b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]], axis=1)
    if fmt == "cxcywh":
        half_w, half_h = b[:, 2] / 2, b[:, 3] / 2
        return np.stack([b[:, 0] - half_w, b[:, 1] - half_h, b[:, 0] + half_w, b[:, 1] + half_h], axis=1)
    raise ValueError(f"unknown box format {fmt!r}")


def box_iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one xyxy box with (N, 4) xyxy boxes (areas as (x2 - x1)(y2 - y1), no +1)."""
    import numpy as np

    iw = np.clip(np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0]), 0, None)
    ih = np.clip(np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1]), 0, None)
    inter = iw * ih
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    union = area + areas - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, inter / union, 0.0)


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> np.ndarray:
    """Greedy non-maximum suppression: indices kept, by descending score; a box is dropped when its IoU with a
    kept, higher-scoring box exceeds `iou` (torchvision.ops.nms semantics)."""
    import numpy as np

    order = np.argsort(-scores, kind="stable")
    keep = []
    while len(order):
        i = order[0]
        keep.append(i)
        if len(order) == 1:
            break
        rest = order[1:]
        order = rest[box_iou(boxes[i], boxes[rest]) <= iou]
    return np.asarray(keep, dtype=np.int64)


def batched_nms(boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray, iou: float) -> np.ndarray:
    """NMS within each class (boxes of different classes never suppress each other)."""
    import numpy as np

    keep = [
        np.flatnonzero(classes == c)[nms(boxes[classes == c], scores[classes == c], iou)]
        for c in np.unique(classes)
    ]
    if not keep:
        return np.zeros(0, dtype=np.int64)
    out = np.concatenate(keep)
    return out[np.argsort(-scores[out], kind="stable")]


def _squeeze(x: np.ndarray, dims: int, what: str, label: str) -> np.ndarray:
    while x.ndim > dims and x.shape[0] == 1:
        x = x[0]
    if x.ndim != dims:
        raise ModelOutputInvalid(
            f"{label}: {what} should have {dims} dimensions (after a batch of 1), found shape {list(x.shape)}; "
            "check `detector.layout` and `detector.outputs`"
        )
    return x


def candidates(
    outputs: list[np.ndarray], spec: DetectorSpec, label: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Raw outputs -> (boxes (N, 4) in the spec's box format, scores (N,), class indices (N,)), before filtering."""
    import numpy as np

    layout = spec.layout
    need = {"boxes_scores_classes": 3, "boxes_scores": 2, "yolo_v5": 1, "yolo_v8": 1}[layout]
    if len(outputs) < need:
        raise ModelOutputInvalid(
            f"{label}: layout {layout} needs {need} outputs, the model gives {len(outputs)}; "
            "fix `detector.layout` or list the outputs in `detector.outputs`"
        )
    offset = 1 if spec.background_class else 0
    if layout == "boxes_scores_classes":
        boxes = _squeeze(np.asarray(outputs[0]), 2, "boxes", label)
        scores = _squeeze(np.asarray(outputs[1]), 1, "scores", label).astype(np.float64)
        classes = _squeeze(np.asarray(outputs[2]), 1, "classes", label)
        if not (len(boxes) == len(scores) == len(classes)):
            raise ModelOutputInvalid(
                f"{label}: boxes, scores and classes disagree in length ({len(boxes)}, {len(scores)}, "
                f"{len(classes)}); check `detector.outputs` order"
            )
        cls = np.rint(classes).astype(np.int64) - offset
        keep = cls >= 0
        return boxes[keep], scores[keep], cls[keep]
    if layout == "boxes_scores":
        boxes = _squeeze(np.asarray(outputs[0]), 2, "boxes", label)
        per_class = _squeeze(np.asarray(outputs[1]), 2, "scores", label).astype(np.float64)[:, offset:]
        if len(boxes) != len(per_class):
            raise ModelOutputInvalid(
                f"{label}: {len(boxes)} boxes but {len(per_class)} score rows; check `detector.outputs` order"
            )
    else:
        raw = _squeeze(np.asarray(outputs[0]), 2, "the output", label).astype(np.float64)
        if layout == "yolo_v8":
            raw = raw.T
        width = 5 if layout == "yolo_v5" else 4
        if raw.shape[1] <= width:
            raise ModelOutputInvalid(
                f"{label}: a {layout} output needs more than {width} columns per box, found shape "
                f"{list(raw.shape)}; check `detector.layout`"
            )
        boxes = raw[:, :4]
        per_class = raw[:, width:] * (raw[:, 4:5] if layout == "yolo_v5" else 1.0)
    rows, cls = np.nonzero(per_class >= spec.score_threshold)
    return boxes[rows], per_class[rows, cls], cls.astype(np.int64)


def decode(
    outputs: list[np.ndarray],
    spec: DetectorSpec,
    resize: Resize,
    class_ids: list[int],
    *,
    image_id: Any,
    label: str,
) -> list[dict[str, Any]]:
    """One image's raw outputs -> COCO detections (see the module docstring)."""
    import numpy as np

    if not all(np.isfinite(np.asarray(o, dtype=np.float64)).all() for o in outputs):
        raise ModelOutputInvalid(f"{label}: image {image_id!r}: the outputs contain NaN or inf; check the export")
    boxes, scores, cls = candidates(outputs, spec, label)
    keep = scores >= spec.score_threshold
    boxes, scores, cls = boxes[keep], scores[keep], cls[keep]
    if len(cls) and (cls.max() >= len(class_ids) or cls.min() < 0):
        raise ModelOutputInvalid(
            f"{label}: image {image_id!r}: class index {int(cls.max())} but {len(class_ids)} classes are mapped; "
            "set `detector.class_ids` (one COCO category id per model class)"
        )
    xyxy = to_xyxy(boxes.reshape(-1, 4), spec.resolved_box_format)
    if spec.normalized:
        xyxy *= np.array([resize.in_w, resize.in_h, resize.in_w, resize.in_h], dtype=np.float64)
    order = (
        batched_nms(xyxy, scores, cls, spec.nms_iou)
        if spec.nms_iou is not None
        else np.argsort(-scores, kind="stable")
    )[: spec.max_detections]
    xyxy, scores, cls = xyxy[order], scores[order], cls[order]
    # back to image pixels, then clip to the image
    xyxy[:, [0, 2]] = (xyxy[:, [0, 2]] - resize.pad_x) / resize.scale_x
    xyxy[:, [1, 3]] = (xyxy[:, [1, 3]] - resize.pad_y) / resize.scale_y
    xyxy[:, [0, 2]] = np.clip(xyxy[:, [0, 2]], 0, resize.width)
    xyxy[:, [1, 3]] = np.clip(xyxy[:, [1, 3]], 0, resize.height)
    out = []
    for (x1, y1, x2, y2), s, c in zip(xyxy, scores, cls, strict=True):
        w, h = max(0.0, x2 - x1), max(0.0, y2 - y1)
        out.append(
            {
                "image_id": image_id,
                "category_id": int(class_ids[int(c)]),
                "bbox": [round(float(x1), 2), round(float(y1), 2), round(float(w), 2), round(float(h), 2)],
                "score": round(float(s), 5),
            }
        )
    return out

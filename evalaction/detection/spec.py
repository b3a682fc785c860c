"""The plan's detection fields: how to read an ONNX detector's outputs, and the report's detection settings.

Imported by `evalaction.plan` at start-up, so it imports nothing but pydantic. The checks that read the
whole plan are in `evalaction.detection.plan_checks`.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Layout = Literal["boxes_scores_classes", "boxes_scores", "yolo_v5", "yolo_v8"]
BoxFormat = Literal["xyxy", "xywh", "cxcywh"]

# The box format each layout usually comes with (the YOLO heads emit centre, width, height in input pixels).
DEFAULT_BOX_FORMAT: dict[str, BoxFormat] = {
    "boxes_scores_classes": "xyxy",
    "boxes_scores": "xyxy",
    "yolo_v5": "cxcywh",
    "yolo_v8": "cxcywh",
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DetectorSpec(_Strict):
    """How to turn an ONNX detector's raw outputs into COCO detections (see evalaction/detection/decode.py).

    Layouts (a leading batch axis of 1 is dropped):
      boxes_scores_classes  three outputs: boxes (N, 4), scores (N,), class indices (N,); NMS usually done
      boxes_scores          two outputs: boxes (N, 4), per-class scores (N, C) (SSD, RetinaNet-style heads)
      yolo_v5               one output (N, 5 + C): cx, cy, w, h, objectness, class scores; score = obj * cls
      yolo_v8               one output (4 + C, N): cx, cy, w, h, class scores (transposed, no objectness)
    """

    layout: Layout = Field(description="The output layout (see the docstring of DetectorSpec).")
    box_format: BoxFormat | None = Field(
        default=None, description="xyxy, xywh or cxcywh; default: cxcywh for the YOLO layouts, else xyxy."
    )
    normalized: bool = Field(default=False, description="Boxes are fractions of the input's width and height.")
    outputs: list[str] | None = Field(
        default=None, description="Output tensor names in layout order; default: the model's outputs in order."
    )
    score_threshold: Annotated[float, Field(ge=0, le=1)] = Field(
        default=0.001, description="Drop detections scoring below this (COCO evaluations keep almost all)."
    )
    nms_iou: Annotated[float, Field(gt=0, le=1)] | None = Field(
        default=0.5, description="Class-wise non-maximum suppression at this IoU; null when the model does NMS."
    )
    max_detections: Annotated[int, Field(ge=1, le=10_000)] = Field(
        default=100, description="Keep at most this many detections per image (COCO counts 100)."
    )
    class_ids: list[int] | None = Field(
        default=None,
        description="COCO category_id of each model class index; default: the test set's classes in id order.",
    )
    background_class: bool = Field(
        default=False, description="boxes_scores/boxes_scores_classes: class index 0 is background (dropped)."
    )
    resize: Literal["stretch", "letterbox"] = Field(
        default="stretch",
        description="stretch to `preprocessing.image_size`, or letterbox (keep aspect, pad with grey 114).",
    )
    channels: Literal["first", "last"] = Field(default="first", description="NCHW (first) or NHWC (last) input.")

    @property
    def resolved_box_format(self) -> BoxFormat:
        return self.box_format or DEFAULT_BOX_FORMAT[self.layout]


class TideSpec(_Strict):
    """Thresholds of the TIDE error analysis (Bolya et al., ECCV 2020): foreground and background IoU."""

    fg_iou: Annotated[float, Field(gt=0, le=1)] = 0.5
    bg_iou: Annotated[float, Field(ge=0, lt=1)] = 0.1

    @model_validator(mode="after")
    def _ordered(self) -> TideSpec:
        if self.bg_iou >= self.fg_iou:
            raise ValueError(f"`bg_iou` ({self.bg_iou}) must be below `fg_iou` ({self.fg_iou})")
        return self


class DetectionSpec(_Strict):
    """Detection-only settings of the report (used when `task: detection`)."""

    operating_score: Annotated[float, Field(ge=0, le=1)] = Field(
        default=0.5,
        description="Score at which a detection counts as made, for error lists, flips and drawings "
        "(mAP uses every detection).",
    )
    worst_images: Annotated[int, Field(ge=0, le=100)] = Field(
        default=6, description="How many of the candidate's worst images to draw with their boxes."
    )
    tide: TideSpec = Field(default_factory=TideSpec)

"""The plan's detection fields: task, metric names, model formats, the detector section."""

from __future__ import annotations

from pathlib import Path

import pytest

from evalaction.exceptions import InvalidPlan
from evalaction.plan import parse_plan, plan_json_schema

BASE = """\
task: detection
dataset: {path: gt.json}
models:
  candidate: {path: cand.json}
metrics: {primary: map, compute: [map_50, ar_100]}
gates:
  thresholds: {"ap[cat]": ">= 0.3", map_small: ">= 0.1"}
"""


def _parse(text: str):  # noqa: ANN202
    return parse_plan(text, Path("evalaction.yml"))


def test_a_detection_plan_parses() -> None:
    plan = _parse(BASE)
    assert plan.task == "detection"
    assert plan.models.candidate.resolved_format == "coco_results"  # from the .json suffix
    assert plan.dataset.resolved_format == "coco"
    assert plan.metric_list == ["map", "map_50", "ar_100", "ap", "map_small"]
    assert plan.detection.operating_score == 0.5 and plan.detection.tide.fg_iou == 0.5


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            BASE.replace("{path: cand.json}", "{path: cand.onnx}"),
            r"line 4: `models.candidate.detector`: expected a `detector:` section for an ONNX detector",
        ),
        (
            BASE.replace("{path: cand.json}", "{path: c.onnx, detector: {layout: yolo_v7}}"),
            r"`models.candidate.detector.layout`: expected one of .*yolo_v5.*found 'yolo_v7'",
        ),
        (BASE.replace("primary: map,", "primary: accuracy,"), r"`accuracy` is a binary/multiclass metric"),
        (BASE.replace("map_small", "map_smal"), r"did you mean `map_small`\?"),
        (
            BASE.replace("primary: map,", "primary: map_50,") + "detection: {tide: {fg_iou: 0.1}}\n",
            r"`bg_iou` \(0.1\) must be below",
        ),
        (
            BASE.replace("{path: gt.json}", "{roboflow: {workspace: acme, project: boxes, version: 2}}"),
            r"`dataset.roboflow.format`: expected `coco` for task detection, found 'folder'; set `format: coco`",
        ),
        (
            BASE.replace("{path: gt.json}", "{path: gt.json, train_path: train.json}"),
            r"`dataset.train_path`: expected no training data for task detection",
        ),
        (
            BASE + "compare: {stratified: true}\n",
            r"`compare.stratified`: expected false for task detection",
        ),
        (
            BASE + "  curation: {near_duplicates: 0}\n",
            r"`gates.curation.near_duplicates`: expected a curation gate detection supports",
        ),
        (
            BASE.replace("task: detection", "task: multiclass").replace("gt.json", "t.csv"),
            r"`models.candidate.format`: expected a classifier or regressor for this task, found format: coco_results",
        ),
    ],
)
def test_bad_detection_plans_fail_in_one_line(text: str, message: str) -> None:
    with pytest.raises(InvalidPlan, match=message) as info:
        _parse(text)
    assert "\n" not in str(info.value)


def test_detection_metrics_are_rejected_for_classification() -> None:
    text = (
        "task: multiclass\ndataset: {path: t.csv}\nmodels: {candidate: {path: m.onnx}}\nmetrics: {primary: map}\n"
    )
    with pytest.raises(InvalidPlan, match=r"`map` is a detection metric: pick a multiclass metric"):
        _parse(text)


def test_onnx_detector_plan_and_schema() -> None:
    plan = _parse(
        BASE.replace(
            "{path: cand.json}",
            "{path: d.onnx, detector: {layout: yolo_v8, nms_iou: null, class_ids: [3, 5]}, "
            "preprocessing: {image_size: [320, 320]}}",
        )
    )
    det = plan.models.candidate.detector
    assert det is not None and det.resolved_box_format == "cxcywh" and det.nms_iou is None
    schema = plan_json_schema()
    assert "detection" in schema["properties"]["task"]["enum"]
    assert "DetectorSpec" in schema["$defs"]

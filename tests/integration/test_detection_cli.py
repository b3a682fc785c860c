"""Detection end to end through the CLI: the embedded shapes demo, and a tiny real ONNX detector."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from evalaction.artifacts import RunResult
from evalaction.cli import main
from tests.conftest import ROOT

SHAPES = ROOT / "examples" / "shapes"


@pytest.fixture(scope="module")
def shapes_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    """One run of the shapes demo through the CLI, as the README gives it, shared by this module's tests."""
    out = tmp_path_factory.mktemp("shapes") / "out-shapes"
    result = CliRunner().invoke(main, ["run", "-c", str(SHAPES / "evalaction.yml"), "-o", str(out)])
    return out, result


def test_demo_gives_a_detection_report_with_a_verdict(shapes_run) -> None:
    out, result = shapes_run
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    run = RunResult.read(out / "results.json")
    assert result.exit_code == (1 if run.verdict.decision == "NO-GO" else 0)
    assert result.stdout.startswith(f"verdict: {run.verdict.decision}")
    for stage in ("plan", "inference", "metrics", "errors", "compare", "readiness", "verdict", "report"):
        assert f"  {stage:<10}" in result.stderr
    assert run.detection is not None and run.inference.task == "detection"
    for name in (
        "plan.json",
        "inference.json",
        "metrics.json",
        "errors.json",
        "compare.json",
        "readiness.json",
        "verdict.json",
        "detection_card.json",
        "detection_metrics.json",
        "detection_errors.json",
        "detections_candidate.json",
        "detections_baseline.json",
    ):
        assert (out / name).is_file(), name
    md = (out / "report.md").read_text()
    assert "Detection: COCO box metrics" in md and "Detection errors (TIDE)" in md
    assert "| mAP@[.5:.95] |" in md and "| triangle |" in md and "Worst images" in md
    assert "Metrics: overall and per class" not in md  # the classification section is replaced
    html = (out / "report.html").read_text()
    assert html.count('src="data:image/png;base64,') == len(run.detection.errors.worst_images) > 0
    assert html.count("<svg") == 3  # a PR curve per class
    assert "pycocotools" not in result.stdout and "Accumulating" not in result.output  # silenced


def test_demo_gates_read_detection_metrics(shapes_run) -> None:
    out, _ = shapes_run
    run = RunResult.read(out / "results.json")
    gates = {(g.kind, g.name): g for g in run.verdict.gates}
    assert gates["threshold", "map"].observed == run.metrics.candidate.overall["map"]
    assert gates["threshold", "ap[triangle]"].observed == run.metrics.candidate.per_class["ap"]["triangle"]
    cmp = run.compare.get("map") if run.compare else None
    assert cmp is not None and cmp.test == "paired image bootstrap (BCa)"
    assert cmp.ci_low < cmp.delta < cmp.ci_high and cmp.tost_ci_low > cmp.ci_low
    assert cmp.passed is True and gates["vs_baseline", "map"].status == "pass"
    assert run.compare.holm_family == ["map", "ap[triangle]"]
    assert run.readiness.skipped and "COCO results file" in run.readiness.skipped
    flips = run.compare.flips
    assert flips is not None and flips.n_negative == run.errors.n_negative_flips > 0
    assert flips.n_positive == run.errors.n_positive_flips
    assert sum(c.negative for c in flips.per_class.values()) == flips.n_negative
    assert {c: f.n for c, f in flips.per_class.items()} == run.detection.card.boxes_per_class
    assert run.errors.negative_flips_by_class == {c: f.negative for c, f in flips.per_class.items()}
    # at the operating score, missed boxes are the misses no classification/localization error explains
    missed = sum(c.count for c in run.errors.confusion_pairs if c.predicted == "missed")
    assert 0 < missed <= run.detection.errors.candidate.operating.fn
    assert all(c.baseline_count is not None for c in run.errors.confusion_pairs)


def test_error_gates_count_lost_boxes(tmp_path: Path) -> None:
    """`gates.errors` limits the boxes the baseline found and the candidate lost, overall or per class."""
    from evalaction.pipeline import run_pipeline
    from evalaction.plan import load_plan

    shutil.copytree(SHAPES, tmp_path / "shapes")
    plan_file = tmp_path / "shapes" / "evalaction.yml"
    text = plan_file.read_text().replace("n_bootstrap: 1000", "n_bootstrap: 100")
    plan_file.write_text(
        text + "  errors:\n    negative_flips: {max: 1000}\n    negative_flips[triangle]: {max: 0}\n"
    )
    run = run_pipeline(loaded=load_plan(plan_file), out_dir=tmp_path / "out")
    gates = {g.name: g for g in run.verdict.gates if g.kind == "errors"}
    flips = run.compare.flips if run.compare else None
    assert flips is not None
    assert gates["negative_flips"].status == "pass" and gates["negative_flips"].observed == flips.n_negative
    lost = flips.per_class["triangle"].negative
    assert gates["negative_flips[triangle]"].observed == lost > 0
    assert gates["negative_flips[triangle]"].status == "fail"


def test_demo_numbers_equal_pycocotools_on_the_committed_files(shapes_run) -> None:
    """The demo's metrics are pycocotools' on the committed files (its ids start at 0: re-numbering must not
    change any number, since pycocotools run on the raw file is only wrong for matches of annotation id 0)."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    from evalaction.detection.coco import quiet
    from evalaction.detection.metrics import STATS

    out, _ = shapes_run
    run = RunResult.read(out / "results.json")
    doc = json.loads((SHAPES / "data" / "annotations.json").read_text())
    for a in doc["annotations"]:
        a["id"] += 1  # the one change the reader makes: ids from 1
    gt_file = out / "gt_from_1.json"
    gt_file.write_text(json.dumps(doc))
    for role in ("candidate", "baseline"):
        with quiet():
            gt = COCO(str(gt_file))
            E = COCOeval(gt, gt.loadRes(str(SHAPES / "models" / f"{role}.json")), "bbox")
            E.evaluate()
            E.accumulate()
            E.summarize()
        stats = (
            run.detection.metrics.candidate.stats if role == "candidate" else run.detection.metrics.baseline.stats
        )
        assert [stats[k] for k in STATS] == [None if v < 0 else float(v) for v in E.stats]


def test_report_rerenders_and_plan_prints(shapes_run, tmp_path: Path) -> None:
    out, _ = shapes_run
    before = (out / "report.md").read_text()
    result = CliRunner().invoke(main, ["report", str(out)])
    assert result.exit_code == 0, result.output
    assert (out / "report.md").read_text() == before
    plan = CliRunner().invoke(main, ["plan", "-c", str(SHAPES / "evalaction.yml")])
    assert plan.exit_code == 0, plan.output
    assert "task: **detection**" in plan.output and "| triangle |" in plan.output


def test_demo_files_regenerate_from_the_seed(tmp_path: Path) -> None:
    """make_shapes.py reproduces the committed ground truth, results and pixels."""
    import importlib.util

    from PIL import Image

    spec = importlib.util.spec_from_file_location("make_shapes", SHAPES / "make_shapes.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["make_shapes"] = module  # dataclasses look their module up while the class is built
    try:
        spec.loader.exec_module(module)
        module.main(tmp_path)
    finally:
        del sys.modules["make_shapes"]
    for rel in ("data/annotations.json", "models/baseline.json", "models/candidate.json"):
        assert (tmp_path / rel).read_text() == (SHAPES / rel).read_text(), rel
    for png in sorted((SHAPES / "data" / "images").glob("*.png")):
        assert np.array_equal(
            np.asarray(Image.open(png)), np.asarray(Image.open(tmp_path / "data/images" / png.name))
        )


def test_curation_gates_read_the_detection_card(tmp_path: Path) -> None:
    """Boxes per class are the class counts: `min_class_samples` and `class_balance` gate on them."""
    from evalaction.detection.stages import load_plan_ground_truth, run_detection_plan
    from evalaction.plan import load_plan
    from evalaction.stages.plan import curation_gates

    shutil.copytree(SHAPES, tmp_path / "shapes", ignore=shutil.ignore_patterns("images"))
    plan_file = tmp_path / "shapes" / "evalaction.yml"
    plan_file.write_text(
        plan_file.read_text() + "  curation: {min_class_samples: 55, class_balance: 0.5, duplicates: 0}\n"
    )
    loaded = load_plan(plan_file)
    plan, card = run_detection_plan(loaded=loaded, gt=load_plan_ground_truth(loaded))
    counts = card.boxes_per_class
    gates = {g.name: g for g in curation_gates(plan)}
    assert gates["min_class_samples"].observed == min(counts.values())
    assert gates["min_class_samples"].status == ("pass" if min(counts.values()) >= 55 else "fail")
    assert gates["class_balance"].observed == min(counts.values()) / max(counts.values())
    assert gates["duplicates"].status == "skipped" or gates["duplicates"].observed == 0
    assert any("images folder" in w for w in plan.dataset.warnings)  # images left out of the copy


def test_unknown_class_in_a_gate_is_a_plan_error(tmp_path: Path) -> None:
    shutil.copytree(SHAPES, tmp_path / "shapes")
    plan = tmp_path / "shapes" / "evalaction.yml"
    plan.write_text(plan.read_text().replace('"ap[triangle]": ">= 0.35"', '"ap[triangel]": ">= 0.35"'))
    result = CliRunner().invoke(main, ["run", "-c", str(plan), "-o", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "`gates.thresholds.ap[triangel]`: expected a class of annotations.json" in result.stderr
    assert "did you mean `triangle`?" in result.stderr


# --------------------------------------------------------------------------------------- a tiny ONNX detector


def _box_detector(path: Path) -> None:
    """A real (if tiny) detector: the bounding box of the bright pixels of a 64 x 64 input, class 0, score 0.9,
    in the boxes_scores_classes layout (boxes [1, 1, 4] xyxy, scores [1, 1], classes [1, 1])."""
    import onnx
    from onnx import TensorProto, helper

    def argmax(name: str, src: str, last: int) -> onnx.NodeProto:
        return helper.make_node("ArgMax", [src], [name], axis=1, keepdims=0, select_last_index=last)

    def constant(name: str, dtype: int, dims: list[int], values: list[float]) -> onnx.NodeProto:
        return helper.make_node("Constant", [], [name], value=helper.make_tensor(name, dtype, dims, values))

    nodes = [
        constant("half", TensorProto.FLOAT, [], [0.5]),
        constant("one", TensorProto.INT64, [1], [1]),
        constant("shape", TensorProto.INT64, [3], [1, 1, 4]),
        constant("scores", TensorProto.FLOAT, [1, 1], [0.9]),
        constant("classes", TensorProto.FLOAT, [1, 1], [0]),
        helper.make_node("ReduceMax", ["images"], ["gray"], axes=[1], keepdims=0),  # [1, H, W]
        helper.make_node("ReduceMax", ["gray"], ["cols"], axes=[1], keepdims=0),  # [1, W]
        helper.make_node("ReduceMax", ["gray"], ["rows"], axes=[2], keepdims=0),  # [1, H]
        helper.make_node("Greater", ["cols", "half"], ["col_on"]),
        helper.make_node("Greater", ["rows", "half"], ["row_on"]),
        helper.make_node("Cast", ["col_on"], ["col_f"], to=TensorProto.FLOAT),
        helper.make_node("Cast", ["row_on"], ["row_f"], to=TensorProto.FLOAT),
        argmax("x1", "col_f", 0),
        argmax("x2_", "col_f", 1),
        argmax("y1", "row_f", 0),
        argmax("y2_", "row_f", 1),
        helper.make_node("Add", ["x2_", "one"], ["x2"]),
        helper.make_node("Add", ["y2_", "one"], ["y2"]),
        helper.make_node("Concat", ["x1", "y1", "x2", "y2"], ["xyxy"], axis=0),
        helper.make_node("Cast", ["xyxy"], ["xyxy_f"], to=TensorProto.FLOAT),
        helper.make_node("Reshape", ["xyxy_f", "shape"], ["boxes"]),
    ]
    graph = helper.make_graph(
        nodes,
        "box_of_bright_pixels",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, 64, 64])],
        [
            helper.make_tensor_value_info("boxes", TensorProto.FLOAT, [1, 1, 4]),
            helper.make_tensor_value_info("scores", TensorProto.FLOAT, [1, 1]),
            helper.make_tensor_value_info("classes", TensorProto.FLOAT, [1, 1]),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)


ONNX_PLAN = """\
version: 1
task: detection
dataset: {path: gt.json, images_dir: images}
models:
  candidate:
    path: detector.onnx
    preprocessing: {scale: 0.00392156862745098}
    detector: {layout: boxes_scores_classes, outputs: [boxes, scores, classes]}
  baseline:
    path: baseline.onnx
    preprocessing: {scale: 0.00392156862745098}
    detector: {layout: boxes_scores_classes}
metrics: {primary: map_50}
compare: {n_bootstrap: 200}
readiness: {latency_repeats: 5, warmup: 1}
gates:
  thresholds: {map_50: ">= 0.99"}
  vs_baseline: {map: {rule: not_worse, margin: 0.01}}
  budgets: {latency_p95_ms: 1000}
"""


def test_onnx_detector_end_to_end(tmp_path: Path) -> None:
    from PIL import Image

    rng = np.random.default_rng(0)
    (tmp_path / "images").mkdir()
    images, anns = [], []
    for i in range(8):
        w, h = 96, 80  # not the 64 x 64 input: boxes must be mapped back to the image
        x, y = int(rng.integers(0, 50)), int(rng.integers(0, 40))
        bw, bh = int(rng.integers(20, w - x)), int(rng.integers(16, h - y))
        pixels = np.zeros((h, w, 3), dtype=np.uint8)
        pixels[y : y + bh, x : x + bw] = 255
        Image.fromarray(pixels).save(tmp_path / "images" / f"{i}.png")
        images.append({"id": i, "file_name": f"{i}.png", "width": w, "height": h})
        anns.append(
            {"id": i, "image_id": i, "category_id": 1, "bbox": [x, y, bw, bh], "area": bw * bh, "iscrowd": 0}
        )
    doc = {"images": images, "categories": [{"id": 1, "name": "box"}], "annotations": anns}
    (tmp_path / "gt.json").write_text(json.dumps(doc))
    _box_detector(tmp_path / "detector.onnx")
    shutil.copy(tmp_path / "detector.onnx", tmp_path / "baseline.onnx")
    (tmp_path / "evalaction.yml").write_text(ONNX_PLAN)
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["run", "-c", str(tmp_path / "evalaction.yml"), "-o", str(out)])
    assert result.exit_code == 0, result.output
    run = RunResult.read(out / "results.json")
    assert run.verdict.decision == "GO"
    dets = json.loads((out / "detections_candidate.json").read_text())
    assert len(dets) == len(anns)
    for d, a in zip(sorted(dets, key=lambda d: d["image_id"]), anns, strict=True):
        assert d["category_id"] == 1 and d["score"] == pytest.approx(0.9)
        assert np.allclose(d["bbox"], a["bbox"], atol=2.0), (d["bbox"], a["bbox"])  # 96/64 px quantisation
    assert run.metrics.candidate.overall["map_50"] == pytest.approx(1.0)
    assert run.compare is not None and run.compare.get("map").delta == 0.0  # the same model twice
    assert run.readiness.candidate is not None and run.readiness.candidate.latency_p95_ms > 0
    assert run.inference.candidate.runner == "onnxruntime"


def test_onnx_detector_output_names_are_checked(tmp_path: Path) -> None:
    from evalaction.exceptions import CannotLoadModel
    from evalaction.pipeline import run_pipeline
    from evalaction.plan import load_plan

    (tmp_path / "images").mkdir()
    (tmp_path / "gt.json").write_text(
        json.dumps(
            {
                "images": [{"id": 1, "file_name": "a.png"}],
                "categories": [{"id": 1, "name": "box"}],
                "annotations": [],
            }
        )
    )
    _box_detector(tmp_path / "detector.onnx")
    (tmp_path / "evalaction.yml").write_text(
        ONNX_PLAN.replace("outputs: [boxes, scores, classes]", "outputs: [boxes, score, classes]").replace(
            "  baseline:\n    path: baseline.onnx\n    preprocessing: {scale: 0.00392156862745098}\n    detector: {layout: boxes_scores_classes}\n",
            "",
        )
    )
    with pytest.raises(CannotLoadModel, match=r"`detector.outputs` names 'score', not an output of the model"):
        run_pipeline(loaded=load_plan(tmp_path / "evalaction.yml"), out_dir=tmp_path / "out")

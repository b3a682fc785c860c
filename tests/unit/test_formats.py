"""The one table of model formats, the plan fields each task honours or refuses, and deltas in a metric's units."""

from __future__ import annotations

from pathlib import Path

import pytest

from evalaction import formats
from evalaction.exceptions import InvalidPlan
from evalaction.plan import parse_plan
from evalaction.report.render import delta_in


@pytest.mark.parametrize(
    ("path", "fmt", "module", "kind", "explainer", "profiler", "pickle"),
    [
        ("m.onnx", None, None, "onnx", "perturbation", "onnx", False),
        ("m.pt", None, None, "torchscript", "gradient", "torch_export", True),
        ("m.TS", None, None, "torchscript", "gradient", "torch_export", True),
        ("m.pt2", None, None, "torch.export", "gradient", "torch_export", True),
        ("m.safetensors", None, "nets:Net", "state_dict", "gradient", "torch_export", False),
        ("m.pth", None, "nets:Net", "state_dict", "gradient", "torch_export", True),
        ("m.csv", None, None, "predictions", None, None, False),
        ("m.parquet", None, None, "predictions", None, None, False),
        ("m.json", None, None, "coco_results", None, None, False),
        ("m.bin", None, None, "onnx", "perturbation", "onnx", False),  # unknown suffix: ONNX, as before
        ("m.model", "torch", None, "torchscript", "gradient", "torch_export", True),  # the plan's format wins
        ("m.onnx", "predictions", None, "predictions", None, None, False),
    ],
)
def test_every_suffix_maps_to_one_row(
    path: str,
    fmt: str | None,
    module: str | None,
    kind: str,
    explainer: str | None,
    profiler: str | None,
    pickle: bool,
) -> None:
    row = formats.model_kind(path, fmt, module)  # type: ignore[arg-type]
    assert (row.kind, row.explainer, row.profiler, row.pickle) == (kind, explainer, profiler, pickle)
    if explainer is None:
        assert row.no_explainer.startswith("no model to attribute")
        assert row.no_profiler.startswith("no model to profile")


def test_a_safetensors_file_needs_its_module() -> None:
    with pytest.raises(formats.MissingModule, match="set `module: package.module:Class`"):
        formats.model_kind("w.safetensors")


def test_the_plan_reads_the_format_from_the_table() -> None:
    for suffix, fmt in formats.SUFFIX_FORMATS.items():
        plan = parse_plan(_classification(f"m{suffix}"), Path("evalaction.yml")) if fmt != "coco_results" else None
        if plan is not None:
            assert plan.models.candidate.resolved_format == fmt


def _classification(model: str, extra: str = "") -> str:
    return (
        "task: binary\ndataset: {path: d.csv, label_column: y}\n"
        f"models:\n  candidate: {{path: {model}{extra}}}\n  baseline: {{path: {model}{extra}}}\n"
        "metrics: {primary: accuracy}\n"
    )


def test_gradient_methods_accept_a_safetensors_model_and_refuse_onnx() -> None:
    ok = _classification("m.safetensors", ", module: 'nets:Net'") + "errors: {attributions: {method: saliency}}\n"
    assert parse_plan(ok, Path("evalaction.yml")).errors.attributions.method == "saliency"
    bad = _classification("m.onnx") + "errors: {attributions: {method: saliency}}\n"
    with pytest.raises(InvalidPlan, match=r"`errors.attributions.method`.*not a torch model"):
        parse_plan(bad, Path("evalaction.yml"))


# ------------------------------------------------------------------------------------- margins in metric units

REGRESSION = """\
task: regression
dataset: {path: d.csv, label_column: y}
models:
  candidate: {path: c.onnx}
  baseline: {path: b.onnx}
metrics: {primary: rmse}
gates:
  vs_baseline: {RULE}
"""


def test_a_regression_margin_is_in_the_targets_units() -> None:
    plan = parse_plan(REGRESSION.replace("{RULE}", "{rmse: {rule: not_worse, margin: 2}}"), Path("evalaction.yml"))
    assert plan.gates.vs_baseline["rmse"].margin == 2


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ("compare: {stratified: true}\n", "compare.stratified"),
        ("errors: {confident_threshold: 0.8}\n", "errors.confident_threshold"),
        ("errors: {ambiguous_margin: 0.2}\n", "errors.ambiguous_margin"),
        ("errors: {ood_max_probability: 0.3}\n", "errors.ood_max_probability"),
    ],
)
def test_regression_refuses_classification_fields(extra: str, field: str) -> None:
    text = REGRESSION.replace("gates:\n  vs_baseline: {RULE}\n", extra)
    with pytest.raises(InvalidPlan, match=rf"`{field}`: expected a classification task"):
        parse_plan(text, Path("evalaction.yml"))


def test_regression_accepts_the_defaults_written_out() -> None:
    extra = "compare: {stratified: false}\nerrors: {confident_threshold: 0.9, regression_flip_threshold: 3}\n"
    plan = parse_plan(REGRESSION.replace("gates:\n  vs_baseline: {RULE}\n", extra), Path("evalaction.yml"))
    assert plan.errors.regression_flip_threshold == 3


def test_negative_flip_gates_are_refused_for_regression() -> None:
    text = REGRESSION.replace("{RULE}", "{rmse: not_worse}") + "  errors: {negative_flips: {max: 3}}\n"
    with pytest.raises(
        InvalidPlan, match=r"`gates.errors.negative_flips`: expected a classification or detection"
    ):
        parse_plan(text, Path("evalaction.yml"))


def test_a_rate_margin_above_one_is_refused_with_the_fix() -> None:
    text = _classification("m.onnx") + "gates:\n  vs_baseline: {accuracy: {rule: not_worse, margin: 2}}\n"
    with pytest.raises(InvalidPlan, match=r"`gates.vs_baseline.accuracy.margin`: expected a margin <= 1 .*0\.02"):
        parse_plan(text, Path("evalaction.yml"))


@pytest.mark.parametrize(
    ("value", "metric", "companions", "expected"),
    [
        (0.049, "rmse", (-0.025, 0.105), "+0.049"),
        (4.91, "rmse", (-2.46, 10.52), "+4.9"),
        (-2.46, "rmse", (4.91, 10.52), "-2.5"),
        (490.7, "rmse", (), "+491"),  # 3 significant digits, no fake precision
        (0.012, "accuracy", (), "+1.2 pt"),
        (-0.031, "recall[7]", (), "-3.1 pt"),
        (0.02, "map", (), "+2.0 pt"),  # detection metrics are rates
        (None, "rmse", (), "n/a"),
    ],
)
def test_deltas_read_in_the_metrics_units(
    value: float | None, metric: str, companions: tuple[float, ...], expected: str
) -> None:
    assert delta_in(value, metric, *companions) == expected


# ------------------------------------------------------------------------- detection refuses what it cannot do

DETECTION = """\
task: detection
dataset: {path: gt.json}
models:
  candidate: {path: cand.json}
metrics: {primary: map}
"""


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ("inference: {modal: {gpu: T4}}\n", "inference.modal"),
        ("inference: {device: cuda}\n", "inference.device"),
        ("errors: {attributions: {enabled: true}}\n", "errors.attributions.enabled"),
        ("errors: {confident_threshold: 0.8}\n", "errors.confident_threshold"),
    ],
)
def test_detection_refuses_fields_it_cannot_honour(extra: str, field: str) -> None:
    with pytest.raises(InvalidPlan) as err:
        parse_plan(DETECTION + extra, Path("evalaction.yml"))
    message = str(err.value)
    assert f"`{field}`" in message and "\n" not in message


def test_detection_accepts_what_it_honours() -> None:
    plan = parse_plan(
        DETECTION + "inference: {device: cpu}\nerrors: {attributions: {enabled: false}}\nwandb: {project: p}\n",
        Path("evalaction.yml"),
    )
    assert plan.inference.device == "cpu"

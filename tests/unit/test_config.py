"""The plan: valid plans load; every malformed plan gets one line naming the file, line, field and fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from evalaction.exceptions import InvalidPlan
from evalaction.plan import load_plan, plan_json_schema
from tests.conftest import VALID_PLAN


def test_valid_plan_loads(plan_dir: Path) -> None:
    loaded = load_plan(plan_dir / "evalaction.yml")
    assert loaded.plan.task == "multiclass"
    assert loaded.plan.metric_list == ["accuracy", "macro_f1"]
    assert loaded.resolve("data/test.csv") == (plan_dir / "data" / "test.csv").resolve()


def test_short_gate_forms_expand(plan_dir: Path) -> None:
    text = VALID_PLAN + "  vs_baseline:\n    macro_f1: not_worse\n  budgets:\n    model_size_mb: 50\n"
    (plan_dir / "evalaction.yml").write_text(text)
    gates = load_plan(plan_dir / "evalaction.yml").plan.gates
    assert gates.vs_baseline["macro_f1"].rule == "not_worse"
    assert gates.budgets["model_size_mb"].max == 50
    assert gates.thresholds["accuracy"].op == ">=" and gates.thresholds["accuracy"].value == 0.9


def _edit(text: str, old: str, new: str) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


# (id, transform of the valid plan text, the exact one-line message)
MALFORMED = [
    (
        "unknown top-level key",
        lambda t: t + "metrcis: {}\n",
        "evalaction.yml line 19: `metrcis`: unknown key; did you mean `metrics`?",
    ),
    (
        "unknown nested key",
        lambda t: _edit(t, "  label_column: label", "  label_colum: label"),
        "evalaction.yml line 5: `dataset.label_colum`: unknown key; did you mean `label_column`?",
    ),
    (
        "unknown key in a model",
        lambda t: _edit(t, "    outputs: logits", "    output: logits"),
        "evalaction.yml line 10: `models.candidate.output`: unknown key; did you mean `outputs`?",
    ),
    (
        "wrong task",
        lambda t: _edit(t, "task: multiclass", "task: multiclas"),
        "evalaction.yml line 2: `task`: expected one of 'binary', 'multiclass', 'regression' or 'detection', "
        "found 'multiclas'; did you mean `multiclass`?",
    ),
    (
        "missing task",
        lambda t: _edit(t, "task: multiclass\n", ""),
        "evalaction.yml: `task`: required, but missing; add it (see `evalaction schema`)",
    ),
    (
        "missing candidate",
        lambda t: _edit(t, "  candidate:\n    path: models/candidate.onnx\n    outputs: logits\n", ""),
        "evalaction.yml line 7: `models.candidate`: required, but missing; add it (see `evalaction schema`)",
    ),
    (
        "wrong type for batch size",
        lambda t: t + "inference:\n  batch_size: lots\n",
        "evalaction.yml line 20: `inference.batch_size`: expected input should be a valid integer, "
        "unable to parse string as an integer, found 'lots'; fix the value",
    ),
    (
        "batch size out of range",
        lambda t: t + "inference:\n  batch_size: 0\n",
        "evalaction.yml line 20: `inference.batch_size`: expected input should be greater than 0, found 0; fix the value",
    ),
    (
        "alpha out of range",
        lambda t: t + "compare:\n  alpha: 1.3\n",
        "evalaction.yml line 20: `compare.alpha`: expected input should be less than 0.5, found 1.3; fix the value",
    ),
    (
        "threshold not a comparison",
        lambda t: _edit(t, 'accuracy: ">= 0.9"', 'accuracy: "at least 0.9"'),
        "evalaction.yml line 18: `gates.thresholds.accuracy.rule`: expected a comparison like '>= 0.95', "
        "got 'at least 0.9'",
    ),
    (
        "unknown metric name",
        lambda t: _edit(t, "compute: [macro_f1]", "compute: [macro_f2]"),
        "evalaction.yml line 15: `metrics.compute.macro_f2`: expected a multiclass metric name, found 'macro_f2'; "
        "did you mean `macro_f1`?",
    ),
    (
        "primary metric of another task",
        lambda t: _edit(t, "primary: accuracy", "primary: rmse"),
        "evalaction.yml line 14: `metrics.primary`: expected a multiclass metric name, found 'rmse'; "
        "`rmse` is a regression metric: pick a multiclass metric or change `task`",
    ),
    (
        "unknown rule against the baseline",
        lambda t: t + "  vs_baseline:\n    macro_f1: no_worse\n",
        "evalaction.yml line 20: `gates.vs_baseline.macro_f1.rule`: expected one of 'not_worse', 'better' or "
        "'equivalent', found 'no_worse'; did you mean `not_worse`?",
    ),
    (
        "unknown budget",
        lambda t: t + "  budgets:\n    latency_ms: 5\n",
        "evalaction.yml line 20: `gates.budgets.latency_ms`: expected one of 'latency_p50_ms', 'latency_p95_ms', "
        "'latency_p99_ms', 'model_size_mb', 'peak_memory_mb', 'load_time_ms' or 'latency_ratio', found 'latency_ms'; "
        "did you mean `latency_p99_ms`?",
    ),
    (
        "per-class suffix on an aggregate metric",
        lambda t: _edit(t, 'accuracy: ">= 0.9"', '"accuracy[3]": ">= 0.9"'),
        "evalaction.yml line 18: `gates.thresholds.accuracy[3]`: expected a per-class metric before `[class]`, "
        "found 'accuracy'; drop `[...]`",
    ),
    (
        "mean without std",
        lambda t: _edit(t, "    outputs: logits", "    outputs: logits\n    preprocessing: {mean: [0.5]}"),
        "evalaction.yml line 11: `models.candidate.preprocessing`: give both `mean` and `std`, or neither",
    ),
    (
        "missing model file",
        lambda t: _edit(t, "path: models/candidate.onnx", "path: models/candidat.onnx"),
        "evalaction.yml line 9: `models.candidate.path`: expected a model file, found no 'models/candidat.onnx'; "
        "fix the path (relative to {dir})",
    ),
    (
        "missing dataset",
        lambda t: _edit(t, "path: data/test.csv", "path: data/tset.csv"),
        "evalaction.yml line 4: `dataset.path`: expected an existing file or folder, found no 'data/tset.csv' next "
        "to the plan; fix the path (relative to {dir})",
    ),
    (
        "not YAML",
        lambda t: t + "gates: [\n",
        "evalaction.yml line 20: not valid YAML (expected the node content, but found '<stream end>'); fix the syntax",
    ),
    (
        "not a mapping",
        lambda t: "- just\n- a list\n",
        "evalaction.yml: expected a mapping with task, dataset, models, metrics; found list; see `evalaction schema`",
    ),
    (
        "plan version",
        lambda t: "version: 2\n" + t.replace("version: 1\n", ""),
        "evalaction.yml line 1: `version`: expected one of 1, found 2; use one of the listed values",
    ),
]


@pytest.mark.parametrize(("transform", "message"), [m[1:] for m in MALFORMED], ids=[m[0] for m in MALFORMED])
def test_malformed_plan_gives_one_line(plan_dir: Path, transform, message: str) -> None:
    path = plan_dir / "evalaction.yml"
    path.write_text(transform(VALID_PLAN))
    with pytest.raises(InvalidPlan) as info:
        load_plan(path)
    text = str(info.value)
    assert "\n" not in text
    assert text == message.format(dir=plan_dir.resolve())


def test_missing_plan_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidPlan, match=r"plan file not found; pass the path with `-c`"):
        load_plan(tmp_path / "nope.yml")


def test_schema_lists_every_section() -> None:
    schema = plan_json_schema()
    assert {"task", "dataset", "models", "metrics", "gates"} <= set(schema["properties"])
    assert schema["additionalProperties"] is False

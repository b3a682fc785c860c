"""One metric table: the catalog, the registry that computes, the plan validator and the JSON Schema agree.

Equality both ways, not a subset: two lists where one only has to contain the other drift apart (issue #15
found ten metrics the registry computed for multiclass that the plan refused).
"""

from __future__ import annotations

import numpy as np
import pytest

from evalaction.metrics.catalog import CATALOG, metric_names
from evalaction.metrics.registry import _REGISTRY, TASKS, compute_metrics, get_metric
from evalaction.plan import Plan, plan_json_schema

REGISTRY_TASKS = set(TASKS)  # binary, multiclass, regression; detection is pycocotools' (detection/metrics.py)


def test_every_registry_metric_is_in_the_table_and_every_table_metric_is_computed() -> None:
    from evalaction.detection.metrics import OVERALL, PER_CLASS

    computed_here = {n for n, m in CATALOG.items() if set(m.tasks) <= REGISTRY_TASKS}
    assert set(_REGISTRY) == computed_here
    detection = {n for n, m in CATALOG.items() if m.tasks == ("detection",)}
    assert detection == set(OVERALL) | set(PER_CLASS)
    assert set(CATALOG) == computed_here | detection  # no metric spans the two engines


@pytest.mark.parametrize("name", sorted(_REGISTRY))
def test_the_registry_takes_its_metadata_from_the_table(name: str) -> None:
    info, metric = CATALOG[name], get_metric(name)
    assert metric.tasks == tuple(t for t in TASKS if t in info.tasks)
    assert metric.higher_is_better is info.higher_is_better
    assert metric.per_class is info.per_class and metric.needs_score is info.needs_score
    assert metric.unit_interval is (info.unit == "rate") and metric.description == info.description


def _tiny(task: str) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, list[str]]:
    """A case on which every metric of `task` is defined: every class present, some errors, spread scores."""
    if task == "regression":
        y = np.array([1.0, 2.5, -3.0, 4.0, 7.5, 2.0])
        return y, y + np.array([0.5, -0.25, 1.0, 0.0, -2.0, 0.75]), None, []
    k = 2 if task == "binary" else 4
    y = np.array([0, 1, 0, 1, 1, 0, 0, 1] if k == 2 else [0, 1, 2, 3, 0, 1, 2, 3, 3, 2])
    rng = np.random.default_rng(0)
    score = rng.dirichlet(np.ones(k), size=y.size)
    score[np.arange(y.size)[::3], y[::3]] += 2.0  # right on a third, with a clear margin
    score /= score.sum(axis=1, keepdims=True)
    return y, score.argmax(axis=1), score, [f"c{i}" for i in range(k)]


@pytest.mark.parametrize("task", sorted(REGISTRY_TASKS))
def test_every_name_the_schema_lists_for_a_task_is_computable_on_a_tiny_case(task: str) -> None:
    listed = plan_json_schema()["$defs"][f"{task}_metric"]["enum"]
    assert listed == metric_names(task) and listed
    y, pred, score, classes = _tiny(task)
    values = compute_metrics(task, listed, y, pred, score, classes or None)
    undefined = {n: v.undefined for n, v in values.items() if v.value is None}
    assert undefined == {}
    assert all(np.isfinite(v.value) for v in values.values() if v.value is not None)


def test_detection_names_are_listed_too() -> None:
    assert plan_json_schema()["$defs"]["detection_metric"]["enum"] == metric_names("detection")
    assert "map" in metric_names("detection")


def _plan(task: str, primary: str, *, threshold: str | None = None, compute: list[str] | None = None) -> dict:
    plan = {
        "version": 1,
        "task": task,
        "dataset": {"path": "data/test.csv", "label_column": "label"},
        "models": {"candidate": {"path": "models/candidate.onnx"}},
        "metrics": {"primary": primary, "compute": compute or []},
    }
    if threshold is not None:
        plan["gates"] = {"thresholds": {threshold: ">= 0.5"}}
    return plan


@pytest.mark.parametrize("name", ["mcc", "average_precision", "macro_precision", "weighted_f1", "micro_recall"])
def test_metrics_the_registry_computes_for_multiclass_are_accepted_by_the_plan_and_the_schema(name: str) -> None:
    import jsonschema

    plan = _plan("multiclass", name, threshold=name)
    Plan.model_validate(plan)
    jsonschema.validate(plan, plan_json_schema())


def test_the_schema_and_the_validator_refuse_a_metric_of_another_task() -> None:
    import jsonschema

    plan = _plan("binary", "accuracy", threshold="top2_accuracy")
    with pytest.raises(jsonschema.ValidationError, match="top2_accuracy"):
        jsonschema.validate(plan, plan_json_schema())
    with pytest.raises(ValueError, match="`top2_accuracy` is a multiclass metric"):
        Plan.model_validate(plan)


def test_a_descriptive_metric_may_be_computed_but_not_gated() -> None:
    import jsonschema

    schema = plan_json_schema()
    jsonschema.validate(_plan("multiclass", "accuracy", compute=["support"]), schema)
    Plan.model_validate(_plan("multiclass", "accuracy", compute=["support"]))
    gated = _plan("regression", "rmse", threshold="residual_p95")
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(gated, schema)
    with pytest.raises(ValueError, match="`residual_p95` is descriptive: list it under `metrics.compute`"):
        Plan.model_validate(gated)


def test_the_schema_is_a_valid_2020_12_schema_and_accepts_the_demo_plan() -> None:
    import jsonschema
    import yaml

    from tests.conftest import DEMO

    schema = plan_json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(yaml.safe_load((DEMO / "evalaction.yml").read_text()), schema)


def test_the_schema_command_prints_the_lists() -> None:
    import json

    from click.testing import CliRunner

    from evalaction.cli import main

    result = CliRunner().invoke(main, ["schema"])
    assert result.exit_code == 0, result.output
    defs = json.loads(result.stdout)["$defs"]
    assert {t: defs[f"{t}_metric"]["enum"] for t in ("binary", "multiclass", "regression", "detection")} == {
        t: metric_names(t) for t in ("binary", "multiclass", "regression", "detection")
    }

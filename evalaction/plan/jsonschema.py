"""The plan's JSON Schema (`evalaction schema`), for editor completion: the pydantic schema with the short gate
forms and the metric names per task."""

from __future__ import annotations

import re
from typing import Any, get_args

from evalaction.metrics.catalog import metric_names
from evalaction.plan.schema import Plan, Task


def plan_json_schema() -> dict[str, Any]:
    """The plan's JSON Schema, for editor completion."""
    schema = Plan.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "evalaction evaluation plan (evalaction.yml)"
    _short_forms(schema["$defs"])
    schema.setdefault("allOf", []).extend(_metric_names_by_task(schema["$defs"]))
    return schema


def _short_forms(defs: dict[str, Any]) -> None:
    """Admit the short forms the validators expand (`accuracy: '>= 0.9'`, `latency_p95_ms: 5`, `leakage: 0`),
    which pydantic cannot see in a `mode="before"` validator, so the schema accepts every plan the CLI does."""
    gates = defs["Gates"]["properties"]
    for field, short in (
        ("thresholds", "string"),
        ("vs_baseline", "string"),
        ("budgets", "number"),
        ("errors", "integer"),
    ):
        full = gates[field]["additionalProperties"]
        gates[field]["additionalProperties"] = {"anyOf": [{"type": short}, full]}
    for prop in defs["CurationGates"]["properties"].values():
        prop["anyOf"].insert(0, {"type": "number"})


def _metric_names_by_task(defs: dict[str, Any]) -> list[dict[str, Any]]:
    """The metric names of each task (from metrics/catalog.py): listed under `$defs/<task>_metric`, and
    checked where the plan names a metric (`name` or `name[class]`), once `task` says which list applies."""
    rules = []
    for task in get_args(Task):
        names = metric_names(task)
        defs[f"{task}_metric"] = {
            "type": "string",
            "enum": names,
            "description": f"The metric names of task {task} (`evalaction/metrics/catalog.py`).",
        }
        directional = "|".join(re.escape(n) for n in metric_names(task, directional_only=True))
        any_name = "|".join(re.escape(n) for n in names)
        ref = {"type": "string", "pattern": f"^(?:{directional})(?:\\[[^\\]]+\\])?$"}
        listed = {"type": "string", "pattern": f"^(?:{any_name})(?:\\[[^\\]]+\\])?$"}
        rules.append(
            {
                "if": {"properties": {"task": {"const": task}}, "required": ["task"]},
                "then": {
                    "properties": {
                        "metrics": {"properties": {"primary": ref, "compute": {"items": listed}}},
                        "gates": {
                            "properties": {
                                "thresholds": {"propertyNames": ref},
                                "vs_baseline": {"propertyNames": ref},
                            }
                        },
                    }
                },
            }
        )
    return rules

"""The values the metrics produce, as frozen pydantic models, and the threshold constraint of a plan.

No numpy here: the plan (`plan/schema.py`) and the artifacts import this module, and `evalaction --help` must not
pay for numpy.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict

from evalaction.exceptions import BadInput


class MetricValue(BaseModel):
    """One metric on one set of predictions: a value, or the reason there is none."""

    model_config = ConfigDict(frozen=True)

    name: str
    value: float | None
    per_class: dict[str, float | None] | None = None
    undefined: str | None = None
    note: str | None = None


ConstraintMetric = Literal["precision", "recall", "specificity", "fpr"]
# What to maximise once the constraint holds: the metric the constraint trades against.
_OBJECTIVE: dict[str, str] = {
    "precision": "recall",
    "recall": "precision",
    "specificity": "recall",
    "fpr": "recall",
}
_ALIASES = {"tpr": "recall", "sensitivity": "recall", "ppv": "precision", "tnr": "specificity"}
_CONSTRAINT = re.compile(r"^\s*([a-z_]+)\s*(>=|<=|>|<)\s*([0-9]*\.?[0-9]+)\s*$")


class Constraint(BaseModel):
    """`metric op value`, e.g. precision >= 0.95."""

    model_config = ConfigDict(frozen=True)

    metric: ConstraintMetric
    op: Literal[">=", "<=", ">", "<"]
    value: float

    def __str__(self) -> str:
        return f"{self.metric} {self.op} {self.value:g}"

    @property
    def objective(self) -> str:
        return _OBJECTIVE[self.metric]


def parse_constraint(text: str, *, where: str = "thresholds.constraint") -> Constraint:
    """Parse `precision >= 0.95` (metrics: precision, recall/tpr, specificity, fpr; values in [0, 1])."""
    m = _CONSTRAINT.match(text.lower())
    if not m:
        raise BadInput(f"Expected `{where}` like `precision >= 0.95` (metric, comparison, number), got {text!r}")
    metric = _ALIASES.get(m.group(1), m.group(1))
    if metric not in _OBJECTIVE:
        raise BadInput(
            f"Expected `{where}` to constrain one of {', '.join(_OBJECTIVE)}, got `{m.group(1)}` in {text!r}"
        )
    value = float(m.group(3))
    if not 0.0 <= value <= 1.0:
        raise BadInput(f"Expected the number in `{where}` to lie in [0, 1], got {value:g} in {text!r}")
    return Constraint(metric=metric, op=m.group(2), value=value)  # type: ignore[arg-type]


class ThresholdPoint(BaseModel):
    """The confusion counts and metrics at one operating point (threshold None: the argmax decision)."""

    model_config = ConfigDict(frozen=True)

    threshold: float | None
    tp: int
    fp: int
    fn: int
    tn: int
    precision: float | None
    recall: float | None
    f1: float | None
    specificity: float | None
    youden_j: float | None

    @property
    def fpr(self) -> float | None:
        return None if self.specificity is None else 1.0 - self.specificity

    def get(self, metric: str) -> float | None:
        return self.fpr if metric == "fpr" else getattr(self, metric)


class ThresholdTuning(BaseModel):
    """Tuned thresholds for one positive class against a reference operating point."""

    model_config = ConfigDict(frozen=True)

    positive_class: str
    n: int
    n_positive: int
    reference_label: str  # "threshold 0.5" or "argmax"
    reference: ThresholdPoint
    best_f1: ThresholdPoint | None = None
    youden: ThresholdPoint | None = None
    constraint: str | None = None
    constrained: ThresholdPoint | None = None
    constraint_note: str | None = None
    table: list[ThresholdPoint] = []
    undefined: str | None = None

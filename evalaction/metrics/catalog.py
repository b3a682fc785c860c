"""Every metric evalaction knows, once: name, tasks, direction, unit, per class, needs scores, what it is.

This table is the only place a metric's metadata is written. It imports nothing heavy, so the plan validator
(`evalaction.plan`), `evalaction schema` and the report read it without numpy or scikit-learn; the registry
(`evalaction.metrics.registry`) attaches one function to each classification and regression name and takes
everything else from here; the detection names are filled by `evalaction.detection.metrics` (pycocotools).
`tests/unit/test_metrics_catalog.py` holds the three together: the same names, both ways, and each name
computable on a tiny case.

Units (what a difference of two values means, and how the report prints it):
  rate    a fraction in [0, 1]; differences read as percentage points
  score   unitless, not confined to [0, 1] (MCC, kappa, log loss, R², MAPE as a fraction)
  target  in the units of the regression target (MAE, RMSE, residual quantiles)
  count   a number of samples
`higher_is_better` None marks a descriptive metric (support, residual quantiles): it is computed and shown,
but has no better direction, so it cannot be a primary metric or a gate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Unit = Literal["rate", "score", "target", "count"]
TASKS = ("binary", "multiclass", "regression", "detection")


@dataclass(frozen=True)
class MetricInfo:
    name: str
    tasks: tuple[str, ...]
    higher_is_better: bool | None
    unit: Unit
    description: str
    per_class: bool = False  # also reports one value per class (`recall[cat]`)
    needs_score: bool = False  # needs class probabilities, not only labels

    @property
    def unit_interval(self) -> bool:
        """The value lies in [0, 1]; differences read as percentage points."""
        return self.unit == "rate"

    @property
    def directional(self) -> bool:
        """Has a better direction, so it may be the primary metric or a gate."""
        return self.higher_is_better is not None


_B = ("binary",)
_M = ("multiclass",)
_C = ("binary", "multiclass")
_R = ("regression",)
_D = ("detection",)
_OF_CLASSES = "binary: positive class, multiclass: macro mean; per class always"
_POOLED = "of the pooled counts (equals accuracy for single-label data)"
_RESIDUAL = "percentile of the residual y_true - y_pred (linear interpolation)"

_TABLE = [
    # classification: labels (and scores where marked) against the true labels
    MetricInfo("accuracy", _C, True, "rate", "fraction of correct labels"),
    MetricInfo("balanced_accuracy", _C, True, "rate", "mean recall over the classes present in the test set"),
    MetricInfo("precision", _C, True, "rate", f"TP / (TP + FP); {_OF_CLASSES}", per_class=True),
    MetricInfo("recall", _C, True, "rate", f"TP / (TP + FN); {_OF_CLASSES}", per_class=True),
    MetricInfo("f1", _C, True, "rate", f"2TP / (2TP + FP + FN); {_OF_CLASSES}", per_class=True),
    MetricInfo("support", _C, None, "count", "number of test samples, per true class", per_class=True),
    MetricInfo("macro_precision", _C, True, "rate", "precision, macro mean over classes"),
    MetricInfo("macro_recall", _C, True, "rate", "recall, macro mean over classes"),
    MetricInfo("macro_f1", _C, True, "rate", "f1, macro mean over classes"),
    MetricInfo("micro_precision", _C, True, "rate", f"precision {_POOLED}"),
    MetricInfo("micro_recall", _C, True, "rate", f"recall {_POOLED}"),
    MetricInfo("micro_f1", _C, True, "rate", f"f1 {_POOLED}"),
    MetricInfo("weighted_precision", _C, True, "rate", "precision, weighted mean over classes"),
    MetricInfo("weighted_recall", _C, True, "rate", "recall, weighted mean over classes"),
    MetricInfo("weighted_f1", _C, True, "rate", "f1, weighted mean over classes"),
    MetricInfo("specificity", _B, True, "rate", "TN / (TN + FP): recall of the negative class"),
    MetricInfo(
        "mcc", _C, True, "score", "Matthews correlation coefficient (Gorodkin's R_K for multiclass), in [-1, 1]"
    ),
    MetricInfo(
        "cohen_kappa",
        _C,
        True,
        "score",
        "Cohen's kappa between true and predicted labels: (p_o - p_e) / (1 - p_e)",
    ),
    MetricInfo(
        "roc_auc",
        _C,
        True,
        "rate",
        "area under the ROC curve; multiclass: one-vs-rest, macro mean",
        needs_score=True,
    ),
    MetricInfo(
        "average_precision",
        _C,
        True,
        "rate",
        "area under the precision-recall curve (step rule); multiclass: one-vs-rest, macro mean",
        needs_score=True,
    ),
    MetricInfo(
        "log_loss",
        _C,
        False,
        "score",
        "mean -ln p(true class), p clipped to [eps, 1 - eps] as scikit-learn does",
        needs_score=True,
    ),
    MetricInfo("brier", _B, False, "rate", "mean (p_positive - y)^2 (Brier 1950)", needs_score=True),
    MetricInfo(
        "ece",
        _C,
        False,
        "rate",
        "expected calibration error, 15 equal-width bins; binary: p(positive) vs outcome, multiclass: "
        "top-label confidence vs correctness",
        needs_score=True,
    ),
    *(
        MetricInfo(
            f"top{k}_accuracy",
            _M,
            True,
            "rate",
            f"fraction of samples whose true class is among the {k} highest scores",
            needs_score=True,
        )
        for k in (2, 3)
    ),
    # regression: predictions against the true values
    MetricInfo("mae", _R, False, "target", "mean absolute error"),
    MetricInfo("rmse", _R, False, "target", "root mean squared error"),
    MetricInfo("r2", _R, True, "score", "coefficient of determination 1 - SS_res / SS_tot"),
    MetricInfo("mape", _R, False, "score", "mean |y_true - y_pred| / |y_true| (a fraction, not percent)"),
    MetricInfo("median_absolute_error", _R, False, "target", "median |y_true - y_pred|"),
    MetricInfo("max_error", _R, False, "target", "largest |y_true - y_pred|"),
    *(MetricInfo(f"residual_p{q:02d}", _R, None, "target", f"{q}th {_RESIDUAL}") for q in (5, 25, 50, 75, 95)),
    # detection: COCO box AP/AR through pycocotools (evalaction/detection/metrics.py)
    MetricInfo("map", _D, True, "rate", "AP averaged over IoU 0.50:0.05:0.95, the COCO headline"),
    MetricInfo("map_50", _D, True, "rate", "AP at IoU 0.50"),
    MetricInfo("map_75", _D, True, "rate", "AP at IoU 0.75"),
    MetricInfo("map_small", _D, True, "rate", "AP of small objects (area < 32^2)"),
    MetricInfo("map_medium", _D, True, "rate", "AP of medium objects (32^2 <= area < 96^2)"),
    MetricInfo("map_large", _D, True, "rate", "AP of large objects (area >= 96^2)"),
    MetricInfo("ar_1", _D, True, "rate", "AR given 1 detection per image"),
    MetricInfo("ar_10", _D, True, "rate", "AR given 10 detections per image"),
    MetricInfo("ar_100", _D, True, "rate", "AR given 100 detections per image"),
    MetricInfo("ap", _D, True, "rate", "per-class AP@[.5:.95]: `ap[person]`", per_class=True),
    MetricInfo("ap_50", _D, True, "rate", "per-class AP at IoU 0.50: `ap_50[person]`", per_class=True),
    MetricInfo("ap_75", _D, True, "rate", "per-class AP at IoU 0.75: `ap_75[person]`", per_class=True),
]
CATALOG: dict[str, MetricInfo] = {m.name: m for m in _TABLE}


def metric_names(task: str, *, directional_only: bool = False) -> list[str]:
    """Every metric name that applies to `task`, in table order (only those with a direction, if asked)."""
    return [m.name for m in _TABLE if task in m.tasks and (m.directional or not directional_only)]


def higher_is_better(name: str) -> bool:
    """The direction of a metric a plan gates or ranks on (the plan validator refuses descriptive ones there)."""
    direction = CATALOG[name].higher_is_better
    if direction is None:
        raise ValueError(f"`{name}` is descriptive: it has no better direction")
    return direction

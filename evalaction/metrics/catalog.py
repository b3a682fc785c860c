"""The metric names a plan may reference, per task, without importing numpy or scikit-learn.

The plan is validated against this catalog (so `evalaction plan` fails fast on a typo); the registry that computes
the values must implement every name listed here (a unit test holds the two together).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MetricInfo:
    name: str
    tasks: frozenset[str]
    higher_is_better: bool
    per_class: bool = False


_B = frozenset({"binary"})
_M = frozenset({"multiclass"})
_BM = frozenset({"binary", "multiclass"})
_R = frozenset({"regression"})
_D = frozenset({"detection"})

CATALOG: dict[str, MetricInfo] = {
    m.name: m
    for m in [
        MetricInfo("accuracy", _BM, True),
        MetricInfo("balanced_accuracy", _BM, True),
        MetricInfo("precision", _BM, True, per_class=True),
        MetricInfo("recall", _BM, True, per_class=True),
        MetricInfo("f1", _BM, True, per_class=True),
        MetricInfo("specificity", _B, True),
        MetricInfo("roc_auc", _BM, True),
        MetricInfo("average_precision", _B, True),
        MetricInfo("log_loss", _BM, False),
        MetricInfo("brier", _B, False),
        MetricInfo("mcc", _B, True),
        MetricInfo("ece", _BM, False),
        MetricInfo("macro_precision", _M, True),
        MetricInfo("macro_recall", _M, True),
        MetricInfo("macro_f1", _BM, True),
        MetricInfo("weighted_precision", _M, True),
        MetricInfo("weighted_recall", _M, True),
        MetricInfo("weighted_f1", _M, True),
        MetricInfo("micro_precision", _M, True),
        MetricInfo("micro_recall", _M, True),
        MetricInfo("micro_f1", _M, True),
        MetricInfo("top2_accuracy", _M, True),
        MetricInfo("top3_accuracy", _M, True),
        MetricInfo("cohen_kappa", _BM, True),
        MetricInfo("mae", _R, False),
        MetricInfo("rmse", _R, False),
        MetricInfo("r2", _R, True),
        MetricInfo("mape", _R, False),
        MetricInfo("median_absolute_error", _R, False),
        MetricInfo("max_error", _R, False),
        # detection: COCO box AP/AR through pycocotools (evalaction/detection/metrics.py)
        MetricInfo("map", _D, True),  # AP averaged over IoU 0.50:0.05:0.95, the COCO headline
        MetricInfo("map_50", _D, True),
        MetricInfo("map_75", _D, True),
        MetricInfo("map_small", _D, True),  # area < 32^2
        MetricInfo("map_medium", _D, True),  # 32^2 <= area < 96^2
        MetricInfo("map_large", _D, True),  # area >= 96^2
        MetricInfo("ar_1", _D, True),
        MetricInfo("ar_10", _D, True),
        MetricInfo("ar_100", _D, True),
        MetricInfo("ap", _D, True, per_class=True),  # per-class AP@[.5:.95]: `ap[person]`
        MetricInfo("ap_50", _D, True, per_class=True),
    ]
}


def metric_names(task: str) -> list[str]:
    """Every metric name that applies to `task`, in catalog order."""
    return [m.name for m in CATALOG.values() if task in m.tasks]

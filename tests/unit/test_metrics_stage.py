"""The metrics stage on synthetic predictions: slices, worst slices, thresholds, the compare stage's entry points,
and the plan catalog held together with the registry."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from evalaction.metrics.values import parse_constraint
from evalaction.predictions import Predictions
from evalaction.stages.metrics import (
    _classification_metric,
    _regression_metric,
    metric_inputs,
    model_metrics,
)


def _predictions(seed: int, n: int, k: int) -> Predictions:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k))
    logits[np.arange(n), y] += 1.5
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    region = np.asarray(rng.choice(["north", "south", "west"], size=n, p=[0.5, 0.4, 0.1]), dtype=object)
    # The west is harder: shuffle half of its scores so the worst slice is known in advance.
    west = np.flatnonzero(region == "west")
    p[west[: west.size // 2]] = p[rng.permutation(west[: west.size // 2])]
    return Predictions(
        ids=np.arange(n).astype(str).astype(object),
        y=y,
        pred=p.argmax(axis=1),
        scores=p,
        slices={"region": region},
        classes=[f"c{i}" for i in range(k)],
    )


def test_model_metrics_overall_per_class_and_slices_match_sklearn() -> None:
    p = _predictions(0, 2000, 4)
    mm = model_metrics(metric_inputs(p, "multiclass"), ["accuracy", "macro_f1"], p.slices)
    assert mm.overall["accuracy"] == pytest.approx(skm.accuracy_score(p.y, p.pred))
    assert list(mm.overall)[:2] == ["accuracy", "macro_f1"]  # requested first
    recall = skm.recall_score(p.y, p.pred, average=None)
    assert [mm.per_class["recall"][c] for c in p.classes] == pytest.approx(list(recall))
    assert mm.per_class["support"] == {c: float(np.sum(p.y == i)) for i, c in enumerate(p.classes)}
    region = p.slices["region"]
    for value, row in mm.per_slice["region"].items():
        m = region == value
        assert row["n"] == m.sum()
        assert row["accuracy"] == pytest.approx(skm.accuracy_score(p.y[m], p.pred[m]))
        assert row["macro_f1"] == pytest.approx(skm.f1_score(p.y[m], p.pred[m], average="macro"))
    worst = mm.worst_slices
    assert worst and worst[0].value == "west" and worst[0].metric == "accuracy"
    assert worst[0].gap == pytest.approx(mm.overall["accuracy"] - mm.per_slice["region"]["west"]["accuracy"])
    assert all(a.gap >= b.gap for a, b in zip(worst, worst[1:], strict=False))


def test_binary_thresholds_and_findings() -> None:
    p = _predictions(1, 1500, 2)
    mm = model_metrics(metric_inputs(p, "binary"), ["f1"], {}, constraint=parse_constraint("precision >= 0.9"))
    assert list(mm.thresholds) == ["c1"]
    t = mm.thresholds["c1"]
    assert t.reference.threshold == 0.5 and t.constraint == "precision >= 0.9"
    assert t.constrained is not None and t.constrained.precision is not None and t.constrained.precision >= 0.9
    assert t.best_f1 is not None and t.best_f1.f1 == pytest.approx(
        skm.f1_score(p.y, p.scores[:, 1] >= t.best_f1.threshold)
    )
    assert len(mm.threshold_findings) == 1 and mm.threshold_findings[0].startswith("At threshold")


def test_multiclass_thresholds_are_one_vs_rest_and_findings_are_capped() -> None:
    p = _predictions(2, 1200, 5)
    mm = model_metrics(metric_inputs(p, "multiclass"), ["accuracy"], {})
    assert set(mm.thresholds) == set(p.classes)
    assert all(t.reference_label == "argmax" for t in mm.thresholds.values())
    assert len(mm.threshold_findings) <= 3


def test_regression_has_no_thresholds() -> None:
    rng = np.random.default_rng(3)
    y = rng.normal(size=300)
    p = Predictions(ids=np.arange(300).astype(object), y=y, pred=y + rng.normal(0, 0.3, 300), scores=None,
                    slices={}, classes=[])  # fmt: skip
    mm = model_metrics(metric_inputs(p, "regression"), ["mae", "r2"], {})
    assert mm.thresholds == {} and mm.overall["mae"] == pytest.approx(skm.mean_absolute_error(p.y, p.pred))
    assert _regression_metric("rmse", p) == pytest.approx(skm.root_mean_squared_error(p.y, p.pred))
    constant = Predictions(ids=p.ids, y=np.ones(300), pred=p.pred, scores=None, slices={}, classes=[])
    assert np.isnan(_regression_metric("r2", constant))


def test_compare_entry_point() -> None:
    p = _predictions(4, 400, 3)
    value, per, why = _classification_metric("recall", p)
    assert why is None and value == pytest.approx(skm.recall_score(p.y, p.pred, average="macro"))
    assert per is not None and per["c2"] == pytest.approx(skm.recall_score(p.y == 2, p.pred == 2))
    value, _, why = _classification_metric("specificity", p)  # a binary metric on a multiclass model
    assert value is None and why is not None and "multiclass" in why
    outside = Predictions(ids=p.ids, y=np.where(np.arange(400) % 7 == 0, -1, p.y), pred=p.pred, scores=p.scores,
                          slices={}, classes=p.classes)  # fmt: skip
    value, _, _ = _classification_metric("accuracy", outside)
    assert value == pytest.approx(skm.accuracy_score(outside.y, outside.pred))

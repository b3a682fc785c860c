"""The classification metrics of the registry against scikit-learn on random and degenerate inputs."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from sklearn import metrics as skm
from sklearn.exceptions import UndefinedMetricWarning

from evalaction.exceptions import BadInput, InvalidDataset, ModelOutputInvalid
from evalaction.metrics.registry import (
    available_metrics,
    compute_metrics,
    get_metric,
    prepare_inputs,
)


def _probabilities(rng: np.random.Generator, y: np.ndarray, k: int, signal: float) -> np.ndarray:
    logits = rng.normal(size=(y.size, k))
    logits[np.arange(y.size), y] += signal
    p = np.exp(logits)
    return p / p.sum(axis=1, keepdims=True)


def _case(seed: int, n: int, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    p = _probabilities(rng, y, k, signal=1.0)
    # Predictions are not always the argmax, so that precision/recall do not follow from the scores alone.
    pred = np.where(rng.random(n) < 0.8, p.argmax(axis=1), rng.integers(0, k, n))
    return y, pred, p, [f"c{i}" for i in range(k)]


def _close(ours: float | None, ref: float, tol: float = 1e-10) -> None:
    assert ours is not None
    assert ours == pytest.approx(ref, abs=tol, rel=tol)


CASES = [(seed, n, k) for seed, n in ((0, 40), (1, 500), (2, 5000)) for k in (2, 3, 7)]


@pytest.mark.parametrize(("seed", "n", "k"), CASES)
def test_confusion_metrics_match_sklearn(seed: int, n: int, k: int) -> None:
    y, pred, p, classes = _case(seed, n, k)
    task = "binary" if k == 2 else "multiclass"
    r = compute_metrics(task, None, y, pred, p, classes)
    labels = list(range(k))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _close(r["accuracy"].value, skm.accuracy_score(y, pred))
        _close(r["balanced_accuracy"].value, skm.balanced_accuracy_score(y, pred))
        _close(r["mcc"].value, skm.matthews_corrcoef(y, pred))
        _close(r["cohen_kappa"].value, skm.cohen_kappa_score(y, pred))
        for kind, fn in (
            ("precision", skm.precision_score),
            ("recall", skm.recall_score),
            ("f1", skm.f1_score),
        ):
            per_class = fn(y, pred, labels=labels, average=None, zero_division=np.nan)
            ours = r[kind].per_class
            assert ours is not None
            for c, ref in zip(classes, per_class, strict=True):
                if math.isnan(ref):
                    assert ours[c] is None
                else:
                    _close(ours[c], ref)
            for avg in ("macro", "weighted", "micro"):
                ref = fn(y, pred, labels=labels, average=avg, zero_division=np.nan)
                _close(r[f"{avg}_{kind}"].value, ref)
            headline = fn(y, pred, zero_division=np.nan) if k == 2 else np.nanmean(per_class)
            _close(r[kind].value, headline)
    support = r["support"].per_class
    assert support == {c: float(np.sum(y == i)) for i, c in enumerate(classes)}
    if k == 2:
        _close(r["specificity"].value, skm.recall_score(y, pred, pos_label=0))


@pytest.mark.parametrize(("seed", "n", "k"), CASES)
def test_score_metrics_match_sklearn(seed: int, n: int, k: int) -> None:
    y, pred, p, classes = _case(seed, n, k)
    task = "binary" if k == 2 else "multiclass"
    r = compute_metrics(task, None, y, pred, p, classes)
    labels = list(range(k))
    _close(r["log_loss"].value, skm.log_loss(y, p, labels=labels))
    if k == 2:
        _close(r["roc_auc"].value, skm.roc_auc_score(y, p[:, 1]))
        _close(r["average_precision"].value, skm.average_precision_score(y, p[:, 1]))
        _close(r["brier"].value, skm.brier_score_loss(y, p[:, 1]))
        return
    per_auc = [skm.roc_auc_score(y == c, p[:, c]) for c in labels]
    per_ap = [skm.average_precision_score(y == c, p[:, c]) for c in labels]
    for i, c in enumerate(classes):
        _close(r["roc_auc"].per_class[c], per_auc[i])  # type: ignore[index]
        _close(r["average_precision"].per_class[c], per_ap[i])  # type: ignore[index]
    _close(r["roc_auc"].value, skm.roc_auc_score(y, p, multi_class="ovr", average="macro", labels=labels))
    for kk in (2, 3):
        name = f"top{kk}_accuracy"
        if k > kk:
            _close(r[name].value, skm.top_k_accuracy_score(y, p, k=kk, labels=labels))
        else:
            assert r[name].value is None and "more than" in (r[name].undefined or "")


def test_top_k_breaks_ties_like_sklearn() -> None:
    rng = np.random.default_rng(3)
    y = rng.integers(0, 5, 300)
    # Scores on a coarse grid so that many rows hold ties around the true class.
    raw = rng.integers(1, 4, size=(300, 5)).astype(float)
    p = raw / raw.sum(axis=1, keepdims=True)
    r = compute_metrics("multiclass", ["top2_accuracy", "top3_accuracy"], y, p.argmax(1), p, list("abcde"))
    for kk in (2, 3):
        _close(r[f"top{kk}_accuracy"].value, skm.top_k_accuracy_score(y, p, k=kk, labels=range(5)))


def _ece_loop(conf: np.ndarray, outcome: np.ndarray, n_bins: int = 15) -> float:
    """A plain loop over bins [lo, hi), the last one closed, as an independent ECE."""
    total = 0.0
    for b in range(n_bins):
        lo, hi = b / n_bins, (b + 1) / n_bins
        in_bin = (conf >= lo) & ((conf < hi) if b < n_bins - 1 else (conf <= hi))
        if in_bin.any():
            total += in_bin.mean() * abs(outcome[in_bin].mean() - conf[in_bin].mean())
    return total


def test_ece_hand_checked_binary() -> None:
    # 0.1 lands in bin [1/15, 2/15): confidence 0.1, half positive -> gap 0.4 on half the samples;
    # 0.9 lands in bin [13/15, 14/15): confidence 0.9, all positive -> gap 0.1 on the other half.
    p1 = np.array([0.1, 0.1, 0.9, 0.9])
    y = np.array([0, 1, 1, 1])
    r = compute_metrics("binary", ["ece"], y, (p1 > 0.5).astype(int), np.column_stack([1 - p1, p1]), ["n", "p"])
    _close(r["ece"].value, 0.5 * 0.4 + 0.5 * 0.1)


def test_ece_hand_checked_multiclass() -> None:
    # Top-label confidences 0.62, 0.62, 0.95, 0.35 with correct = 1, 0, 1, 0:
    # bin of 0.62: |0.5 - 0.62| on 2/4; bin of 0.95: |1 - 0.95| on 1/4; bin of 0.35: |0 - 0.35| on 1/4.
    p = np.array([[0.62, 0.28, 0.10], [0.62, 0.20, 0.18], [0.95, 0.05, 0.0], [0.35, 0.33, 0.32]])
    y = np.array([0, 1, 0, 2])
    r = compute_metrics("multiclass", ["ece"], y, p.argmax(1), p, ["a", "b", "c"])
    _close(r["ece"].value, 0.5 * 0.12 + 0.25 * 0.05 + 0.25 * 0.35)


@pytest.mark.parametrize("k", [2, 6])
def test_ece_matches_a_plain_loop(k: int) -> None:
    y, pred, p, classes = _case(7, 3000, k)
    r = compute_metrics("binary" if k == 2 else "multiclass", ["ece"], y, pred, p, classes)
    if k == 2:
        ref = _ece_loop(p[:, 1], (y == 1).astype(float))
    else:
        ref = _ece_loop(p.max(axis=1), (p.argmax(axis=1) == y).astype(float))
    _close(r["ece"].value, ref)


# --------------------------------------------------------------------------------------- degenerate data


def _assert_no_nan(results: dict) -> None:
    for name, mv in results.items():
        if mv.value is None:
            assert mv.undefined, f"{name} has no value and no reason"
        else:
            assert math.isfinite(mv.value), name
        for v in (mv.per_class or {}).values():
            assert v is None or math.isfinite(v)


def test_binary_with_one_class_present_says_undefined() -> None:
    y = np.zeros(20, dtype=int)
    rng = np.random.default_rng(0)
    p1 = rng.random(20)
    pred = (p1 >= 0.5).astype(int)
    r = compute_metrics("binary", None, y, pred, np.column_stack([1 - p1, p1]), ["neg", "pos"])
    _assert_no_nan(r)
    with pytest.warns(UndefinedMetricWarning):
        assert math.isnan(skm.roc_auc_score(y, p1))  # the reference prints NaN; we must say why
    assert r["roc_auc"].value is None and "only `neg`" in (r["roc_auc"].undefined or "")
    assert r["average_precision"].value is None
    assert r["recall"].value is None and "absent from the test set" in (r["recall"].undefined or "")
    assert r["mcc"].value is None
    _close(r["specificity"].value, float(np.mean(pred == 0)))
    _close(r["accuracy"].value, skm.accuracy_score(y, pred))


def test_binary_with_only_positives() -> None:
    y = np.ones(10, dtype=int)
    p1 = np.linspace(0.05, 0.95, 10)
    r = compute_metrics("binary", None, y, (p1 >= 0.5).astype(int), p1, ["neg", "pos"])
    _assert_no_nan(r)
    assert r["roc_auc"].value is None and "only `pos`" in (r["roc_auc"].undefined or "")
    assert r["specificity"].value is None
    # With no negatives every threshold has precision 1, so AP is 1, as scikit-learn says.
    _close(r["average_precision"].value, skm.average_precision_score(y, p1))


def test_multiclass_with_a_missing_class() -> None:
    rng = np.random.default_rng(5)
    y = rng.choice([0, 1, 3], size=300)  # class 2 ("c") never appears
    p = _probabilities(rng, y, 4, signal=1.5)
    pred = p.argmax(axis=1)
    classes = ["a", "b", "c", "d"]
    r = compute_metrics("multiclass", None, y, pred, p, classes)
    _assert_no_nan(r)
    assert r["recall"].per_class["c"] is None  # type: ignore[index]
    assert "`c`" in (r["macro_recall"].note or "") and "3 of 4" in (r["macro_recall"].note or "")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _close(r["macro_recall"].value, skm.recall_score(y, pred, labels=range(4), average="macro",
                                                         zero_division=np.nan))  # fmt: skip
        _close(r["balanced_accuracy"].value, skm.balanced_accuracy_score(y, pred))
    assert r["roc_auc"].per_class["c"] is None  # type: ignore[index]
    present = [0, 1, 3]
    _close(r["roc_auc"].value, float(np.mean([skm.roc_auc_score(y == c, p[:, c]) for c in present])))
    assert "`c`" in (r["roc_auc"].note or "")


def test_constant_scores() -> None:
    y = np.array([0, 1, 0, 1, 1, 0, 0, 1])
    p = np.full((8, 2), 0.5)
    r = compute_metrics("binary", None, y, np.zeros(8, dtype=int), p, ["n", "p"])
    _assert_no_nan(r)
    _close(r["roc_auc"].value, skm.roc_auc_score(y, p[:, 1]))  # 0.5
    _close(r["average_precision"].value, skm.average_precision_score(y, p[:, 1]))  # the prevalence
    assert r["precision"].value is None and "never predicted" in (r["precision"].undefined or "")
    assert r["mcc"].value is None and r["cohen_kappa"].value is not None


def test_labels_only_leaves_score_metrics_undefined() -> None:
    y, pred, _, classes = _case(0, 50, 3)
    r = compute_metrics("multiclass", ["accuracy", "roc_auc", "log_loss"], y, pred, None, classes)
    assert r["accuracy"].value is not None
    assert r["roc_auc"].value is None and "y_score" in (r["roc_auc"].undefined or "")


def test_kappa_undefined_when_everything_is_one_class() -> None:
    y = np.zeros(5, dtype=int)
    r = compute_metrics("multiclass", ["cohen_kappa", "mcc"], y, y, None, ["a", "b", "c"])
    assert r["cohen_kappa"].value is None and r["mcc"].value is None


# ------------------------------------------------------------------------------------ registry and input


def test_registry_declares_directions_and_tasks() -> None:
    assert get_metric("log_loss").higher_is_better is False
    assert get_metric("macro_f1").higher_is_better is True
    assert get_metric("recall").per_class is True
    assert "top2_accuracy" in available_metrics("multiclass")
    assert "top2_accuracy" not in available_metrics("binary")
    assert "specificity" in available_metrics("binary")
    assert set(available_metrics("regression")).isdisjoint(available_metrics("multiclass"))


def test_unknown_metric_suggests_the_closest_name() -> None:
    with pytest.raises(BadInput, match="did you mean `macro_f1`"):
        get_metric("macro_f")
    with pytest.raises(BadInput, match="Unknown metric `zzz`"):
        get_metric("zzz")


def test_metric_of_another_task_is_refused() -> None:
    with pytest.raises(BadInput, match="applies to regression, not multiclass"):
        compute_metrics("multiclass", ["mae"], [0, 1], [0, 1], None, ["a", "b", "c"])
    with pytest.raises(BadInput, match="task"):
        available_metrics("ranking")


def test_bad_inputs_name_the_array_and_sample() -> None:
    with pytest.raises(InvalidDataset, match=r"found 3 at sample 1"):
        prepare_inputs("multiclass", [0, 3], [0, 1], None, ["a", "b", "c"])
    with pytest.raises(ModelOutputInvalid, match=r"shape \(2, 3\)"):
        prepare_inputs("multiclass", [0, 1], [0, 1], np.ones((2, 2)) / 2, ["a", "b", "c"])
    with pytest.raises(ModelOutputInvalid, match="softmax"):
        prepare_inputs(
            "multiclass", [0, 1], [0, 1], np.array([[2.0, -1.0, 0.0], [0.2, 0.3, 0.5]]), ["a", "b", "c"]
        )
    with pytest.raises(ModelOutputInvalid, match="one prediction per test sample"):
        prepare_inputs("binary", [0, 1, 1], [0, 1], None, ["a", "b"])
    with pytest.raises(BadInput, match="exactly 2 classes"):
        prepare_inputs("binary", [0, 1], [0, 1], None, ["a", "b", "c"])
    with pytest.raises(InvalidDataset, match="integer class indices"):
        prepare_inputs("binary", [0, 0.5], [0, 1], None, ["a", "b"])


def test_binary_accepts_a_positive_score_column() -> None:
    y, pred, p, classes = _case(4, 100, 2)
    one = compute_metrics("binary", ["roc_auc", "log_loss"], y, pred, p[:, 1], classes)
    two = compute_metrics("binary", ["roc_auc", "log_loss"], y, pred, p, classes)
    assert one["roc_auc"].value == two["roc_auc"].value
    _close(one["log_loss"].value, two["log_loss"].value or 0.0, tol=1e-12)


def test_labels_outside_the_class_list_count_as_errors() -> None:
    y, pred, p, classes = _case(11, 800, 4)
    y = y.copy()
    y[::9] = -1  # labels outside the class list
    r = compute_metrics("multiclass", None, y, pred, p, classes, outside_label=True)
    _assert_no_nan(r)
    labels = list(range(4))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # scikit-learn with labels=range(K) and -1 left in y_true is the reference semantics.
        _close(r["accuracy"].value, skm.accuracy_score(y, pred))
        for kind, fn in (("precision", skm.precision_score), ("recall", skm.recall_score), ("f1", skm.f1_score)):
            ref = fn(y, pred, labels=labels, average=None, zero_division=np.nan)
            assert list(r[kind].per_class.values()) == pytest.approx(list(ref))  # type: ignore[union-attr]
            _close(r[f"macro_{kind}"].value, fn(y, pred, labels=labels, average="macro", zero_division=np.nan))
            _close(
                r[f"weighted_{kind}"].value, fn(y, pred, labels=labels, average="weighted", zero_division=np.nan)
            )
        _close(r["mcc"].value, skm.matthews_corrcoef(y, pred))
        _close(r["cohen_kappa"].value, skm.cohen_kappa_score(y, pred))
    inside = y >= 0
    eps = np.finfo(np.float64).eps
    own = np.where(inside, p[np.arange(y.size), np.maximum(y, 0)], 0.0)
    _close(r["log_loss"].value, float(-np.mean(np.log(np.clip(own, eps, 1 - eps)))))
    in_top2 = (np.argsort(-p, axis=1, kind="stable")[:, :2] == y[:, None]).any(axis=1)  # no ties here
    _close(r["top2_accuracy"].value, float((inside & in_top2).mean()))
    for c in range(4):
        _close(r["roc_auc"].per_class[classes[c]], skm.roc_auc_score(y == c, p[:, c]))  # type: ignore[index]
    with pytest.raises(InvalidDataset, match="found -1"):
        compute_metrics("multiclass", ["accuracy"], y, pred, p, classes)


def test_float32_scores_match_sklearn_on_the_same_dtype() -> None:
    y, pred, p, classes = _case(12, 2000, 5)
    p32 = p.astype(np.float32)
    p32[:5] = np.eye(5, dtype=np.float32)  # certain predictions: the log loss clips at float32's eps
    r = compute_metrics("multiclass", ["log_loss", "roc_auc", "top2_accuracy"], y, pred, p32, classes)
    _close(r["log_loss"].value, skm.log_loss(y, p32, labels=range(5)), tol=1e-6)
    _close(r["roc_auc"].value, skm.roc_auc_score(y, p32, multi_class="ovr", labels=range(5)))
    _close(r["top2_accuracy"].value, skm.top_k_accuracy_score(y, p32, k=2, labels=range(5)))

"""Threshold tuning against hand-built cases and scikit-learn's curves."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from evalaction.exceptions import BadInput
from evalaction.metrics.thresholds import (
    finding,
    parse_constraint,
    tune_binary,
    tune_one_vs_rest,
)

# scikit-learn's docstring example (refcases/stats/sklearn_doc_auc_ap.json).
Y = np.array([0, 0, 1, 1])
S = np.array([0.1, 0.4, 0.35, 0.8])


def test_hand_built_case() -> None:
    # threshold: (tp, fp) -> precision, recall, F1, Youden J
    #   0.80: (1, 0) -> 1,   0.5, 0.667, 0.5
    #   0.40: (1, 1) -> 0.5, 0.5, 0.5,   0.0
    #   0.35: (2, 1) -> 0.667, 1, 0.8,   0.5
    #   0.10: (2, 2) -> 0.5, 1,   0.667, 0.0
    t = tune_binary(Y, S, positive_class="pos", constraint=parse_constraint("precision >= 0.95"))
    assert t.reference.threshold == 0.5
    assert (t.reference.tp, t.reference.fp) == (1, 0)
    assert t.best_f1 is not None and t.best_f1.threshold == 0.35
    assert t.best_f1.f1 == pytest.approx(0.8)
    # J ties at 0.80 and 0.35; the one nearer the reference 0.5 wins.
    assert t.youden is not None and t.youden.threshold == 0.35
    assert t.youden.youden_j == pytest.approx(0.5)
    assert t.constrained is not None and t.constrained.threshold == 0.8
    assert t.constrained.recall == pytest.approx(0.5)
    assert t.constraint == "precision >= 0.95"


def test_finding_sentence_on_the_hand_built_case() -> None:
    t = tune_binary(Y, S, positive_class="pos")
    assert finding(t) == (
        "At threshold 0.35 for `pos`, recall rises 50.0 points for 33.3 points of precision relative to threshold 0.5, "
        "F1 +13.3."
    )


def test_finding_singular_point_and_constraint() -> None:
    # 100 positives, 100 negatives. At 0.5: tp 80, fp 2 (precision 97.56%, recall 80%). At 0.47: tp 84, fp 3
    # (precision 96.55%, recall 84%): the best recall with precision >= 0.95 costs 1.0 point of precision.
    y = np.r_[np.ones(100, dtype=bool), np.zeros(100, dtype=bool)]
    s = np.r_[np.full(80, 0.9), np.full(4, 0.47), np.full(16, 0.05), np.full(2, 0.9), [0.47], np.full(97, 0.1)]
    t = tune_binary(y, s, constraint=parse_constraint("precision >= 0.95"))
    assert t.constrained is not None and t.constrained.threshold == 0.47
    text = finding(t)
    assert text is not None
    assert text == (
        "At threshold 0.47 for `1`, recall rises 4.0 points for 1.0 point of precision relative to threshold 0.5, "
        "F1 +1.9 (meets precision >= 0.95)."
    )


def test_no_finding_when_the_reference_is_already_best() -> None:
    y = np.array([0, 0, 1, 1])
    s = np.array([0.1, 0.2, 0.8, 0.9])
    t = tune_binary(y, s)
    assert t.best_f1 is not None and t.best_f1.f1 == 1.0
    assert finding(t) is None


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_optima_match_sklearn_curves(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 400 + 300 * seed
    y = rng.random(n) < 0.3
    s = np.clip(0.25 * y + rng.normal(0.4, 0.18, n), 0, 1).round(3)  # rounding makes ties
    t = tune_binary(y, s, constraint=parse_constraint("precision >= 0.7"))
    precision, recall, _ = skm.precision_recall_curve(y, s)
    precision, recall = precision[:-1], recall[:-1]  # drop the (recall 0, precision 1) end point
    f1 = 2 * precision * recall / (precision + recall)
    assert t.best_f1 is not None and t.best_f1.f1 == pytest.approx(np.max(f1))
    fpr, tpr, _ = skm.roc_curve(y, s, drop_intermediate=False)
    assert t.youden is not None and t.youden.youden_j == pytest.approx(np.max(tpr - fpr))
    ok = precision >= 0.7
    assert t.constrained is not None and t.constrained.recall == pytest.approx(np.max(recall[ok]))
    # Every table row agrees with scikit-learn's precision and recall at that threshold.
    for row in t.table:
        assert row.threshold is not None
        pred = s >= row.threshold
        if pred.any():
            assert row.precision == pytest.approx(skm.precision_score(y, pred))
        assert row.recall == pytest.approx(skm.recall_score(y, pred))
        assert row.specificity == pytest.approx(skm.recall_score(~y, ~pred))


def test_unreachable_constraint_says_so() -> None:
    t = tune_binary(Y, S, constraint=parse_constraint("recall >= 1.0"))
    assert t.constrained is not None and t.constrained.threshold == 0.35  # best precision with recall 1
    t = tune_binary(
        np.array([0, 1, 0, 1]),
        np.array([0.9, 0.8, 0.7, 0.1]),
        constraint=parse_constraint("precision >= 0.9"),
    )
    assert t.constrained is None
    assert t.constraint_note is not None and "no threshold reaches precision >= 0.9" in t.constraint_note


def test_degenerate_inputs_are_undefined_not_errors() -> None:
    assert "only negatives" in (tune_binary(np.zeros(5, dtype=bool), np.linspace(0, 1, 5)).undefined or "")
    constant = tune_binary(np.array([0, 1, 0, 1]), np.full(4, 0.3))
    assert constant.undefined is not None and "same" in constant.undefined
    assert finding(constant) is None


def test_one_vs_rest_uses_argmax_as_reference() -> None:
    rng = np.random.default_rng(4)
    y = rng.integers(0, 3, 600)
    logits = rng.normal(size=(600, 3))
    logits[np.arange(600), y] += 1.2
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    pred = p.argmax(axis=1)
    tuned = tune_one_vs_rest(y, pred, p, ["a", "b", "c"])
    ref_precision = skm.precision_score(y, pred, average=None)
    for i, c in enumerate("abc"):
        assert tuned[c].reference_label == "argmax"
        assert tuned[c].reference.threshold is None
        assert tuned[c].reference.precision == pytest.approx(ref_precision[i])
        best = tuned[c].best_f1
        assert best is not None and best.f1 is not None
        sk_f1 = skm.f1_score(y == i, p[:, i] >= best.threshold)
        assert best.f1 == pytest.approx(sk_f1)
    text = finding(tuned["a"])
    assert text is None or "for `a`" in text


@pytest.mark.parametrize(
    ("text", "metric", "op", "value"),
    [
        ("precision >= 0.95", "precision", ">=", 0.95),
        ("TPR>0.8", "recall", ">", 0.8),
        ("fpr <= .01", "fpr", "<=", 0.01),
    ],
)
def test_parse_constraint(text: str, metric: str, op: str, value: float) -> None:
    c = parse_constraint(text)
    assert (c.metric, c.op, c.value) == (metric, op, value)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("precision 0.9", "like `precision >= 0.95`"),
        ("auc >= 0.9", "constrain one of"),
        ("recall >= 1.5", r"\[0, 1\]"),
    ],
)
def test_parse_constraint_errors(text: str, match: str) -> None:
    with pytest.raises(BadInput, match=match):
        parse_constraint(text)


def test_finding_when_only_recall_moves() -> None:
    # Lowering the threshold from 0.5 to 0.4 adds two positives and no negative.
    y = np.array([1, 1, 1, 1, 0, 0, 0, 0])
    s = np.array([0.9, 0.8, 0.45, 0.42, 0.3, 0.2, 0.1, 0.05])
    t = tune_binary(y, s)
    assert t.best_f1 is not None and t.best_f1.threshold == 0.42
    assert finding(t) == (
        "At threshold 0.42 for `1`, recall rises 50.0 points with precision unchanged relative to threshold 0.5, "
        "F1 +33.3."
    )

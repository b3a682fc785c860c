"""The compare stage on synthetic predictions: values against scikit-learn, tests against the stats package
(run independently), Holm over the gated metrics, rules, orientation for losses, flips per class."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from evalaction.exceptions import InvalidPlan
from evalaction.plan import parse_plan
from evalaction.predictions import Predictions
from evalaction.stages.compare import compare_predictions

CLASSES = ["a", "b", "c", "d"]


def _plan(task: str, gates: str, primary: str = "accuracy", compare: str = "") -> object:
    text = f"""\
task: {task}
dataset: {{path: data.csv}}
models:
  candidate: {{path: c.onnx}}
  baseline: {{path: b.onnx}}
metrics: {{primary: {primary}}}
compare: {{n_bootstrap: 1000, seed: 3{compare}}}
gates:
  vs_baseline:
{gates}"""
    return parse_plan(text, Path("evalaction.yml"))


def _classifier(n: int, k: int, seed: int, outside: int = 0) -> tuple[Predictions, Predictions]:
    """Labels (with `outside` labels outside the class list, coded -1) and two correlated probabilistic models."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    logits_b = rng.normal(size=(n, k)) + 1.5 * np.eye(k)[y]
    logits_c = logits_b + rng.normal(scale=0.5, size=(n, k)) + 0.8 * np.eye(k)[y]  # better, correlated
    y[:outside] = -1
    ids = np.array([f"s{i}" for i in range(n)], dtype=object)
    classes = CLASSES[:k] if k <= len(CLASSES) else [str(i) for i in range(k)]

    def model(logits: np.ndarray) -> Predictions:
        p = np.exp(logits - logits.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        return Predictions(ids=ids, y=y, pred=p.argmax(axis=1), scores=p, slices={}, classes=classes)

    return model(logits_b), model(logits_c)


def test_multiclass_values_tests_holm_and_rules() -> None:
    from sklearn import metrics as skm
    from statsmodels.stats.contingency_tables import mcnemar as sm_mcnemar

    from evalaction.stats.contingency import contingency_bootstrap, joint_table
    from evalaction.stats.multitest import holm

    base, cand = _classifier(600, 4, seed=0)
    plan = _plan(
        "multiclass",
        "    macro_f1: {rule: not_worse, margin: 0.01}\n"
        "    recall[c]: {rule: not_worse, margin: 0.02}\n"
        "    balanced_accuracy: {rule: equivalent, margin: 0.2}\n"
        "    log_loss: {rule: not_worse, margin: 0.05}\n"
        "    top2_accuracy: {rule: better}\n",
    )
    res = compare_predictions(plan=plan, baseline=base, candidate=cand)
    assert [c.metric for c in res.comparisons] == [
        "accuracy",
        "macro_f1",
        "recall[c]",
        "balanced_accuracy",
        "log_loss",
        "top2_accuracy",
    ]
    y = cand.y
    expect = {
        "accuracy": lambda p: skm.accuracy_score(y, p.pred),
        "macro_f1": lambda p: skm.f1_score(y, p.pred, average="macro"),
        "recall[c]": lambda p: skm.recall_score(y, p.pred, average=None)[2],
        "balanced_accuracy": lambda p: skm.balanced_accuracy_score(y, p.pred),
        "log_loss": lambda p: skm.log_loss(y, p.scores),
        "top2_accuracy": lambda p: skm.top_k_accuracy_score(y, p.scores, k=2),
    }
    for c in res.comparisons:
        assert c.baseline == pytest.approx(expect[c.metric](base), rel=1e-12), c.metric
        assert c.candidate == pytest.approx(expect[c.metric](cand), rel=1e-12), c.metric
        assert c.delta == pytest.approx(c.candidate - c.baseline, abs=1e-12), c.metric
        assert c.ci_low <= c.tost_ci_low <= c.tost_ci_high <= c.ci_high, c.metric

    acc = res.get("accuracy")
    # accuracy: Tango's score test on the discordant pairs; at delta 0 it is McNemar's corrected chi-square
    assert acc is not None and acc.test == "paired score test (Tango, continuity-corrected)" and not acc.gated
    assert acc.mcnemar is not None
    table = [[0, acc.mcnemar.b], [acc.mcnemar.c, 0]]
    assert acc.p_value == pytest.approx(sm_mcnemar(table, exact=False, correction=True).pvalue, rel=1e-9)
    assert acc.ci_low < acc.delta < acc.ci_high
    assert acc.p_adjusted == acc.p_value
    assert acc.mcnemar.p_exact == pytest.approx(sm_mcnemar(table, exact=True).pvalue, rel=1e-12)
    # The stage draws once for every confusion metric it compares (same families, same seed, same draws).
    f1 = res.get("macro_f1")
    assert f1 is not None and f1.test == "contingency bootstrap (BCa)"
    direct = contingency_bootstrap(
        joint_table(y, base.pred, cand.pred, 4),
        metrics=["balanced_accuracy", "macro_f1", "recall"],
        n_resamples=1000,
        seed=3,
        macro_classes=[0, 1, 2, 3],
    )
    assert (f1.ci_low, f1.ci_high, f1.p_value) == pytest.approx(
        (direct["macro_f1"].ci_low, direct["macro_f1"].ci_high, direct["macro_f1"].p_value), abs=1e-15
    )

    gated = ["macro_f1", "recall[c]", "balanced_accuracy", "log_loss", "top2_accuracy"]
    assert res.holm_family == gated
    raw = [res.get(m).p_value for m in gated]  # type: ignore[union-attr]
    assert [res.get(m).p_adjusted for m in gated] == pytest.approx(list(holm(raw)), abs=1e-15)  # type: ignore[union-attr]

    ll = res.get("log_loss")
    assert ll is not None and not ll.higher_is_better and ll.test == "paired bootstrap (BCa)"
    # lower is better: the rule reads the interval of baseline - candidate
    assert ll.passed == (-ll.tost_ci_high > -0.05)
    f1 = res.get("macro_f1")
    assert f1 is not None and f1.passed == (f1.tost_ci_low > -0.01)
    bal = res.get("balanced_accuracy")
    assert bal is not None and bal.passed == (bal.tost_ci_low > -0.2 and bal.tost_ci_high < 0.2)
    top2 = res.get("top2_accuracy")
    assert top2 is not None
    assert top2.passed == (top2.outcome == "better" and top2.ci_low > 0)

    assert res.flips is not None
    neg = (base.pred == y) & (cand.pred != y)
    pos = (base.pred != y) & (cand.pred == y)
    assert (res.flips.n_negative, res.flips.n_positive) == (neg.sum(), pos.sum())
    assert (res.flips.n_negative, res.flips.n_positive) == (acc.mcnemar.b, acc.mcnemar.c)
    for k, name in enumerate(CLASSES):
        f = res.flips.per_class[name]
        assert (f.n, f.negative, f.positive) == ((y == k).sum(), (neg & (y == k)).sum(), (pos & (y == k)).sum())
    assert res.flips.negative_ids == [str(i) for i in base.ids[neg]][:200]


def test_stratified_and_percentile_are_passed_through() -> None:
    base, cand = _classifier(300, 3, seed=1)
    plan = _plan("multiclass", "    recall[a]: not_worse\n", compare=", stratified: true, ci: percentile")
    res = compare_predictions(plan=plan, baseline=base, candidate=cand)
    rec = res.get("recall[a]")
    assert rec is not None and rec.test == "stratified contingency bootstrap (percentile)"
    assert res.stratified and res.ci_method == "percentile"


def test_binary_roc_auc_uses_delong() -> None:
    from sklearn.metrics import brier_score_loss, roc_auc_score

    from evalaction.stats.delong import delong_test

    base, cand = _classifier(400, 2, seed=2)
    plan = _plan(
        "binary", "    roc_auc: {rule: not_worse, margin: 0.02}\n    brier: not_worse\n", primary="roc_auc"
    )
    res = compare_predictions(plan=plan, baseline=base, candidate=cand)
    auc = res.get("roc_auc")
    assert auc is not None and auc.test == "DeLong (paired)"
    assert auc.baseline == pytest.approx(roc_auc_score(base.y, base.scores[:, 1]), abs=1e-14)  # type: ignore[index]
    direct = delong_test(cand.y == 1, base.scores[:, 1], cand.scores[:, 1])  # type: ignore[index]
    assert (auc.ci_low, auc.ci_high, auc.p_value) == pytest.approx((direct.ci_low, direct.ci_high, direct.p_value))
    z90 = 1.6448536269514722
    assert auc.tost_ci_low == pytest.approx(direct.delta - z90 * direct.variance**0.5, rel=1e-12)
    brier = res.get("brier")
    assert brier is not None and brier.candidate == pytest.approx(
        brier_score_loss(cand.y, cand.scores[:, 1]),
        rel=1e-12,  # type: ignore[index]
    )


def test_regression_losses_are_oriented() -> None:
    from sklearn.metrics import mean_absolute_error, r2_score

    rng = np.random.default_rng(3)
    n = 300
    y = rng.normal(size=n)
    ids = np.arange(n).astype(str).astype(object)
    base = Predictions(ids=ids, y=y, pred=y + rng.normal(scale=0.5, size=n), scores=None, slices={}, classes=[])
    cand = Predictions(ids=ids, y=y, pred=y + rng.normal(scale=0.3, size=n), scores=None, slices={}, classes=[])
    plan = _plan("regression", "    mae: {rule: better}\n    r2: {rule: not_worse, margin: 0.01}\n", primary="mae")
    res = compare_predictions(plan=plan, baseline=base, candidate=cand)
    mae = res.get("mae")
    assert mae is not None and mae.delta < 0 and not mae.higher_is_better
    assert mae.candidate == pytest.approx(mean_absolute_error(y, cand.pred), rel=1e-12)
    assert mae.outcome == "better" and mae.passed
    r2 = res.get("r2")
    assert r2 is not None and r2.candidate == pytest.approx(r2_score(y, cand.pred), rel=1e-12)
    assert r2.outcome == "better"
    assert res.flips is None


def test_labels_outside_the_class_list_count_as_errors() -> None:
    from sklearn.metrics import accuracy_score, f1_score

    base, cand = _classifier(400, 3, seed=4, outside=12)
    plan = _plan("multiclass", "    macro_f1: not_worse\n")
    res = compare_predictions(plan=plan, baseline=base, candidate=cand)
    acc = res.get("accuracy")
    assert acc is not None and acc.candidate == pytest.approx(accuracy_score(cand.y, cand.pred))
    f1 = res.get("macro_f1")
    assert f1 is not None
    assert f1.candidate == pytest.approx(f1_score(cand.y, cand.pred, labels=[0, 1, 2], average="macro"))


def test_a_loop_metric_and_an_undefined_one() -> None:
    from sklearn.metrics import matthews_corrcoef

    base, cand = _classifier(120, 2, seed=5)
    plan = _plan("binary", "    mcc: not_worse\n    average_precision: not_worse\n", compare=", ci: percentile")
    plan = plan.model_copy(update={"compare": plan.compare.model_copy(update={"n_bootstrap": 100})})
    res = compare_predictions(plan=plan, baseline=base, candidate=cand)
    mcc = res.get("mcc")
    assert mcc is not None and mcc.candidate == pytest.approx(matthews_corrcoef(cand.y, cand.pred), abs=1e-14)
    assert mcc.test == "contingency bootstrap (percentile)"
    ap = res.get("average_precision")
    assert (
        ap is not None and ap.test == "stratified paired bootstrap (percentile)"
    )  # the metrics stage's, per resample
    # a test set with one class only: ROC AUC cannot be compared, and says why
    one = Predictions(
        ids=base.ids,
        y=np.zeros(120, dtype=int),
        pred=base.pred,
        scores=base.scores,
        slices={},
        classes=base.classes,
    )
    two = Predictions(
        ids=cand.ids,
        y=np.zeros(120, dtype=int),
        pred=cand.pred,
        scores=cand.scores,
        slices={},
        classes=cand.classes,
    )
    res = compare_predictions(plan=_plan("binary", "    roc_auc: not_worse\n"), baseline=one, candidate=two)
    assert res.get("roc_auc") is None
    assert "positives and negatives" in res.undefined["roc_auc"]


def test_multiclass_roc_auc_is_vectorised_and_matches_sklearn() -> None:
    from sklearn.metrics import roc_auc_score

    base, cand = _classifier(300, 4, seed=8)
    res = compare_predictions(plan=_plan("multiclass", "    roc_auc: not_worse\n"), baseline=base, candidate=cand)
    auc = res.get("roc_auc")
    assert auc is not None and auc.test == "stratified paired bootstrap (BCa)"
    assert auc.candidate == pytest.approx(roc_auc_score(cand.y, cand.scores, multi_class="ovr"), abs=1e-14)
    assert auc.baseline == pytest.approx(roc_auc_score(base.y, base.scores, multi_class="ovr"), abs=1e-14)


def test_unknown_class_in_a_gate_is_a_plan_error() -> None:
    base, cand = _classifier(100, 3, seed=6)
    with pytest.raises(InvalidPlan, match="recall\\[z\\]"):
        compare_predictions(plan=_plan("multiclass", "    recall[z]: not_worse\n"), baseline=base, candidate=cand)


def test_verdict_uses_the_compare_decision() -> None:
    from evalaction.artifacts import DatasetCard, PlanResult
    from evalaction.stages.verdict import baseline_gates

    base, cand = _classifier(500, 3, seed=7)
    # the candidate is clearly better, so `equivalent` within half a point must fail and `not_worse` pass
    plan = _plan(
        "multiclass",
        "    accuracy: {rule: equivalent, margin: 0.005}\n    macro_f1: {rule: not_worse, margin: 0.01}\n",
    )
    res = compare_predictions(plan=plan, baseline=base, candidate=cand)
    card = DatasetCard(
        source="x", format="csv", n_samples=500, n_features=1, classes=["a", "b", "c"], class_counts={},
        duplicate_samples=0, duplicate_ids=0, labels_outside_classes={}, missing_values=0, fingerprint="0",
    )  # fmt: skip
    gates = {
        g.name: g for g in baseline_gates(PlanResult(plan=plan, plan_path="p", base_dir=".", dataset=card), res)
    }
    assert gates["accuracy"].status == "fail" and "not inside" in gates["accuracy"].reason
    assert gates["macro_f1"].status == "pass" and "90% interval lower bound" in gates["macro_f1"].reason


def test_equivalent_without_margin_is_rejected_by_the_plan() -> None:
    with pytest.raises(InvalidPlan, match="needs a margin > 0"):
        _plan("multiclass", "    accuracy: equivalent\n")


def test_values_are_the_metric_registry_values_even_with_undefined_classes() -> None:
    from evalaction.metrics.registry import compute_metrics

    base, cand = _classifier(500, 4, seed=9, outside=7)
    cand.pred[cand.pred == 3] = 2  # the candidate never predicts `d`: its precision is undefined
    names = ["accuracy", "balanced_accuracy", "macro_precision", "weighted_f1", "cohen_kappa", "micro_f1"]
    gates = "".join(f"    {n}: not_worse\n" for n in [*names[1:], "precision[d]", "recall[d]"])
    res = compare_predictions(plan=_plan("multiclass", gates), baseline=base, candidate=cand)
    for role, p in (("baseline", base), ("candidate", cand)):
        ref = compute_metrics("multiclass", [*names, "recall"], p.y, p.pred, p.scores, CLASSES, outside_label=True)
        for name in names:
            got = res.get(name)
            assert got is not None and getattr(got, role) == pytest.approx(ref[name].value, abs=1e-14), name
        assert getattr(res.get("recall[d]"), role) == pytest.approx(ref["recall"].per_class["d"], abs=1e-14)  # type: ignore[index]
    assert res.get("precision[d]") is None
    assert "undefined for the candidate" in res.undefined["precision[d]"]


def test_positive_class_decides_binary_precision_recall_and_auc() -> None:
    """`dataset.positive_class: a` (class_names[0]) makes precision/recall/ROC AUC about `a`, as sklearn's pos_label."""
    import sklearn.metrics as skm

    from evalaction.metrics.registry import get_metric
    from evalaction.predictions import with_positive_class
    from evalaction.stages.metrics import metric_inputs

    base, cand = _classifier(400, 2, seed=5)
    text = _plan("binary", "    precision: not_worse\n    recall: not_worse\n    roc_auc: not_worse\n")
    plan = text.model_copy(  # type: ignore[attr-defined]
        update={"dataset": text.dataset.model_copy(update={"positive_class": "a"})}  # type: ignore[attr-defined]
    )
    res = compare_predictions(plan=plan, baseline=base, candidate=cand)
    y = cand.y
    for name, ref in (
        ("precision", lambda p: skm.precision_score(y, p.pred, pos_label=0)),
        ("recall", lambda p: skm.recall_score(y, p.pred, pos_label=0)),
        ("roc_auc", lambda p: skm.roc_auc_score(y == 0, p.scores[:, 0])),
    ):
        c = res.get(name)
        assert c is not None and c.candidate == pytest.approx(ref(cand), rel=1e-12), name
        assert c.baseline == pytest.approx(ref(base), rel=1e-12), name
    # the metrics stage's inputs after the swap: the registry's binary precision is `a`'s
    swapped = with_positive_class(cand, "a")
    assert swapped.classes == ["b", "a"]
    value = get_metric("precision").compute(metric_inputs(swapped, "binary")).value
    assert value == pytest.approx(skm.precision_score(y, cand.pred, pos_label=0), rel=1e-12)
    # the default stays class_names[1]
    default = compare_predictions(plan=text, baseline=base, candidate=cand).get("precision")  # type: ignore[arg-type]
    assert default is not None and default.candidate == pytest.approx(skm.precision_score(y, cand.pred), rel=1e-12)


def test_positive_class_refused_outside_binary_and_unknown_names() -> None:
    with pytest.raises(InvalidPlan, match="positive_class"):
        parse_plan(
            "task: multiclass\ndataset: {path: d.csv, positive_class: a}\nmodels: {candidate: {path: c.onnx}}\n"
            "metrics: {primary: accuracy}\n",
            Path("evalaction.yml"),
        )
    with pytest.raises(InvalidPlan, match="positive_class"):
        parse_plan(
            "task: binary\ndataset: {path: d.csv, class_names: [x, y], positive_class: z}\n"
            "models: {candidate: {path: c.onnx}}\nmetrics: {primary: accuracy}\n",
            Path("evalaction.yml"),
        )


def test_bca_gives_way_to_percentile_when_the_models_rarely_disagree() -> None:
    """Issue #17: BCa under-covers with few discordant pairs; below 100 disagreeing rows the percentile is used."""
    base, _ = _classifier(300, 3, seed=2)
    pred = base.pred.copy()
    pred[:20] = (pred[:20] + 1) % 3  # 20 rows where the models disagree
    cand = Predictions(ids=base.ids, y=base.y, pred=pred, scores=base.scores, slices={}, classes=base.classes)
    res = compare_predictions(plan=_plan("multiclass", "    macro_f1: not_worse\n"), baseline=base, candidate=cand)
    f1 = res.get("macro_f1")
    assert f1 is not None and f1.test.startswith("contingency bootstrap (percentile; BCa needs 100+")

"""Stage 5: paired comparison of candidate and baseline: per metric, better, worse, equivalent or inconclusive.

Every metric the plan gates against the baseline (and the primary metric) gets delta = candidate - baseline on
the same samples, its (1 - alpha) and (1 - 2 alpha) intervals, a raw and a Holm-adjusted p-value, the test used,
an outcome and, when gated, whether the gate's rule holds. The test depends on the metric:

    | metric                                                   | test                                         |
    |----------------------------------------------------------|----------------------------------------------|
    | accuracy (and micro averages, which equal it)            | Tango's score test and interval on the       |
    |                                                          | discordant pairs (`stats.paired_proportion`)|
    | balanced accuracy, precision/recall/F1 (per               | contingency bootstrap: multinomial resampling|
    | class, macro), specificity                                | of the joint (label, baseline, candidate)    |
    |                                                          | table; exact, cost independent of N          |
    | ROC AUC, binary                                          | DeLong's paired test (Sun & Xu fast midranks)|
    | anything else (log loss, Brier, top-k, regression, ...)  | paired index bootstrap (ROC AUC multiclass   |
    |                                                          | and average precision stratified by class)   |

McNemar's test is reported beside accuracy. The bootstrap's BCa interval is used only where it is calibrated:
with fewer than `MIN_DISAGREEMENTS_FOR_BCA` rows on which the two models predict differently, its jackknife
acceleration rests on a handful of rows and the interval under-covers, so the percentile interval is used.
Rules are decided on the p-value against the margin where the test gives one (accuracy), else on the interval
with ties counting as not excluding the margin (`stats.outcome`). Each gate also gets its power
(`stats.power`): the smallest true delta it detects and the rows a delta of 0 needs. Holm adjusts across the gated metrics; outcomes and rules follow the
decision table of `evalaction.stats.outcome`, on deltas oriented so that positive is an improvement.
Statistics live in `evalaction.stats` (pure numpy); this module maps the plan onto them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evalaction.artifacts import CompareResult, McNemarReport, MetricComparison
from evalaction.flips import MAX_LISTED_FLIPS, build_flips, sample_correctness
from evalaction.plan import parse_metric_ref
from evalaction.predictions import Predictions, read_predictions

if TYPE_CHECKING:
    import numpy as np

    from evalaction.artifacts import InferenceResult, PlanResult
    from evalaction.plan import Plan
    from evalaction.stats.power import GatePower

_METHOD_LABEL = {"bca": "BCa", "percentile": "percentile", "basic": "basic"}
# Below this many rows where the two models' predictions differ, BCa gives way to the percentile interval
# (issue #17: BCa covered 0.92 at 5-10 discordant pairs, percentile 0.95-0.96).
MIN_DISAGREEMENTS_FOR_BCA = 100


@dataclass(frozen=True)
class MeasuredDelta:
    """One metric's paired delta before the plan's rules: values, intervals, raw p, test."""

    baseline: float
    candidate: float
    delta: float
    ci: tuple[float, float]
    tost_ci: tuple[float, float]
    p_value: float
    test: str
    # one-sided p-values against a null delta (H1: delta > d0, H1: delta < d0) from the test the interval inverts
    p_greater: Callable[[float], float] | None = None
    p_less: Callable[[float], float] | None = None
    variance_per_row: float | None = None  # for the power of the gate (stats.power)


def run_compare(*, plan: PlanResult, inference: InferenceResult, out_dir: Path) -> CompareResult | None:
    """Delta, intervals, p-values, outcome and rule for the primary metric and every metric gated vs baseline."""
    if inference.baseline is None:
        return None
    cand = read_predictions(out_dir / inference.candidate.predictions_path)
    base = read_predictions(out_dir / inference.baseline.predictions_path)
    return compare_predictions(plan=plan.plan, baseline=base, candidate=cand)


def compare_predictions(
    *, plan: Plan, baseline: Predictions, candidate: Predictions, max_listed: int = MAX_LISTED_FLIPS
) -> CompareResult:
    """The comparison for two models' predictions on the same test set (pure; `run_compare` reads them)."""
    from evalaction.exceptions import EvalActionError
    from evalaction.predictions import with_positive_class

    _check_paired(baseline, candidate)
    if plan.task == "binary":  # the positive class is index 1 for every binary metric (dataset.positive_class)
        baseline = with_positive_class(baseline, plan.dataset.positive_class)
        candidate = with_positive_class(candidate, plan.dataset.positive_class)
    spec = plan.compare
    refs = [plan.metrics.primary, *[r for r in plan.gates.vs_baseline if r != plan.metrics.primary]]
    classification = plan.task != "regression" and candidate.scores is not None
    measured: dict[str, MeasuredDelta] = {}
    undefined: dict[str, str] = {}

    pending = list(refs)
    if classification:
        keys = {ref: _contingency_key(ref, plan.task, candidate.classes) for ref in refs}
        confusion_refs = [r for r in refs if keys[r] is not None]
        try:
            for ref, got in _contingency(confusion_refs, keys, plan, baseline, candidate).items():
                if isinstance(got, str):
                    undefined[ref] = got
                else:
                    measured[ref] = got
        except EvalActionError as exc:
            undefined.update({r: str(exc) for r in confusion_refs})
        pending = [r for r in refs if r not in confusion_refs]
    for ref in pending:
        try:
            if classification and ref == "roc_auc" and plan.task == "binary":
                measured[ref] = _delong(plan, baseline, candidate)
            else:
                measured[ref] = _index_bootstrap(ref, plan, baseline, candidate)
        except (EvalActionError, ValueError) as exc:
            undefined[ref] = str(exc).splitlines()[0] if str(exc) else type(exc).__name__

    mcnemar = _mcnemar(baseline, candidate) if classification else None
    comparisons, gated = assemble_comparisons(
        refs=refs,
        measured=measured,
        plan=plan,
        n_rows=len(candidate.y),
        undefined=undefined,
        mcnemar=mcnemar,
    )
    flips = (
        build_flips(
            sample_correctness(
                y=candidate.y,
                baseline_pred=baseline.pred,
                candidate_pred=candidate.pred,
                ids=candidate.ids,
                classes=candidate.classes,
            ),
            max_listed=max_listed,
        )
        if classification
        else None
    )
    return CompareResult(
        comparisons=comparisons,
        n_bootstrap=spec.n_bootstrap,
        alpha=spec.alpha,
        seed=spec.seed,
        n_samples=len(candidate.y),
        ci_method=spec.ci,
        stratified=spec.stratified,
        holm_family=gated,
        flips=flips,
        undefined=undefined,
    )


def assemble_comparisons(
    *,
    refs: list[str],
    measured: Mapping[str, MeasuredDelta],
    plan: Plan,
    n_rows: int,
    undefined: dict[str, str],
    mcnemar: McNemarReport | None = None,
) -> tuple[list[MetricComparison], list[str]]:
    """Measured deltas -> Holm across the gated metrics -> each gate's rule -> one `MetricComparison` per metric,
    for every task (detection measures its deltas by the image bootstrap and hands them in here).

    A metric whose rule cannot be decided (`InvalidStatisticInput`) moves to `undefined` with the reason.
    Returns the comparisons in `refs` order and the Holm family (the gated metrics measured).
    """
    from evalaction.exceptions import InvalidStatisticInput
    from evalaction.metrics.catalog import higher_is_better
    from evalaction.stats.multitest import holm
    from evalaction.stats.outcome import decide

    spec = plan.compare
    gated = [r for r in plan.gates.vs_baseline if r in measured]
    adjusted = dict(zip(gated, holm([measured[r].p_value for r in gated]).tolist(), strict=True))

    comparisons = []
    for ref in refs:
        if ref not in measured:
            continue
        m = measured[ref]
        hib = higher_is_better(parse_metric_ref(ref)[0])
        gate = plan.gates.vs_baseline.get(ref)
        p_adj = adjusted.get(ref, m.p_value)
        # Orient so that positive is an improvement: a loss that drops is better.
        ci, tost_ci = (m.ci, m.tost_ci) if hib else ((-m.ci[1], -m.ci[0]), (-m.tost_ci[1], -m.tost_ci[0]))
        p_margin = _p_against_margin(m, gate.rule, gate.margin) if gate and hib else None
        power = _power(m, gate.rule, gate.margin, spec.alpha, n_rows) if gate else None
        try:
            decision = decide(
                ci=ci,
                ci_2alpha=tost_ci,
                p_adjusted=p_adj,
                alpha=spec.alpha,
                margin=gate.margin if gate else 0.0,
                rule=gate.rule if gate else None,
                p_margin=p_margin,
            )
        except InvalidStatisticInput as exc:
            undefined[ref] = str(exc)
            continue
        comparisons.append(
            MetricComparison(
                metric=ref,
                baseline=m.baseline,
                candidate=m.candidate,
                delta=m.delta,
                ci_low=m.ci[0],
                ci_high=m.ci[1],
                confidence=1 - spec.alpha,
                tost_ci_low=m.tost_ci[0],
                tost_ci_high=m.tost_ci[1],
                tost_confidence=1 - 2 * spec.alpha,
                p_value=m.p_value,
                p_adjusted=p_adj,
                test=m.test,
                higher_is_better=hib,
                outcome=decision.outcome,
                gated=gate is not None,
                rule=gate.rule if gate else None,
                margin=gate.margin if gate else None,
                passed=decision.passed,
                reason=decision.reason if hib else f"{decision.reason} (lower is better: signs flipped)",
                mcnemar=mcnemar if parse_metric_ref(ref)[0] == "accuracy" else None,
                p_margin=p_margin,
                rows_needed=None if power is None else power.rows_needed,
                detectable=None if power is None else power.detectable,
                undecidable=None if power is None or power.decidable else power.sentence(ref),
            )
        )
    return comparisons, gated


# ------------------------------------------------------------------------------------------------ the three tests


def _contingency_key(ref: str, task: str, classes: list[str]) -> str | None:
    """The contingency-bootstrap metric a plan reference maps to, or None for the other paths.

    Mirrors the metric registry: means skip undefined per-class values; a binary task's overall
    precision/recall/F1 are the positive class's; specificity is class 0's recall; micro averages are accuracy.
    """
    name, cls = parse_metric_ref(ref)
    if cls is not None:
        if name not in ("precision", "recall", "f1"):
            return None
        if cls not in classes:
            _raise_unknown_class(ref, classes)
        return f"{name}[{classes.index(cls)}]"
    averaged = {f"{a}_{m}" for a in ("macro", "weighted") for m in ("precision", "recall", "f1")}
    if name in averaged or name in ("accuracy", "balanced_accuracy", "mcc", "cohen_kappa"):
        return name
    if name.startswith("micro_"):
        return "accuracy"  # pooled counts of single-label data: the registry defines micro_* as accuracy
    if name in ("precision", "recall", "f1"):
        return f"{name}[1]" if task == "binary" else f"macro_{name}"
    if name == "specificity" and task == "binary":
        return "recall[0]"
    return None


def _raise_unknown_class(ref: str, classes: list[str]) -> None:
    """A per-class reference to a class the test set does not have."""
    from evalaction.exceptions import InvalidPlan

    shown = ", ".join(classes[:12]) + (", ..." if len(classes) > 12 else "")
    raise InvalidPlan(
        f"`gates.vs_baseline.{ref}`: expected a class of the test set ({shown}), found {ref!r}; "
        "fix the class name in brackets"
    )


def _contingency(
    refs: list[str], keys: dict[str, str | None], plan: Plan, base: Predictions, cand: Predictions
) -> dict[str, MeasuredDelta | str]:
    """Measured deltas of the confusion metrics, or why one is undefined (str)."""
    import numpy as np

    from evalaction.exceptions import InvalidStatisticInput
    from evalaction.stats.contingency import contingency_draws, count_statistics, joint_table, metrics_from_counts

    if not refs:
        return {}
    spec = plan.compare
    k = len(cand.classes)
    # Labels outside the class list become one extra class that no model predicts: they count as errors for
    # accuracy, as the metrics stage counts them, and stay out of every average.
    y = np.where(cand.y < 0, k, cand.y).astype(np.int64)
    k_table = k + 1 if (cand.y < 0).any() else k
    table = joint_table(y, base.pred.astype(np.int64), cand.pred.astype(np.int64), k_table)
    out: dict[str, MeasuredDelta | str] = {}
    for ref in [r for r in refs if keys[r] == "accuracy"]:
        out[ref] = _paired_accuracy(y, base.pred, cand.pred, spec.alpha)
    refs = [r for r in refs if keys[r] != "accuracy"]
    if not refs:
        return out
    disagreements = int(np.count_nonzero(base.pred != cand.pred))
    method = spec.ci
    if method == "bca" and disagreements < MIN_DISAGREEMENTS_FOR_BCA:
        method = "percentile"
    classes = list(range(k))  # the extra class of outside labels stays out of every mean
    wanted = {str(keys[r]) for r in refs}
    families = sorted({w.split("[")[0] for w in wanted})
    draws = contingency_draws(
        table,
        metrics=families,
        n_resamples=spec.n_bootstrap,
        method=method,
        seed=spec.seed,
        stratified=spec.stratified,
        macro_classes=classes,
    )
    counts = count_statistics(table)
    mask = np.zeros(k_table, dtype=bool)
    mask[classes] = True
    values = [metrics_from_counts(counts[0], counts[1 + role], counts[3 + role], mask) for role in (0, 1)]
    label = _METHOD_LABEL[method]
    if method != spec.ci:
        label += f"; BCa needs {MIN_DISAGREEMENTS_FOR_BCA}+ rows where the models differ, {disagreements} here"
    test = f"{'stratified ' if spec.stratified else ''}contingency bootstrap ({label})"
    for ref in refs:
        key = str(keys[ref])
        family, _, idx = key.partition("[")
        b_val, c_val = (v[family] if not idx else v[family][int(idx[:-1])] for v in values)
        if not (np.isfinite(b_val) and np.isfinite(c_val)):
            which = " and ".join(r for r, v in (("baseline", b_val), ("candidate", c_val)) if not np.isfinite(v))
            out[ref] = f"{ref} is undefined for the {which} on this test set (a class absent or never predicted)"
            continue
        try:
            est = draws.summarise(key, 1 - spec.alpha)
        except InvalidStatisticInput as exc:
            out[ref] = str(exc)
            continue
        out[ref] = MeasuredDelta(
            baseline=float(b_val),
            candidate=float(c_val),
            delta=est.estimate,
            ci=(est.ci_low, est.ci_high),
            tost_ci=est.interval(1 - 2 * spec.alpha),
            p_value=est.p_value,
            test=test,
            variance_per_row=_variance(est.interval(1 - 2 * spec.alpha), 1 - 2 * spec.alpha, len(y)),
        )
    return out


def _paired_accuracy(y: np.ndarray, base_pred: np.ndarray, cand_pred: np.ndarray, alpha: float) -> MeasuredDelta:
    """Accuracy delta on its exact counts: Tango's score interval and p-values (evalaction/stats/paired_proportion)."""
    from evalaction.stats.mcnemar import discordant_pairs
    from evalaction.stats.paired_proportion import TEST_NAME, PairedAccuracy
    from evalaction.stats.power import accuracy_variance

    n = len(y)
    b, c = discordant_pairs(y, base_pred, cand_pred)
    pa = PairedAccuracy(b=b, c=c, n=n)
    n_base = int((base_pred == y).sum())
    return MeasuredDelta(
        baseline=n_base / n,
        candidate=(n_base - b + c) / n,
        delta=pa.delta,
        ci=pa.interval(1 - alpha),
        tost_ci=pa.interval(1 - 2 * alpha),
        p_value=pa.p_value(),
        test=TEST_NAME,
        p_greater=pa.p_greater,
        p_less=pa.p_less,
        variance_per_row=accuracy_variance(b, c, n),
    )


def _variance(interval: tuple[float, float], confidence: float, n: int) -> float:
    from evalaction.stats.power import variance_from_interval

    return variance_from_interval(interval[0], interval[1], confidence, n)


def _p_against_margin(m: MeasuredDelta, rule: str, margin: float) -> float | None:
    """The one-sided p-value of the rule's null at the margin, when the test gives one (stats.outcome.decide)."""
    if m.p_greater is None or m.p_less is None:
        return None
    if rule == "not_worse":
        return m.p_greater(-margin)
    if rule == "equivalent":
        return max(m.p_greater(-margin), m.p_less(margin))
    return m.p_greater(margin)


def _power(m: MeasuredDelta, rule: str, margin: float, alpha: float, n: int) -> GatePower | None:
    from evalaction.stats.power import gate_power

    if m.variance_per_row is None:
        return None
    return gate_power(rule=rule, margin=margin, alpha=alpha, n=n, variance_per_row=m.variance_per_row)


def _delong(plan: Plan, base: Predictions, cand: Predictions) -> MeasuredDelta:
    import math

    from evalaction.stats._common import norm_ppf
    from evalaction.stats.delong import delong_test

    assert base.scores is not None and cand.scores is not None
    keep = cand.y >= 0
    res = delong_test(
        cand.y[keep] == 1,
        base.scores[keep, 1],
        cand.scores[keep, 1],
        confidence_level=1 - plan.compare.alpha,
    )
    half = norm_ppf(1 - plan.compare.alpha) * math.sqrt(res.variance)
    n = int(keep.sum())
    return MeasuredDelta(
        baseline=res.auc_baseline,
        candidate=res.auc_candidate,
        delta=res.delta,
        ci=(res.ci_low, res.ci_high),
        tost_ci=(res.delta - half, res.delta + half),
        p_value=res.p_value,
        test=res.test,
        variance_per_row=n * res.variance,
    )


def _index_bootstrap(ref: str, plan: Plan, base: Predictions, cand: Predictions) -> MeasuredDelta:
    import numpy as np

    from evalaction.stats.bootstrap import paired_bootstrap

    spec = plan.compare
    statistic, data, value, always_stratify, loop = _index_statistic(ref, plan.task, base, cand)
    classification = plan.task != "regression"
    stratify = classification and (spec.stratified or always_stratify)
    n = len(cand.y)
    est = paired_bootstrap(
        statistic,
        data,
        n_resamples=spec.n_bootstrap,
        confidence_level=1 - spec.alpha,
        method=spec.ci,
        seed=spec.seed,
        strata=cand.y if stratify else None,
        # A per-resample Python loop is slow: its BCa jackknife deletes ~100 groups instead of each sample.
        jackknife_budget=100 * n if loop else 2**25,
        test="paired bootstrap",
    )
    b_val, c_val = value(base), value(cand)
    if not (np.isfinite(b_val) and np.isfinite(c_val)):
        raise ValueError(f"{ref} is undefined on this test set for one of the models")
    label = _METHOD_LABEL[spec.ci]
    return MeasuredDelta(
        baseline=b_val,
        candidate=c_val,
        delta=est.estimate,
        ci=(est.ci_low, est.ci_high),
        tost_ci=est.interval(1 - 2 * spec.alpha),
        p_value=est.p_value,
        test=f"{'stratified ' if stratify else ''}paired bootstrap ({label})",
        variance_per_row=_variance(est.interval(1 - 2 * spec.alpha), 1 - 2 * spec.alpha, n),
    )


# (vectorised delta statistic, its data arrays, value on one model, always stratify?, Python loop?)
IndexStatistic = tuple[Callable[..., Any], list[Any], Callable[[Predictions], float], bool, bool]


def _index_statistic(ref: str, task: str, base: Predictions, cand: Predictions) -> IndexStatistic:
    """(vectorised delta statistic, its data arrays, value on one model, always stratify?, Python loop?)."""
    import numpy as np

    name, cls = parse_metric_ref(ref)
    y = cand.y

    def mean_delta(
        per_sample: Callable[[Predictions], np.ndarray], transform: Callable[[Any], Any] = lambda v: v
    ) -> IndexStatistic:
        lb, lc = per_sample(base), per_sample(cand)
        return (
            lambda b, c: transform(c.mean(axis=1)) - transform(b.mean(axis=1)),
            [lb, lc],
            lambda p: float(transform(per_sample(p).mean())),
            False,
            False,
        )

    if task == "regression":
        err = {"b": base.pred - y, "c": cand.pred - y}
        if name == "mae":
            return mean_delta(lambda p: np.abs(p.pred - y))
        if name == "rmse":
            return mean_delta(lambda p: (p.pred - y) ** 2, np.sqrt)
        if name == "mape":
            eps = np.finfo(np.float64).eps  # as sklearn's mean_absolute_percentage_error
            return mean_delta(lambda p: np.abs(p.pred - y) / np.maximum(np.abs(y), eps))
        if name in ("max_error", "median_absolute_error"):
            reduce = np.max if name == "max_error" else np.median
            return (
                lambda b, c: reduce(np.abs(c), axis=1) - reduce(np.abs(b), axis=1),
                [err["b"], err["c"]],
                lambda p: float(reduce(np.abs(p.pred - y))),
                False,
                False,
            )
        if name == "r2":

            def r2(yy: np.ndarray, e: np.ndarray) -> np.ndarray:
                ss_tot = ((yy - yy.mean(axis=-1, keepdims=True)) ** 2).sum(axis=-1)
                out: np.ndarray = 1 - (e**2).sum(axis=-1) / ss_tot
                return out

            return (
                lambda yy, b, c: r2(yy, c) - r2(yy, b),
                [y, err["b"], err["c"]],
                lambda p: float(r2(y, p.pred - y)),
                False,
                False,
            )
    else:
        if name == "log_loss":

            def nll(p: Predictions) -> np.ndarray:
                assert p.scores is not None
                eps = np.finfo(p.scores.dtype).eps  # sklearn's log_loss clipping
                true = np.where(y >= 0, y, 0)
                prob = np.clip(p.scores[np.arange(len(y)), true], eps, 1 - eps)
                out: np.ndarray = np.where(y >= 0, -np.log(prob), -np.log(eps))
                return out

            return mean_delta(nll)
        if name == "brier":
            return mean_delta(lambda p: (p.scores[:, 1] - (y == 1)) ** 2)  # type: ignore[index]
        if name == "roc_auc" and task == "multiclass":
            return _ovr_roc_auc(base, cand)
        if name.startswith("top") and name.endswith("_accuracy"):
            k = int(name[3:-9])

            def in_top_k(p: Predictions) -> np.ndarray:
                assert p.scores is not None
                top = np.argsort(-p.scores, axis=1, kind="stable")[:, :k]
                out: np.ndarray = (top == y[:, None]).any(axis=1).astype(float)
                return out

            return mean_delta(in_top_k)

    # Any other metric: the metrics stage's own function on every resample (a Python loop, slower).
    from evalaction.stages.metrics import _classification_metric, _regression_metric

    def value(p: Predictions, idx: np.ndarray | None = None) -> float:
        sub = p if idx is None else _subset(p, idx)
        if task == "regression":
            return float(_regression_metric(name, sub))
        v, per, _ = _classification_metric(name, sub)
        if cls is not None:
            v = (per or {}).get(cls)
        return float("nan") if v is None else float(v)

    def loop(rows: np.ndarray) -> np.ndarray:
        return np.array([value(cand, r) - value(base, r) for r in rows])

    stratify = name in ("roc_auc", "average_precision")
    return loop, [np.arange(len(y))], value, stratify, True


def _ovr_roc_auc(base: Predictions, cand: Predictions) -> IndexStatistic:
    """Macro one-vs-rest ROC AUC (sklearn's multi_class="ovr"), vectorised over resamples by midranks:
    AUC_k = (sum of the ranks of class k's samples among all scores for k - P(P + 1)/2) / (P (n - P))."""
    import numpy as np
    from scipy.stats import rankdata

    k = len(cand.classes)

    def auc(y: np.ndarray, scores: np.ndarray) -> np.ndarray:
        n = y.shape[-1]
        out = np.zeros(y.shape[:-1])
        for j in range(k):
            pos = y == j
            p = pos.sum(axis=-1)
            ranks = rankdata(scores[..., j], axis=-1)
            out += ((ranks * pos).sum(axis=-1) - p * (p + 1) / 2) / (p * (n - p))
        return out / k

    assert base.scores is not None and cand.scores is not None
    return (
        lambda y, b, c: auc(y, c) - auc(y, b),
        [cand.y, base.scores, cand.scores],
        lambda p: float(auc(p.y, p.scores)),
        True,
        False,
    )


def _subset(p: Predictions, idx: np.ndarray) -> Predictions:
    return Predictions(
        ids=p.ids[idx],
        y=p.y[idx],
        pred=p.pred[idx],
        scores=None if p.scores is None else p.scores[idx],
        slices={},
        classes=p.classes,
    )


def _mcnemar(base: Predictions, cand: Predictions) -> McNemarReport:
    from evalaction.stats.mcnemar import discordant_pairs, mcnemar

    b, c = discordant_pairs(cand.y, base.pred, cand.pred)
    return McNemarReport(
        b=b,
        c=c,
        p_exact=mcnemar(b, c, method="exact").p_value,
        p_chi2=mcnemar(b, c, method="chi2").p_value,
        p_chi2_corrected=mcnemar(b, c, method="chi2_corrected").p_value,
    )


def _check_paired(base: Predictions, cand: Predictions) -> None:
    import numpy as np

    from evalaction.exceptions import InvalidStatisticInput

    if len(base.y) != len(cand.y) or not np.array_equal(base.y, cand.y) or list(base.ids) != list(cand.ids):
        raise InvalidStatisticInput(
            f"Expected the baseline's and the candidate's predictions on the same samples in the same order, "
            f"got {len(base.y)} and {len(cand.y)} rows with different ids or labels; re-run inference."
        )

"""Stage 4: what the candidate gets wrong, sorted into categories a reviewer can act on, with attributions.

Categories (each with a count, examples and a one-line reading):
    negative_flips        baseline right, candidate wrong: the regressions, with per-class counts
    confidently_wrong     wrong at probability >= `errors.confident_threshold`: suspected label noise
    ambiguous             top-two probabilities within `errors.ambiguous_margin`: near misses
    out_of_distribution   low max-probability, or far from the training data (k-NN distance)
    weak_slices           slice values whose error rate is significantly above the overall rate
plus the top confusion pairs and how they changed from the baseline. For the critical failures (top negative
flips, most confident errors) Captum attributions of both models are drawn side by side (`evalaction.explain`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evalaction.artifacts import (
    Attribution,
    AttributionReport,
    ConfusionPair,
    ErrorCategory,
    ErrorSample,
    ErrorsResult,
    ExplainedSample,
    InferenceResult,
    SliceErrorRate,
)
from evalaction.flips import build_flips, by_count, sample_correctness
from evalaction.plan import ErrorsSpec
from evalaction.predictions import Predictions, read_predictions

if TYPE_CHECKING:
    import numpy as np

    from evalaction.artifacts import PlanResult
    from evalaction.datasets import Dataset

ERRORS_DIR = "errors"
KNN_K = 5
KNN_QUANTILE = 0.99
KNN_MAX_TRAIN = 20_000
KNN_MAX_FEATURES = 4096
KNN_SCREENS = (250, 1_000, 4_000)  # subsets of the training set that screen test samples, smallest first
KNN_SCREEN_MIN_ROWS = 20_000  # fewer test samples: the plain search costs less than building the screens
KNN_CHUNK = 65_536
KNN_SAFETY = 1e-6
KNN_NUMPY_FEATURES = 64  # the small problem's distances in numpy up to this many features, else scipy's cdist
KNN_SMALL = 4_000_000  # (test + train) x train distances at most: computed directly, all at once (32 MB)
MAX_SLICES_KEPT = 100
TOP_PAIRS = 10
TOP_FEATURES_KEPT = 5


# ------------------------------------------------------------------------------------------------ pure pieces


def top2_margin(scores: np.ndarray) -> np.ndarray:
    """Top-1 minus top-2 probability per row (0 for a single column)."""
    import numpy as np

    if scores.shape[1] < 2:
        return np.zeros(len(scores))
    top2 = np.sort(scores, axis=1)[:, -2:]
    margin: np.ndarray = top2[:, 1] - top2[:, 0]
    return margin


def confidently_wrong(correct: np.ndarray, confidence: np.ndarray, threshold: float) -> np.ndarray:
    """Indices of wrong predictions with confidence >= threshold, most confident first (ties: dataset order)."""
    import numpy as np

    idx = np.flatnonzero(~correct & (confidence >= threshold))
    return idx[np.argsort(-confidence[idx], kind="stable")]


def ambiguous(margin: np.ndarray, threshold: float) -> np.ndarray:
    """Indices whose top-two margin is below threshold, smallest margin first."""
    import numpy as np

    idx = np.flatnonzero(margin < threshold)
    return idx[np.argsort(margin[idx], kind="stable")]


def confusion_pairs(
    y: np.ndarray,
    pred: np.ndarray,
    classes: Sequence[str],
    base_pred: np.ndarray | None = None,
    top: int = TOP_PAIRS,
) -> list[ConfusionPair]:
    """The candidate's most frequent (true -> predicted) mistakes, plus the pairs that grew most against the
    baseline, each with the baseline's count for the same pair."""
    from collections import Counter

    wrong = y != pred
    cand = Counter(zip(y[wrong].tolist(), pred[wrong].tolist(), strict=True))
    base: Counter[tuple[int, int]] = Counter()
    if base_pred is not None:
        bw = y != base_pred
        base = Counter(zip(y[bw].tolist(), base_pred[bw].tolist(), strict=True))
    keys = sorted(cand, key=lambda k: (-cand[k], k))[:top]
    if base_pred is not None:
        grown = sorted(
            (k for k in cand if cand[k] > base[k] and k not in keys), key=lambda k: (base[k] - cand[k], k)
        )
        keys += grown[: max(0, top // 2)]
    keys.sort(key=lambda k: (-cand[k], k))
    return [
        ConfusionPair(
            true=_class_name(classes, t),
            predicted=_class_name(classes, p),
            count=cand[(t, p)],
            baseline_count=base[(t, p)] if base_pred is not None else None,
        )
        for t, p in keys
    ]


def slice_error_rates(wrong: np.ndarray, slices: dict[str, np.ndarray], alpha: float) -> list[SliceErrorRate]:
    """Every slice value's error rate, tested against the overall rate.

    H0: the value's errors ~ Binomial(n, overall rate); H1: its error rate is higher. Exact one-sided binomial
    test (`binom_test_greater`: scipy.stats.binomtest's p-value), Holm-adjusted over all slice values of all
    columns, so the chance of calling any slice weak by luck stays below alpha. The overall rate includes the
    slice itself, which makes the test conservative for large slices.
    """
    import numpy as np

    from evalaction.stats.binomial import binom_test_greater
    from evalaction.stats.multitest import holm

    n_total = len(wrong)
    if n_total == 0:
        return []
    overall = float(wrong.mean())
    rows: list[tuple[str, str, int, int, float]] = []
    for column, values in slices.items():
        # one pass per column: np.unique sorts str like sorted() does (by code point)
        names, codes = np.unique(values.astype(str), return_inverse=True)
        sizes = np.bincount(codes, minlength=len(names))
        errors = np.bincount(codes, weights=wrong, minlength=len(names))
        for j, value in enumerate(names.tolist()):
            n, k = int(sizes[j]), int(errors[j])
            p = binom_test_greater(k, n, overall) if n > 0 else 1.0
            rows.append((column, value, n, k, p))
    adjusted = holm([r[4] for r in rows]) if rows else np.array([])
    out = [
        SliceErrorRate(
            column=c,
            value=v,
            n=n,
            n_errors=k,
            error_rate=k / n if n else 0.0,
            overall_rate=overall,
            p_value=p,
            p_adjusted=float(adj),
            weak=bool(adj < alpha and k / max(n, 1) > overall),
        )
        for (c, v, n, k, p), adj in zip(rows, adjusted, strict=True)
    ]
    out.sort(key=lambda s: (s.p_adjusted, s.p_value, -s.error_rate, s.column, s.value))
    return out


def knn_distances(
    train_x: np.ndarray,
    test_x: np.ndarray,
    *,
    k: int = KNN_K,
    quantile: float = KNN_QUANTILE,
    seed: int = 0,
    exact: np.ndarray | None = None,
    screen_min_rows: int = KNN_SCREEN_MIN_ROWS,
) -> tuple[np.ndarray, float]:
    """Each test sample's distance to its k-th nearest training sample, and the `quantile` of the same distance
    among training samples (leaving each one out): a test sample beyond it is farther from the training data
    than 99% of the training data is from itself (Sun et al. 2022, "Out-of-Distribution Detection with Deep
    Nearest Neighbors"). Features are standardized with the training mean and std; missing values take the mean.

    With at least `screen_min_rows` test rows, a test sample that a random subset of the training set already
    shows to be nearer than the limit (a subset's k-th neighbour is never nearer than the whole set's) keeps
    that subset's distance, an upper bound still below the limit, unless `exact` marks it: `dist > limit`, and
    every distance beyond the limit, are the same as a search of the whole training set gives, at a fraction of
    its cost (issue #16: the full search was most of the errors stage at 1e6 rows).
    """
    import numpy as np

    train = np.asarray(train_x, dtype=np.float64)
    if len(train) > KNN_MAX_TRAIN:  # bounded cost: a seeded subsample of the training set
        train = train[np.random.default_rng(seed).choice(len(train), KNN_MAX_TRAIN, replace=False)]
    mean = np.nanmean(train, axis=0)
    mean = np.where(np.isnan(mean), 0.0, mean)
    std = np.nanstd(train, axis=0)
    std = np.where(~np.isfinite(std) | (std == 0), 1.0, std)

    def standardize(a: np.ndarray) -> np.ndarray:
        a = np.where(np.isnan(a), mean, a)
        return (a - mean) / std

    tr = standardize(train)
    k = max(1, min(k, len(tr) - 1))
    if (len(test_x) + len(tr)) * len(tr) <= KNN_SMALL:
        # a small problem: every distance directly, without importing scikit-learn (~0.5 s of CPU, against
        # milliseconds of work here)
        def kth(x: np.ndarray, n: int) -> np.ndarray:
            return np.partition(euclidean_distances(x, tr), n - 1, axis=1)[:, n - 1]

        own_small = kth(tr, k + 1)  # column 0 is the sample itself
        return kth(standardize(np.asarray(test_x, dtype=np.float64)), k), float(np.quantile(own_small, quantile))
    from sklearn.neighbors import NearestNeighbors

    nn = NearestNeighbors(n_neighbors=k + 1).fit(tr)
    n_test = len(test_x)
    screens = []
    if n_test >= screen_min_rows:
        order = np.random.default_rng([seed, 16]).permutation(len(tr))
        screens = [NearestNeighbors().fit(tr[order[:m]]) for m in KNN_SCREENS if 4 * m <= len(tr) and m > k + 1]
    own = _leave_one_out_kth(nn, tr, k, quantile, screens)
    limit = float(np.quantile(own, quantile))
    test_d = np.empty(n_test)
    for a in range(0, n_test, KNN_CHUNK):  # standardized a chunk at a time: bounded memory at 1e6 rows
        te = standardize(np.asarray(test_x[a : a + KNN_CHUNK], dtype=np.float64))
        keep = None if exact is None else np.asarray(exact[a : a + KNN_CHUNK], dtype=bool)
        test_d[a : a + len(te)] = _kth_screened(nn, te, k, limit, screens, keep)[0]
    return test_d, limit


def euclidean_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """All (len(a), len(b)) Euclidean distances, the same doubles as scipy's `cdist(a, b)`: squared differences
    summed one feature at a time, left to right, then the square root. Up to KNN_NUMPY_FEATURES features numpy
    does it without importing scipy.spatial (~0.3 s of CPU); wider data goes to cdist, whose loop is faster there.
    """
    import numpy as np

    if a.shape[1] > KNN_NUMPY_FEATURES:
        from scipy.spatial.distance import cdist

        return np.asarray(cdist(a, b))
    total = np.zeros((len(a), len(b)))
    for j in range(a.shape[1]):
        diff = np.subtract.outer(a[:, j], b[:, j])
        diff *= diff
        total += diff
    return np.sqrt(total, out=total)


def _kth_screened(
    nn: Any, x: np.ndarray, n_neighbors: int, limit: float, screens: list[Any], keep: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The `n_neighbors`-th nearest distance in `nn`'s data for each row of `x`, and which rows hold it exactly;
    a row that a screen (a subset of the same data) puts below `limit` holds the screen's distance instead, an
    upper bound, unless `keep` marks it."""
    import numpy as np

    d = np.empty(len(x))
    open_ = np.ones(len(x), dtype=bool)
    for screen in screens:
        idx = np.flatnonzero(open_)
        if not len(idx):
            break
        upper = screen.kneighbors(x[idx], n_neighbors=n_neighbors, return_distance=True)[0][:, -1]
        d[idx] = upper
        # a relative safety margin far above the rounding of the distances, so the bound holds as computed too
        inside = upper < limit * (1 - KNN_SAFETY)
        if keep is not None:
            inside &= ~keep[idx]
        open_[idx[inside]] = False
    idx = np.flatnonzero(open_)
    if len(idx):
        d[idx] = nn.kneighbors(x[idx], n_neighbors=n_neighbors, return_distance=True)[0][:, -1]
    return d, open_


def _leave_one_out_kth(nn: Any, tr: np.ndarray, k: int, quantile: float, screens: list[Any]) -> np.ndarray:
    """Each training sample's distance to its k-th nearest other training sample (column 0 is the sample itself),
    exact wherever it can decide `np.quantile(own, quantile)`: with screens, the samples whose screened upper bound
    is below a cut hold that bound, once enough samples above the cut are exact to hold the quantile's order
    statistics; otherwise every distance is exact."""
    import numpy as np

    if not screens:
        own: np.ndarray = nn.kneighbors(tr, n_neighbors=k + 1, return_distance=True)[0][:, k]
        return own
    n = len(tr)
    upper = screens[-1].kneighbors(tr, n_neighbors=k + 1, return_distance=True)[0][:, k]  # >= the whole set's
    top = n - int(np.floor(quantile * (n - 1)))  # the order statistics np.quantile reads are among the top `top`
    own = upper.copy()
    done = np.zeros(n, dtype=bool)
    for q in (0.95, 0.8, 0.5, 0.0):
        cut = float(np.quantile(upper, q)) if q > 0 else -np.inf
        todo = np.flatnonzero((upper >= cut) & ~done)
        if len(todo):
            own[todo] = nn.kneighbors(tr[todo], n_neighbors=k + 1, return_distance=True)[0][:, k]
            done[todo] = True
        # every sample left out has a true distance <= its bound < cut: if `top` exact ones are above the cut (with
        # a margin for rounding), the top order statistics are all exact, and so is the quantile
        if q == 0 or int((own[done] >= cut * (1 + KNN_SAFETY)).sum()) >= top:
            return own
    return own


# -------------------------------------------------------------------------------------------------- the stage


@dataclass
class _Listed:
    """A category under construction: the result object plus the sample indices behind its examples."""

    category: ErrorCategory
    indices: list[int]


def _class_name(classes: Sequence[str], k: int) -> str:
    return classes[k] if 0 <= k < len(classes) else "(outside class list)"


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def run_errors(
    *,
    inference: InferenceResult,
    out_dir: Path,
    plan: PlanResult | None = None,
    dataset: Dataset | None = None,
    train: Dataset | None = None,
    candidate_path: Path | None = None,
    baseline_path: Path | None = None,
    torch_models: Mapping[str, Any] | None = None,
) -> ErrorsResult:
    """Categorized errors of the candidate, its regressions against the baseline, and attributions for the
    critical failures (when the plan, the dataset and the model files are given)."""
    import numpy as np

    spec = plan.plan.errors if plan is not None else ErrorsSpec()
    alpha = plan.plan.compare.alpha if plan is not None else 0.05
    cand = read_predictions(out_dir / inference.candidate.predictions_path)
    base = read_predictions(out_dir / inference.baseline.predictions_path) if inference.baseline else None
    if inference.task == "regression":
        from evalaction.stages.errors_regression import run_regression_errors

        return run_regression_errors(
            spec=spec,
            cand=cand,
            base=base,
            out_dir=out_dir,
            plan=plan,
            inference=inference,
            dataset=dataset,
            candidate_path=candidate_path,
            baseline_path=baseline_path,
            torch_models=torch_models,
        )
    if cand.scores is None:
        return ErrorsResult(
            n_errors=0,
            error_rate=0.0,
            most_confident_errors=[],
            negative_flips=[],
            n_negative_flips=0,
            n_positive_flips=0,
            attributions=AttributionReport(enabled=False, skipped="error categories apply to classification"),
            confident_threshold=spec.confident_threshold,
            ambiguous_margin=spec.ambiguous_margin,
        )
    classes = cand.classes
    conf = cand.confidence
    margin = top2_margin(cand.scores)
    correct = cand.correct
    wrong = ~correct

    def sample(i: int, note: str | None = None) -> ErrorSample:
        return ErrorSample(
            id=str(cand.ids[i]),
            label=_class_name(classes, int(cand.y[i])),
            predicted=_class_name(classes, int(cand.pred[i])),
            confidence=round(float(conf[i]), 6),
            baseline_predicted=_class_name(classes, int(base.pred[i])) if base is not None else None,
            baseline_confidence=round(float(base.confidence[i]), 6) if base is not None else None,
            margin=round(float(margin[i]), 6),
            correct=bool(correct[i]),
            note=note,
        )

    wrong_idx = np.flatnonzero(wrong)
    by_conf = wrong_idx[np.argsort(-conf[wrong_idx], kind="stable")]
    cap = spec.max_listed
    listed: list[_Listed] = []

    neg = pos = np.array([], dtype=np.int64)
    negative_by_class: dict[str, int] = {}
    positive_by_class: dict[str, int] = {}
    if base is not None:
        units = sample_correctness(
            y=cand.y, baseline_pred=base.pred, candidate_pred=cand.pred, ids=cand.ids, classes=classes
        )
        shared = build_flips(units)
        negative_by_class, positive_by_class = by_count(shared, "negative"), by_count(shared, "positive")
        neg, pos = units.negative, units.positive
        neg = neg[np.argsort(-conf[neg], kind="stable")]
        by_class = negative_by_class
        listed.append(
            _Listed(
                ErrorCategory(
                    key="negative_flips",
                    title="Regressions: negative flips",
                    count=len(neg),
                    n_wrong=len(neg),
                    reading=_flips_reading(len(neg), len(pos), by_class),
                    examples=[sample(int(i)) for i in neg[:cap]],
                ),
                [int(i) for i in neg[:cap]],
            )
        )

    cw = confidently_wrong(correct, conf, spec.confident_threshold)
    listed.append(
        _Listed(
            ErrorCategory(
                key="confidently_wrong",
                title="Confidently wrong",
                count=len(cw),
                n_wrong=len(cw),
                reading=(
                    f"{_n(len(cw), 'error')} at probability ≥ {spec.confident_threshold:g}: the model is sure and "
                    "wrong, so the label itself may be wrong; review these labels first (suspected label noise; "
                    f"all in {ERRORS_DIR}/relabel_candidates.csv)."
                    if len(cw)
                    else f"No error at probability ≥ {spec.confident_threshold:g}."
                ),
                examples=[sample(int(i)) for i in cw[:cap]],
            ),
            [int(i) for i in cw[:cap]],
        )
    )
    _write_relabel_list(out_dir, cand, cw, conf, classes)

    amb = ambiguous(margin, spec.ambiguous_margin)
    amb_wrong = int(wrong[amb].sum())
    amb_shown = np.concatenate([amb[wrong[amb]], amb[correct[amb]]])[:cap]  # errors first, then fragile hits
    listed.append(
        _Listed(
            ErrorCategory(
                key="ambiguous",
                title="Ambiguous",
                count=len(amb),
                n_wrong=amb_wrong,
                reading=(
                    f"{_n(len(amb), 'sample')} with the top two classes within {spec.ambiguous_margin:g} of each "
                    f"other; {amb_wrong} wrong ({_pct(amb_wrong / len(amb))} vs {_pct(float(wrong.mean()))} "
                    "overall): near misses, where more training data near the boundary or calibration helps."
                    if len(amb)
                    else f"No sample has its top two classes within {spec.ambiguous_margin:g} of each other."
                ),
                examples=[sample(int(i)) for i in amb_shown],
            ),
            [int(i) for i in amb_shown],
        )
    )

    train_x = _train_features(plan, train, dataset)
    # before the k-NN search below (the stage's longest step on large test sets), so the figure process draws
    # the attribution figures while it runs
    attributions = _attributions(
        plan=plan,
        inference=inference,
        dataset=dataset,
        train_x=train_x,
        cand=cand,
        base=base,
        flips_idx=neg,
        confident_idx=by_conf,
        candidate_path=candidate_path,
        baseline_path=baseline_path,
        out_dir=out_dir,
        torch_models=torch_models,
    )
    listed.append(_ood_category(cand, conf, wrong, spec, dataset, train_x, sample))

    slice_rates = slice_error_rates(wrong, cand.slices, alpha) if cand.slices else []
    listed.append(_weak_slices_category(cand, wrong, slice_rates, alpha, cap, sample))

    image_shape = _image_shape(plan, dataset)
    if image_shape is not None and dataset is not None and _aligned(dataset, cand):
        listed = [_with_gallery(item, dataset, image_shape, out_dir) for item in listed]

    return ErrorsResult(
        n_errors=int(wrong.sum()),
        error_rate=float(wrong.mean()),
        most_confident_errors=[sample(int(i)) for i in by_conf[:cap]],
        negative_flips=[sample(int(i)) for i in neg[:cap]],
        n_negative_flips=len(neg),
        n_positive_flips=len(pos),
        negative_flips_by_class=negative_by_class,
        positive_flips_by_class=positive_by_class,
        confusion_pairs=confusion_pairs(cand.y, cand.pred, classes, base.pred if base is not None else None),
        categories=[item.category for item in listed],
        slices=slice_rates[:MAX_SLICES_KEPT],
        attributions=attributions,
        confident_threshold=spec.confident_threshold,
        ambiguous_margin=spec.ambiguous_margin,
    )


def _flips_reading(n_neg: int, n_pos: int, by_class: dict[str, int]) -> str:
    if n_neg == 0:
        return f"No sample the baseline got right is wrong now; {_n(n_pos, 'sample')} it got wrong are fixed."
    top = ", ".join(f"`{c}` ({k})" for c, k in list(by_class.items())[:3])
    return (
        f"Baseline right, candidate wrong on {_n(n_neg, 'sample')} ({n_pos} the other way, net "
        f"{n_pos - n_neg:+d}); by true class: {top}."
    )


def _ood_category(
    cand: Predictions,
    conf: np.ndarray,
    wrong: np.ndarray,
    spec: ErrorsSpec,
    dataset: Dataset | None,
    train_x: np.ndarray | None,
    sample: Callable[..., ErrorSample],
) -> _Listed:
    """Out-of-distribution suspects: max-probability below the plan's bound (3+ classes: with 2 classes a low
    max-probability is just ambiguity), or k-NN distance to the training data beyond its 99th percentile."""
    import numpy as np

    n_classes = len(cand.classes)
    low = conf < spec.ood_max_probability if n_classes > 2 else np.zeros(len(conf), dtype=bool)
    far = np.zeros(len(conf), dtype=bool)
    ratio = np.zeros(len(conf))
    why: list[str] = []
    if n_classes > 2:
        why.append(f"{int(low.sum())} with max-probability < {spec.ood_max_probability:g}")
    if train_x is None or dataset is None:
        why.append("no training set to measure distance to: set `dataset.train_path` or `dataset.train_split`")
    elif not _aligned(dataset, cand):
        why.append("the test set does not match the predictions, so no distance check")
    elif not 0 < dataset.features.shape[1] <= KNN_MAX_FEATURES or train_x.shape[1] != dataset.features.shape[1]:
        why.append(f"no distance check on {dataset.features.shape[1]} raw features")
    elif len(train_x) < 10:
        why.append("too few training samples for a distance check")
    else:
        # the low-probability suspects are ordered by their distance too: theirs must be exact
        dist, limit = knn_distances(train_x, dataset.features, seed=spec.seed, exact=low)
        far = dist > limit
        ratio = dist / limit if limit > 0 else np.where(dist > 0, np.inf, 0.0)
        why.append(
            f"{int(far.sum())} farther from the training data than {KNN_QUANTILE:.0%} of training samples "
            f"({KNN_K}-NN distance)"
        )
    suspects = np.flatnonzero(low | far)
    # farthest first, then least confident
    order = np.lexsort((conf[suspects], -ratio[suspects]))
    suspects = suspects[order]
    n_wrong = int(wrong[suspects].sum())
    if len(suspects):
        reading = (
            f"{_n(len(suspects), 'sample')} ({'; '.join(why)}); the candidate gets {n_wrong} of them wrong "
            f"({_pct(n_wrong / len(suspects))} vs {_pct(float(wrong.mean()))} overall)."
        )
    else:
        reading = (
            f"No out-of-distribution suspect ({'; '.join(why)})." if why else "No out-of-distribution suspect."
        )
    shown = suspects[: spec.max_listed]
    notes = [
        ", ".join(
            part
            for part in (
                f"max p {conf[i]:.2f}" if low[i] else "",
                f"{ratio[i]:.1f}× the training 99th-percentile distance" if far[i] else "",
            )
            if part
        )
        for i in shown
    ]
    return _Listed(
        ErrorCategory(
            key="out_of_distribution",
            title="Out-of-distribution suspects",
            count=len(suspects),
            n_wrong=n_wrong,
            reading=reading,
            examples=[sample(int(i), note) for i, note in zip(shown, notes, strict=True)],
        ),
        [int(i) for i in shown],
    )


def _weak_slices_category(
    cand: Predictions,
    wrong: np.ndarray,
    rates: list[SliceErrorRate],
    alpha: float,
    cap: int,
    sample: Callable[..., ErrorSample],
) -> _Listed:
    import numpy as np

    weak = [s for s in rates if s.weak]
    overall = float(wrong.mean())
    if not cand.slices:
        reading = "No slice columns in the plan (`dataset.slice_columns`)."
    elif not weak:
        reading = (
            f"No slice value has an error rate significantly above the overall {_pct(overall)} "
            f"({len(rates)} values tested, one-sided binomial test, Holm, α = {alpha:g})."
        )
    else:
        parts = [
            f"`{s.column}={s.value}` {_pct(s.error_rate)} of {s.n} (Holm p = {s.p_adjusted:.2g})" for s in weak[:3]
        ]
        reading = (
            f"{_n(len(weak), 'slice value')} failing more often than the overall {_pct(overall)}: {'; '.join(parts)} "
            "(one-sided binomial test, Holm over every value)."
        )
    idx: list[int] = []
    notes: list[str] = []
    in_weak = np.zeros(len(wrong), dtype=bool)
    as_str = {column: values.astype(str) for column, values in cand.slices.items()}  # once per column
    for s in weak:  # most significant first, so the examples come from the weakest slices
        mask = (as_str[s.column] == s.value) & wrong
        in_weak |= mask
        if len(idx) < cap:
            fresh = mask.copy()
            fresh[idx] = False  # already listed from a weaker slice
            for i in np.flatnonzero(fresh)[: cap - len(idx)]:
                idx.append(int(i))
                notes.append(f"{s.column}={s.value}")
    n_wrong = int(in_weak.sum())
    return _Listed(
        ErrorCategory(
            key="weak_slices",
            title="Weak slices",
            count=len(weak),
            n_wrong=n_wrong,
            reading=reading,
            examples=[sample(i, note) for i, note in zip(idx, notes, strict=True)],
        ),
        idx,
    )


def _train_features(plan: PlanResult | None, train: Dataset | None, dataset: Dataset | None) -> np.ndarray | None:
    """The training set's features for the distance check: those already read, else read from
    `dataset.train_path` or the training split (the plan stage keeps the features of a table or array file only;
    of images it keeps the hashes, to check leakage)."""
    if train is not None and train.features.ndim == 2 and train.features.shape[1] > 0:
        return train.features
    has_split = plan is not None and plan.plan.dataset.train_split and plan.plan.dataset.roboflow is None
    if plan is None or dataset is None or dataset.features.shape[1] == 0:
        return None
    if not plan.plan.dataset.train_path and not has_split:
        return None
    import dataclasses

    from evalaction.datasets import load_dataset
    from evalaction.datasets.load import read_options_for

    p = plan.plan
    if p.dataset.train_path:
        spec = p.dataset.model_copy(update={"path": p.dataset.train_path, "roboflow": None, "split": None})
        options = read_options_for(p)
    else:  # a local export with splits: the training split, features included this time
        spec, options = p.dataset, dataclasses.replace(read_options_for(p), split=p.dataset.train_split)
    features: np.ndarray = load_dataset(spec, Path(plan.base_dir), p.task, options=options).features
    return features


def _write_relabel_list(
    out_dir: Path, cand: Predictions, idx: np.ndarray, conf: np.ndarray, classes: Sequence[str]
) -> None:
    """Every confidently wrong sample as a CSV a labeller can work through (id, label, prediction, probability)."""
    import csv

    folder = out_dir / ERRORS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "relabel_candidates.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "label", "predicted", "probability"])
        for i in idx:
            writer.writerow(
                [
                    str(cand.ids[i]),
                    _class_name(classes, int(cand.y[i])),
                    _class_name(classes, int(cand.pred[i])),
                    f"{conf[i]:.6f}",
                ]
            )


# ------------------------------------------------------------------------------------------------ visuals


def _aligned(dataset: Dataset, preds: Predictions) -> bool:
    """The dataset rows are the predictions' rows (same length, same ids in the same order)."""
    import numpy as np

    if len(dataset) != len(preds.ids):
        return False
    # the saved ids are str: an elementwise match needs no conversion (2 s for two 1e6-row conversions)
    if bool(np.array_equal(dataset.ids, preds.ids)):
        return True
    return bool(np.array_equal(dataset.ids.astype(str), preds.ids.astype(str)))


def _image_shape(plan: PlanResult | None, dataset: Dataset | None) -> tuple[int, ...] | None:
    """The sample shape to draw inputs in, when the models see images: the first model input_shape with two
    spatial sides that holds exactly the raw features."""
    if plan is None or dataset is None or dataset.features.ndim != 2:
        return None
    n_features = dataset.features.shape[1]
    for spec in (plan.plan.models.candidate, plan.plan.models.baseline):
        shape = spec.preprocessing.input_shape if spec is not None else None
        if shape and len(shape) >= 2 and shape[-1] > 1 and shape[-2] > 1 and math.prod(shape) == n_features:
            if len(shape) == 3 and shape[0] not in (1, 3):
                continue
            return tuple(shape)
    return None


def _with_gallery(item: _Listed, dataset: Dataset, shape: tuple[int, ...], out_dir: Path) -> _Listed:
    from evalaction.explain.visuals import as_image, gallery_figure
    from evalaction.report.drawing import draw

    cat = item.category
    if not item.indices:
        return item
    rel = f"{ERRORS_DIR}/gallery_{cat.key}.png"
    images = [as_image(dataset.features[i], shape) for i in item.indices]
    captions = [f"{e.id}\n{e.label}→{e.predicted} {e.confidence:.2f}" for e in cat.examples[: len(item.indices)]]
    draw(gallery_figure, out_dir / rel, images=images, captions=captions, title=f"{cat.title} ({cat.count})")
    return _Listed(cat.model_copy(update={"gallery": rel}), item.indices)


# ---------------------------------------------------------------------------------------------- attributions


def _choose_samples(
    flips_idx: np.ndarray, confident_idx: np.ndarray, budget: int, *, n_confident: int | None = None
) -> list[tuple[int, str]]:
    """The critical failures: top negative flips and most confident errors, half the budget each when both
    exist, the rest filled from whichever has more.

    `confident_idx` lists errors most confident first; only its first `n_confident` (those at or above
    `errors.confident_threshold`) are labelled confidently wrong, the others `most_confident_error`, so a
    sample at p = 0.55 is never called confidently wrong beside a report that counts none (None: all are)."""
    if budget <= 0:
        return []
    flips_list = [int(i) for i in flips_idx]
    flipped = set(flips_list)  # built once: a set per element made this quadratic (issue #16)
    limit = len(confident_idx) if n_confident is None else n_confident
    confident = {int(i) for i in confident_idx[:limit]}
    conf_list = [int(i) for i in confident_idx if int(i) not in flipped]
    n_flips = min(len(flips_list), max(budget - min(len(conf_list), budget // 2), 0))
    chosen = [(i, "negative_flip") for i in flips_list[:n_flips]]
    chosen += [
        (i, "confidently_wrong" if i in confident else "most_confident_error")
        for i in conf_list[: budget - len(chosen)]
    ]
    return chosen


def _methods(method: str, differentiable: bool, image: bool) -> list[str]:
    if method == "auto":
        if differentiable:
            return ["integrated_gradients", "saliency"]
        return ["occlusion" if image else "feature_ablation"]
    return [method]


def _attributions(
    *,
    plan: PlanResult | None,
    inference: InferenceResult,
    dataset: Dataset | None,
    train_x: np.ndarray | None,
    cand: Predictions,
    base: Predictions | None,
    flips_idx: np.ndarray,
    confident_idx: np.ndarray,
    candidate_path: Path | None,
    baseline_path: Path | None,
    out_dir: Path,
    torch_models: Mapping[str, Any] | None = None,
) -> AttributionReport:
    """Attributions of both models for the critical failures, one figure per sample, with the time spent."""
    import numpy as np

    from evalaction.explain.forward import not_explainable, open_explainable
    from evalaction.explain.methods import GRADIENT, attribute, mid_grey
    from evalaction.explain.visuals import Panel, as_image, feature_bars_figure, heatmap_figure
    from evalaction.report.drawing import draw

    if plan is not None and not plan.plan.errors.attributions.on:
        return AttributionReport(enabled=False, skipped="switched off in the plan (`errors.attributions.enabled`)")
    if plan is None or dataset is None or candidate_path is None:
        return AttributionReport(enabled=False, skipped="no plan, dataset or model path handed to the stage")
    spec = plan.plan.errors.attributions
    n_confident = int(np.count_nonzero(cand.confidence[confident_idx] >= plan.plan.errors.confident_threshold))
    chosen = _choose_samples(flips_idx, confident_idx, spec.max_samples, n_confident=n_confident)
    if not chosen:
        return AttributionReport(enabled=True, skipped="no negative flip or error to explain")
    unexplainable = not_explainable(plan.plan.models.candidate, candidate_path)
    if unexplainable is not None:
        return AttributionReport(enabled=True, skipped=unexplainable)
    if not _aligned(dataset, cand):
        return AttributionReport(enabled=True, skipped="the test set rows do not match the predictions")
    if dataset.features.ndim != 2 or dataset.features.shape[1] == 0:
        return AttributionReport(enabled=True, skipped="the test set's features were not read")
    started = time.perf_counter()
    p = plan.plan
    classes = cand.classes
    roles: list[tuple[str, Path, Predictions]] = [("candidate", candidate_path, cand)]
    if (
        base is not None
        and baseline_path is not None
        and not_explainable(p.models.baseline or p.models.candidate, baseline_path) is None
    ):
        roles.insert(0, ("baseline", baseline_path, base))
    models = {
        role: open_explainable(
            path,
            (p.models.baseline or p.models.candidate) if role == "baseline" else p.models.candidate,
            role=role,
            task=p.task,
            n_classes=len(classes),
            threads=p.inference.threads,
            batch_size=p.inference.batch_size,
            code_root=Path(plan.base_dir),
            loaded=(torch_models or {}).get(role),
        )
        for role, path, _ in roles
    }
    image_shape = _image_shape(plan, dataset)
    sample_shape = image_shape or (dataset.features.shape[1],)
    differentiable = all(m.differentiable for m in models.values())
    methods = _methods(spec.method, differentiable, image_shape is not None)
    if not differentiable and any(m in GRADIENT for m in methods):
        # a torch candidate against an ONNX baseline: compare like with like, by perturbation
        methods = _methods("auto", False, image_shape is not None)
    idx = np.array([i for i, _ in chosen])
    x = dataset.features[idx].reshape(len(idx), *sample_shape)
    if image_shape is not None:
        # mid-grey, halfway through the test set's pixel range: a black reference makes every bright region
        # (a face) look like evidence, since blacking out anything lowers the probability of most classes
        reference = np.full(sample_shape, mid_grey(dataset.features))
    else:
        ref = train_x if train_x is not None and train_x.shape[1] == dataset.features.shape[1] else None
        reference = np.nanmean(ref if ref is not None else dataset.features, axis=0)  # the average sample
        reference = np.where(np.isnan(reference), 0.0, reference)
    x = np.where(np.isnan(x), np.broadcast_to(reference, x.shape), x)
    values: dict[tuple[str, str], tuple[np.ndarray, np.ndarray | None]] = {}
    for role, _, preds in roles:
        targets = [int(preds.pred[i]) for i in idx]
        for method in methods:
            out = attribute(models[role].forward, x, targets, method, baseline=reference, seed=p.errors.seed)
            values[(role, method)] = (out.values, out.delta)
    names = dataset.feature_names or [f"x{j}" for j in range(dataset.features.shape[1])]
    folder = out_dir / ERRORS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    samples: list[ExplainedSample] = []
    for j, (i, category) in enumerate(chosen):
        entries: list[Attribution] = []
        rows: list[list[Panel]] = []
        for method in methods:
            row: list[Panel] = []
            for role, _, preds in roles:
                vals, delta = values[(role, method)]
                target = int(preds.pred[i])
                flat = vals[j].reshape(-1)
                top = np.argsort(-np.abs(flat), kind="stable")[:TOP_FEATURES_KEPT]
                entries.append(
                    Attribution(
                        role=role,  # type: ignore[arg-type]
                        method=method,
                        target=_class_name(classes, target),
                        target_probability=round(float(preds.scores[i, target]), 6),  # type: ignore[index]
                        convergence_delta=float(delta[j]) if delta is not None else None,
                        total=float(flat.sum()),
                        top_features=[] if image_shape else [(names[t], round(float(flat[t]), 6)) for t in top],
                    )
                )
                row.append(
                    Panel(
                        title=f"{role} → {_class_name(classes, target)}\n{method.replace('_', ' ')}",
                        values=vals[j],
                        signed=method != "saliency",
                    )
                )
            rows.append(row)
        label = _class_name(classes, int(cand.y[i]))
        title = f"{cand.ids[i]}: label {label}" + "".join(
            f"; {role} {_class_name(classes, int(preds.pred[i]))} ({float(preds.confidence[i]):.2f})"
            for role, _, preds in roles
        )
        rel = f"{ERRORS_DIR}/explain_{j:02d}.png"
        if image_shape is not None:
            draw(
                heatmap_figure,
                out_dir / rel,
                image=as_image(dataset.features[i], image_shape),
                rows=rows,
                title=title,
            )
        else:
            draw(feature_bars_figure, out_dir / rel, feature_names=names, rows=rows, title=title)
        samples.append(
            ExplainedSample(
                id=str(cand.ids[i]),
                category=category,  # type: ignore[arg-type]
                label=label,
                attributions=entries,
                figure=rel,
            )
        )
    return AttributionReport(
        enabled=True, methods=methods, seconds=round(time.perf_counter() - started, 3), samples=samples
    )

"""The contingency fast path: metrics against scikit-learn, draws against the index bootstrap and scipy."""

from __future__ import annotations

import numpy as np
import pytest

from evalaction.exceptions import InvalidStatisticInput
from evalaction.stats.bootstrap import paired_bootstrap
from evalaction.stats.contingency import (
    CONFUSION_METRICS,
    contingency_bootstrap,
    contingency_draws,
    joint_table,
    table_metrics,
)

K = 4


def _two_models(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.choice(K, n, p=[0.4, 0.3, 0.2, 0.1])
    base = np.where(rng.random(n) < 0.7, y, rng.integers(0, K, n))
    cand = np.where(rng.random(n) < 0.25, y, np.where(rng.random(n) < 0.1, rng.integers(0, K, n), base))
    return y, base, cand


def _index_counts(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-row (n_k, TP_k, P_k) of batches of shape (m, n), written independently of the module."""
    ks = np.arange(K)[None, :, None]
    yk = y[:, None, :] == ks
    pk = p[:, None, :] == ks
    return yk.sum(axis=2), (yk & pk).sum(axis=2), pk.sum(axis=2)


def _safe(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    return np.divide(num, den, out=np.full(np.broadcast(num, den).shape, np.nan), where=den > 0)


def index_metric(name: str, cls: int | None = None):
    """A vectorised statistic for the index bootstrap: delta of `name` between the two prediction arrays."""

    def value(y: np.ndarray, p: np.ndarray) -> np.ndarray:
        n_k, tp, pred = _index_counts(y, p)
        if name == "accuracy":
            return tp.sum(axis=1) / y.shape[1]
        if name == "macro_f1":
            return np.nanmean(_safe(2 * tp, n_k + pred), axis=1)
        if name == "recall":
            return _safe(tp, n_k)[:, cls]
        if name == "precision":
            return _safe(tp, pred)[:, cls]
        if name == "balanced_accuracy":
            return np.nanmean(_safe(tp, n_k), axis=1)
        if name == "mcc":
            n, c = y.shape[1], tp.sum(axis=1)
            cov = c * n - (n_k * pred).sum(axis=1)
            return _safe(cov, np.sqrt((n**2 - (pred**2).sum(axis=1)) * (n**2 - (n_k**2).sum(axis=1))))
        raise AssertionError(name)

    return lambda y, b, c: value(y, c) - value(y, b)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_table_metrics_match_sklearn(seed: int) -> None:
    from sklearn import metrics as skm

    y, base, cand = _two_models(500, seed)
    cand[cand == 3] = 2  # the candidate never predicts class 3: its precision is undefined and left out of means
    table = joint_table(y, base, cand, K)
    assert table.sum() == y.size
    labels = list(range(K))
    for pred, got in zip((base, cand), table_metrics(table), strict=True):
        assert got["accuracy"] == pytest.approx(skm.accuracy_score(y, pred), abs=1e-15)
        assert got["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(y, pred), abs=1e-15)
        for avg in ("precision", "recall", "f1"):
            fn = getattr(skm, f"{avg}_score")
            ref = fn(y, pred, labels=labels, average=None, zero_division=np.nan)
            np.testing.assert_allclose(got[avg], ref, rtol=0, atol=1e-15)
            for average in ("macro", "weighted"):
                ref_avg = fn(y, pred, labels=labels, average=average, zero_division=np.nan)
                assert got[f"{average}_{avg}"] == pytest.approx(ref_avg, abs=1e-15), (average, avg)
        assert got["mcc"] == pytest.approx(skm.matthews_corrcoef(y, pred), abs=1e-14)
        assert got["cohen_kappa"] == pytest.approx(skm.cohen_kappa_score(y, pred), abs=1e-14)


def test_averages_over_a_subset_of_classes_match_sklearn_labels() -> None:
    from sklearn import metrics as skm

    from evalaction.stats.contingency import count_statistics, metrics_from_counts

    y, base, _ = _two_models(400, 5)
    s = count_statistics(joint_table(y, base, base, K))
    subset = [0, 2, 3]
    mask = np.isin(np.arange(K), subset)
    got = metrics_from_counts(s[0], s[1], s[3], mask)
    for avg in ("precision", "recall", "f1"):
        fn = getattr(skm, f"{avg}_score")
        for average in ("macro", "weighted"):
            ref = fn(y, base, labels=subset, average=average, zero_division=np.nan)
            assert got[f"{average}_{avg}"] == pytest.approx(ref, abs=1e-15), (average, avg)


@pytest.mark.parametrize("stratified", [False, True])
def test_fast_path_is_the_index_bootstrap_in_distribution(stratified: bool) -> None:
    from scipy import stats

    y, base, cand = _two_models(400)
    B = 4000
    fast = contingency_bootstrap(
        joint_table(y, base, cand, K), n_resamples=B, seed=1, stratified=stratified, method="bca"
    )
    for name, cls in [
        ("accuracy", None),
        ("macro_f1", None),
        ("recall", 3),
        ("precision", 0),
        ("balanced_accuracy", None),
    ]:
        key = name if cls is None else f"{name}[{cls}]"
        slow = paired_bootstrap(
            index_metric(name, cls),
            [y, base, cand],
            n_resamples=B,
            seed=2,
            strata=y if stratified else None,
            method="bca",
        )
        f = fast[key]
        # Same data, same statistic: the point estimate and the exact jackknife agree to rounding.
        assert f.estimate == pytest.approx(slow.estimate, abs=1e-12), key
        assert f.acceleration == pytest.approx(slow.acceleration, rel=1e-9, abs=1e-12), key
        # Independent draws from the same distribution.
        assert stats.ks_2samp(f.samples, slow.samples).pvalue > 1e-3, key
        sd = np.std(slow.samples)
        assert np.std(f.samples) == pytest.approx(sd, rel=0.08), key
        # MC error of an interval end (B = 4000, two runs) ~ 0.06 sd, plus one step of the lattice the delta
        # lives on (1/n_k for a recall, whose denominator is the class size).
        tol = 0.25 * sd + (1 / np.sum(y == cls) if name == "recall" else 1 / y.size)
        assert f.ci_low == pytest.approx(slow.ci_low, abs=tol), key
        assert f.ci_high == pytest.approx(slow.ci_high, abs=tol), key


def test_accuracy_interval_agrees_with_scipy() -> None:
    from scipy import stats

    y, base, cand = _two_models(600, seed=3)
    fast = contingency_bootstrap(joint_table(y, base, cand, K), metrics=["accuracy"], n_resamples=10_000)
    ref = stats.bootstrap(
        (y, base, cand),
        lambda a, b, c, axis: (c == a).mean(axis=axis) - (b == a).mean(axis=axis),
        paired=True,
        vectorized=True,
        n_resamples=10_000,
        method="BCa",
        rng=np.random.default_rng(0),
    )
    acc = fast["accuracy"]
    tol = 0.15 * float(ref.standard_error) + 1 / y.size
    assert acc.ci_low == pytest.approx(ref.confidence_interval.low, abs=tol)
    assert acc.ci_high == pytest.approx(ref.confidence_interval.high, abs=tol)


def test_table_metrics_match_the_metric_registry() -> None:
    """The registry is what the metrics stage reports; the fast path must resample exactly those metrics."""
    from evalaction.metrics.registry import compute_metrics

    y, base, cand = _two_models(300, 4)
    y[:5] = 3
    base[base == 2] = 1  # the baseline never predicts class 2: undefined precision, left out of the means
    names = ["accuracy", "balanced_accuracy", "macro_f1", "macro_precision", "weighted_f1", "mcc", "cohen_kappa"]
    classes = [str(k) for k in range(K)]
    for pred, got in zip((base, cand), table_metrics(joint_table(y, base, cand, K)), strict=True):
        ref = compute_metrics("multiclass", names + ["precision", "recall", "f1"], y, pred, classes=classes)
        for name in names:
            assert got[name] == pytest.approx(ref[name].value, abs=1e-14), name
        for name in ("precision", "recall", "f1"):
            expected = [np.nan if v is None else v for v in ref[name].per_class.values()]  # type: ignore[union-attr]
            np.testing.assert_allclose(got[name], expected, rtol=0, atol=1e-14)


def test_undefined_resamples_are_dropped_up_to_a_limit() -> None:
    rng = np.random.default_rng(0)
    n = 300
    y = np.zeros(n, dtype=int)
    y[:4] = 1  # class 1 has 4 samples: absent from ~1.8% of resamples; class 2 has 1: absent from ~37%
    y[4] = 2
    base = np.where(rng.random(n) < 0.8, y, 0)
    cand = np.where(rng.random(n) < 0.9, y, 0)
    table = joint_table(y, base, cand, 3)
    draws = contingency_draws(table, metrics=["recall"], n_resamples=2000, seed=0)
    kept = draws.summarise("recall[1]", 0.95)
    assert 1900 < kept.n_resamples < 2000
    assert kept.n_resamples == np.isfinite(draws.samples["recall[1]"]).sum()
    with pytest.raises(InvalidStatisticInput, match="stratified: true"):
        draws.summarise("recall[2]", 0.95)
    with pytest.raises(InvalidStatisticInput, match="stratified: true"):
        contingency_bootstrap(table, metrics=["recall"], n_resamples=2000, seed=0)
    strat = contingency_bootstrap(table, metrics=["recall"], n_resamples=500, seed=0, stratified=True)
    assert strat["recall[2]"].n_resamples == 500


def test_stratified_draws_keep_class_counts() -> None:
    y, base, cand = _two_models(300)
    table = joint_table(y, base, cand, K)
    # Recall of a class is TP_k / n_k; with n_k fixed every resampled recall is a multiple of 1/n_k.
    res = contingency_bootstrap(table, metrics=["recall"], n_resamples=500, stratified=True, method="percentile")
    n3 = int((y == 3).sum())
    scaled = res["recall[3]"].samples * n3
    np.testing.assert_allclose(scaled, np.round(scaled), atol=1e-9)


def test_merging_cells_changes_nothing() -> None:
    """Recall-only requests sample the merged 4K-cell table; the result keeps the estimate and acceleration."""
    y, base, cand = _two_models(300)
    table = joint_table(y, base, cand, K)
    merged = contingency_bootstrap(table, metrics=["accuracy", "recall"], n_resamples=300, seed=0)
    full = contingency_bootstrap(table, metrics=["accuracy", "recall", "f1"], n_resamples=300, seed=0)
    for key in ("accuracy", "recall[0]", "recall[3]"):
        assert merged[key].estimate == full[key].estimate
        assert merged[key].acceleration == pytest.approx(full[key].acceleration, rel=1e-12)
    assert set(full) == {"accuracy"} | {f"{m}[{k}]" for m in ("recall", "f1") for k in range(K)}


def test_identical_models_give_a_zero_delta_and_p_one() -> None:
    y, base, _ = _two_models(200)
    res = contingency_bootstrap(joint_table(y, base, base, K), n_resamples=200)
    for name in ("accuracy", "macro_f1", "recall[1]"):
        assert res[name].estimate == 0
        assert res[name].ci_low == res[name].ci_high == 0
        assert res[name].p_value == 1.0


def test_deterministic_with_a_seed() -> None:
    y, base, cand = _two_models(200)
    table = joint_table(y, base, cand, K)
    a = contingency_bootstrap(table, metrics=["macro_f1"], n_resamples=300, seed=5)
    b = contingency_bootstrap(table, metrics=["macro_f1"], n_resamples=300, seed=5, max_elements=10)
    np.testing.assert_array_equal(a["macro_f1"].samples, b["macro_f1"].samples)


def test_catalog_of_families() -> None:
    averages = {f"{a}_{m}" for a in ("macro", "weighted") for m in ("precision", "recall", "f1")}
    assert (
        set(CONFUSION_METRICS)
        == {"accuracy", "balanced_accuracy", "mcc", "cohen_kappa", "precision", "recall", "f1"} | averages
    )


def test_bad_inputs() -> None:
    y, base, cand = _two_models(50)
    with pytest.raises(InvalidStatisticInput, match="candidate_pred` in 0..3, found 7 at sample 0"):
        joint_table(y, base, np.r_[7, cand[1:]], K)
    with pytest.raises(InvalidStatisticInput, match="integer class indices"):
        joint_table(y, base, cand.astype(float), K)
    with pytest.raises(InvalidStatisticInput, match="49"):
        joint_table(y, base[:49], cand, K)
    with pytest.raises(InvalidStatisticInput, match="index bootstrap"):
        contingency_bootstrap(joint_table(y, base, cand, K), metrics=["roc_auc"])
    with pytest.raises(InvalidStatisticInput, match="shape \\(K, K, K\\)"):
        contingency_bootstrap(np.ones((2, 2), dtype=int))

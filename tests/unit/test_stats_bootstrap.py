"""The paired index bootstrap against scipy.stats.bootstrap(paired=True) and its own invariants."""

from __future__ import annotations

import numpy as np
import pytest

from evalaction.exceptions import InvalidStatisticInput
from evalaction.stats import bca_acceleration, bootstrap_p_values
from evalaction.stats.bootstrap import paired_bootstrap


def _two_models(n: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels in 0..2 and two correlated classifiers: the candidate fixes some of the baseline's errors."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    base = np.where(rng.random(n) < 0.75, y, rng.integers(0, 3, n))
    cand = np.where(rng.random(n) < 0.3, y, base)
    return y, base, cand


def accuracy_delta(y: np.ndarray, base: np.ndarray, cand: np.ndarray, axis: int = 1) -> np.ndarray:
    return (cand == y).mean(axis=axis) - (base == y).mean(axis=axis)


def precision1_delta(y: np.ndarray, base: np.ndarray, cand: np.ndarray, axis: int = 1) -> np.ndarray:
    """Precision of class 1 (a ratio, so not a mean of per-sample values)."""

    def prec(p: np.ndarray) -> np.ndarray:
        return ((p == 1) & (y == 1)).sum(axis=axis) / (p == 1).sum(axis=axis)

    return prec(cand) - prec(base)


@pytest.mark.parametrize("statistic", [accuracy_delta, precision1_delta])
@pytest.mark.parametrize("method", ["percentile", "basic", "bca"])
def test_intervals_agree_with_scipy_paired_bootstrap(statistic, method: str) -> None:
    from scipy import stats

    y, base, cand = _two_models(300)
    B = 10_000
    ours = paired_bootstrap(statistic, [y, base, cand], n_resamples=B, method=method, seed=3)
    ref = stats.bootstrap(
        (y, base, cand),
        lambda a, b, c, axis: statistic(a, b, c, axis=axis),
        paired=True,
        vectorized=True,
        n_resamples=B,
        method="BCa" if method == "bca" else method,
        rng=np.random.default_rng(11),
    )
    sd = float(np.std(ours.samples))
    assert ours.estimate == pytest.approx(float(statistic(y[None], base[None], cand[None])[0]), abs=1e-15)
    # Monte Carlo error of a 2.5% quantile with B = 1e4 is about 0.027 sd per run; the difference of two
    # independent runs about 0.04 sd. Allow 4 of those, plus one step of the lattice 1/n the (discrete)
    # accuracy delta lives on.
    tol = 0.15 * sd + 1 / y.size
    assert ours.ci_low == pytest.approx(ref.confidence_interval.low, abs=tol)
    assert ours.ci_high == pytest.approx(ref.confidence_interval.high, abs=tol)
    assert sd == pytest.approx(float(ref.standard_error), rel=0.05)


def test_bca_acceleration_is_the_leave_one_pair_out_jackknife() -> None:
    """Exact jackknife: the acceleration must agree to rounding with a direct loop (E&T 1993 eq. 14.15)."""
    y, base, cand = _two_models(120)
    res = paired_bootstrap(precision1_delta, [y, base, cand], n_resamples=500, method="bca", seed=0)
    theta = np.array(
        [
            precision1_delta(np.delete(y, i)[None], np.delete(base, i)[None], np.delete(cand, i)[None])[0]
            for i in range(y.size)
        ]
    )
    dev = theta.mean() - theta
    expected = np.sum(dev**3) / (6 * np.sum(dev**2) ** 1.5)
    assert expected != 0
    assert res.acceleration == pytest.approx(expected, rel=1e-10)


def test_paired_is_narrower_than_unpaired_for_correlated_models() -> None:
    y, base, cand = _two_models(500)
    paired = paired_bootstrap(accuracy_delta, [y, base, cand], n_resamples=4000, method="percentile")
    rng = np.random.default_rng(5)
    deltas = []
    for _ in range(4000):
        i, j = rng.integers(0, y.size, (2, y.size))
        deltas.append((cand[j] == y[j]).mean() - (base[i] == y[i]).mean())
    unpaired_width = np.subtract(*np.quantile(deltas, [0.975, 0.025]))
    assert paired.ci_high - paired.ci_low < 0.8 * unpaired_width


def test_same_seed_same_draws_other_seed_other_draws() -> None:
    y, base, cand = _two_models(200)
    a = paired_bootstrap(accuracy_delta, [y, base, cand], n_resamples=300, seed=7)
    b = paired_bootstrap(accuracy_delta, [y, base, cand], n_resamples=300, seed=7)
    c = paired_bootstrap(accuracy_delta, [y, base, cand], n_resamples=300, seed=8)
    np.testing.assert_array_equal(a.samples, b.samples)
    assert not np.array_equal(a.samples, c.samples)


def test_small_batches_bound_memory_and_keep_the_distribution() -> None:
    from scipy import stats

    y, base, cand = _two_models(200)
    big = paired_bootstrap(accuracy_delta, [y, base, cand], n_resamples=3000, seed=1)
    tiny = paired_bootstrap(accuracy_delta, [y, base, cand], n_resamples=3000, seed=2, max_elements=1)
    assert tiny.samples.size == 3000
    assert stats.ks_2samp(big.samples, tiny.samples).pvalue > 1e-3


def test_stratified_keeps_class_sizes_fixed() -> None:
    y, base, cand = _two_models(300)

    def share_of_class0(yy: np.ndarray, bb: np.ndarray, cc: np.ndarray) -> np.ndarray:
        return (yy == 0).mean(axis=1)

    strat = paired_bootstrap(share_of_class0, [y, base, cand], n_resamples=200, strata=y, method="percentile")
    assert np.all(strat.samples == (y == 0).mean())
    free = paired_bootstrap(share_of_class0, [y, base, cand], n_resamples=200, method="percentile")
    assert np.std(free.samples) > 0


def test_stratified_acceleration_is_the_multi_sample_formula() -> None:
    rng = np.random.default_rng(0)
    x = rng.exponential(size=40)
    strata = np.repeat([0, 1], 20)
    res = paired_bootstrap(lambda d: d.mean(axis=1), [x], n_resamples=100, strata=strata, seed=0)
    jack = [np.array([(x.sum() - x[i]) / 39 for i in np.flatnonzero(strata == s)]) for s in (0, 1)]
    assert res.acceleration == pytest.approx(bca_acceleration(jack), rel=1e-12)


def test_grouped_jackknife_estimates_the_same_acceleration() -> None:
    rng = np.random.default_rng(4)
    x = rng.exponential(size=3000)  # skewed, so the acceleration is clearly non-zero
    exact = paired_bootstrap(lambda d: d.mean(axis=1), [x], n_resamples=10, seed=0)
    grouped = paired_bootstrap(lambda d: d.mean(axis=1), [x], n_resamples=10, seed=0, jackknife_budget=300 * 3000)
    assert exact.acceleration == pytest.approx(
        np.mean((x - x.mean()) ** 3) / (6 * 3000**0.5 * x.std() ** 3), rel=1e-9
    )
    assert grouped.acceleration == pytest.approx(exact.acceleration, rel=0.35)


def test_p_value_rule_counts_the_observed_sample() -> None:
    samples = np.array([0.1, 0.2, 0.3, -0.1])
    p_two, p_greater, p_less = bootstrap_p_values(samples)
    assert p_greater == pytest.approx((1 + 1) / 5)
    assert p_less == pytest.approx((3 + 1) / 5)
    assert p_two == pytest.approx(2 * 2 / 5)
    assert bootstrap_p_values(np.ones(999))[0] == pytest.approx(2 / 1000)
    assert bootstrap_p_values(np.zeros(10))[0] == 1.0


def test_interval_at_another_level_nests() -> None:
    y, base, cand = _two_models(300)
    res = paired_bootstrap(accuracy_delta, [y, base, cand], n_resamples=2000)
    lo90, hi90 = res.interval(0.90)
    assert res.ci_low <= lo90 <= hi90 <= res.ci_high


def test_bad_inputs_raise_one_line_errors() -> None:
    y, base, cand = _two_models(50)
    with pytest.raises(InvalidStatisticInput, match="data\\[2\\] holds 49"):
        paired_bootstrap(accuracy_delta, [y, base, cand[:-1]])
    with pytest.raises(InvalidStatisticInput, match="one delta per index row"):
        paired_bootstrap(lambda a, b, c: a.mean(), [y, base, cand], n_resamples=10)
    with pytest.raises(InvalidStatisticInput, match="interval method"):
        paired_bootstrap(accuracy_delta, [y, base, cand], method="bc")
    with pytest.raises(InvalidStatisticInput, match="confidence_level"):
        paired_bootstrap(accuracy_delta, [y, base, cand], confidence_level=95)
    with pytest.raises(InvalidStatisticInput, match="defined value of the delta on the test set"):
        paired_bootstrap(lambda a, b, c: np.full(a.shape[0], np.nan), [y, base, cand], n_resamples=5)

    # defined on the test set (one index row), undefined on every resample (batches of 5 rows)
    with pytest.raises(InvalidStatisticInput, match="stratified: true"):
        paired_bootstrap(
            lambda a, b, c: np.where(a.shape[0] == 1, 0.0, np.full(a.shape[0], np.nan)),
            [y, base, cand],
            n_resamples=5,
            method="percentile",
        )

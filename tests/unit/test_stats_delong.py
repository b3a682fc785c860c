"""DeLong AUC and variance beyond the pROC cases: scikit-learn AUCs with ties, invariances, edge cases."""

from __future__ import annotations

import numpy as np
import pytest

from evalaction.exceptions import InvalidStatisticInput
from evalaction.stats.delong import delong_covariance, delong_test, midranks, roc_auc


@pytest.mark.parametrize("seed", range(5))
def test_auc_matches_sklearn_with_ties(seed: int) -> None:
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(seed)
    y = rng.random(300) < 0.3
    s = np.round(rng.normal(size=300) + y, 1)  # rounding makes plenty of ties
    assert roc_auc(y, s) == pytest.approx(roc_auc_score(y, s), abs=1e-14)


def test_midranks_match_scipy() -> None:
    from scipy.stats import rankdata

    x = np.array([[3.0, 1.0, 3.0, 2.0, 3.0, 1.0], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0]])
    np.testing.assert_array_equal(midranks(x), rankdata(x, axis=1))


def test_direction_is_fixed() -> None:
    rng = np.random.default_rng(0)
    y = rng.random(200) < 0.5
    s = rng.normal(size=200) + y
    assert roc_auc(y, -s) == pytest.approx(1 - roc_auc(y, s), abs=1e-14)


def test_delong_variance_agrees_with_a_bootstrap_of_the_auc_difference() -> None:
    rng = np.random.default_rng(1)
    n = 400
    y = rng.random(n) < 0.4
    base = rng.normal(size=n) + 0.8 * y
    cand = base + rng.normal(scale=0.7, size=n) + 0.3 * y
    res = delong_test(y, base, cand)

    # Bootstrap the AUC difference straight from its pairwise definition (no ranks): a resample is a vector
    # of multiplicities w, and AUC = sum_ij w_i w_j H(s_i - s_j) / (sum w_pos sum w_neg), H = 1, 1/2, 0.
    def pairwise(s: np.ndarray) -> np.ndarray:
        d = s[y][:, None] - s[~y][None, :]
        return (d > 0) + 0.5 * (d == 0)

    h_base, h_cand = pairwise(base), pairwise(cand)
    w = rng.multinomial(n, np.full(n, 1 / n), size=4000).astype(float)
    wp, wn = w[:, y], w[:, ~y]
    norm = wp.sum(axis=1) * wn.sum(axis=1)
    deltas = (((wp @ h_cand) * wn).sum(axis=1) - ((wp @ h_base) * wn).sum(axis=1)) / norm
    assert np.mean(np.abs(deltas)) > 0
    # The bootstrap variance estimates the same quantity; with 4000 resamples its relative error is ~2%.
    assert res.variance == pytest.approx(np.var(deltas), rel=0.12)


def test_identical_models_and_perfect_separation() -> None:
    y = np.array([0, 0, 1, 1, 0, 1], dtype=bool)
    s = np.array([0.1, 0.2, 0.8, 0.9, 0.3, 0.7])
    same = delong_test(y, s, s)
    assert (same.statistic, same.p_value, same.delta) == (0.0, 1.0, 0.0)
    aucs, cov = delong_covariance(y, np.stack([s, s + 1]))
    np.testing.assert_allclose(aucs, [1.0, 1.0])
    np.testing.assert_allclose(cov, 0.0)


def test_bad_inputs() -> None:
    with pytest.raises(InvalidStatisticInput, match="both positives and negatives"):
        roc_auc(np.ones(5, dtype=bool), np.arange(5.0))
    with pytest.raises(InvalidStatisticInput, match="binary labels"):
        roc_auc(np.array([0, 1, 2]), np.arange(3.0))
    with pytest.raises(InvalidStatisticInput, match="NaN/inf at sample 1"):
        roc_auc(np.array([0, 1, 1]), np.array([0.1, np.nan, 0.3]))
    with pytest.raises(InvalidStatisticInput, match="same shape"):
        delong_test(np.array([0, 1, 1]), np.arange(3.0), np.arange(4.0))

"""Binomial tails without scipy.stats: the same values as scipy.stats on a grid of n, p and k (edges included),
since they call the same scipy.special functions; and the module's import leaves scipy.stats unimported."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from scipy.stats import binom, binomtest

from evalaction.stats.binomial import binom_cdf, binom_sf, binom_test_greater

GRID_N = [1, 2, 3, 10, 57, 228, 1000, 100_000]
GRID_P = [0.0, 1e-9, 0.01, 0.3, 0.5, 0.6842, 0.99, 1.0]


@pytest.mark.parametrize("n", GRID_N)
def test_tails_and_the_one_sided_test_equal_scipy_stats(n: int) -> None:
    ks = sorted({0, 1, n // 3, n // 2, n - 1, n})
    for p in GRID_P:
        for k in ks:
            assert binom_cdf(k, n, p) == float(binom.cdf(k, n, p)), (k, n, p)
            assert binom_sf(k, n, p) == float(binom.sf(k, n, p)), (k, n, p)
            want = float(binomtest(k, n, p, alternative="greater").pvalue)
            assert binom_test_greater(k, n, p) == want, (k, n, p)
        assert binom_cdf(-1, n, p) == 0.0 and binom_sf(-1, n, p) == 1.0
        assert binom_cdf(n + 3, n, p) == 1.0 and binom_sf(n + 3, n, p) == 0.0


def test_a_textbook_value() -> None:
    # P[X >= 9] for X ~ Binomial(10, 0.5) = 11/1024
    assert binom_test_greater(9, 10, 0.5) == pytest.approx(11 / 1024, rel=1e-14)


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="0 <= p <= 1"):
        binom_sf(1, 10, 1.5)
    with pytest.raises(ValueError, match="0 <= k <= n"):
        binom_test_greater(11, 10, 0.5)


def test_importing_and_calling_does_not_import_scipy_stats() -> None:
    code = (
        "import sys; from evalaction.stats.binomial import binom_test_greater; binom_test_greater(3, 10, 0.2); "
        "from evalaction.stats.mcnemar import mcnemar_exact; mcnemar_exact(3, 9); "
        "print('scipy.stats' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_mcnemar_exact_matches_statsmodels() -> None:
    from statsmodels.stats.contingency_tables import mcnemar

    from evalaction.stats.mcnemar import mcnemar_exact

    for b, c in [(0, 1), (3, 9), (10, 10), (25, 40), (400, 460)]:
        ref = mcnemar(np.array([[5, b], [c, 5]]), exact=True).pvalue
        assert mcnemar_exact(b, c).p_value == pytest.approx(ref, rel=1e-12)

"""McNemar variants against statsmodels on random tables, and the discordant-pair counting."""

from __future__ import annotations

import numpy as np
import pytest

from evalaction.exceptions import InvalidStatisticInput
from evalaction.stats.mcnemar import discordant_pairs, mcnemar, mcnemar_exact


def _tables() -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    tables = [rng.integers(0, 60, (2, 2)) for _ in range(40)]
    tables += [np.array([[50, 0], [0, 50]]), np.array([[10, 3], [0, 7]]), np.array([[5, 200], [180, 5]])]
    return tables


@pytest.mark.parametrize("table", _tables(), ids=lambda t: "-".join(map(str, t.ravel())))
def test_against_statsmodels(table: np.ndarray) -> None:
    from statsmodels.stats.contingency_tables import mcnemar as sm_mcnemar

    b, c = int(table[0, 1]), int(table[1, 0])
    exact = mcnemar(b, c, method="exact")
    assert exact.p_value == pytest.approx(sm_mcnemar(table, exact=True).pvalue, rel=1e-12, abs=1e-300)
    if b + c == 0:
        assert exact.p_value == 1.0
        return
    plain = mcnemar(b, c, method="chi2")
    ref = sm_mcnemar(table, exact=False, correction=False)
    assert plain.statistic == pytest.approx(ref.statistic, rel=1e-12, abs=1e-15)
    assert plain.p_value == pytest.approx(ref.pvalue, rel=1e-9)
    corrected = mcnemar(b, c, method="chi2_corrected")
    if b != c:  # statsmodels applies the correction even at b == c; R (and we) do not
        ref = sm_mcnemar(table, exact=False, correction=True)
        assert corrected.statistic == pytest.approx(ref.statistic, rel=1e-12)
        assert corrected.p_value == pytest.approx(ref.pvalue, rel=1e-9)
    else:
        assert corrected.statistic == 0 and corrected.p_value == 1


def test_exact_is_the_binomial_test() -> None:
    from scipy.stats import binomtest

    for b, c in [(0, 5), (3, 9), (30, 12), (100, 130)]:
        ref = binomtest(b, b + c, 0.5, alternative="two-sided").pvalue
        assert mcnemar_exact(b, c).p_value == pytest.approx(ref, rel=1e-12)


def test_discordant_pairs_count_flips() -> None:
    y = np.array([0, 1, 2, 0, 1, 2, 0])
    base = np.array([0, 1, 0, 0, 2, 2, 1])
    cand = np.array([0, 2, 2, 1, 1, 2, 2])
    # sample 1, 3: baseline right, candidate wrong; sample 2, 4: the reverse; sample 6 both wrong
    assert discordant_pairs(y, base, cand) == (2, 2)
    assert discordant_pairs(y, base, base) == (0, 0)


def test_method_is_explicit() -> None:
    with pytest.raises(InvalidStatisticInput, match="pick one explicitly"):
        mcnemar(3, 4, method="auto")  # type: ignore[arg-type]
    with pytest.raises(InvalidStatisticInput, match="non-negative"):
        mcnemar(-1, 4, method="exact")

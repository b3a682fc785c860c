"""Gate power (stats/power.py) against statsmodels' normal power solver (one sample: ratio = 0)."""

from __future__ import annotations

import math

import pytest

from evalaction.stats.power import accuracy_variance, gate_power, variance_from_interval


@pytest.mark.parametrize(("v", "margin"), [(0.07, 0.02), (0.2, 0.05), (0.01, 0.01)])
def test_rows_needed_matches_statsmodels(v: float, margin: float) -> None:
    from statsmodels.stats.power import NormalIndPower

    want = NormalIndPower().solve_power(
        effect_size=margin / math.sqrt(v), alpha=0.05, power=0.8, ratio=0, alternative="larger"
    )
    gp = gate_power(rule="not_worse", margin=margin, alpha=0.05, n=100, variance_per_row=v)
    assert gp.rows_needed == math.ceil(want)


def test_detectable_delta_has_the_target_power() -> None:
    from statsmodels.stats.power import NormalIndPower

    v, n, m = 0.07, 228, 0.02
    gp = gate_power(rule="not_worse", margin=m, alpha=0.05, n=n, variance_per_row=v)
    es = (gp.detectable + m) / math.sqrt(v)
    assert NormalIndPower().power(effect_size=es, nobs1=n, alpha=0.05, ratio=0, alternative="larger") == (
        pytest.approx(0.8, abs=1e-6)
    )
    assert gp.detectable > 0 and not gp.decidable  # an equal candidate cannot pass: undecidable
    assert "cannot decide `accuracy not_worse 2 pt`" in gp.sentence("accuracy")


def test_margin_zero_needs_a_better_candidate_at_any_size() -> None:
    gp = gate_power(rule="not_worse", margin=0.0, alpha=0.05, n=10_000, variance_per_row=0.05)
    assert gp.rows_needed is None and not gp.decidable
    assert "margin 0" in gp.sentence("accuracy")


def test_variances() -> None:
    assert accuracy_variance(9, 7, 228) == pytest.approx(16 / 228 - (2 / 228) ** 2)
    # a 95% interval of half-width 1.96 * sqrt(v / n) gives v back
    half = 1.959963984540054 * math.sqrt(0.3 / 400)
    assert variance_from_interval(-half, half, 0.95, 400) == pytest.approx(0.3)

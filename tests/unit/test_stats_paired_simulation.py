"""Simulation: the accuracy comparison holds its level at small n and accuracies near 0.99 (issue #17).

Paired test sets are drawn from a multinomial over (baseline right/candidate wrong, baseline wrong/candidate
right, agree); for each cell of the grid, S = 4000 seeded draws. Checked, in the form the stage uses:
  coverage of the 95% interval for the true delta       >= 0.93   (nominal 0.95)
  not_worse passing when the true delta is exactly -m    <= 0.05 + 3 * sqrt(0.05 * 0.95 / S) = 0.0603
The interval is the score test inverted (checked in test_stats_paired_proportion), so coverage is
|Z(true delta)| < z_0.975 and a pass is Z(-m) > z_0.95; both are vectorised over the draws (well under 1 s).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from evalaction.stats._common import norm_ppf
from evalaction.stats.paired_proportion import score_interval, score_statistic

S = 4000
SLACK = 3 * math.sqrt(0.05 * 0.95 / S)
# (n, baseline accuracy, margin, share of the candidate's errors the baseline also makes)
GRID = [
    (n, acc, m, shared)
    for n in (50, 100, 500)
    for acc in (0.97, 0.99)
    for m in (0.0, 0.02, 0.05)
    for shared in (0.0, 0.5)
] + [(2000, 0.99, 0.0, 0.9), (500, 0.9, 0.0, 0.5), (228, 0.97, 0.02, 0.0)]


def _cells(acc_b: float, acc_c: float, shared: float) -> tuple[float, float]:
    both_wrong = shared * min(1 - acc_b, 1 - acc_c)
    p_neg = (1 - acc_c) - both_wrong  # baseline right, candidate wrong
    p_pos = (1 - acc_b) - both_wrong
    return p_neg, p_pos


@pytest.mark.parametrize(("n", "acc", "margin", "shared"), GRID)
def test_coverage_and_boundary_type_one(n: int, acc: float, margin: float, shared: float) -> None:
    rng = np.random.default_rng([17, n, int(acc * 1000), int(margin * 100), int(shared * 10)])
    p_neg, p_pos = _cells(acc, acc - margin, shared)  # true delta = -margin: the not_worse boundary
    draws = rng.multinomial(n, [p_neg, p_pos, 1 - p_neg - p_pos], size=S)
    b, c = draws[:, 0], draws[:, 1]
    true = p_pos - p_neg
    z_true = score_statistic(b, c, n, true)
    coverage = float(np.mean(np.abs(z_true) < norm_ppf(0.975)))
    passes = float(np.mean(score_statistic(b, c, n, -margin) > norm_ppf(0.95)))
    assert coverage >= 0.93, f"coverage {coverage:.3f}"
    assert passes <= 0.05 + SLACK, f"type-I {passes:.4f}"


def test_intervals_themselves_cover_on_a_small_grid() -> None:
    """The bisection intervals (not only the test) cover: 400 draws at n = 100, accuracies 0.99."""
    rng = np.random.default_rng(1700)
    p_neg, p_pos = _cells(0.99, 0.99, 0.0)
    draws = rng.multinomial(100, [p_neg, p_pos, 1 - p_neg - p_pos], size=400)
    hits = sum(lo <= 0 <= hi for lo, hi in (score_interval(int(b), int(c), 100, 0.95) for b, c, _ in draws))
    assert hits / 400 >= 0.93

"""The decision table of evalaction.stats.outcome, row by row."""

from __future__ import annotations

import pytest

from evalaction.exceptions import InvalidStatisticInput
from evalaction.stats.outcome import classify, decide

A = 0.05


@pytest.mark.parametrize(
    ("ci", "ci2", "p", "margin", "expected"),
    [
        ((0.01, 0.03), (0.012, 0.028), 0.001, 0.0, "better"),
        ((-0.03, -0.01), (-0.028, -0.012), 0.001, 0.0, "worse"),
        # significant but inside the margin: the direction wins
        ((0.001, 0.003), (0.0012, 0.0028), 0.001, 0.01, "better"),
        # p significant by Holm but the interval (another method) touches 0: not called a difference
        ((-0.001, 0.03), (0.001, 0.028), 0.04, 0.0, "inconclusive"),
        # adjusted p not significant although the raw interval excludes 0
        ((0.001, 0.03), (0.002, 0.028), 0.08, 0.0, "inconclusive"),
        ((-0.004, 0.006), (-0.003, 0.005), 0.4, 0.01, "equivalent"),
        ((-0.004, 0.006), (-0.003, 0.005), 0.4, 0.0, "inconclusive"),
        ((-0.02, 0.02), (-0.015, 0.015), 0.9, 0.01, "inconclusive"),
    ],
)
def test_outcome_rows(ci, ci2, p, margin, expected) -> None:
    assert classify(ci=ci, ci_2alpha=ci2, p_adjusted=p, alpha=A, margin=margin) == expected


@pytest.mark.parametrize(
    ("rule", "ci", "ci2", "p", "margin", "passed"),
    [
        ("better", (0.01, 0.03), (0.012, 0.028), 0.001, 0.0, True),
        ("better", (0.01, 0.03), (0.012, 0.028), 0.001, 0.02, False),  # better, but not by the margin
        ("better", (-0.01, 0.03), (0.0, 0.028), 0.2, 0.0, False),
        ("not_worse", (-0.012, 0.02), (-0.009, 0.018), 0.5, 0.01, True),
        ("not_worse", (-0.012, 0.02), (-0.011, 0.018), 0.5, 0.01, False),
        # significantly worse, yet within the accepted loss: the gate passes, the outcome says worse
        ("not_worse", (-0.004, -0.002), (-0.0038, -0.0022), 0.001, 0.01, True),
        ("not_worse", (-0.01, 0.03), (-0.008, 0.028), 0.4, 0.0, False),  # margin 0: must be shown better
        ("equivalent", (-0.004, 0.006), (-0.003, 0.005), 0.4, 0.01, True),
        ("equivalent", (-0.004, 0.012), (-0.003, 0.011), 0.4, 0.01, False),
    ],
)
def test_rule_rows(rule, ci, ci2, p, margin, passed) -> None:
    d = decide(ci=ci, ci_2alpha=ci2, p_adjusted=p, alpha=A, margin=margin, rule=rule)
    assert d.passed is passed
    assert d.rule == rule
    assert "\n" not in d.reason and d.reason


def test_outcome_without_rule() -> None:
    d = decide(ci=(0.01, 0.03), ci_2alpha=(0.012, 0.028), p_adjusted=0.001, alpha=A)
    assert (d.outcome, d.passed, d.rule) == ("better", None, None)


def test_bad_inputs() -> None:
    with pytest.raises(InvalidStatisticInput, match="rule among"):
        decide(ci=(0, 1), ci_2alpha=(0, 1), p_adjusted=0.5, alpha=A, rule="same")
    with pytest.raises(InvalidStatisticInput, match="margin > 0"):
        decide(ci=(0, 1), ci_2alpha=(0, 1), p_adjusted=0.5, alpha=A, rule="equivalent")
    with pytest.raises(InvalidStatisticInput, match="low <= high"):
        classify(ci=(1, 0), ci_2alpha=(0, 1), p_adjusted=0.5, alpha=A)
    with pytest.raises(InvalidStatisticInput, match="below 0.5"):
        classify(ci=(0, 1), ci_2alpha=(0, 1), p_adjusted=0.5, alpha=0.6)


def test_a_bound_on_the_margin_by_float_noise_does_not_pass() -> None:
    """0.89 - 0.94 = -0.04999999999999993 > -0.05 in floats; a tie must not pass `not_worse` (issue #17)."""
    lo2 = 0.89 - 0.94
    assert lo2 > -0.05
    d = decide(
        ci=(lo2 - 0.01, 0.1), ci_2alpha=(lo2, 0.05), p_adjusted=0.5, alpha=0.05, margin=0.05, rule="not_worse"
    )
    assert d.passed is False


def test_p_against_margin_decides_and_margin_zero_reads_plainly() -> None:
    d = decide(
        ci=(-0.01, 0.1), ci_2alpha=(0.001, 0.09), p_adjusted=0.2, alpha=0.05, rule="not_worse", p_margin=0.07
    )
    assert d.passed is False  # the p-value decides, not the (bootstrap-noisy) bound
    assert "-0 " not in d.reason and "> 0" not in d.reason and "<= 0 (margin 0" in d.reason
    ok = decide(
        ci=(0.0, 0.1), ci_2alpha=(0.01, 0.09), p_adjusted=0.04, alpha=0.05, rule="not_worse", p_margin=0.01
    )
    assert ok.passed is True

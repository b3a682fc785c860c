"""From a delta and its intervals to an outcome per metric and a pass/fail per plan rule.

Deltas are candidate - baseline, oriented so that positive is an improvement (pass baseline - candidate for a
loss). Inputs: the delta, its (1 - alpha) interval [lo, hi], its (1 - 2 alpha) interval [lo2, hi2], the
Holm-adjusted two-sided p-value for delta = 0, alpha and the margin m >= 0.

Outcome (the first row that applies):

    | outcome      | condition                                                  |
    |--------------|------------------------------------------------------------|
    | better       | p_adjusted < alpha and lo > 0                              |
    | worse        | p_adjusted < alpha and hi < 0                              |
    | equivalent   | m > 0 and -m < lo2 and hi2 < m           (TOST at alpha)   |
    | inconclusive | otherwise                                                  |

A significant difference wins over equivalence: with a large test set a 0.1-point change can be both
significant and inside a 1-point margin; the outcome then reports the direction, and the rule below still
passes a `not_worse` or `equivalent` gate.

Rules (what a gate asks for):

    | rule       | passes iff                                       | test                                 |
    |------------|--------------------------------------------------|--------------------------------------|
    | better     | outcome is better and lo > m                     | superiority by margin m, two-sided   |
    | not_worse  | lo2 > -m                                         | non-inferiority at alpha (one-sided) |
    | equivalent | -m < lo2 and hi2 < m (m > 0)                     | TOST at alpha                        |

When the test supplies the p-value of the rule's null at the margin (the accuracy score test,
`paired_proportion`), the rule is decided on it, which is the same as the interval it inverts; otherwise a bound
within `TIE` of the margin is a tie and does not pass.

`not_worse` puts the burden of proof on the candidate: with m = 0 it passes only when the candidate is shown
better at one-sided alpha, so plans should state the largest loss they accept as the margin.
Multiplicity: a verdict that requires every gate to pass is an intersection-union test, so each rule at alpha
keeps the overall error at alpha without adjustment (Berger 1982, Technometrics 24:295); the better/worse
outcomes flag individual metrics, so their p-values are Holm-adjusted across the gated metrics (`multitest`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from evalaction.exceptions import InvalidStatisticInput
from evalaction.stats._common import check_level

Outcome = Literal["better", "worse", "equivalent", "inconclusive"]
Rule = Literal["better", "not_worse", "equivalent"]
RULES: tuple[str, ...] = ("better", "not_worse", "equivalent")


@dataclass(frozen=True)
class Decision:
    """Outcome of one metric and, when a rule is given, whether it passes and why (one readable line)."""

    outcome: Outcome
    rule: Rule | None
    margin: float
    passed: bool | None
    reason: str


def classify(
    *,
    ci: tuple[float, float],
    ci_2alpha: tuple[float, float],
    p_adjusted: float,
    alpha: float,
    margin: float = 0.0,
) -> Outcome:
    """The outcome row of the decision table (module docstring)."""
    _check(ci, ci_2alpha, p_adjusted, alpha, margin)
    lo, hi = ci
    lo2, hi2 = ci_2alpha
    if p_adjusted < alpha and lo > 0:
        return "better"
    if p_adjusted < alpha and hi < 0:
        return "worse"
    if margin > 0 and _above(lo2, -margin) and _above(margin, hi2):
        return "equivalent"
    return "inconclusive"


# A bound this close to the margin is a tie, and a tie does not exclude the margin: deltas on n <= 10^8 rows move
# in steps far above it, so only float noise (0.89 - 0.94 = -0.04999999999999993) falls inside.
TIE = 1e-9


def _above(x: float, bound: float) -> bool:
    return x > bound + TIE


def _neg(margin: float) -> str:
    return "0" if margin == 0 else f"{-margin:+g}"


def decide(
    *,
    ci: tuple[float, float],
    ci_2alpha: tuple[float, float],
    p_adjusted: float,
    alpha: float,
    margin: float = 0.0,
    rule: str | None = None,
    p_margin: float | None = None,
) -> Decision:
    """Outcome plus the verdict of `rule` (better / not_worse / equivalent) at `margin` (module docstring).

    `p_margin`, when the test gives one, is the one-sided p-value of the rule's null hypothesis (not_worse:
    delta <= -m; equivalent: the larger of the two TOST p-values; better: delta <= m), from the test whose
    inversion is the shown interval; the rule then passes iff p_margin < alpha (alpha / 2 for `better`, whose
    interval is two-sided), which agrees with the interval and has no float ties. Without it the interval
    decides, a bound within `TIE` of the margin counting as not excluding it.
    """
    outcome = classify(ci=ci, ci_2alpha=ci_2alpha, p_adjusted=p_adjusted, alpha=alpha, margin=margin)
    lo, hi = ci
    lo2, hi2 = ci_2alpha
    pct = f"{100 * (1 - alpha):g}%"
    pct2 = f"{100 * (1 - 2 * alpha):g}%"
    if p_margin is not None and not (0.0 <= p_margin <= 1.0):
        raise InvalidStatisticInput(f"Expected a p-value against the margin in [0, 1], got {p_margin!r}.")
    against = "" if p_margin is None else f"; p = {p_margin:.3g} against the margin"
    if rule is None:
        return Decision(
            outcome, None, margin, None, f"{outcome}: {pct} interval [{lo:+.4g}, {hi:+.4g}], p = {p_adjusted:.3g}"
        )
    if rule == "better":
        shown = _above(lo, margin) if p_margin is None else p_margin < alpha / 2
        passed = outcome == "better" and shown
        reason = (
            f"{pct} interval lower bound {lo:+.4g} {'>' if shown else '<='} margin {margin:g}, "
            f"p = {p_adjusted:.3g} after Holm{against}"
        )
    elif rule == "not_worse":
        passed = _above(lo2, -margin) if p_margin is None else p_margin < alpha
        what = "(minus the margin)" if margin else "(margin 0: the candidate must be shown better)"
        reason = f"{pct2} interval lower bound {lo2:+.4g} {'>' if passed else '<='} {_neg(margin)} {what}{against}"
    elif rule == "equivalent":
        if margin <= 0:
            raise InvalidStatisticInput(
                f"Expected a margin > 0 for an `equivalent` rule, got {margin!r}; set the gate's `margin`."
            )
        passed = _above(lo2, -margin) and _above(margin, hi2) if p_margin is None else p_margin < alpha
        reason = f"{pct2} interval [{lo2:+.4g}, {hi2:+.4g}] {'inside' if passed else 'not inside'} +-{margin:g}{against}"
    else:
        raise InvalidStatisticInput(
            f"Expected a rule among {', '.join(RULES)}, got {rule!r}; fix the gate's `rule` in the plan."
        )
    return Decision(outcome, rule, margin, passed, reason)  # type: ignore[arg-type]


def _check(
    ci: tuple[float, float], ci_2alpha: tuple[float, float], p_adjusted: float, alpha: float, margin: float
) -> None:
    check_level(alpha, "alpha")
    if alpha >= 0.5:
        raise InvalidStatisticInput(
            f"Expected alpha below 0.5 (a 1 - 2 alpha interval must exist), got {alpha!r}."
        )
    if math.isnan(margin) or margin < 0:
        raise InvalidStatisticInput(f"Expected a margin >= 0 in the metric's units, got {margin!r}.")
    if not (0.0 <= p_adjusted <= 1.0):
        raise InvalidStatisticInput(f"Expected a p-value in [0, 1], got {p_adjusted!r}.")
    for name, (lo, hi) in (("ci", ci), ("ci_2alpha", ci_2alpha)):
        if math.isnan(lo) or math.isnan(hi) or lo > hi:
            raise InvalidStatisticInput(f"Expected `{name}` as (low, high) with low <= high, got {(lo, hi)!r}.")

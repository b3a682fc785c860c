"""Power of a gate against the baseline: the smallest true delta it can detect and the rows it needs.

A paired delta on n rows has standard error se = sqrt(v / n), with v the variance per row: for accuracy
v = psi - delta^2, psi the share of rows on which the two models disagree in correctness (discordant pairs);
for any other metric v = n se^2 with se read off the comparison's interval. With z_x the normal quantile and a
target power of 1 - beta (0.8 by default), the normal approximation gives (Chow, Shao & Wang 2008, Sample Size
Calculations in Clinical Research, sec. 4.2 and 4.3, paired proportions and non-inferiority):

    | rule       | passes with power 1 - beta when the true delta is | rows needed at true delta 0          |
    |------------|---------------------------------------------------|--------------------------------------|
    | not_worse  | >= -m + (z_{1-a} + z_{1-beta}) se                 | (z_{1-a} + z_{1-beta})^2 v / m^2     |
    | equivalent | within +-(m - (z_{1-a} + z_{1-beta/2}) se)        | (z_{1-a} + z_{1-beta/2})^2 v / m^2   |
    | better     | >= m + (z_{1-a/2} + z_{1-beta}) se                | (no true delta 0 passes)             |

A not_worse or equivalent gate is *undecidable* on a test set when a candidate identical to the baseline
(true delta 0) would pass it with less than the target power: then a fail says "too few rows", not "worse".
Before the run (`evalaction plan`) psi is unknown; it is taken as twice the baseline's error rate (the two
models' errors do not overlap, the usual case for different model families and the conservative one).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from evalaction.stats._common import norm_ppf

DEFAULT_POWER = 0.8


@dataclass(frozen=True)
class GatePower:
    """What a gate can decide on n rows: the detectable delta and the rows needed for a delta of 0."""

    rule: str
    margin: float
    n: int
    detectable: float  # not_worse/better: smallest true delta passing with the power; equivalent: largest |delta|
    rows_needed: int | None  # None: no number of rows decides it at true delta 0 (margin 0, or `better`)
    power: float = DEFAULT_POWER

    @property
    def decidable(self) -> bool:
        """Whether a candidate equal to the baseline would pass with the target power (always True for better)."""
        if self.rule == "better":
            return True
        return self.rows_needed is not None and self.rows_needed <= self.n

    def sentence(self, metric: str) -> str:
        """`this test set cannot decide `accuracy not_worse 2 pt`: ~1,090 rows needed (it has 228)`."""
        gate = f"`{metric} {self.rule} {gate_margin(metric, self.margin)}`"
        if self.rows_needed is None:
            return (
                f"this test set cannot decide {gate}: with margin 0 only a candidate shown better passes, "
                "at any size; set the largest loss you accept as the margin"
            )
        return f"this test set cannot decide {gate}: ~{self.rows_needed:,} rows needed (it has {self.n:,})"


def gate_margin(metric: str, margin: float) -> str:
    """A margin as the plan author thinks of it: points for proportions (`2 pt`), raw units otherwise."""
    if is_proportion(metric):
        return f"{100 * margin:g} pt"
    return f"margin {margin:g}"


def is_proportion(metric: str) -> bool:
    """Whether a metric is a share in [0, 1] that readers quote in points (accuracy, recall, AP, AUC...)."""
    from evalaction.metrics.catalog import CATALOG
    from evalaction.plan import parse_metric_ref

    name = parse_metric_ref(metric)[0]
    info = CATALOG.get(name)
    # rates that rise (metrics/catalog.py): MCC, kappa and R² are scores, Brier and ECE rates that should fall
    return info is not None and info.higher_is_better is True and info.unit == "rate"


def gate_power(
    *, rule: str, margin: float, alpha: float, n: int, variance_per_row: float, power: float = DEFAULT_POWER
) -> GatePower:
    """Detectable delta and rows needed for one gate (module docstring), from the variance of a row's delta."""
    v = max(variance_per_row, 0.0)
    se = math.sqrt(v / n) if n > 0 else math.inf
    z_beta = norm_ppf(power)
    if rule == "not_worse":
        k = norm_ppf(1 - alpha) + z_beta
        detectable = -margin + k * se
        rows = _rows(k, v, margin)
    elif rule == "equivalent":
        k = norm_ppf(1 - alpha) + norm_ppf(1 - (1 - power) / 2)
        detectable = margin - k * se
        rows = _rows(k, v, margin)
    else:
        detectable = margin + (norm_ppf(1 - alpha / 2) + z_beta) * se
        rows = None
    return GatePower(rule=rule, margin=margin, n=n, detectable=detectable, rows_needed=rows, power=power)


def _rows(k: float, v: float, margin: float) -> int | None:
    if margin <= 0:
        return None
    return max(1, math.ceil(k * k * v / (margin * margin)))


def accuracy_variance(b: int, c: int, n: int) -> float:
    """Variance per row of the paired accuracy delta from the discordant counts: psi - delta^2."""
    psi = (b + c) / n
    delta = (c - b) / n
    return max(psi - delta * delta, 0.0)


def variance_from_interval(low: float, high: float, confidence: float, n: int) -> float:
    """Variance per row implied by a two-sided interval at `confidence` on n rows (normal approximation)."""
    z = norm_ppf(1 - (1 - confidence) / 2)
    se = (high - low) / (2 * z)
    return n * se * se

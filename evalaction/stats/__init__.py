"""Statistics for the paired comparison of two models: pure numpy, no I/O.

bootstrap     paired index bootstrap of any metric delta (percentile, basic, BCa; (k+1)/(B+1) p-values)
contingency   the exact fast path for confusion-matrix metrics: multinomial resampling of the joint table
mcnemar       exact and chi-square McNemar tests on discordant pairs
paired_proportion  Tango's score test and interval for the accuracy delta on its exact counts
power         what a gate can decide on n rows: detectable delta, rows needed
delong        DeLong's test for correlated ROC AUCs (fast midrank algorithm)
multitest     Holm step-down adjustment
outcome       the decision table: better / worse / equivalent / inconclusive, and plan rules
"""

from __future__ import annotations

from evalaction.stats._common import DeltaEstimate, bca_acceleration, bootstrap_interval, bootstrap_p_values

__all__ = ["DeltaEstimate", "bca_acceleration", "bootstrap_interval", "bootstrap_p_values"]

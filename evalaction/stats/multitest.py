"""Multiple-testing adjustment across the metrics a plan gates on."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from evalaction.exceptions import InvalidStatisticInput


def holm(p_values: Sequence[float] | np.ndarray) -> np.ndarray:
    """Holm step-down adjusted p-values, in the input order.

    With the m raw p-values sorted p_(1) <= ... <= p_(m):
        adj_(i) = min(1, max_{j <= i} (m - j + 1) * p_(j))
    so adjusted values are monotone in the raw ones and capped at 1; rejecting adj_i < alpha controls the
    family-wise error rate at alpha under any dependence (Holm 1979, Scand. J. Statist. 6:65).
    Same as R `p.adjust(method = "holm")` and statsmodels `multipletests(method="holm")`.
    """
    p = np.asarray(p_values, dtype=float)
    if p.ndim != 1:
        raise InvalidStatisticInput(f"Expected a 1-D list of p-values, got shape {p.shape}.")
    if p.size and (np.any(np.isnan(p)) or p.min() < 0 or p.max() > 1):
        raise InvalidStatisticInput(f"Expected p-values in [0, 1], got {p.tolist()!r}.")
    m = p.size
    order = np.argsort(p, kind="stable")
    scaled = (m - np.arange(m)) * p[order]
    adjusted_sorted = np.minimum(1.0, np.maximum.accumulate(scaled))
    out = np.empty(m)
    out[order] = adjusted_sorted
    return out

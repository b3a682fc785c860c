"""Holm's adjustment against statsmodels.multipletests on random p-values (ties and zeros included)."""

from __future__ import annotations

import numpy as np
import pytest

from evalaction.exceptions import InvalidStatisticInput
from evalaction.stats.multitest import holm


@pytest.fixture
def no_full_gc(monkeypatch: pytest.MonkeyPatch) -> None:
    """statsmodels' Holm branch calls `gc.collect()` after each adjustment: a quarter of a second in a test process
    that holds torch, for nothing the values depend on."""
    import gc

    monkeypatch.setattr(gc, "collect", lambda generation=2: 0)


@pytest.mark.parametrize("seed", range(20))
@pytest.mark.usefixtures("no_full_gc")
def test_against_statsmodels(seed: int) -> None:
    from statsmodels.stats.multitest import multipletests

    rng = np.random.default_rng(seed)
    m = int(rng.integers(1, 30))
    p = rng.beta(0.5, 2.0, m)
    p[rng.random(m) < 0.2] = p[0]  # ties
    if seed % 5 == 0:
        p[0] = 0.0
    ours = holm(p)
    ref = multipletests(p, method="holm")[1]
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-15)
    order = np.argsort(p, kind="stable")
    assert np.all(np.diff(ours[order]) >= 0)
    assert np.all(ours <= 1) and np.all(ours >= p)


def test_empty_and_invalid() -> None:
    assert holm([]).size == 0
    with pytest.raises(InvalidStatisticInput, match="in \\[0, 1\\]"):
        holm([0.1, 1.2])

"""The regression metrics of the registry against scikit-learn and pandas."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from evalaction.exceptions import InvalidDataset, ModelOutputInvalid
from evalaction.metrics.registry import RESIDUAL_QUANTILES, compute_metrics


@pytest.mark.parametrize(("seed", "n"), [(0, 5), (1, 200), (2, 20000)])
def test_regression_metrics_match_sklearn(seed: int, n: int) -> None:
    rng = np.random.default_rng(seed)
    y = rng.normal(10.0, 3.0, n)
    pred = y + rng.standard_t(3, n)
    r = compute_metrics("regression", None, y, pred)
    refs = {
        "mae": skm.mean_absolute_error(y, pred),
        "rmse": skm.root_mean_squared_error(y, pred),
        "r2": skm.r2_score(y, pred),
        "mape": skm.mean_absolute_percentage_error(y, pred),
        "median_absolute_error": skm.median_absolute_error(y, pred),
        "max_error": skm.max_error(y, pred),
    }
    residual = pd.Series(y - pred)
    for q in RESIDUAL_QUANTILES:
        refs[f"residual_p{q:02d}"] = float(residual.quantile(q / 100))
    assert set(r) == set(refs)
    for name, ref in refs.items():
        assert r[name].value == pytest.approx(ref, rel=1e-10, abs=1e-12), name


def test_constant_truth_leaves_r2_undefined() -> None:
    y = np.full(10, 2.0)
    pred = np.linspace(1.0, 3.0, 10)
    r = compute_metrics("regression", ["r2", "mae"], y, pred)
    # scikit-learn has no finite value here (and prints 0.0 by default, force_finite); we say why instead.
    with np.errstate(divide="ignore", invalid="ignore"):
        assert not np.isfinite(skm.r2_score(y, pred, force_finite=False))
    assert r["r2"].value is None and "same" in (r["r2"].undefined or "")
    assert r["mae"].value == pytest.approx(skm.mean_absolute_error(y, pred))


def test_zero_truth_leaves_mape_undefined() -> None:
    r = compute_metrics("regression", ["mape"], [0.0, 1.0, 2.0], [0.5, 1.0, 2.5])
    assert r["mape"].value is None and "1 true values are 0" in (r["mape"].undefined or "")


def test_non_finite_values_are_refused() -> None:
    with pytest.raises(InvalidDataset, match="sample 1"):
        compute_metrics("regression", ["mae"], [0.0, np.nan], [0.0, 1.0])
    with pytest.raises(ModelOutputInvalid, match="y_pred"):
        compute_metrics("regression", ["mae"], [0.0, 1.0], [np.inf, 1.0])

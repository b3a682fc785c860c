"""Regression's error analysis: regression flips, largest residuals and residuals by slice against numpy."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from evalaction.plan import ErrorsSpec
from evalaction.predictions import Predictions
from evalaction.stages.errors_regression import (
    excess_error,
    regression_flips,
    run_regression_errors,
    slice_residuals,
)


def _preds(y: np.ndarray, pred: np.ndarray, group: np.ndarray) -> Predictions:
    ids = np.array([f"r{i}" for i in range(len(y))])
    return Predictions(ids=ids, y=y, pred=pred, scores=None, slices={"g": group}, classes=[])


def test_flips_are_rows_the_candidate_misses_by_more_than_the_threshold() -> None:
    y = np.array([0.0, 10.0, 20.0, 30.0])
    base = np.array([1.0, 10.0, 25.0, 30.0])  # errors 1, 0, 5, 0
    cand = np.array([0.0, 14.0, 20.0, 36.0])  # errors 0, 4, 0, 6
    excess = excess_error(y, cand, base)
    np.testing.assert_allclose(excess, [-1.0, 4.0, -5.0, 6.0])
    worse, better = regression_flips(excess, 3.0)
    assert worse.tolist() == [3, 1]  # largest excess first
    assert better.tolist() == [2]


def test_slice_residuals_match_numpy() -> None:
    rng = np.random.default_rng(0)
    residual = rng.normal(size=40)
    group = np.where(np.arange(40) < 10, "small", "big")
    rows = {s.value: s for s in slice_residuals(residual, {"g": group})}
    for value in ("small", "big"):
        r = residual[group == value]
        assert rows[value].n == r.size
        assert rows[value].mae == pytest.approx(np.mean(np.abs(r)))
        assert rows[value].rmse == pytest.approx(np.sqrt(np.mean(r**2)))
        assert rows[value].bias == pytest.approx(np.mean(r))


def test_default_threshold_is_the_baselines_mae_and_no_baseline_means_no_flips(tmp_path: Path) -> None:
    y = np.array([0.0, 10.0, 20.0, 30.0])
    group = np.array(["a", "b", "a", "b"])
    cand = _preds(y, np.array([0.0, 14.0, 20.0, 36.0]), group)
    base = _preds(y, np.array([1.0, 10.0, 25.0, 30.0]), group)
    result = run_regression_errors(spec=ErrorsSpec(), cand=cand, base=base, out_dir=tmp_path)
    reg = result.regression
    assert reg is not None and reg.flip_threshold == pytest.approx(1.5)  # mean(|1, 0, 5, 0|)
    assert [s.id for s in reg.regression_flips] == ["r3", "r1"] and reg.n_improved == 1
    assert [s.id for s in reg.largest_residuals[:2]] == ["r3", "r1"]
    assert (tmp_path / reg.plots["predicted_vs_actual"]).is_file()
    alone = run_regression_errors(spec=ErrorsSpec(), cand=cand, base=None, out_dir=tmp_path).regression
    assert (
        alone is not None
        and alone.n_regression_flips == 0
        and alone.flip_threshold_source.startswith("no baseline")
    )

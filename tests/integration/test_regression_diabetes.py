"""Regression as a first-class task, on scikit-learn's diabetes table (bundled, nothing downloaded).

Baseline: Ridge; candidate: gradient boosting, both exported with skl2onnx. The plan gates RMSE against the
baseline with a margin of 2 (in the target's units). The expected numbers come from scikit-learn and numpy on
the same predictions, not from evalaction.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from evalaction.artifacts import RunResult
from evalaction.cli import main

pytestmark = pytest.mark.e2e

FLIP_THRESHOLD = 20.0
PLAN = f"""\
version: 1
task: regression
dataset: {{path: test.csv, label_column: target, id_column: id, feature_columns: [age, sex, bmi, bp, s1, s2, s3, s4,
  s5, s6], slice_columns: [sex_group]}}
models:
  baseline: {{path: ridge.onnx}}
  candidate: {{path: gbr.onnx}}
metrics: {{primary: rmse, compute: [mae, r2]}}
compare: {{n_bootstrap: 500}}
errors: {{regression_flip_threshold: {FLIP_THRESHOLD}, attributions: {{max_samples: 2}}}}
readiness: {{latency_repeats: 5, warmup: 1, measure_memory: false, batch_sizes: [1]}}
gates:
  vs_baseline: {{rmse: {{rule: not_worse, margin: 2}}}}
"""


@pytest.fixture(scope="module")
def diabetes_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, RunResult, str, dict[str, np.ndarray]]:
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.datasets import load_diabetes
    from sklearn.ensemble import GradientBoostingRegressor
    from sklearn.linear_model import Ridge
    from sklearn.model_selection import train_test_split

    folder = tmp_path_factory.mktemp("diabetes")
    data = load_diabetes()
    x, y = data.data.astype(np.float32), data.target
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=150, random_state=0)
    models = {
        "ridge": Ridge(alpha=0.1).fit(x_train, y_train),
        "gbr": GradientBoostingRegressor(n_estimators=60, max_depth=3, random_state=0).fit(x_train, y_train),
    }
    preds = {}
    for name, model in models.items():
        onx = convert_sklearn(
            model, initial_types=[("input", FloatTensorType([None, x.shape[1]]))], target_opset=17
        )
        (folder / f"{name}.onnx").write_bytes(onx.SerializeToString())
        preds[name] = model.predict(x_test).astype(np.float64)
    preds["y"] = y_test
    preds["group_a"] = x_test[:, list(data.feature_names).index("sex")] > 0
    names = data.feature_names
    lines = ["id,target,sex_group," + ",".join(names)]
    for i, (row, target) in enumerate(zip(x_test, y_test, strict=True)):
        group = "a" if row[names.index("sex")] > 0 else "b"
        lines.append(f"p{i},{target:g},{group}," + ",".join(repr(float(v)) for v in row))
    (folder / "test.csv").write_text("\n".join(lines) + "\n")
    (folder / "evalaction.yml").write_text(PLAN)
    out = folder / "out"
    result = CliRunner().invoke(main, ["run", "-c", str(folder / "evalaction.yml"), "-o", str(out)])
    assert result.exit_code in (0, 1), result.output
    return out, RunResult.read(out / "results.json"), result.output, preds


def test_rmse_and_its_delta_are_in_the_targets_units(diabetes_run) -> None:  # noqa: ANN001
    from sklearn.metrics import mean_squared_error

    out, run, _, preds = diabetes_run
    rmse = {k: mean_squared_error(preds["y"], preds[k]) ** 0.5 for k in ("ridge", "gbr")}
    assert run.metrics.baseline is not None
    assert run.metrics.baseline.overall["rmse"] == pytest.approx(rmse["ridge"], rel=1e-4)
    assert run.metrics.candidate.overall["rmse"] == pytest.approx(rmse["gbr"], rel=1e-4)
    report = (out / "report.md").read_text()
    row = next(line for line in report.splitlines() if line.startswith("| rmse | not worse, margin 2"))
    assert " pt" not in row
    # `+4.23, 90% CI (...) [+1.38, +7.17]`: the delta and its interval in the target's units, 3 significant digits
    assert re.search(r"[+-]\d+\.\d+, .*\[[+-]\d+\.\d+, [+-]\d+\.\d+\]", row), row
    cmp = run.compare.get("rmse")  # type: ignore[union-attr]
    assert cmp is not None and cmp.delta == pytest.approx(rmse["gbr"] - rmse["ridge"], rel=1e-4)
    assert "Metrics: overall and per slice" in report and "per class" not in report


def test_the_verdict_follows_the_interval_and_advises_for_regression(diabetes_run) -> None:  # noqa: ANN001
    _, run, output, _ = diabetes_run
    gate = next(g for g in run.verdict.gates if g.kind == "vs_baseline")
    assert gate.interval is not None
    # not_worse on RMSE (lower is better): passes when candidate - baseline stays below +2 across the interval
    assert (gate.status == "pass") == (max(gate.interval) < 2)
    assert f"verdict: {run.verdict.decision}" in output
    if run.verdict.decision == "NO-GO":
        steps = " ".join(run.verdict.next_steps)
        assert "regression flips" in steps and "negative flips" not in steps


def test_regression_flips_and_residuals_match_numpy(diabetes_run) -> None:  # noqa: ANN001
    out, run, _, preds = diabetes_run
    reg = run.errors.regression
    assert reg is not None and reg.flip_threshold == FLIP_THRESHOLD and reg.flip_threshold_source == "plan"
    y, cand, base = preds["y"], preds["gbr"], preds["ridge"]
    excess = np.abs(cand - y) - np.abs(base - y)
    # ONNX computes in float32: rows within 1e-3 of the threshold could go either way, so none is asserted on
    decided = np.abs(np.abs(excess) - FLIP_THRESHOLD) > 1e-3
    n_flips = int(((excess > FLIP_THRESHOLD) & decided).sum())
    assert n_flips <= reg.n_regression_flips <= n_flips + int((~decided).sum()) and n_flips > 0
    by_excess = [f"p{i}" for i in np.argsort(-excess, kind="stable")]
    assert [s.id for s in reg.regression_flips[:5]] == by_excess[:5]  # the worst first
    assert len(reg.regression_flips) == min(reg.n_regression_flips, 20)  # errors.max_listed
    assert reg.n_improved == int(((-excess > FLIP_THRESHOLD) & decided).sum())
    residual = cand - y
    assert reg.mae == pytest.approx(np.mean(np.abs(residual)), rel=1e-4)
    assert reg.bias == pytest.approx(np.mean(residual), rel=1e-3, abs=1e-3)
    top = [f"p{i}" for i in np.argsort(-np.abs(residual), kind="stable")[:3]]
    assert [s.id for s in reg.largest_residuals[:3]] == top
    by_slice = {s.value: s for s in reg.slices}
    for group in ("a", "b"):
        mask = preds["group_a"] == (group == "a")
        assert by_slice[group].n == int(mask.sum())
        assert by_slice[group].mae == pytest.approx(np.mean(np.abs(residual[mask])), rel=1e-4)
    report = (out / "report.md").read_text()
    assert f"{reg.n_regression_flips} regression flips" in report and "misclassified" not in report


def test_plots_and_attributions_for_the_worst_rows(diabetes_run) -> None:  # noqa: ANN001
    from PIL import Image

    out, run, _, _ = diabetes_run
    reg = run.errors.regression
    assert reg is not None
    picture = np.asarray(Image.open(out / reg.plots["predicted_vs_actual"]).convert("RGB")).astype(int)
    red = np.abs(picture - np.array([207, 34, 46])).sum(axis=2) < 40  # the circles around the largest residuals
    r, b = picture[..., 0], picture[..., 2]
    blue = (b - r > 50) & (b > 150)  # the candidate's points (#1f77b4, half transparent over white)
    assert red.sum() > 50 and blue.sum() > 50
    assert (out / reg.plots["residuals"]).is_file()
    attributions = run.errors.attributions
    assert attributions is not None and attributions.methods == ["feature_ablation"]
    assert [s.category for s in attributions.samples] == ["regression_flip", "largest_residual"]
    first = attributions.samples[0]
    assert first.id == reg.regression_flips[0].id and (out / first.figure).is_file()
    cand = next(a for a in first.attributions if a.role == "candidate")
    assert cand.target == "prediction" and len(cand.top_features) == 5
    html = (out / "report.html").read_text()
    assert "Regression flips" in html and "Largest residuals" in html and "Residuals by slice" in html
    assert html.count('src="data:image/png;base64,') >= 2 + len(attributions.samples)  # plots and attributions

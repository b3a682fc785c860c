"""Every published reference case in tests/refcases/stats/ reproduced within its stated tolerance.

The JSON files are copies of ../shared/refcases/stats/ (numbers copied from R, pROC, statsmodels, scipy,
mlxtend and scikit-learn sources, never computed by us); each test reads one file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from evalaction.stats import bca_acceleration
from evalaction.stats.bootstrap import paired_bootstrap
from evalaction.stats.delong import (
    auc_confidence_interval,
    delong_covariance,
    delong_test,
    roc_auc,
)
from evalaction.stats.mcnemar import McNemarMethod, McNemarResult, mcnemar
from evalaction.stats.multitest import holm

REFCASES = Path(__file__).resolve().parents[1] / "refcases" / "stats"


def load(name: str) -> dict[str, Any]:
    return json.loads((REFCASES / name).read_text())


def mcnemar_of(table: list[list[int]], method: McNemarMethod) -> McNemarResult:
    """McNemar on a published 2x2 table: its discordant cells are b = table[0][1] and c = table[1][0]."""
    return mcnemar(table[0][1], table[1][0], method=method)


def test_every_refcase_file_has_a_test() -> None:
    source = Path(__file__).read_text()
    names = sorted(p.name for p in REFCASES.glob("*.json"))
    assert len(names) == 9
    missing = [n for n in names if f'"{n}"' not in source]
    assert missing == []


def _asah(case: dict[str, Any]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    data = case["inputs"]["aSAH"]
    poor = np.array(data["outcome"]) == case["inputs"]["positive_label"]
    markers = {k: np.asarray(data[k], dtype=float) for k in ("wfns", "s100b", "ndka")}
    return poor, markers


def test_delong_paired_pROC() -> None:
    case = load("delong_paired_pROC_aSAH.json")
    rel = case["tolerance"]["rel"]
    y, markers = _asah(case)
    for comp in case["comparisons"]:
        exp = comp["expected"]
        # pROC tests roc1 - roc2; here delta = candidate - baseline, so roc1 is the candidate.
        res = delong_test(y, markers[comp["roc2"]], markers[comp["roc1"]])
        assert res.statistic == pytest.approx(exp["Z"], rel=rel, abs=1e-12), comp["id"]
        assert res.p_value == pytest.approx(exp["p_two_sided"], rel=rel), comp["id"]
        if "ci95" in exp:
            assert [res.ci_low, res.ci_high] == pytest.approx(exp["ci95"], rel=rel), comp["id"]
        if "p_greater" in exp:
            assert res.p_greater == pytest.approx(exp["p_greater"], rel=rel)
            assert res.p_less == pytest.approx(exp["p_less"], rel=rel)


def test_auc_variance_covariance_pROC() -> None:
    case = load("auc_var_cov_pROC_aSAH.json")
    rel = case["tolerance"]["rel"]
    exp = case["expected"]
    y, markers = _asah(case)
    names = ["wfns", "ndka", "s100b"]
    aucs, cov = delong_covariance(y, np.stack([markers[n] for n in names]))
    for i, n in enumerate(names):
        assert aucs[i] == pytest.approx(exp["auc"][n], rel=rel)
        assert roc_auc(y, markers[n]) == pytest.approx(exp["auc"][n], rel=rel)
        assert cov[i, i] == pytest.approx(exp["var_delong"][n], rel=rel)
    for pair, value in exp["cov_delong"].items():
        a, b = (names.index(p) for p in pair.split(","))
        assert cov[a, b] == pytest.approx(value, rel=rel), pair
    lo, auc, hi = auc_confidence_interval(y, markers["ndka"])
    assert [lo, auc, hi] == pytest.approx(exp["ci_auc_delong_95"]["ndka"], rel=rel)
    female = np.array(case["inputs"]["aSAH"]["gender"]) == "Female"
    sub = auc_confidence_interval(y[female], markers["ndka"][female])
    assert list(sub) == pytest.approx(exp["ci_auc_delong_95"]["ndka_gender_Female_subset"], rel=1e-9)


def test_mcnemar_statsmodels_R() -> None:
    case = load("mcnemar_statsmodels_R_23_15_19_31.json")
    rel = case["tolerance"]["rel"]
    exp = case["expected"]
    table = case["inputs"]["table"]
    uncorrected = mcnemar_of(table, "chi2")
    assert uncorrected.statistic == pytest.approx(exp["chi2_uncorrected"], rel=rel)
    assert uncorrected.p_value == pytest.approx(exp["p_chi2_uncorrected"], rel=rel)
    corrected = mcnemar_of(table, "chi2_corrected")
    assert corrected.p_value == pytest.approx(exp["p_chi2_continuity_corrected"], rel=rel)
    assert mcnemar_of(table, "exact").p_value == pytest.approx(exp["p_exact_binomial"], rel=rel)


def test_mcnemar_R_docs() -> None:
    case = load("mcnemar_R_docs_Performance.json")
    tol = case["tolerance"]
    exp = case["expected"]
    table = case["inputs"]["table"]
    corrected = mcnemar_of(table, "chi2_corrected")
    uncorrected = mcnemar_of(table, "chi2")
    assert corrected.statistic == pytest.approx(exp["chi2_corrected"], abs=tol["abs_stat"])
    assert uncorrected.statistic == pytest.approx(exp["chi2_uncorrected"], abs=tol["abs_stat"])
    assert corrected.p_value == pytest.approx(exp["p_corrected_more_digits"], rel=tol["rel_p"])
    assert uncorrected.p_value == pytest.approx(exp["p_uncorrected_more_digits"], rel=tol["rel_p"])
    assert corrected.p_value == pytest.approx(exp["p_corrected"], rel=tol["rel_p"])
    assert uncorrected.p_value == pytest.approx(exp["p_uncorrected"], rel=tol["rel_p"])


def test_mcnemar_mlxtend() -> None:
    case = load("mcnemar_mlxtend_101_121_59_33.json")
    tol = case["tolerance"]["abs"]
    exp = case["expected"]
    table = case["inputs"]["table"]
    corrected = mcnemar_of(table, "chi2_corrected")
    uncorrected = mcnemar_of(table, "chi2")
    assert corrected.statistic == pytest.approx(exp["chi2_corrected"], abs=tol)
    assert corrected.p_value == pytest.approx(exp["p_corrected"], abs=tol)
    assert uncorrected.statistic == pytest.approx(exp["chi2_uncorrected"], abs=tol)
    assert uncorrected.p_value == pytest.approx(exp["p_uncorrected"], abs=tol)
    assert mcnemar_of(table, "exact").p_value == pytest.approx(exp["p_exact"], abs=tol)


def test_holm_R_multtest() -> None:
    case = load("holm_R_multtest.json")
    raw = np.array(case["inputs"]["pvals"])
    adjusted = holm(raw)
    order = np.argsort(raw)
    assert raw[order] == pytest.approx(case["expected"]["raw_sorted"], abs=0)
    np.testing.assert_allclose(
        adjusted[order], case["expected"]["holm_sorted"], rtol=0, atol=case["tolerance"]["abs"]
    )


def test_bootstrap_ci_R_boot_mean() -> None:
    case = load("bootstrap_ci_R_boot_mean.json")
    x = np.array(case["inputs"]["x"], dtype=float)
    rel = case["tolerance"]["rel"]
    for method, key in (("basic", "basic"), ("percentile", "percentile"), ("bca", "BCa")):
        # A one-sample bootstrap of the mean is the paired bootstrap of the statistic mean(x).
        res = paired_bootstrap(
            lambda d: d.mean(axis=1),
            [x],
            n_resamples=case["inputs"]["n_resamples"],
            confidence_level=case["inputs"]["confidence_level"],
            method=method,
            seed=0,
        )
        assert [res.ci_low, res.ci_high] == pytest.approx(case["expected"][key], rel=rel), method


def test_bca_acceleration_efron_mouse() -> None:
    case = load("bca_acceleration_efron_mouse.json")
    z = np.array(case["inputs"]["z"])
    y = np.array(case["inputs"]["y"])
    # Two independent samples; the statistic mean(z) - mean(y) with one observation of one sample deleted.
    jack_z = np.array([np.delete(z, i).mean() - y.mean() for i in range(z.size)])
    jack_y = np.array([z.mean() - np.delete(y, i).mean() for i in range(y.size)])
    a_hat = bca_acceleration([jack_z, jack_y])
    assert a_hat == pytest.approx(case["expected"]["a_hat"], rel=case["tolerance"]["rel"])


def test_sklearn_doc_auc() -> None:
    case = load("sklearn_doc_auc_ap.json")
    y = np.array(case["inputs"]["y_true"])
    s = np.array(case["inputs"]["y_score"])
    assert roc_auc(y, s) == pytest.approx(case["expected"]["roc_auc"], abs=case["tolerance"]["abs_auc"])


def test_sklearn_doc_average_precision_through_the_metric_registry() -> None:
    from evalaction.metrics.registry import compute_metrics

    case = load("sklearn_doc_auc_ap.json")
    y = np.array(case["inputs"]["y_true"])
    s = np.array(case["inputs"]["y_score"])
    values = compute_metrics(
        "binary", ["average_precision", "roc_auc"], y, (s > 0.5).astype(int), np.c_[1 - s, s], ["0", "1"]
    )
    tol = case["tolerance"]
    assert values["average_precision"].value == pytest.approx(
        case["expected"]["average_precision"], abs=tol["abs_ap"]
    )
    assert values["roc_auc"].value == pytest.approx(case["expected"]["roc_auc"], abs=tol["abs_auc"])

"""The metrics section of the reports: golden markdown for the PR comment, and the HTML context with its images.

Regenerate the golden files after an intended change with
`UPDATE_GOLDEN=1 pytest tests/unit/test_metrics_report.py` and review the diff.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

import numpy as np

from evalaction.artifacts import MetricsResult, ModelMetrics, SliceGap
from evalaction.metrics.thresholds import finding, parse_constraint, tune_binary
from evalaction.report.metrics_section import metrics_html_context, metrics_markdown, plot_images

GOLDEN = Path(__file__).resolve().parents[1] / "golden"


def _golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"missing golden file {path}; run with UPDATE_GOLDEN=1 to create it"
    assert text == path.read_text(encoding="utf-8")


def _multiclass() -> MetricsResult:
    base = ModelMetrics(
        overall={"accuracy": 0.964, "macro_f1": 0.9631, "log_loss": 0.1204, "roc_auc": 0.998},
        per_class={
            "recall": {"cat": 0.973, "dog": 0.944, "a|b": 0.90, "eel": None},
            "f1": {"cat": 0.96, "dog": 0.95, "a|b": 0.91, "eel": None},
        },
        per_slice={"site": {"north": {"n": 120.0, "accuracy": 0.97}, "south": {"n": 30.0, "accuracy": 0.94}}},
    )
    cand = ModelMetrics(
        overall={"accuracy": 0.972, "macro_f1": 0.969, "log_loss": 0.1511, "roc_auc": None},
        per_class={
            "recall": {"cat": 0.912, "dog": 0.981, "a|b": 0.90, "eel": 0.5},
            "f1": {"cat": 0.93, "dog": 0.97, "a|b": 0.92, "eel": 0.6},
        },
        per_slice={"site": {"north": {"n": 120.0, "accuracy": 0.99}, "south": {"n": 30.0, "accuracy": 0.90}}},
        undefined={"roc_auc": "one-vs-rest ROC AUC needs both classes for some class"},
        notes={"macro_f1": "f1 undefined for `eel` (neither present in the test set nor predicted)"},
        worst_slices=[
            SliceGap(
                column="site", value="south", n=30, metric="accuracy", metric_value=0.90, overall=0.972, gap=0.072
            )
        ],
        threshold_findings=["At threshold 0.238 for `cat`, recall rises 5.7 points with precision unchanged."],
    )
    return MetricsResult(
        candidate=cand,
        baseline=base,
        classes=["cat", "dog", "a|b", "eel"],
        class_support={"cat": 57, "dog": 54, "a|b": 10, "eel": 0},
        requested=["accuracy", "macro_f1", "log_loss", "roc_auc"],
        n_outside_labels=2,
        plots={"confusion": "plots/confusion.png"},
    )


def test_golden_multiclass_section() -> None:
    _golden("metrics_section_multiclass.md", metrics_markdown(_multiclass(), "multiclass"))


def test_golden_binary_section_without_baseline() -> None:
    y = np.array([0, 0, 1, 1, 1, 0, 1, 0])
    s = np.array([0.1, 0.4, 0.35, 0.8, 0.55, 0.6, 0.45, 0.2])
    tuning = tune_binary(y, s, positive_class="spam", constraint=parse_constraint("precision >= 0.7"))
    text = finding(tuning)
    cand = ModelMetrics(
        overall={"f1": 0.5, "precision": 0.5, "recall": 0.5},
        per_class={"recall": {"ham": 0.75, "spam": 0.5}},
        thresholds={"spam": tuning},
        threshold_findings=[text] if text else [],
    )
    metrics = MetricsResult(
        candidate=cand,
        baseline=None,
        classes=["ham", "spam"],
        class_support={"ham": 4, "spam": 4},
        requested=["f1", "precision", "recall"],
    )
    _golden("metrics_section_binary.md", metrics_markdown(metrics, "binary"))


def test_html_context_embeds_existing_plots_only(tmp_path: Path) -> None:
    png = b"\x89PNG\r\n\x1a\nnot really"
    (tmp_path / "plots").mkdir()
    (tmp_path / "plots" / "confusion.png").write_bytes(png)
    metrics = _multiclass().model_copy(
        update={"plots": {"confusion": "plots/confusion.png", "roc": "plots/missing.png"}}
    )
    images = plot_images(metrics, tmp_path)
    assert [i["name"] for i in images] == ["confusion"]
    assert images[0]["uri"] == "data:image/png;base64," + base64.b64encode(png).decode()
    assert plot_images(metrics, None) == []
    mx = metrics_html_context(metrics, "multiclass", tmp_path)["mx"]
    rows = {r["name"]: r for r in mx["overall"]}
    assert rows["accuracy"]["delta"] == {"text": "▲ +0.8 pt", "worse": False}
    assert rows["log_loss"]["delta"]["worse"] is True  # lower is better, and it rose
    assert rows["roc_auc"]["why"].startswith("one-vs-rest ROC AUC")
    assert [r["cls"] for r in mx["per_class"]] == ["cat", "dog", "a|b", "eel"]


def test_html_metrics_read_like_the_comment() -> None:
    """Issue #17: "support 80.0000", and slice gaps as 0.072 in HTML beside 7.2 pt in the comment."""
    from evalaction.report.render import _env

    metrics = _multiclass()
    metrics.candidate.overall["support"] = 80.0
    assert metrics.baseline is not None
    metrics.baseline.overall["support"] = 80.0
    html = _env().get_template("_metrics.html.j2").render(**metrics_html_context(metrics, "multiclass", None))
    assert ">80<" in html and "80.0" not in html
    assert ">0.964<" in html and ">0.9640<" not in html  # 3 decimals for rates, as the comment
    assert ">7.2 pt<" in html and "0.072<" not in html
    assert "7.2 pt" in metrics_markdown(metrics, "multiclass")

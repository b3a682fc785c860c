"""Issue #17 text defects: p-values never print as 0, backticks become <code> in HTML, counts agree in number."""

from __future__ import annotations

import pytest

from evalaction.report.render import code_spans, pval
from evalaction.stages.plan import _count


def test_p_values_never_read_zero() -> None:
    assert pval(0.0) == "< 0.001" and pval(3e-12) == "< 0.001"
    assert pval(0.0351) == "0.0351" and pval(1.0) == "1" and pval(None) == "n/a"


def test_code_spans_become_code_elements_and_html_is_escaped() -> None:
    out = str(code_spans("this test set cannot decide `accuracy not_worse 2 pt` <b>"))
    assert out == "this test set cannot decide <code>accuracy not_worse 2 pt</code> &lt;b&gt;"
    assert "`" not in out


def test_counts_agree_in_number() -> None:
    assert _count(1, "test image has", "test images have") == "1 test image has"
    assert _count(3, "test image has", "test images have") == "3 test images have"


@pytest.mark.parametrize(
    ("metric", "hib", "rule", "margin", "expected"),
    [
        # not_worse: a lower-is-better metric may rise by the margin, a higher-is-better one fall by it
        ("rmse", False, "not_worse", 2.0, "against the margin +2.00"),
        ("accuracy", True, "not_worse", 0.01, "against the margin -1.0 pt"),
        # better: by more than the margin, in the metric's good direction
        ("accuracy", True, "better", 0.02, "against the margin +2.0 pt"),
        ("log_loss", False, "better", 0.05, "against the margin -0.0500"),
        ("rmse", False, "equivalent", 3.0, "against the margins ±3.00"),
        ("rmse", False, "not_worse", 0.0, ""),
    ],
)
def test_margin_clause_reads_in_the_metrics_direction(
    metric: str, hib: bool, rule: str, margin: float, expected: str
) -> None:
    from evalaction.artifacts import MetricComparison
    from evalaction.report.render import margin_clause

    c = MetricComparison(
        metric=metric,
        baseline=1.0,
        candidate=1.0,
        delta=0.0,
        ci_low=-0.1,
        ci_high=0.1,
        confidence=0.95,
        tost_ci_low=-0.08,
        tost_ci_high=0.08,
        tost_confidence=0.9,
        p_value=1.0,
        p_adjusted=1.0,
        test="paired bootstrap (BCa)",
        higher_is_better=hib,
        outcome="inconclusive",
        gated=True,
        rule=rule,  # type: ignore[arg-type]
        margin=margin,
    )
    assert margin_clause(c) == expected

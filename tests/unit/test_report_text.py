"""Issue #17 text defects: p-values never print as 0, backticks become <code> in HTML, counts agree in number."""

from __future__ import annotations

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

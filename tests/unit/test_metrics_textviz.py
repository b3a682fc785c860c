"""Text pictures for the PR comment: unit checks and golden files.

Regenerate the golden files after an intended change with
`UPDATE_GOLDEN=1 pytest tests/unit/test_metrics_textviz.py` and review the diff.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from evalaction.report.textviz import (
    MetricRow,
    delta_bar,
    fmt_delta,
    md_code,
    metric_table,
    per_class_delta_table,
    text_bar,
    value_bars,
)

GOLDEN = Path(__file__).resolve().parents[1] / "golden"


def _golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"missing golden file {path}; run with UPDATE_GOLDEN=1 to create it"
    assert text == path.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("length", "bar"),
    [
        (0, ""),
        (-1, ""),
        (1, "▇"),
        (3.5, "▇▇▇▄"),
        (2.06, "▇▇"),
        (2.99, "▇▇▇"),
        (0.2, "▂"),
        (30, "▇" * 19 + "…"),
    ],
)
def test_text_bar(length: float, bar: str) -> None:
    assert text_bar(length) == bar


def test_delta_formats() -> None:
    assert fmt_delta(0.8) == "▲ +0.8 pt"
    assert fmt_delta(-6.1) == "**▼ −6.1 pt**"
    assert fmt_delta(-6.1, higher_is_better=False) == "▲ −6.1 pt"  # a loss that falls: better, arrow up
    assert fmt_delta(+0.5, higher_is_better=False) == "**▼ +0.5 pt**"
    assert fmt_delta(0.01) == "= 0.0 pt"
    assert fmt_delta(None) == "n/a"
    assert (
        fmt_delta(0.03, points=False, higher_is_better=False) == "**▼ +0.03**"
    )  # a loss that rises: worse, arrow down
    assert delta_bar(-6.1) == "▇▇▇▇▇▇"
    assert delta_bar(3.7) == "▃▃▃▃"
    assert delta_bar(-3.7, higher_is_better=False) == "▃▃▃▃"


def test_code_cells_cannot_break_the_table() -> None:
    assert md_code("a|b") == "`a\\|b`"
    assert md_code("x`y") == "`x'y`"


def test_golden_metric_table() -> None:
    rows = [
        MetricRow("accuracy", 0.964, 0.972),
        MetricRow("macro_f1", 0.9631, 0.9690),
        MetricRow("roc_auc", None, 0.997),
        MetricRow("log_loss", 0.1204, 0.1511, higher_is_better=False, points=False),
        MetricRow("ece", 0.031, 0.012, higher_is_better=False),
        MetricRow("recall", 0.9, 0.9),
    ]
    _golden("textviz_metric_table.md", metric_table(rows))


def test_golden_per_class_deltas() -> None:
    base = {"0": 0.99, "3": 0.944, "7": 0.973, "a|b": 0.5, "rare": None, "9": 0.951}
    cand = {"0": 0.985, "3": 0.981, "7": 0.912, "a|b": 0.5, "rare": 0.4, "9": 0.94}
    support = {"0": 178, "3": 54, "7": 57, "a|b": 10, "rare": 1, "9": 1203}
    _golden("textviz_per_class_recall.md", per_class_delta_table("recall", base, cand, support))
    _golden("textviz_per_class_recall_top3.md", per_class_delta_table("recall", base, cand, support, limit=3))


def test_golden_value_bars() -> None:
    _golden("textviz_value_bars.md", value_bars({"cat": 0.93, "dog": 0.41, "cow": None, "eel": 0.0}))


def test_bars_render_as_plain_text_on_github_and_arrows_follow_the_direction() -> None:
    """Issue #17: bars inside code spans showed as black boxes in the PR comment; ▼ marked a falling log loss."""
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark").enable("table")  # the GitHub-flavoured table extension
    html = md.render(per_class_delta_table("recall", {"a": 0.9, "b": 0.5}, {"a": 0.8, "b": 0.6}, {"a": 5, "b": 5}))
    assert "▇" in html and "▃" in html
    assert not any(
        ch in code for code in html.split("<code>")[1:] for ch in "▇▃" if ch in code.split("</code>")[0]
    )
    table = md.render(metric_table([MetricRow("log_loss", 0.30, 0.25, higher_is_better=False, points=False)]))
    assert "▲ −0.05" in table and "<strong>" not in table  # an improvement: up, not bold

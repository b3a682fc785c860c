"""Issue #17 acceptance: breast cancer, 228 test rows, baseline 0.9693 vs candidate 0.9605, 9 negative / 7 positive
flips, gate `accuracy not_worse 2 pt`. The plan card and the comment say the test set cannot decide the gate and
how many rows would; the next step no longer blames a regression; `gates.undecidable: condition` turns it into
a condition. The predictions are files (exact counts), the features and labels scikit-learn's breast cancer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from evalaction.cli import main

CLASSES = ["malignant", "benign"]


def _write_case(root: Path, undecidable: str = "block") -> Path:
    import pandas as pd
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split

    x, y = load_breast_cancer(return_X_y=True)
    _, x_test, _, y_test = train_test_split(x, y, test_size=228, random_state=0, stratify=y)
    cols = [f"f{i}" for i in range(x.shape[1])]
    test = pd.DataFrame(x_test, columns=cols)
    test.insert(0, "id", [f"r{i:03d}" for i in range(228)])
    test["label"] = [CLASSES[k] for k in y_test]
    test.to_csv(root / "test.csv", index=False)
    # baseline wrong on rows 0-6 (the 7 positive flips), candidate wrong on rows 7-15 (the 9 negative flips)
    for role, wrong in (("baseline", range(0, 7)), ("candidate", range(7, 16))):
        pred = y_test.copy()
        pred[list(wrong)] = 1 - pred[list(wrong)]
        p1 = np.where(pred == 1, 0.9, 0.1)
        pd.DataFrame({"id": test.id, "score:malignant": 1 - p1, "score:benign": p1}).to_csv(
            root / f"{role}.csv", index=False
        )
    plan = root / "evalaction.yml"
    plan.write_text(
        "version: 1\nname: breast cancer\ntask: binary\n"
        "dataset: {path: test.csv, id_column: id, label_column: label, class_names: [malignant, benign]}\n"
        "models: {baseline: {path: baseline.csv}, candidate: {path: candidate.csv}}\n"
        "metrics: {primary: accuracy, plots: false}\n"
        "compare: {n_bootstrap: 200}\nreadiness: {enabled: false}\nerrors: {attributions: {enabled: false}}\n"
        f"gates:\n  undecidable: {undecidable}\n  vs_baseline:\n    accuracy: {{rule: not_worse, margin: 0.02}}\n",
        encoding="utf-8",
    )
    return plan


def test_plan_card_says_the_test_set_cannot_decide_2_pt(tmp_path: Path) -> None:
    plan = _write_case(tmp_path)
    result = CliRunner().invoke(main, ["plan", "-c", str(plan)])
    assert result.exit_code == 0, result.output
    line = next(x for x in result.output.splitlines() if "cannot decide" in x)
    assert "this test set cannot decide `accuracy not_worse 2 pt`" in line
    rows = int(line.split("~")[1].split(" rows")[0].replace(",", ""))
    # 2 x 5 % assumed error: (z_0.95 + z_0.8)^2 * 0.1 / 0.02^2 = 1,546 rows (stats/power.py)
    from scipy.stats import norm

    assert rows == int(np.ceil((norm.ppf(0.95) + norm.ppf(0.8)) ** 2 * 0.1 / 0.02**2)) == 1546
    assert "(it has 228)" in line


@pytest.fixture(scope="module")
def run_block(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, Path]:
    root = tmp_path_factory.mktemp("bc")
    plan = _write_case(root)
    result = CliRunner().invoke(main, ["run", "-c", str(plan), "-o", str(root / "out")])
    return result.exit_code, root / "out"


def test_comment_says_too_small_with_rows_needed_and_no_regression_advice(run_block: tuple[int, Path]) -> None:
    import json

    code, out = run_block
    assert code == 1  # NO-GO: the gate blocks by default
    results = json.loads((out / "results.json").read_text())
    acc = next(c for c in results["compare"]["comparisons"] if c["metric"] == "accuracy")
    assert (acc["baseline"], acc["candidate"]) == (pytest.approx(221 / 228), pytest.approx(219 / 228))
    assert acc["outcome"] == "inconclusive" and acc["passed"] is False
    # observed discordance 16 / 228: (z_0.95 + z_0.8)^2 * (16/228 - (2/228)^2) / 0.02^2 = 1,084 rows
    from scipy.stats import norm

    want = (norm.ppf(0.95) + norm.ppf(0.8)) ** 2 * (16 / 228 - (2 / 228) ** 2) / 0.02**2
    assert acc["rows_needed"] == int(np.ceil(want)) == 1084
    md = (out / "report.md").read_text()
    assert "this test set cannot decide `accuracy not_worse 2 pt`: ~1,084 rows needed (it has 228)" in md
    assert "rows needed (it has 228)" in md
    step = next(x for x in md.splitlines() if x.startswith("**Suggested next step:**"))
    assert "regress" not in step.split("not a regression")[0] and "cannot decide" in step
    assert "90% CI (decides not_worse)" in md  # the interval that decides is the one shown, labelled


def test_undecidable_condition_turns_the_fail_into_a_condition(tmp_path: Path) -> None:
    plan = _write_case(tmp_path, undecidable="condition")
    result = CliRunner().invoke(main, ["run", "-c", str(plan), "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    md = (tmp_path / "out" / "report.md").read_text()
    assert "GO WITH CONDITIONS" in md and "cannot decide" in md


def test_a_significant_drop_within_the_margin_is_in_the_headline(tmp_path: Path) -> None:
    """20,000 rows, 200 negative / 100 positive flips: accuracy is significantly worse (-0.5 pt) yet inside the
    2 pt margin, so the gate passes (GO) and the drop is named under the summary, not only in a collapsed section."""
    import pandas as pd
    from markdown_it import MarkdownIt

    n = 20_000
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, n)
    pd.DataFrame({"id": np.arange(n), "a": rng.normal(size=n), "label": [CLASSES[k] for k in y]}).to_csv(
        tmp_path / "test.csv", index=False
    )
    for role, wrong in (("baseline", np.r_[0:300]), ("candidate", np.r_[0:200, 300:500])):
        pred = y.copy()
        pred[wrong] = 1 - pred[wrong]
        pd.DataFrame({"id": np.arange(n), "pred": [CLASSES[k] for k in pred]}).to_csv(
            tmp_path / f"{role}.csv", index=False
        )
    plan = tmp_path / "evalaction.yml"
    plan.write_text(
        "version: 1\ntask: binary\n"
        "dataset: {path: test.csv, id_column: id, label_column: label, class_names: [malignant, benign]}\n"
        "models: {baseline: {path: baseline.csv}, candidate: {path: candidate.csv}}\n"
        "metrics: {primary: accuracy, plots: false}\ncompare: {n_bootstrap: 200}\n"
        "readiness: {enabled: false}\nerrors: {attributions: {enabled: false}}\n"
        "gates:\n  vs_baseline:\n    accuracy: {rule: not_worse, margin: 0.02}\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(main, ["run", "-c", str(plan), "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    md = (tmp_path / "out" / "report.md").read_text()
    html = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"]).render(md)  # GFM subset
    head = html.split("<table>")[0]  # the headline area: before the gate table
    assert "✅ GO" in head and "<strong>Significant changes:</strong> accuracy worse" in head
    assert "within the <code>not_worse</code> gate" in head


def _visible_text(html: str) -> str:
    """The text a reader sees (no tags, no style), as the HTML parser reads it."""
    from html.parser import HTMLParser

    class Text(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.parts: list[str] = []
            self.skip = 0

        def handle_starttag(self, tag: str, attrs: object) -> None:
            self.skip += tag in ("style", "script")

        def handle_endtag(self, tag: str) -> None:
            self.skip -= tag in ("style", "script")

        def handle_data(self, data: str) -> None:
            if not self.skip:
                self.parts.append(data)

    parser = Text()
    parser.feed(html)
    return " ".join("".join(parser.parts).split())


def test_html_report_reads_the_same_without_literal_backticks(run_block: tuple[int, Path]) -> None:
    _, out = run_block
    html = (out / "report.html").read_text()
    text = _visible_text(html)
    assert "this test set cannot decide accuracy not_worse 2 pt: ~1,084 rows needed (it has 228)" in text
    assert "90% CI (decides not_worse)" in text
    assert "`" not in text  # code spans became <code>, not literal backticks
    assert "<code>accuracy not_worse 2 pt</code>" in html


def test_html_report_in_a_browser_shows_the_deciding_interval(run_block: tuple[int, Path], tmp_path: Path) -> None:
    """The same page in headless Chromium (skipped where there is none, as tests/integration/test_report_browser)."""
    from tests.integration.test_report_browser import _run_chromium

    _, out = run_block
    done = _run_chromium(["--dump-dom"], out / "report.html", tmp_path / "profile")
    assert done.returncode == 0, done.stderr[-2000:]
    text = _visible_text(done.stdout)
    assert "90% CI (decides not_worse)" in text and "cannot decide" in text and "`" not in text


def test_plan_card_lists_the_curation_gates_the_run_applies(tmp_path: Path) -> None:
    from markdown_it import MarkdownIt

    plan = _write_case(tmp_path)
    text = plan.read_text().replace(
        "gates:\n", "gates:\n  curation: {duplicates: {max: 0}, min_class_samples: 20}\n"
    )
    plan.write_text(text)
    result = CliRunner().invoke(main, ["plan", "-c", str(plan)])
    assert result.exit_code == 0, result.output
    html = MarkdownIt("commonmark").enable("table").render(result.output)
    assert "<td>duplicates</td>\n<td>curation</td>\n<td>&lt;= 0</td>" in html
    assert "<td>min_class_samples</td>\n<td>curation</td>\n<td>&gt;= 20</td>" in html


def test_comment_and_html_state_the_detectable_delta(run_block: tuple[int, Path]) -> None:
    _, out = run_block
    for name in ("report.md", "report.html"):
        text = _visible_text((out / name).read_text()) if name.endswith("html") else (out / name).read_text()
        # (z_0.95 + z_0.8) * sqrt(v / n) - 0.02 = +2.4 pt: even an equal candidate fails the gate more often than not
        assert "passes with 80 % power when the true Δ is ≥ +2.4 pt" in text, name


def test_plan_takes_the_baseline_error_rate_when_known(tmp_path: Path) -> None:
    from scipy.stats import norm

    plan = _write_case(tmp_path)
    result = CliRunner().invoke(main, ["plan", "-c", str(plan), "--baseline-error", "0.0307"])
    assert result.exit_code == 0, result.output
    line = next(x for x in result.output.splitlines() if "cannot decide" in x)
    want = int(np.ceil((norm.ppf(0.95) + norm.ppf(0.8)) ** 2 * 2 * 0.0307 / 0.02**2))
    assert f"~{want:,} rows needed (it has 228)" in line and "3.07 %" in line
    bad = CliRunner().invoke(main, ["plan", "-c", str(plan), "--baseline-error", "1.5"])
    assert bad.exit_code == 2 and "Traceback" not in bad.output

"""The sticky comment's marker, size limit and status descriptions."""

from __future__ import annotations

import pytest

from evalaction.github.publish import (
    COMMENT_MAX_CHARS,
    MissingCommentMarker,
    check_marker,
    comment_marker,
    fit_comment,
    status_description,
)

RUN = "https://github.com/o/r/actions/runs/7"
MARKER = comment_marker("evalaction.yml")
GATE_TABLE = "\n".join(
    ["| gate | rule | candidate | vs baseline | result |", "|---|---|---|---|---|"]
    + [f"| gate{i} | ≥ 0.9 | 0.95 | +0.1 pt | ✅ pass |" for i in range(40)]
)
HEAD = f"{MARKER}\n## ❌ NO-GO — `models/classifier.onnx`\n\n**2 of 40 gates fail.**\n\n{GATE_TABLE}\n"
FOOT = f"[Full report]({RUN}) · evalaction 0.1.0 · 38 s\n"


def details(title: str, size: int) -> str:
    row = "| test/0412 | 7 | 7 | 1 (0.91) | confident error |\n"
    return f"<details><summary>{title}</summary>\n\n" + row * (size // len(row)) + "</details>\n"


def test_marker_is_a_safe_html_comment() -> None:
    assert comment_marker("evalaction.yml") == "<!-- evalaction:evalaction.yml -->"
    assert comment_marker("ml/plans/eval.yml") == "<!-- evalaction:ml/plans/eval.yml -->"
    odd = comment_marker("a--b/c>d e.yml")
    body = odd.removeprefix("<!--").removesuffix("-->")
    assert "--" not in body and ">" not in body and " " not in body.strip()
    assert comment_marker("a.yml") != comment_marker("b.yml")


def test_missing_marker_fails_loudly() -> None:
    check_marker(HEAD, MARKER)
    with pytest.raises(MissingCommentMarker):
        check_marker("## GO\n" + MARKER, MARKER)
    with pytest.raises(MissingCommentMarker):
        check_marker(HEAD, comment_marker("other.yml"))


def test_small_body_is_kept_and_gets_the_run_link() -> None:
    body = HEAD + details("Metrics", 2000) + FOOT
    assert fit_comment(body, report_url=RUN) == body
    without_link = HEAD + details("Metrics", 2000)
    fitted = fit_comment(without_link, report_url=RUN)
    assert fitted.startswith(without_link) and RUN in fitted


def test_details_are_cut_from_the_bottom_and_the_rest_is_kept() -> None:
    sections = [
        details("Metrics: overall and per class", 25_000),
        details("Errors: 7 negative flips", 40_000),
    ]
    sections.append(details("Plan and test set", 3_000))
    body = HEAD + "".join(sections) + FOOT
    assert len(body) > COMMENT_MAX_CHARS
    fitted = fit_comment(body, report_url=RUN)
    assert len(fitted) < COMMENT_MAX_CHARS
    assert fitted.startswith(HEAD) and fitted.endswith(FOOT)  # verdict, gate table, run link intact
    assert sections[0] in fitted  # the first section survives: cutting the last two was enough
    assert "\n\n_Errors: 7 negative flips: cut to fit" in fitted  # a paragraph of its own
    assert "Errors: 7 negative flips: cut to fit" in fitted and f"[full report]({RUN})" in fitted
    assert "Plan and test set: cut to fit" in fitted
    assert fitted.count("<details>") == fitted.count("</details>") == 1


def test_nested_details_are_cut_as_one_block() -> None:
    inner = details("inner", 50_000)
    body = (
        HEAD + f"<details><summary><b>Outer</b></summary>\n{inner}\n{details('inner2', 30_000)}</details>\n" + FOOT
    )
    fitted = fit_comment(body, report_url=RUN)
    assert len(fitted) < COMMENT_MAX_CHARS
    assert "<details" not in fitted and "</details>" not in fitted
    assert "_Outer: cut to fit" in fitted and fitted.startswith(HEAD) and fitted.endswith(FOOT)


def test_an_impossible_body_still_fits_and_keeps_first_and_last_lines() -> None:
    body = MARKER + "\n" + "| row |\n" * 20_000 + FOOT
    fitted = fit_comment(body, report_url=RUN)
    assert len(fitted) < COMMENT_MAX_CHARS
    lines = fitted.rstrip("\n").split("\n")
    assert lines[0] == MARKER and lines[-1] == FOOT.strip() and "Comment cut to fit" in fitted


@pytest.mark.parametrize("limit", [1000, 5000, 30_000])
def test_any_limit_is_respected(limit: int) -> None:
    body = HEAD[:400] + details("a", 3000) + details("b", 3000) + FOOT
    assert len(fit_comment(body, report_url=RUN, limit=limit)) < limit


def test_status_description_limit() -> None:
    assert status_description("GO: 7 of 7 gates pass") == "GO: 7 of 7 gates pass"
    long = status_description("NO-GO:\n" + "recall[7] worse " * 30)
    assert len(long) < 140 and long.endswith("…") and "\n" not in long

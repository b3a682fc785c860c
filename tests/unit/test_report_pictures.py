"""Issue #17: the report's pictures read right. PNGs are checked by their pixels (colours that carry meaning),
labels by the text matplotlib was asked to draw."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest


def _rgb(path: Path) -> np.ndarray:
    from matplotlib.image import imread

    return imread(path)[..., :3]


def _near(img: np.ndarray, hex_colour: str, tol: float = 0.08) -> np.ndarray:
    rgb = np.array([int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)])
    return np.all(np.abs(img - rgb) < tol, axis=-1)


@pytest.fixture
def drawn_text(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    from matplotlib.axes import Axes

    seen: list[str] = []
    text, title, ylabel, xlabel = Axes.text, Axes.set_title, Axes.set_ylabel, Axes.set_xlabel

    def record(orig: Any) -> Any:
        def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            seen.extend(a for a in args if isinstance(a, str))
            return orig(self, *args, **kwargs)

        return wrapper

    monkeypatch.setattr(Axes, "text", record(text))
    monkeypatch.setattr(Axes, "set_title", record(title))
    monkeypatch.setattr(Axes, "set_ylabel", record(ylabel))
    monkeypatch.setattr(Axes, "set_xlabel", record(xlabel))
    return seen


def test_confusion_matrix_labels_off_diagonal_shares(tmp_path: Path, drawn_text: list[str]) -> None:
    from evalaction.report.plots import confusion_matrices

    cm = np.array([[6, 4], [0, 10]])  # 0.40 of `nonface` predicted `face`
    confusion_matrices(tmp_path / "cm.png", {"baseline": cm}, ["nonface", "face"])
    assert "0.40" in drawn_text and "0.60" in drawn_text and "1.00" in drawn_text


def test_roc_and_pr_at_auc_1_stay_visible(tmp_path: Path) -> None:
    from evalaction.report.plots import pr_curves, roc_curves

    y = np.r_[np.zeros(50, dtype=int), np.ones(50, dtype=int)]
    perfect = np.c_[1 - np.r_[np.zeros(50), np.ones(50)], np.r_[np.zeros(50), np.ones(50)]] * 0.98 + 0.01
    for draw in (roc_curves, pr_curves):
        img = _rgb(
            draw(tmp_path / f"{draw.__name__}.png", y, {"baseline": perfect, "candidate": perfect}, ["a", "b"])
        )
        for colour in ("#1f77b4", "#8c8c8c"):  # candidate, and the baseline drawn wider beneath it
            mask = _near(img, colour)
            # a perfect curve runs up x = 0 and along y = 1 (ROC) or along precision 1 (PR): a long run of its
            # colour in one pixel column or row, not hidden under the frame
            longest = max(mask.sum(axis=0).max(), mask.sum(axis=1).max())
            assert longest > 150 and mask.sum(axis=1).max() > 150, (draw.__name__, colour, longest)


def test_reliability_diagram_names_the_positive_class(tmp_path: Path, drawn_text: list[str]) -> None:
    from evalaction.report.plots import reliability_diagram

    rng = np.random.default_rng(0)
    p = rng.uniform(size=200)
    reliability_diagram(
        tmp_path / "r.png",
        "binary",
        (rng.uniform(size=200) < p).astype(int),
        {"c": np.c_[1 - p, p]},
        positive="face",
    )
    assert any("face" in t for t in drawn_text if "Reliability" in t)
    assert any("face" in t for t in drawn_text if "observed" in t)


def test_per_class_bars_label_and_legend_stay_clear_of_the_bars(tmp_path: Path) -> None:
    from evalaction.report.plots import per_class_bars

    path = per_class_bars(
        tmp_path / "f1.png", {"baseline": {"a": 1.0, "b": 1.0}, "candidate": {"a": 1.0, "b": 1.0}}, ["a", "b"]
    )
    img = _rgb(path)
    # bars reach 1.0, so a legend inside the axes covers them: its swatches must sit in the band above
    rows = np.flatnonzero(_near(img, "#1f77b4").any(axis=1))
    gaps = np.flatnonzero(np.diff(rows) > 3)
    assert gaps.size >= 1, "the legend's swatch should sit apart, above the bars"
    assert rows[gaps[0]] < rows[gaps[0] + 1] and rows[: gaps[0] + 1].size < 20  # a small swatch, then the bars
    # the y label is drawn whole: dark pixels near the left edge, none in the first column (nothing cut off)
    dark = img.mean(axis=-1) < 0.5
    assert dark[:, 2:40].sum() > 20 and not dark[:, 0].any()


def test_feature_bars_are_red_for_raises_and_blue_for_lowers(tmp_path: Path) -> None:
    from evalaction.explain.visuals import LOWERS, RAISES, Panel, feature_bars_figure

    panel = Panel("candidate", np.array([0.5, -0.5, 0.2]), signed=True)
    img = _rgb(feature_bars_figure(tmp_path / "b.png", feature_names=["x", "y", "z"], rows=[[panel]], title="t"))
    assert _near(img, RAISES).sum() > 100 and _near(img, LOWERS).sum() > 100
    assert _near(img, "#1a7f37").sum() == 0  # no green: the caption speaks of red and blue


def test_feature_bars_title_stays_inside_the_figure(tmp_path: Path) -> None:
    """A two-panel figure with the usual title: its text used to run past both edges (the legend sentence on the
    same line), clipped in the report. No dark pixel may touch the left or right edge in the title band."""
    from evalaction.explain.visuals import Panel, feature_bars_figure

    rng = np.random.default_rng(0)
    rows = [
        [Panel(title=f"{m} → 1\nfeature ablation", values=rng.normal(size=30), signed=True) for m in ("a", "b")]
    ]
    title = "t127: label 0; baseline 0 (0.76); candidate 1 (1.00)"
    names = [f"f{i:02d}" for i in range(30)]
    img = _rgb(feature_bars_figure(tmp_path / "b.png", feature_names=names, rows=rows, title=title))
    band = img[:40].min(axis=-1) < 0.5  # dark (text) pixels in the top 40 px
    assert band.any()  # the title is drawn
    assert not band[:, :4].any() and not band[:, -4:].any()


def test_heatmap_small_panel_is_not_blank_and_has_a_colour_bar(tmp_path: Path) -> None:
    from evalaction.explain.visuals import Panel, heatmap_figure

    image = np.full((8, 8), 0.5)
    big = np.zeros((8, 8))
    big[:4] = 1.0
    small = big * 1e-3  # a model whose attributions are 1000x smaller
    path = heatmap_figure(
        tmp_path / "h.png",
        image=image,
        rows=[[Panel("baseline", big, True), Panel("candidate", small, True)]],
        title="t",
    )
    img = _rgb(path)
    redish = (img[..., 0] > 0.6) & (img[..., 1] < 0.45) & (img[..., 2] < 0.45)
    cols = np.flatnonzero(redish.any(axis=0))
    # red in the baseline tile, the candidate tile and the colour bar: three separate runs of columns
    runs = 1 + int(np.count_nonzero(np.diff(cols) > 1))
    assert runs >= 3, runs
    blueish = (img[..., 2] > 0.6) & (img[..., 0] < 0.45)
    assert blueish.any()  # the colour bar's lower half


def test_gallery_caption_keeps_both_ends_of_an_id() -> None:
    from evalaction.explain.visuals import fit_caption_line

    short = fit_caption_line("faces/subject01_glasses_left.png", 96)
    assert short.startswith("faces/") and short.endswith("left.png") and "…" in short
    assert fit_caption_line("img_7", 96) == "img_7"


def test_image_reference_is_mid_grey_not_black() -> None:
    """Issue #17: a black occlusion reference made every bright region of a face "raise P(face)"."""
    from evalaction.explain.methods import mid_grey

    assert mid_grey(np.array([[0.0, 255.0], [10.0, 200.0]])) == 127.5
    assert mid_grey(np.array([[0.0, 16.0]])) == 8.0

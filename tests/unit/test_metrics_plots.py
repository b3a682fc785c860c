"""The plots write valid, non-empty, deterministic PNGs, including on degenerate data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from evalaction.report import plots

CLASSES = ["cat", "dog", "a long class name that gets cut"]


def _scores(rng: np.random.Generator, y: np.ndarray, k: int, signal: float) -> np.ndarray:
    logits = rng.normal(size=(y.size, k))
    logits[np.arange(y.size), y] += signal
    p = np.exp(logits)
    return p / p.sum(axis=1, keepdims=True)


def _check_png(path: Path, min_width: int = 300) -> None:
    assert path.exists() and path.stat().st_size > 2000
    with Image.open(path) as img:
        assert img.format == "PNG"
        img.verify()
    with Image.open(path) as img:
        assert img.width >= min_width and img.height >= 100
        assert "Software" not in img.info  # no matplotlib version in the file
        # Not blank: more than one colour.
        lo, hi = img.convert("L").getextrema()
        assert hi - lo > 50


@pytest.fixture(scope="module")
def multiclass() -> tuple[np.ndarray, dict[str, np.ndarray]]:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 400)
    return y, {"baseline": _scores(rng, y, 3, 1.0), "candidate": _scores(rng, y, 3, 1.6)}


def test_confusion_matrices(tmp_path: Path, multiclass: tuple[np.ndarray, dict[str, np.ndarray]]) -> None:
    y, scores = multiclass
    cms = {label: np.bincount(y * 3 + s.argmax(1), minlength=9).reshape(3, 3) for label, s in scores.items()}
    _check_png(plots.confusion_matrices(tmp_path / "cm.png", cms, CLASSES))


def test_roc_and_pr_multiclass(tmp_path: Path, multiclass: tuple[np.ndarray, dict[str, np.ndarray]]) -> None:
    y, scores = multiclass
    _check_png(plots.roc_curves(tmp_path / "roc.png", y, scores, CLASSES))
    _check_png(plots.pr_curves(tmp_path / "pr.png", y, scores, CLASSES))


def test_roc_binary_one_model_and_single_class(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 300)
    p1 = np.clip(0.3 * y + 0.7 * rng.random(300), 0, 1)
    p = np.column_stack([1 - p1, p1])
    _check_png(plots.roc_curves(tmp_path / "roc.png", y, {"candidate": p}, ["neg", "pos"]))
    # One class only: a placeholder image that says why, not a crash.
    out = plots.pr_curves(tmp_path / "pr.png", np.zeros(300, dtype=int), {"candidate": p}, ["neg", "pos"])
    _check_png(out, min_width=200)


def test_reliability_diagram(tmp_path: Path, multiclass: tuple[np.ndarray, dict[str, np.ndarray]]) -> None:
    y, scores = multiclass
    _check_png(plots.reliability_diagram(tmp_path / "rel.png", "multiclass", y, scores))


def test_per_class_bars_with_undefined_values(tmp_path: Path) -> None:
    values = {"baseline": {"cat": 0.9, "dog": None, CLASSES[2]: 0.4}, "candidate": {"cat": 0.8, "dog": 0.7}}
    _check_png(plots.per_class_bars(tmp_path / "f1.png", values, CLASSES))


def test_residual_plots(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    y = rng.normal(size=6000)
    preds = {"baseline": y + rng.normal(0, 0.5, 6000), "candidate": y + rng.normal(0, 0.3, 6000)}
    _check_png(plots.residual_plots(tmp_path / "res.png", y, preds))


def test_plots_are_deterministic(tmp_path: Path) -> None:
    values = {"baseline": {"cat": 0.9, "dog": 0.5}, "candidate": {"cat": 0.8, "dog": 0.7}}
    a = plots.per_class_bars(tmp_path / "a.png", values, ["cat", "dog"]).read_bytes()
    b = plots.per_class_bars(tmp_path / "b.png", values, ["cat", "dog"]).read_bytes()
    assert a == b

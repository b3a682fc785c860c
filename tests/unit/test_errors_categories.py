"""Error categories on constructed predictions with known answers, and the pure pieces against references."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from evalaction.artifacts import InferenceResult, ModelRun
from evalaction.flips import sample_correctness
from evalaction.predictions import write_predictions
from evalaction.stages.errors import (
    ambiguous,
    confidently_wrong,
    confusion_pairs,
    knn_distances,
    run_errors,
    slice_error_rates,
    top2_margin,
)

CLASSES = ["a", "b", "c"]

# Twelve samples, three classes. Each row: (label, candidate scores, baseline scores, slice value).
# Known answers are written next to each row.
ROWS = [
    (0, [0.95, 0.03, 0.02], [0.90, 0.05, 0.05], "x"),  # both right
    (0, [0.02, 0.96, 0.02], [0.80, 0.10, 0.10], "x"),  # negative flip, confidently wrong (0.96), a->b
    (1, [0.05, 0.92, 0.03], [0.10, 0.30, 0.60], "x"),  # positive flip
    (1, [0.45, 0.41, 0.14], [0.20, 0.70, 0.10], "y"),  # negative flip, ambiguous (margin 0.04), b->a, low p
    (2, [0.10, 0.10, 0.80], [0.10, 0.10, 0.80], "x"),  # both right
    (2, [0.91, 0.04, 0.05], [0.85, 0.05, 0.10], "y"),  # both wrong c->a, confidently wrong (0.91)
    (2, [0.38, 0.30, 0.32], [0.10, 0.20, 0.70], "y"),  # negative flip c->a, ambiguous (0.06), low p (0.38)
    (0, [0.70, 0.20, 0.10], [0.60, 0.30, 0.10], "x"),  # both right
    (1, [0.10, 0.85, 0.05], [0.10, 0.85, 0.05], "x"),  # both right
    (1, [0.48, 0.46, 0.06], [0.40, 0.30, 0.30], "x"),  # both wrong b->a, ambiguous (0.02), low p (0.48)
    (0, [0.90, 0.05, 0.05], [0.90, 0.05, 0.05], "x"),  # both right
    (2, [0.05, 0.05, 0.90], [0.05, 0.05, 0.90], "x"),  # both right
]


def _inference(tmp_path: Path, rows=ROWS, with_baseline: bool = True) -> InferenceResult:
    y = np.array([r[0] for r in rows])
    ids = np.array([f"s{i:02d}" for i in range(len(rows))], dtype=object)
    slices = {"site": np.array([r[3] for r in rows], dtype=object)}

    def run(role: str, scores: np.ndarray) -> ModelRun:
        name = f"predictions_{role}.parquet"
        write_predictions(
            tmp_path / name,
            ids=ids,
            y=y,
            scores=scores,
            classes=CLASSES,
            slices=slices,
            batch_index=np.zeros(len(y), dtype=np.int32),
            batch_latency_ms=np.array([1.0]),
            task="multiclass",
        )
        return ModelRun(
            role=role,  # type: ignore[arg-type]
            path=f"{role}.onnx",
            sha256="0" * 64,
            size_bytes=1,
            format="onnx",
            runner="test",
            provider="cpu",
            threads=1,
            batch_size=len(y),
            n_samples=len(y),
            n_batches=1,
            wall_s=0.1,
            samples_per_s=1.0,
            predictions_path=name,
        )

    cand = run("candidate", np.array([r[1] for r in rows], dtype=float))
    base = run("baseline", np.array([r[2] for r in rows], dtype=float)) if with_baseline else None
    return InferenceResult(candidate=cand, baseline=base, classes=CLASSES, task="multiclass")


def test_categories_have_the_known_counts_and_examples(tmp_path: Path) -> None:
    result = run_errors(inference=_inference(tmp_path), out_dir=tmp_path)
    # wrong: s01 (a->b), s03 (b->a), s05 (c->a), s06 (c->a), s09 (b->a)
    assert result.n_errors == 5
    assert result.error_rate == pytest.approx(5 / 12)
    assert result.n_negative_flips == 3 and result.n_positive_flips == 1
    # negative flips sorted by the candidate's confidence: s01 (0.96), s03 (0.45), s06 (0.38)
    assert [e.id for e in result.negative_flips] == ["s01", "s03", "s06"]
    assert result.negative_flips_by_class == {"a": 1, "b": 1, "c": 1}
    assert result.positive_flips_by_class == {"b": 1}

    cw = result.category("confidently_wrong")
    assert cw is not None and cw.count == 2 and [e.id for e in cw.examples] == ["s01", "s05"]
    amb = result.category("ambiguous")
    # margins below 0.1: s09 (0.02), s03 (0.04), s06 (0.06); all three wrong, smallest margin first
    assert amb is not None and amb.count == 3 and amb.n_wrong == 3
    assert [e.id for e in amb.examples] == ["s09", "s03", "s06"]
    assert amb.examples[0].margin == pytest.approx(0.02)
    ood = result.category("out_of_distribution")
    # max-probability < 0.5: s03 (0.45), s06 (0.38), s09 (0.48); least confident first
    assert ood is not None and ood.count == 3 and [e.id for e in ood.examples] == ["s06", "s03", "s09"]
    assert "no training set" in ood.reading
    flips_cat = result.category("negative_flips")
    assert flips_cat is not None and flips_cat.count == 3 and "net -2" in flips_cat.reading
    assert result.categories[0].key == "negative_flips"  # the regressions come first

    pairs = {(p.true, p.predicted): (p.count, p.baseline_count) for p in result.confusion_pairs}
    # candidate: c->a twice, b->a twice, a->b once; baseline: c->a (s05), b->a (s09), b->c (s02)
    assert pairs[("c", "a")] == (2, 1)
    assert pairs[("b", "a")] == (2, 1)
    assert pairs[("a", "b")] == (1, 0)
    assert result.confusion_pairs[0].count == 2

    relabel = (tmp_path / "errors" / "relabel_candidates.csv").read_text().splitlines()
    assert relabel[0] == "id,label,predicted,probability" and [r.split(",")[0] for r in relabel[1:]] == [
        "s01",
        "s05",
    ]


def test_without_baseline_there_is_no_regression_category(tmp_path: Path) -> None:
    result = run_errors(inference=_inference(tmp_path, with_baseline=False), out_dir=tmp_path)
    assert result.category("negative_flips") is None
    assert result.n_negative_flips == 0 and result.negative_flips == []
    assert all(p.baseline_count is None for p in result.confusion_pairs)
    assert result.attributions is not None and result.attributions.skipped


def test_weak_slice_is_found_and_holm_adjusted(tmp_path: Path) -> None:
    # 60 samples: slice "bad" (15 samples) has 9 errors, slice "good" (45) has 1; overall 10/60
    rows = []
    for i in range(60):
        bad = i < 15
        wrong = (bad and i < 9) or (not bad and i == 30)
        scores = [0.1, 0.8, 0.1] if wrong else [0.8, 0.1, 0.1]
        rows.append((0, scores, scores, "bad" if bad else "good"))
    result = run_errors(inference=_inference(tmp_path, rows), out_dir=tmp_path)
    weak = result.category("weak_slices")
    assert weak is not None and weak.count == 1 and weak.n_wrong == 9
    assert "`site=bad`" in weak.reading
    by_value = {s.value: s for s in result.slices}
    from scipy.stats import binom

    p_bad = binom.sf(9 - 1, 15, 10 / 60)  # P(X >= 9) under the overall rate, computed directly
    p_good = binom.sf(1 - 1, 45, 10 / 60)
    assert by_value["bad"].p_value == pytest.approx(p_bad, rel=1e-9)
    assert by_value["good"].p_value == pytest.approx(p_good, rel=1e-9)
    assert by_value["bad"].p_adjusted == pytest.approx(min(1.0, 2 * p_bad), rel=1e-9)
    assert by_value["bad"].weak and not by_value["good"].weak


def test_regression_task_gives_an_empty_but_valid_result(tmp_path: Path) -> None:
    y = np.array([1.0, 2.0, 3.0])
    write_predictions(
        tmp_path / "predictions_candidate.parquet",
        ids=np.array(["a", "b", "c"], dtype=object),
        y=y,
        scores=y + 0.5,
        classes=[],
        slices={},
        batch_index=np.zeros(3, dtype=np.int32),
        batch_latency_ms=np.array([1.0]),
        task="regression",
    )
    inf = _inference(tmp_path).model_copy(update={"baseline": None, "task": "regression"})
    result = run_errors(inference=inf, out_dir=tmp_path)
    assert result.n_errors == 0 and result.categories == []


# ------------------------------------------------------------------------------------------- pure pieces


def test_slice_error_rates_against_binomial_tail() -> None:
    from scipy.stats import binom

    rng = np.random.default_rng(0)
    wrong = rng.random(300) < 0.1
    col = rng.choice(["p", "q", "r"], size=300).astype(object)
    wrong[col == "r"] |= rng.random(300)[col == "r"] < 0.3
    rates = slice_error_rates(wrong, {"c": col}, alpha=0.05)
    overall = wrong.mean()
    raw = []
    for s in rates:
        mask = col == s.value
        assert s.n == mask.sum() and s.n_errors == wrong[mask].sum()
        assert s.p_value == pytest.approx(binom.sf(s.n_errors - 1, s.n, overall), rel=1e-9)
        raw.append(s.p_value)
    from statsmodels.stats.multitest import multipletests

    np.testing.assert_allclose([s.p_adjusted for s in rates], multipletests(raw, method="holm")[1], rtol=1e-12)
    assert [s.value for s in rates if s.weak] == ["r"]


def test_knn_distances_against_brute_force() -> None:
    from scipy.spatial.distance import cdist

    rng = np.random.default_rng(1)
    train = rng.normal(size=(200, 4)) * [1, 2, 3, 4] + [0, 1, 2, 3]
    test = np.vstack([rng.normal(size=(20, 4)) * [1, 2, 3, 4] + [0, 1, 2, 3], [[40, 40, 40, 40]]])
    dist, limit = knn_distances(train, test, k=5, quantile=0.99)
    mu, sd = train.mean(axis=0), train.std(axis=0)
    tr, te = (train - mu) / sd, (test - mu) / sd
    ref_test = np.sort(cdist(te, tr), axis=1)[:, 4]
    own = np.sort(cdist(tr, tr), axis=1)[:, 5]  # column 0 is the sample itself
    np.testing.assert_allclose(dist, ref_test, rtol=1e-9)
    assert limit == pytest.approx(np.quantile(own, 0.99), rel=1e-9)
    assert dist[-1] > limit and (dist[:-1] > limit).sum() <= 2


@pytest.mark.parametrize("features", [1, 30, 64, 65, 300])
def test_euclidean_distances_equal_scipys_cdist(features: int) -> None:
    """Both branches (numpy up to KNN_NUMPY_FEATURES features, cdist beyond) against scipy's cdist."""
    from scipy.spatial.distance import cdist

    from evalaction.stages.errors import euclidean_distances

    rng = np.random.default_rng(features)
    a, b = rng.normal(size=(120, features)), rng.normal(size=(90, features)) * 3 + 1
    np.testing.assert_allclose(euclidean_distances(a, b), cdist(a, b), rtol=1e-13, atol=0)
    assert euclidean_distances(a[:1], a[:1])[0, 0] == 0.0


def test_screened_knn_decides_the_same_samples_far_as_the_full_search() -> None:
    """With screening on, the limit, the far samples and every far or `exact` sample's distance are those of a
    brute-force search (scipy's cdist); the other samples hold an upper bound below the limit."""
    from scipy.spatial.distance import cdist

    rng = np.random.default_rng(3)
    train = rng.normal(size=(2_400, 6))
    test = np.vstack([rng.normal(size=(1_500, 6)), rng.normal(size=(60, 6)) * 2.5])  # some far away
    exact = np.zeros(len(test), dtype=bool)
    exact[::50] = True
    dist, limit = knn_distances(train, test, k=5, quantile=0.99, exact=exact, screen_min_rows=0)
    mu, sd = train.mean(axis=0), train.std(axis=0)
    tr, te = (train - mu) / sd, (test - mu) / sd
    ref_test = np.sort(cdist(te, tr), axis=1)[:, 4]
    own = np.sort(cdist(tr, tr), axis=1)[:, 5]
    assert limit == pytest.approx(np.quantile(own, 0.99), rel=1e-9)
    far = ref_test > limit
    assert 20 < far.sum() < 200  # the far cluster is found, the rest mostly not
    np.testing.assert_array_equal(dist > limit, far)
    np.testing.assert_allclose(dist[far | exact], ref_test[far | exact], rtol=1e-9)
    assert (dist[~far] >= ref_test[~far] * (1 - 1e-9)).all()  # an upper bound where not exact
    assert (dist[~far & ~exact] > ref_test[~far & ~exact] * (1 + 1e-6)).any()  # and the screens did cut work


def test_small_knn_without_scikit_learn_agrees_with_its_search(monkeypatch: pytest.MonkeyPatch) -> None:
    from evalaction.stages import errors

    rng = np.random.default_rng(5)
    train = rng.normal(size=(300, 5))
    test = np.vstack([rng.normal(size=(80, 5)), rng.normal(size=(6, 5)) * 4])
    direct = knn_distances(train, test)  # small: every distance directly
    monkeypatch.setattr(errors, "KNN_SMALL", 0)  # scikit-learn's search
    searched = knn_distances(train, test)
    assert direct[1] == pytest.approx(searched[1], rel=1e-9)
    np.testing.assert_allclose(direct[0], searched[0], rtol=1e-9)
    np.testing.assert_array_equal(direct[0] > direct[1], searched[0] > searched[1])


def test_small_pieces_against_direct_computation() -> None:
    from sklearn.metrics import confusion_matrix

    rng = np.random.default_rng(2)
    scores = rng.dirichlet(np.ones(4), size=50)
    y = rng.integers(0, 4, size=50)
    pred = scores.argmax(axis=1)
    base_pred = rng.integers(0, 4, size=50)
    s = np.sort(scores, axis=1)
    np.testing.assert_allclose(top2_margin(scores), s[:, -1] - s[:, -2])
    conf = scores.max(axis=1)
    cw = confidently_wrong(y == pred, conf, 0.5)
    assert set(cw) == {i for i in range(50) if y[i] != pred[i] and conf[i] >= 0.5}
    assert list(conf[cw]) == sorted(conf[cw], reverse=True)
    amb = ambiguous(top2_margin(scores), 0.1)
    assert set(amb) == set(np.flatnonzero(s[:, -1] - s[:, -2] < 0.1))
    units = sample_correctness(
        y=y, baseline_pred=base_pred, candidate_pred=pred, ids=range(50), classes=list("0123")
    )
    neg, pos = units.negative, units.positive
    assert set(neg) == {i for i in range(50) if y[i] == base_pred[i] and y[i] != pred[i]}
    assert set(pos) == {i for i in range(50) if y[i] != base_pred[i] and y[i] == pred[i]}
    names = ["0", "1", "2", "3"]
    cm = confusion_matrix(y, pred, labels=range(4))
    cm_base = confusion_matrix(y, base_pred, labels=range(4))
    for p in confusion_pairs(y, pred, names, base_pred, top=20):
        t, k = int(p.true), int(p.predicted)
        assert p.count == cm[t, k] and p.baseline_count == cm_base[t, k]
    off_diag = cm.copy()
    np.fill_diagonal(off_diag, 0)
    assert len(confusion_pairs(y, pred, names, top=20)) == int((off_diag > 0).sum())


def test_error_and_explain_modules_import_no_heavy_package() -> None:
    import subprocess
    import sys

    code = (
        "import sys, evalaction.stages.errors, evalaction.explain.forward, evalaction.explain.methods, "
        "evalaction.explain.visuals; "
        "print(sorted(m for m in ('torch', 'captum', 'matplotlib', 'sklearn', 'scipy', 'onnxruntime') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "[]"


def test_attribution_samples_below_the_threshold_are_not_called_confidently_wrong() -> None:
    """Issue #17: samples at p 0.55-0.67 were labelled "confidently wrong" beside a report counting none."""
    import numpy as np

    from evalaction.stages.errors import _choose_samples

    flips = np.array([9])
    by_conf = np.array([5, 9, 3, 7])  # most confident first; only 5 is at or above the threshold
    chosen = _choose_samples(flips, by_conf, 4, n_confident=1)
    assert chosen == [
        (9, "negative_flip"),
        (5, "confidently_wrong"),
        (3, "most_confident_error"),
        (7, "most_confident_error"),
    ]
    assert [c for _, c in _choose_samples(np.array([], dtype=int), by_conf, 2, n_confident=0)] == [
        "most_confident_error",
        "most_confident_error",
    ]

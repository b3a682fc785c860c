"""The one flips builder (`evalaction.flips`) against an independent count: pandas' crosstab on a random case."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from evalaction.flips import UnitCorrectness, build_flips, by_count, sample_correctness


def _random_case(seed: int, n: int = 500, k: int = 4) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(-1, k, size=n)  # -1: a label outside the class list
    # a prediction is always a class of the list, so a label outside it is always wrong
    base = np.where((rng.random(n) < 0.7) & (y >= 0), y, rng.integers(0, k, size=n))
    cand = np.where((rng.random(n) < 0.75) & (y >= 0), y, rng.integers(0, k, size=n))
    ids = np.array([f"s{i:04d}" for i in range(n)])
    return y, base, cand, ids


def test_counts_per_class_match_a_crosstab() -> None:
    classes = ["a", "b", "c", "d"]
    y, base, cand, ids = _random_case(0)
    f = build_flips(sample_correctness(y=y, baseline_pred=base, candidate_pred=cand, ids=ids, classes=classes))

    frame = pd.DataFrame({"y": y, "b": base == y, "c": cand == y})
    kind = np.select([frame.b & ~frame.c, ~frame.b & frame.c], ["negative", "positive"], "same")
    table = pd.crosstab(frame.y, kind)
    for k, name in enumerate(classes):
        row = table.loc[k]
        got = f.per_class[name]
        assert (got.n, got.negative, got.positive) == (row.sum(), row.get("negative", 0), row.get("positive", 0))
    assert list(f.per_class) == classes  # every class, in class order
    assert f.n_negative == int((kind == "negative").sum()) > 0
    assert f.n_positive == int((kind == "positive").sum()) > 0
    assert f.n_negative == sum(c.negative for c in f.per_class.values())


def test_ids_are_listed_in_unit_order_up_to_the_limit() -> None:
    y, base, cand, ids = _random_case(1)
    units = sample_correctness(y=y, baseline_pred=base, candidate_pred=cand, ids=ids, classes=list("abcd"))
    f = build_flips(units, max_listed=7)
    neg = [ids[i] for i in range(len(y)) if base[i] == y[i] != cand[i]]
    pos = [ids[i] for i in range(len(y)) if cand[i] == y[i] != base[i]]
    assert f.negative_ids == neg[:7] and f.positive_ids == pos[:7] and f.listed_limit == 7
    assert (f.n_negative, f.n_positive) == (len(neg), len(pos)) and len(neg) > 7


def test_units_outside_the_groups_count_nowhere() -> None:
    # detection's crowd boxes and unevaluated classes: group -1, even when a model "found" them
    units = UnitCorrectness(
        baseline_right=np.array([True, True, False, True, False]),
        candidate_right=np.array([False, False, True, False, True]),
        group=np.array([0, -1, 1, 2, 1]),
        ids=["b0", "b1", "b2", "b3", "b4"],
        groups=["cat", "dog"],
    )
    f = build_flips(units)
    assert (f.n_negative, f.n_positive) == (1, 2)
    assert f.negative_ids == ["b0"] and f.positive_ids == ["b2", "b4"]
    assert {c: (v.n, v.negative, v.positive) for c, v in f.per_class.items()} == {
        "cat": (1, 1, 0),
        "dog": (2, 0, 2),
    }
    assert by_count(f, "positive") == {"dog": 2} and by_count(f, "negative") == {"cat": 1}


def test_by_count_is_largest_first_with_ties_in_class_order() -> None:
    units = UnitCorrectness(
        baseline_right=np.ones(6, dtype=bool),
        candidate_right=np.zeros(6, dtype=bool),
        group=np.array([2, 0, 2, 1, 0, 2]),
        ids=list(range(6)),
        groups=["x", "y", "z", "w"],
    )
    assert list(by_count(build_flips(units), "negative").items()) == [("z", 3), ("x", 2), ("y", 1)]


def test_detection_boxes_match_a_crosstab_and_the_errors_stage_lists_the_same_boxes(tmp_path: Path) -> None:
    from evalaction.detection.stages import _errors_result, _operating, box_correctness
    from tests.unit.detection_cases import random_case, write_case

    doc, dets = random_case(3, n_images=40)
    _, _, gt = write_case(tmp_path, doc, dets)
    rng = np.random.default_rng(3)
    # two detectors that each miss a different part of the detections
    base_dets, cand_dets = ([d for d in dets if rng.random() < keep] for keep in (0.6, 0.75))
    base, cand = _operating(gt, base_dets, 0.3), _operating(gt, cand_dets, 0.3)
    units = box_correctness(gt, base[1], cand[1])
    f = build_flips(units, max_listed=1000)

    names = {c["id"]: c["name"] for c in doc["categories"]}
    frame = pd.DataFrame(
        {
            "cls": [names[a["category_id"]] for a in gt.annotations],
            "crowd": [bool(a["iscrowd"]) for a in gt.annotations],
            "b": [s == "tp" for s in base[1].gt_status],
            "c": [s == "tp" for s in cand[1].gt_status],
        }
    )
    assert frame.crowd.any()  # the case has crowd boxes, which count nowhere
    frame = frame[~frame.crowd]
    kind = np.select([frame.b & ~frame.c, ~frame.b & frame.c], ["negative", "positive"], "same")
    table = pd.crosstab(frame.cls, kind)
    for name in gt.class_names:
        row = table.loc[name]
        got = f.per_class[name]
        assert (got.n, got.negative, got.positive) == (row.sum(), row.get("negative", 0), row.get("positive", 0))
    assert f.n_negative == int((kind == "negative").sum()) > 0 and f.n_positive == int((kind == "positive").sum())

    errors = _errors_result(gt, cand, base, (f, units))
    assert (errors.n_negative_flips, errors.n_positive_flips) == (f.n_negative, f.n_positive)
    listed = [e.id for e in errors.negative_flips]
    assert len(listed) == min(f.n_negative, 20) and set(listed) <= set(f.negative_ids)
    confidence = [e.baseline_confidence or 0.0 for e in errors.negative_flips]
    assert confidence == sorted(confidence, reverse=True)  # the baseline's most confident first

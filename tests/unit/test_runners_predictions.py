"""Bring-your-own predictions: joined to the test set by id; every id problem reported in one line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evalaction.exceptions import CannotLoadModel
from evalaction.plan import ModelSpec
from evalaction.runners.base import to_scores
from evalaction.runners.factory import open_runner

CLASSES = ["cat", "dog", "eel"]


class _Ids:
    def __init__(self, ids: list[str]) -> None:
        self.ids = np.asarray(ids, dtype=object)

    def __len__(self) -> int:
        return len(self.ids)

    def batches(self, batch_size: int):  # type: ignore[no-untyped-def]
        raise AssertionError("a predictions file needs no features")


def _scores(n: int, seed: int = 0) -> np.ndarray:
    raw = np.random.default_rng(seed).random((n, len(CLASSES)))
    return raw / raw.sum(axis=1, keepdims=True)


def _run(path: Path, ids: list[str], task: str = "multiclass", **spec_kw: object):  # type: ignore[no-untyped-def]
    runner = open_runner(ModelSpec(path=path.name, **spec_kw), path, "candidate", classes=CLASSES, task=task)
    return runner.run(_Ids(ids), batch_size=10)


def test_score_columns_are_joined_by_id_in_test_order(tmp_path: Path) -> None:
    ids = [f"s{i}" for i in range(20)]
    probs = _scores(20)
    frame = pd.DataFrame({"id": ids, **{f"score:{c}": probs[:, k] for k, c in enumerate(CLASSES)}})
    path = tmp_path / "preds.csv"
    frame.sample(frac=1.0, random_state=0).to_csv(path, index=False)  # shuffled rows
    out = _run(path, ids)
    np.testing.assert_allclose(out.scores, probs, atol=1e-12)
    assert out.warnings == [] and out.outputs is None
    spec = ModelSpec(path=path.name)
    np.testing.assert_allclose(to_scores(out.scores, spec, "multiclass", 3, "m"), probs, atol=1e-12)


def test_score_list_column_in_parquet(tmp_path: Path) -> None:
    ids = [str(i) for i in range(8)]
    probs = _scores(8, seed=1)
    path = tmp_path / "preds.parquet"
    pd.DataFrame({"id": ids[::-1], "scores": [list(r) for r in probs[::-1]]}).to_parquet(path)
    np.testing.assert_array_equal(_run(path, ids).scores, probs)


def test_labels_only_become_one_hot_with_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "labels.csv"
    pd.DataFrame({"id": ["a", "b", "c"], "pred": ["dog", "eel", "dog"]}).to_csv(path, index=False)
    out = _run(path, ["c", "b", "a"])
    np.testing.assert_array_equal(out.scores, [[0, 1, 0], [0, 0, 1], [0, 1, 0]])
    assert out.outputs == "probabilities"
    assert out.warnings == [
        "candidate predictions hold labels only: scores are one-hot, so probability metrics (roc_auc, log_loss, "
        "ece) and confidence are degenerate"
    ]


def test_regression_predictions(tmp_path: Path) -> None:
    path = tmp_path / "reg.csv"
    pd.DataFrame({"id": ["x", "y"], "pred": [1.5, -2.0]}).to_csv(path, index=False)
    runner = open_runner(ModelSpec(path=path.name), path, "candidate", classes=[], task="regression")
    np.testing.assert_array_equal(runner.run(_Ids(["y", "x"]), batch_size=1).scores, [-2.0, 1.5])


def test_every_id_problem_in_one_line(tmp_path: Path) -> None:
    test_ids = [f"t{i}" for i in range(10)]
    file_ids = ["t0", "t1", "t1", "t2", "t2", "t3", "zz1", "zz2", "t4", "t5", "t6"]  # t7..t9 missing
    path = tmp_path / "p.csv"
    pd.DataFrame({"id": file_ids, "pred": ["cat"] * len(file_ids)}).to_csv(path, index=False)
    with pytest.raises(CannotLoadModel) as err:
        _run(path, test_ids)
    assert str(err.value) == (
        "candidate predictions p.csv: 3 test ids have no prediction (t7, t8, t9); 2 ids appear more than once "
        "(t1, t2); 2 ids are not in the test set (zz1, zz2); write exactly one row per test id (10 ids, e.g. "
        "t0, t1, t2, ...)"
    )


def test_score_columns_must_match_the_classes(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    pd.DataFrame({"id": ["a"], "score:cat": [0.5], "score:dog": [0.5], "score:fox": [0.0]}).to_csv(
        path, index=False
    )
    with pytest.raises(CannotLoadModel) as err:
        _run(path, ["a"])
    assert str(err.value) == (
        "candidate predictions p.csv: score columns do not match the plan's classes: missing ['score:eel'], "
        "unknown ['score:fox']; write one `score:<class>` column per class of `dataset.class_names`"
    )


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (
            {"sample": ["a"], "pred": ["cat"]},
            "candidate predictions p.csv: no id column (expected `id`); found ['sample', 'pred']; add the test set's "
            "ids as `id` (row numbers 0..N-1 when the plan has no `dataset.id_column`)",
        ),
        (
            {"id": ["a"], "guess": ["cat"]},
            "candidate predictions p.csv: no scores (`score:<class>` columns or a `scores` list) and no `pred` "
            "column; found ['id', 'guess']",
        ),
        (
            {"id": ["a"], "pred": ["wolf"]},
            "candidate predictions p.csv: column 'pred' has labels outside the plan's classes (wolf); use one of "
            "['cat', 'dog', 'eel']",
        ),
    ],
    ids=["no-id", "no-scores", "unknown-label"],
)
def test_malformed_files(tmp_path: Path, frame: dict[str, list[str]], message: str) -> None:
    path = tmp_path / "p.csv"
    pd.DataFrame(frame).to_csv(path, index=False)
    with pytest.raises(CannotLoadModel) as err:
        _run(path, ["a"])
    assert str(err.value) == message


def test_unreadable_parquet(tmp_path: Path) -> None:
    path = tmp_path / "p.parquet"
    path.write_bytes(b"PAR1 not really")
    with pytest.raises(CannotLoadModel, match=r"^candidate predictions p.parquet: cannot read as Parquet \("):
        _run(path, ["a"])


def test_csv_ids_stay_text(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text("id,pred\n007,cat\n7,dog\n")
    np.testing.assert_array_equal(_run(path, ["7", "007"]).scores, [[0, 1, 0], [1, 0, 0]])

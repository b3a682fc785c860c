"""`gates.curation` in the plan: parsing, the one-line errors, and the gates the verdict applies."""

from __future__ import annotations

from pathlib import Path

import pytest

from evalaction.artifacts import DatasetCard, Leakage, PlanResult
from evalaction.exceptions import InvalidPlan
from evalaction.plan import load_plan, parse_plan
from evalaction.stages.plan import curation_gates, curation_next_step
from tests.conftest import VALID_PLAN


def _plan_text(curation: str, dataset_extra: str = "") -> str:
    text = VALID_PLAN.replace("  id_column: id\n", "  id_column: id\n" + dataset_extra)
    return text + "  curation:\n" + curation


def test_short_and_long_forms(plan_dir: Path) -> None:
    (plan_dir / "data" / "train.csv").write_text("id,label,f1\nz,0,9.0\n")
    text = _plan_text(
        "    leakage: 0\n    duplicates: {max: 2, blocking: false}\n    near_duplicates: {distance: 6}\n"
        "    min_class_samples: 20\n    class_balance: 0.25\n",
        "  train_path: data/train.csv\n",
    )
    (plan_dir / "evalaction.yml").write_text(text)
    cur = load_plan(plan_dir / "evalaction.yml").plan.gates.curation
    assert cur.leakage is not None and cur.leakage.max == 0 and cur.leakage.blocking
    assert cur.duplicates is not None and (cur.duplicates.max, cur.duplicates.blocking) == (2, False)
    assert cur.near_duplicates is not None and (cur.near_duplicates.max, cur.near_duplicates.distance) == (0, 6)
    assert cur.min_class_samples is not None and cur.min_class_samples.min == 20
    assert cur.class_balance is not None and cur.class_balance.min == 0.25
    assert [n for n, _ in cur.items()] == [
        "leakage",
        "duplicates",
        "near_duplicates",
        "min_class_samples",
        "class_balance",
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            _plan_text("    leakage: 0\n"),
            "evalaction.yml line 20: `gates.curation.leakage`: expected training data to check against, found "
            "none; set `dataset.train_path`, `dataset.train_split` or `dataset.train_manifest`",
        ),
        (
            _plan_text("    slice_coverage: 30\n"),
            "`gates.curation.slice_coverage`: expected slices to cover, found no `dataset.slice_columns`",
        ),
        (_plan_text("    leakge: 0\n"), "`gates.curation.leakge`: unknown key; did you mean `leakage`?"),
        (
            _plan_text("    class_balance: 1.5\n"),
            "`gates.curation.class_balance.min`: expected input should be less than or equal to 1",
        ),
        (
            _plan_text("", "  slice_values: {region: [eu]}\n"),
            "`slice_values` names 'region', which is not in `slice_columns`; add it there",
        ),
        (
            VALID_PLAN.replace(
                "  path: data/test.csv\n",
                "  roboflow: {workspace: acme, project: p, version: 1}\n  path: data/test.csv\n",
            ),
            "`dataset`: give exactly one of `path` (a local file or folder) and `roboflow`",
        ),
        (
            VALID_PLAN.replace(
                "  path: data/test.csv\n", "  roboflow: {workspace: ../etc, project: p, version: 1}\n"
            ),
            "`dataset.roboflow.workspace`: expected a URL slug",
        ),
        (
            VALID_PLAN.replace(
                "  path: data/test.csv\n", "  roboflow: {workspace: a, project: p, version: 1, format: yolov8}\n"
            ),
            "`dataset.roboflow.format`: expected one of 'folder' or 'coco', found 'yolov8'",
        ),
    ],
)
def test_bad_curation_plans_get_one_line(plan_dir: Path, text: str, message: str) -> None:
    (plan_dir / "evalaction.yml").write_text(text)
    with pytest.raises(InvalidPlan) as err:
        load_plan(plan_dir / "evalaction.yml")
    assert message in str(err.value) and "\n" not in str(err.value)


def test_regression_refuses_class_gates() -> None:
    text = (
        VALID_PLAN.replace("task: multiclass", "task: regression")
        .replace("  primary: accuracy\n  compute: [macro_f1]\n", "  primary: mae\n")
        .replace('    accuracy: ">= 0.9"\n', '    mae: "<= 1"\n')
    )
    with pytest.raises(InvalidPlan, match="`gates.curation.min_class_samples`: expected a classification task"):
        parse_plan(text + "  curation:\n    min_class_samples: 5\n", Path("evalaction.yml"))


def test_roboflow_plan_needs_no_local_path(plan_dir: Path) -> None:
    text = VALID_PLAN.replace(
        "  path: data/test.csv\n", "  roboflow: {workspace: acme, project: flowers, version: 3, format: coco}\n"
    )
    (plan_dir / "evalaction.yml").write_text(text)
    ds = load_plan(plan_dir / "evalaction.yml").plan.dataset
    assert ds.roboflow is not None and ds.roboflow.split == "test" and ds.resolved_format == "coco"
    assert ds.display == "roboflow acme/flowers/3/coco (test)"


def _card(**kw: object) -> DatasetCard:
    base: dict[str, object] = dict(
        source="t.csv",
        format="csv",
        n_samples=100,
        n_features=4,
        classes=["a", "b", "c"],
        class_counts={"a": 60, "b": 30, "c": 10},
        duplicate_samples=0,
        duplicate_ids=0,
        labels_outside_classes={},
        missing_values=0,
        fingerprint="0" * 64,
        smallest_class=("c", 10),
        class_balance=10 / 60,
        slices={"region": {"eu": 70, "us": 30}},
        slice_coverage={"region": {"eu": 70, "us": 30, "apac": 0}},
    )
    base.update(kw)
    return DatasetCard(**base)  # type: ignore[arg-type]


def _result(plan_dir: Path, curation: str, card: DatasetCard, extra: str = "") -> PlanResult:
    (plan_dir / "data" / "train.csv").write_text("id,label,f1\nz,0,9.0\n")
    text = _plan_text(curation, "  train_path: data/train.csv\n  slice_columns: [f1]\n" + extra)
    (plan_dir / "evalaction.yml").write_text(text)
    loaded = load_plan(plan_dir / "evalaction.yml")
    return PlanResult(plan=loaded.plan, plan_path="p", base_dir=".", dataset=card)


def test_gates_on_a_card_with_known_answers(plan_dir: Path) -> None:
    card = _card(
        leakage=Leakage(n=3, by_content=3, by_id=1, sources=["training data"], examples=["s1", "s7", "s9"]),
        duplicate_samples=2,
        duplicate_groups=[["s2", "s5"], ["s3", "s8"]],
        labels_outside_classes={"z": 4},
        missing_labels=1,
    )
    gates = curation_gates(
        _result(
            plan_dir,
            "    leakage: {max: 0}\n    duplicates: {max: 2}\n    near_duplicates: {max: 0, blocking: false}\n"
            "    labels_outside_classes: 0\n    missing_labels: {max: 0, blocking: false}\n"
            "    min_class_samples: 20\n    class_balance: 0.1\n    slice_coverage: 25\n",
            card,
        )
    )
    by = {g.name: g for g in gates}
    assert [g.kind for g in gates] == ["curation"] * 8
    assert (by["leakage"].status, by["leakage"].observed, by["leakage"].blocking) == ("fail", 3.0, True)
    assert by["leakage"].reason == (
        "leakage: 3 test samples also in the training data (by content 3, by id 1, e.g. s1, s7, s9) "
        "(over the maximum 0)"
    )
    assert by["duplicates"].status == "pass" and "e.g. s5, s8" in by["duplicates"].reason
    assert by["near_duplicates"].status == "skipped" and "not an image test set" in by["near_duplicates"].reason
    assert by["labels_outside_classes"].status == "fail" and "(z)" in by["labels_outside_classes"].reason
    assert by["missing_labels"].status == "fail" and not by["missing_labels"].blocking
    assert by["min_class_samples"].status == "fail" and by["min_class_samples"].observed == 10
    assert "the smallest class `c` has 10 samples" in by["min_class_samples"].reason
    assert by["class_balance"].status == "pass" and by["class_balance"].observed == pytest.approx(1 / 6)
    assert by["slice_coverage"].status == "fail" and by["slice_coverage"].observed == 0
    assert "region=apac (0)" in by["slice_coverage"].reason
    assert "remove the leaking samples" in curation_next_step(by["leakage"])


def test_clean_card_passes(plan_dir: Path) -> None:
    card = _card(leakage=Leakage(n=0, by_content=0, by_id=0, sources=["training data"]))
    gates = curation_gates(
        _result(plan_dir, "    leakage: 0\n    duplicates: 0\n    min_class_samples: 10\n", card)
    )
    assert [(g.name, g.status) for g in gates] == [
        ("leakage", "pass"),
        ("duplicates", "pass"),
        ("min_class_samples", "pass"),
    ]

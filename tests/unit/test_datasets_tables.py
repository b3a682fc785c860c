"""CSV, Parquet and .npz readers: values match pandas/numpy reading the same file, across chunk boundaries."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evalaction.datasets import tabular
from evalaction.datasets.base import ReadOptions
from evalaction.datasets.load import load_plan_datasets, read_options_for
from evalaction.datasets.tabular import read_table
from evalaction.exceptions import InvalidDataset, InvalidPlan
from evalaction.plan import DatasetSpec, load_plan
from evalaction.stages.plan import dataset_fingerprint


def _frame(n: int = 50, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "id": [f"s{i:03d}" for i in range(n)],
            "label": rng.integers(0, 3, n),
            "region": rng.choice(["eu", "us"], n),
            "f_int": rng.integers(-5, 5, n),
            "f_float": rng.normal(size=n).round(6),
            "f_small": (rng.normal(size=n) * 1e-3),
        }
    )


SPEC = DatasetSpec(path="x", id_column="id", slice_columns=["region"])


@pytest.fixture(params=["csv", "parquet"])
def table(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Path, str, pd.DataFrame]:
    frame = _frame()
    path = tmp_path / f"t.{request.param}"
    frame.to_csv(path, index=False) if request.param == "csv" else frame.to_parquet(path)
    return path, request.param, frame


def test_reader_matches_pandas_across_chunks(table, monkeypatch: pytest.MonkeyPatch) -> None:
    path, fmt, _ = table
    reference = pd.read_csv(path) if fmt == "csv" else pd.read_parquet(path)
    monkeypatch.setattr(tabular, "CHUNK_ROWS", 7)  # 50 rows -> 8 chunks
    ds = read_table(path, SPEC, fmt, "multiclass")
    feats = ["f_int", "f_float", "f_small"]
    assert ds.features.dtype == np.float64
    np.testing.assert_array_equal(ds.features, reference[feats].to_numpy(np.float64))
    assert list(ds.ids) == list(reference["id"])
    assert list(ds.slices["region"]) == list(reference["region"])
    assert ds.classes == ["0", "1", "2"] and list(ds.y) == list(reference["label"])
    assert ds.has_ids and ds.missing_values == 0 and ds.missing_labels == 0
    # the same hashes whatever the chunking
    monkeypatch.setattr(tabular, "CHUNK_ROWS", 65_536)
    whole = read_table(path, SPEC, fmt, "multiclass")
    assert (whole.hashes() == ds.hashes()).all() and whole.digest() == ds.digest()


def test_csv_and_parquet_of_one_table_share_the_fingerprint(tmp_path: Path) -> None:
    frame = _frame()
    frame.to_csv(tmp_path / "t.csv", index=False)
    frame.to_parquet(tmp_path / "t.parquet")
    a = read_table(tmp_path / "t.csv", SPEC, "csv", "multiclass")
    b = read_table(tmp_path / "t.parquet", SPEC, "parquet", "multiclass", ReadOptions(float32=True))
    assert b.features.dtype == np.float32
    assert dataset_fingerprint(a) == dataset_fingerprint(b)  # content hashed before the float32 cast
    changed = frame.copy()
    changed.loc[3, "f_float"] += 1e-9
    changed.to_parquet(tmp_path / "c.parquet")
    c = read_table(tmp_path / "c.parquet", SPEC, "parquet", "multiclass")
    assert dataset_fingerprint(c) != dataset_fingerprint(b)


def test_csv_types_fixed_across_blocks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A feature that looks integer in the first block and fractional later, a label column that only later
    shows a missing value: pyarrow infers types per block, so the reader fixes them up front."""
    rows = ["id,label,f"] + [f"r{i},{i % 2},{i}" for i in range(400)] + ["r400,,0.5", "r401,1,"]
    (tmp_path / "t.csv").write_text("\n".join(rows) + "\n")
    monkeypatch.setattr(tabular, "CSV_BLOCK_BYTES", 256)
    ds = read_table(tmp_path / "t.csv", DatasetSpec(path="x", id_column="id"), "csv", "binary")
    ref = pd.read_csv(tmp_path / "t.csv")
    np.testing.assert_array_equal(ds.features[:, 0], ref["f"].to_numpy(np.float64))
    assert ds.missing_labels == 1 and ds.missing_values == 2 and ds.y[400] == -1
    assert ds.classes == ["0", "1"]


def test_float32_only_when_exact_for_every_model(demo_dir: Path) -> None:
    loaded = load_plan(demo_dir / "evalaction.yml")
    assert read_options_for(loaded.plan).float32 is False  # the demo scales by 1/16: float64 keeps it exact
    plan = loaded.plan.model_copy(deep=True)
    for spec in (plan.models.candidate, plan.models.baseline):
        object.__setattr__(spec.preprocessing, "scale", 1.0)
    assert read_options_for(plan).float32 is True


def test_a_table_train_set_keeps_its_features_for_the_distance_check(demo_dir: Path) -> None:
    """Read once by the plan stage (hashes for leakage, features for the errors stage's k-NN), as pandas reads it."""
    import pandas as pd

    loaded = load_plan(demo_dir / "evalaction.yml")
    test, train = load_plan_datasets(loaded)
    assert train is not None and train.features.shape == (len(train), 64)
    frame = pd.read_csv(demo_dir / loaded.plan.dataset.train_path)
    np.testing.assert_array_equal(train.features, frame[train.feature_names].to_numpy(dtype=train.features.dtype))
    assert len(train.hashes()) == len(train) == 1437 and test.features.shape == (360, 64)


def test_label_text_normalization(tmp_path: Path) -> None:
    (tmp_path / "n.csv").write_text("label,f\n7.0,1\n07,2\n3,3\n")
    (tmp_path / "s.csv").write_text("label,f\ncat,1\n07,2\n,3\n")
    n = read_table(tmp_path / "n.csv", DatasetSpec(path="x"), "csv", "multiclass")
    assert list(n.raw_labels) == ["7", "7", "3"]  # numeric labels read like pandas reads them
    s = read_table(tmp_path / "s.csv", DatasetSpec(path="x"), "csv", "multiclass")
    assert list(s.raw_labels) == ["cat", "07", ""] and s.missing_labels == 1 and not s.has_ids


def test_regression_targets(table) -> None:
    path, fmt, frame = table
    spec = DatasetSpec(path="x", label_column="f_float", id_column="id", slice_columns=["region"])
    ds = read_table(path, spec, fmt, "regression")
    np.testing.assert_allclose(ds.y, frame["f_float"].to_numpy())
    assert ds.classes == [] and ds.features.shape == (50, 3)  # label, f_int, f_small


@pytest.mark.parametrize(
    ("text", "spec", "message"),
    [
        ("label,f\na,x\n", DatasetSpec(path="x"), "t.csv: feature column 'f' is not numeric (found string)"),
        ("label,f\n", DatasetSpec(path="x"), "t.csv: expected at least one sample, found an empty table"),
        (
            "label,f\n1,2\n",
            DatasetSpec(path="x", id_column="key"),
            "t.csv: `dataset.id_column` 'key' is not a column",
        ),
        ("label,f\n1,2\n", DatasetSpec(path="x", feature_columns=["g*"]), "pattern 'g*' matches no column"),
    ],
)
def test_bad_tables_get_one_line(tmp_path: Path, text: str, spec: DatasetSpec, message: str) -> None:
    (tmp_path / "t.csv").write_text(text)
    with pytest.raises(InvalidDataset) as err:
        read_table(tmp_path / "t.csv", spec, "csv", "multiclass")
    assert message in str(err.value) and "\n" not in str(err.value)


def test_late_text_in_a_feature_column_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "t.csv").write_text("label,f\n" + "1,2\n" * 300 + "1,oops\n")
    monkeypatch.setattr(tabular, "CSV_BLOCK_BYTES", 128)
    with pytest.raises(
        InvalidDataset, match=r"t.csv: cannot read as csv \(.*column #1.*\); fix the named column"
    ) as err:
        read_table(tmp_path / "t.csv", DatasetSpec(path="x"), "csv", "multiclass")
    assert "oops" not in str(err.value)  # the cell's text is never quoted (issue 14)


def test_npz_reader_hashes_and_float32(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    x = rng.integers(0, 16, (20, 2, 3)).astype(np.int64)
    np.savez(tmp_path / "d.npz", x=x, label=rng.integers(0, 2, 20), id=np.arange(20) + 100)
    spec = DatasetSpec(path="d.npz", id_column="id")
    from evalaction.datasets.arrays import read_arrays

    a = read_arrays(tmp_path / "d.npz", spec, "npz", "binary")
    b = read_arrays(tmp_path / "d.npz", spec, "npz", "binary", ReadOptions(float32=True))
    np.testing.assert_array_equal(a.features, x.reshape(20, -1))
    assert b.features.dtype == np.float32 and a.digest() == b.digest() and a.has_ids
    assert list(a.ids[:2]) == ["100", "101"]


def test_baseline_with_other_image_size_is_refused(plan_dir: Path) -> None:
    text = (plan_dir / "evalaction.yml").read_text()
    text = text.replace(
        "    outputs: logits\n", "    outputs: logits\n    preprocessing: {image_size: [8, 8]}\n", 1
    )
    (plan_dir / "evalaction.yml").write_text(text)
    with pytest.raises(InvalidPlan, match="models.baseline.preprocessing.*same image_size"):
        read_options_for(load_plan(plan_dir / "evalaction.yml").plan)

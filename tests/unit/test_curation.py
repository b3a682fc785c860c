"""Curation checks on constructed data with known answers, checked against independent references
(pandas `duplicated`, brute-force Hamming distances, scipy's connected components, collections.Counter)."""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from evalaction.datasets import curation, hashing
from evalaction.datasets.base import Dataset, ReadOptions, encode_labels
from evalaction.datasets.images import read_image_folder
from evalaction.plan import DatasetSpec
from evalaction.stages.plan import dataset_card, dataset_fingerprint


def make(
    x: np.ndarray,
    labels: list[object],
    ids: list[str] | None = None,
    classes: list[str] | None = None,
    slices: dict[str, list[str]] | None = None,
    has_ids: bool = True,
) -> Dataset:
    raw = np.array(labels, dtype=object)
    y, cls = encode_labels(raw, classes, "multiclass", "t")
    return Dataset(
        source=Path("t.csv"),
        format="csv",
        ids=np.array(ids or [str(i) for i in range(len(x))], dtype=object),
        raw_labels=raw,
        y=y,
        classes=cls,
        features=np.asarray(x),
        slices={k: np.array(v, dtype=object) for k, v in (slices or {}).items()},
        missing_labels=sum(1 for v in labels if v in ("", None)),
        has_ids=has_ids,
    )


def test_exact_duplicates_match_pandas() -> None:
    rng = np.random.default_rng(0)
    base = rng.integers(0, 4, (40, 3)).astype(float)  # small alphabet: many duplicates
    ds = make(base, [0] * 40)
    groups = curation.duplicate_groups(ds)
    expected = int(pd.DataFrame(base).duplicated(keep="first").sum())
    assert curation.extra_members(groups) == expected > 0
    for g in groups:  # each group really is equal rows, and first-seen order holds
        assert all(np.array_equal(base[g[0]], base[i]) for i in g) and g == sorted(g)
    firsts = [g[0] for g in groups]
    assert firsts == sorted(firsts)


def test_equal_values_hash_equal_whatever_the_dtype() -> None:
    a = make(np.array([[0.0, 1.0], [-0.0, 1.0]]), [0, 0])
    assert curation.extra_members(curation.duplicate_groups(a)) == 1  # -0.0 == 0.0
    b = make(np.array([[0, 1], [0, 1]], dtype=np.int64), [0, 0])
    c = make(np.array([[0, 1], [0, 1]], dtype=np.float32), [0, 0])
    assert (b.hashes() == c.hashes()).all() and b.digest() == c.digest()


def _brute_pairs(values: np.ndarray, d: int) -> set[tuple[int, int]]:
    ints = [int(v) for v in values]
    return {
        (i, j) for i in range(len(ints)) for j in range(i + 1, len(ints)) if bin(ints[i] ^ ints[j]).count("1") <= d
    }


def _planted(n: int, seed: int) -> np.ndarray:
    """Random 64-bit hashes plus near copies at known distances (1..8 bits flipped)."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 2**63, n, dtype=np.int64).astype(np.uint64) * np.uint64(2) + rng.integers(
        0, 2, n
    ).astype(np.uint64)
    copies = []
    for k in range(n // 3):
        flips = rng.choice(64, size=int(rng.integers(0, 9)), replace=False)
        v = int(base[k])
        for f in flips:
            v ^= 1 << int(f)
        copies.append(v)
    return np.concatenate([base, np.array(copies, dtype=np.uint64)])


@pytest.mark.parametrize("d", [1, 3, 4, 6])
def test_close_pairs_equal_brute_force(d: int) -> None:
    values = np.unique(_planted(150, d))
    assert hashing.close_pairs(values, d) == _brute_pairs(values, d)


@pytest.mark.parametrize("d", [0, 2, 4])
def test_near_duplicate_groups_are_connected_components(d: int) -> None:
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    values = _planted(120, 10 + d)
    values = np.concatenate([values, values[:5]])  # exact repeats too
    pairs = _brute_pairs(values, d)
    n = len(values)
    rows, cols = zip(*pairs, strict=True) if pairs else ((), ())
    graph = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n))
    _, label = connected_components(graph, directed=False)
    expected = sorted(
        (sorted(np.flatnonzero(label == c).tolist()) for c in np.unique(label) if (label == c).sum() > 1),
        key=lambda g: g[0],
    )
    assert hashing.near_duplicate_groups(values, d) == expected


@pytest.mark.parametrize("d", [0, 3, 5])
def test_near_matches_equal_brute_force(d: int) -> None:
    values = _planted(200, 30 + d)
    query, ref = values[::2], values[1::2]
    ints = [int(r) for r in ref]
    expected = [any(bin(int(q) ^ r).count("1") <= d for r in ints) for q in query]
    assert hashing.near_matches(query, ref, d).tolist() == expected


def test_popcount_fallback_matches_python(monkeypatch: pytest.MonkeyPatch) -> None:
    values = _planted(50, 3)
    expected = [bin(int(v)).count("1") for v in values]
    assert hashing.popcount64(values).tolist() == expected
    monkeypatch.delattr(np, "bitwise_count", raising=False)  # numpy < 2.0 path
    assert hashing.popcount64(values).tolist() == expected


def test_leakage_by_content_and_by_id() -> None:
    rng = np.random.default_rng(1)
    train_x = rng.normal(size=(30, 4))
    test_x = rng.normal(size=(10, 4))
    test_x[[1, 4, 7]] = train_x[[0, 5, 9]]  # three test rows copied from training, under new ids
    test_ids = [f"t{i}" for i in range(10)]
    train_ids = [f"r{i}" for i in range(30)]
    train_ids[12], train_ids[20] = "t2", "t7"  # two ids reused (t7 also leaks by content)
    test = make(test_x, [0] * 10, ids=test_ids)
    train = make(train_x, [0] * 30, ids=train_ids)
    lk = curation.find_leakage(test, train, None, 4)
    assert lk is not None and (lk.by_content, lk.by_id, lk.n) == (3, 2, 4)
    assert lk.examples == ["t1", "t2", "t4", "t7"] and lk.near is None
    # row-number ids say nothing across files: not compared
    plain = make(test_x, [0] * 10, has_ids=False)
    assert curation.find_leakage(plain, train, None, 4).by_id == 0  # type: ignore[union-attr]
    assert curation.find_leakage(test, None, None, 4) is None


def test_manifest_of_ids_and_sha256sum_output(tmp_path: Path) -> None:
    imgs = tmp_path / "test" / "a"
    rng = np.random.default_rng(2)
    files = []
    for i in range(4):
        f = imgs / f"{i}.png"
        f.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (8, 8), dtype=np.uint8)).save(f)
        files.append(f)
    digest = hashlib.sha256(files[2].read_bytes()).hexdigest()
    manifest_file = tmp_path / "train.txt"
    manifest_file.write_text(f"# training set\n{digest}  train/a/x.png\na/3.png\n\nother-id\n")
    manifest = curation.read_manifest(manifest_file)
    assert manifest.sha256 == {digest} and manifest.ids == {"a/3.png", "other-id"}
    ds = read_image_folder(tmp_path / "test", DatasetSpec(path="x"), "multiclass")
    lk = curation.find_leakage(ds, None, manifest, 4)
    assert lk is not None and (lk.by_content, lk.by_id, lk.n) == (1, 1, 2)
    assert lk.examples == ["a/2.png", "a/3.png"]


def test_near_leakage_between_image_folders(tmp_path: Path) -> None:
    yy, xx = np.mgrid[0:32, 0:32]
    rng = np.random.default_rng(5)
    smooth = [((xx * (k + 1) + yy * (3 - k)) * 4 % 256).astype(np.uint8) for k in range(3)]
    for k, arr in enumerate(smooth):
        Image.fromarray(arr).save(_mk(tmp_path / "train" / "c" / f"{k}.png"))
    brighter = np.clip(smooth[1].astype(int) + 3, 0, 255).astype(np.uint8)  # same picture, re-exposed
    Image.fromarray(brighter).save(_mk(tmp_path / "test" / "c" / "near.png"))
    Image.fromarray(smooth[0]).save(_mk(tmp_path / "test" / "c" / "exact.png"))
    Image.fromarray(rng.integers(0, 256, (32, 32), dtype=np.uint8)).save(_mk(tmp_path / "test" / "c" / "new.png"))
    test = read_image_folder(tmp_path / "test", DatasetSpec(path="x"), "multiclass")
    train = read_image_folder(tmp_path / "train", DatasetSpec(path="x"), "multiclass", ReadOptions(features=False))
    lk = curation.find_leakage(test, train, None, 4)
    assert lk is not None and lk.n == 1 and lk.examples == ["c/exact.png"] and lk.near == 1
    # same relative paths, different pictures: not a leak (image ids are paths inside their own folder)
    Image.fromarray(rng.integers(0, 256, (32, 32), dtype=np.uint8)).save(_mk(tmp_path / "other" / "c" / "new.png"))
    other = read_image_folder(tmp_path / "other", DatasetSpec(path="x"), "multiclass", ReadOptions(features=False))
    assert curation.find_leakage(test, other, None, 4).n == 0  # type: ignore[union-attr]


def _mk(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def test_labels_classes_balance_and_slices() -> None:
    labels = ["a"] * 6 + ["b"] * 3 + ["c"] * 1 + ["z"] * 2 + [""] * 2
    region = ["eu"] * 10 + ["us"] * 4
    ds = make(np.arange(14.0)[:, None], labels, classes=["a", "b", "c", "d"], slices={"region": region})
    counts = curation.class_counts(ds)
    reference = Counter(v for v in labels if v in {"a", "b", "c", "d"})
    assert counts == {c: reference.get(c, 0) for c in ["a", "b", "c", "d"]}
    assert curation.class_balance(counts) == (0.0, ("d", 0))
    assert curation.class_balance({"a": 6, "b": 3}) == (0.5, ("b", 3))
    card = dataset_card(ds, "multiclass", slice_values={"region": ["eu", "us", "apac"]})
    assert card.labels_outside_classes == {"z": 2} and card.missing_labels == 2
    assert card.classes_absent == ["d"] and card.smallest_class == ("d", 0)
    assert card.slice_coverage == {"region": {"eu": 10, "us": 4, "apac": 0}}
    assert card.slices == {"region": {"eu": 10, "us": 4}}
    assert any("no sample of apac" in w for w in card.warnings)
    assert any("2 samples have no label" in w for w in card.warnings)


def test_card_duplicates_near_duplicates_and_fingerprint(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    arr = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    for name, a in (("0", arr), ("1", arr), ("2", np.clip(arr.astype(int) + 2, 0, 255).astype(np.uint8))):
        Image.fromarray(a).save(_mk(tmp_path / "c" / f"{name}.png"))
    Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(_mk(tmp_path / "c" / "3.png"))
    ds = read_image_folder(tmp_path, DatasetSpec(path="x"), "multiclass")
    card = dataset_card(ds, "multiclass")
    assert card.duplicate_samples == 1 and card.duplicate_groups == [["c/0.png", "c/1.png"]]
    assert card.near_duplicate_samples == 2 and card.near_duplicate_groups == [["c/0.png", "c/1.png", "c/2.png"]]
    assert card.near_duplicate_distance == 4
    # the fingerprint follows ids, labels and content
    assert card.fingerprint == dataset_fingerprint(ds)
    ds.raw_labels = np.array(["c", "c", "c", "d"], dtype=object)
    assert dataset_fingerprint(ds) != card.fingerprint
    tables = dataset_card(make(np.ones((3, 2)), [0, 1, 1]), "multiclass")
    assert tables.near_duplicate_samples is None and tables.duplicate_samples == 2

"""Image folders (Roboflow `folder` layout with splits) and COCO JSON: labels, splits, decoding, hashes."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from evalaction.datasets.base import ReadOptions
from evalaction.datasets.coco import read_coco, read_coco_json
from evalaction.datasets.hashing import dhash
from evalaction.datasets.images import read_image_folder
from evalaction.exceptions import InvalidDataset
from evalaction.plan import DatasetSpec

SPEC = DatasetSpec(path="x")


def _save(path: Path, arr: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)
    return path


def _rgb(seed: int, h: int = 6, w: int = 5) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


@pytest.fixture
def folder_export(tmp_path: Path) -> Path:
    """train/valid/test, two classes each, like Roboflow's `folder` export."""
    root = tmp_path / "export"
    seed = 0
    for split, n in (("train", 3), ("valid", 1), ("test", 2)):
        for cls in ("cat", "dog"):
            for i in range(n):
                seed += 1
                _save(root / split / cls / f"{cls}{i}_jpg.rf.{seed:08x}.png", _rgb(seed))
    (root / "README.roboflow.txt").write_text("exported\n")
    return root


def test_folder_export_defaults_to_test_split(folder_export: Path) -> None:
    ds = read_image_folder(folder_export, SPEC, "multiclass")
    assert ds.split == "test" and ds.classes == ["cat", "dog"] and list(ds.y) == [0, 0, 1, 1]
    assert [i.split("/")[0] for i in ds.ids] == ["cat", "cat", "dog", "dog"]
    valid = read_image_folder(folder_export, SPEC, "multiclass", ReadOptions(split="valid"))
    assert valid.split == "valid" and len(valid) == 2
    with pytest.raises(
        InvalidDataset, match=r"expected a `holdout` split folder, found \['test', 'train', 'valid'\]"
    ):
        read_image_folder(folder_export, SPEC, "multiclass", ReadOptions(split="holdout"))
    direct = read_image_folder(folder_export / "train", SPEC, "multiclass")  # a plain class folder
    assert direct.split is None and len(direct) == 6


def test_rgb_channel_first_and_file_hashes(tmp_path: Path) -> None:
    arrs = [_rgb(1), _rgb(2)]
    files = [_save(tmp_path / "a" / f"{i}.png", a) for i, a in enumerate(arrs)]
    ds = read_image_folder(tmp_path, SPEC, "multiclass")
    assert ds.features.dtype == np.uint8 and ds.features.shape == (2, 3 * 6 * 5)
    for row, arr in zip(ds.features, arrs, strict=True):
        np.testing.assert_array_equal(row.reshape(3, 6, 5), arr.transpose(2, 0, 1))
    assert list(ds.content_sha256) == [hashlib.sha256(f.read_bytes()).hexdigest() for f in files]


def test_grayscale_and_resize_match_pil(tmp_path: Path) -> None:
    arr = _rgb(3, 12, 10)
    f = _save(tmp_path / "a" / "0.png", arr)
    ds = read_image_folder(tmp_path, SPEC, "multiclass", ReadOptions(grayscale=True, image_size=(4, 7)))
    expected = np.asarray(Image.open(f).convert("L").resize((7, 4), Image.Resampling.BILINEAR))
    assert ds.features.shape == (1, 28)
    np.testing.assert_array_equal(ds.features[0].reshape(4, 7), expected)


def test_mixed_sizes_need_image_size(tmp_path: Path) -> None:
    _save(tmp_path / "a" / "0.png", _rgb(1, 6, 5))
    _save(tmp_path / "a" / "1.png", _rgb(2, 8, 5))
    with pytest.raises(
        InvalidDataset, match=r"1.png: expected 5x6 pixels like 0.png, found 5x8; set `preprocessing.image_size"
    ):
        read_image_folder(tmp_path, SPEC, "multiclass")
    ds = read_image_folder(tmp_path, SPEC, "multiclass", ReadOptions(image_size=(6, 5)))
    assert ds.features.shape == (2, 90)
    # without features (a training folder read for leakage) sizes do not matter
    assert read_image_folder(tmp_path, SPEC, "multiclass", ReadOptions(features=False)).features.shape == (2, 0)


def test_broken_image_is_named(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "bad.png").write_bytes(b"not a png")
    with pytest.raises(InvalidDataset, match=r"bad.png: cannot read as an image .*remove or replace the file"):
        read_image_folder(tmp_path, SPEC, "multiclass")


def test_dhash_matches_imagehash() -> None:
    imagehash = pytest.importorskip("imagehash")
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:40, 0:50]
    images = [Image.fromarray(rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)) for _ in range(20)]
    images.append(Image.fromarray(((xx * 5 + yy * 2) % 256).astype(np.uint8)))  # a gradient, grayscale
    images.append(Image.fromarray(rng.integers(0, 256, (64, 64, 4), dtype=np.uint8), "RGBA"))
    for img in images:
        assert dhash(img) == int(str(imagehash.dhash(img)), 16)


def _coco(
    tmp_path: Path, images: list[dict], annotations: list[dict], categories: list[dict] | None = None
) -> Path:
    split = tmp_path / "export" / "test"
    split.mkdir(parents=True, exist_ok=True)
    for k, im in enumerate(images):
        _save(split / im["file_name"], _rgb(10 + k))
    cats = categories or [
        {"id": 0, "name": "pets", "supercategory": "none"},
        {"id": 1, "name": "cat", "supercategory": "pets"},
        {"id": 2, "name": "dog", "supercategory": "pets"},
    ]
    doc = {"info": {}, "licenses": [], "categories": cats, "images": images, "annotations": annotations}
    (split / "_annotations.coco.json").write_text(json.dumps(doc))
    return tmp_path / "export"


def _img(i: int, **extra: object) -> dict:
    return {"id": i, "file_name": f"img{i}.png", "height": 6, "width": 5, **extra}


def test_coco_labels_from_annotations_and_image_level(tmp_path: Path) -> None:
    root = _coco(
        tmp_path,
        images=[_img(0), _img(1), _img(2, category_id=1), _img(3), _img(4, extra={"site": "b"}, site="a")],
        annotations=[
            {"id": 0, "image_id": 0, "category_id": 2, "bbox": [0, 0, 5, 6]},
            {"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 2, 2]},
            {"id": 2, "image_id": 1, "category_id": 1, "bbox": [2, 2, 2, 2]},  # two boxes, one class
            {"id": 3, "image_id": 3, "category_id": 1, "bbox": [0, 0, 2, 2]},
            {"id": 4, "image_id": 3, "category_id": 2, "bbox": [2, 2, 2, 2]},  # two classes: ambiguous
        ],
    )
    ds = read_coco(root, SPEC, "multiclass")
    assert ds.split == "test" and ds.classes == ["cat", "dog"]  # placeholder `pets` left out
    assert list(ds.raw_labels) == ["dog", "cat", "cat", "cat|dog", ""]
    assert list(ds.y) == [1, 0, 0, -1, -1] and ds.missing_labels == 1
    assert list(ds.ids) == [f"img{i}.png" for i in range(5)]
    assert ds.features.shape == (5, 90) and ds.perceptual_hashes is not None
    sliced = read_coco(root, DatasetSpec(path="x", slice_columns=["site"]), "multiclass")
    assert list(sliced.slices["site"]) == ["None", "None", "None", "None", "a"]
    # the annotation file itself works as the path too
    again = read_coco(root / "test" / "_annotations.coco.json", SPEC, "multiclass")
    assert list(again.raw_labels) == list(ds.raw_labels)


def test_coco_index_is_reusable_for_boxes(tmp_path: Path) -> None:
    root = _coco(tmp_path, [_img(0)], [{"id": 0, "image_id": 0, "category_id": 1, "bbox": [1, 2, 3, 4]}])
    index = read_coco_json(root / "test" / "_annotations.coco.json")
    assert index.annotations[0][0]["bbox"] == [1, 2, 3, 4] and index.images[0].width == 5
    assert index.class_names() == ["cat", "dog"]


@pytest.mark.parametrize(
    ("images", "annotations", "message"),
    [
        (
            [_img(0)],
            [{"id": 0, "image_id": 7, "category_id": 1}],
            "annotations[0] points at image_id 7, not in `images`",
        ),
        ([_img(0)], [{"id": 0, "image_id": 0, "category_id": 9}], "names category_id 9, not in `categories`"),
        ([_img(0), _img(0)], [], "image id 0 appears twice"),
        ([{"id": 0}], [], "images[0] has no `file_name`"),
    ],
)
def test_bad_coco_gets_one_line(tmp_path: Path, images: list, annotations: list, message: str) -> None:
    split = tmp_path / "export" / "test"
    split.mkdir(parents=True)
    _save(split / "img0.png", _rgb(0))
    doc = {"categories": [{"id": 1, "name": "cat"}], "images": images, "annotations": annotations}
    (split / "_annotations.coco.json").write_text(json.dumps(doc))
    with pytest.raises(InvalidDataset) as err:
        read_coco(tmp_path / "export", SPEC, "multiclass")
    assert message in str(err.value) and "\n" not in str(err.value)


def test_coco_missing_image_and_escaping_path(tmp_path: Path) -> None:
    root = _coco(tmp_path, [_img(0)], [])
    (root / "test" / "img0.png").unlink()
    with pytest.raises(InvalidDataset, match="image 'img0.png' is listed but not in"):
        read_coco(root, SPEC, "multiclass")
    doc = json.loads((root / "test" / "_annotations.coco.json").read_text())
    doc["images"][0]["file_name"] = "../../secret.png"
    (root / "test" / "_annotations.coco.json").write_text(json.dumps(doc))
    with pytest.raises(InvalidDataset, match="leaves the export's folder"):
        read_coco(root, SPEC, "multiclass")


def test_train_split_of_the_same_export_is_checked_for_leakage(plan_dir: Path, folder_export: Path) -> None:
    import os
    import shutil

    from evalaction.datasets import load_plan_datasets
    from evalaction.plan import load_plan
    from evalaction.stages.plan import run_plan

    leaked = sorted((folder_export / "test" / "dog").iterdir())[0]
    shutil.copy(leaked, folder_export / "train" / "dog" / "copied.png")  # a test image also in train
    text = (plan_dir / "evalaction.yml").read_text()
    text = text.replace(
        "  path: data/test.csv\n", f"  path: {os.path.relpath(folder_export, plan_dir)}\n  train_split: train\n"
    )
    text = text.replace("  id_column: id\n", "")
    (plan_dir / "evalaction.yml").write_text(text + "  curation:\n    leakage: 0\n")
    loaded = load_plan(plan_dir / "evalaction.yml")
    test, train = load_plan_datasets(loaded)
    assert test.split == "test" and train is not None and train.split == "train" and len(train) == 7
    card = run_plan(loaded=loaded, dataset=test, train=train).dataset
    assert card.leakage is not None and card.leakage.n == 1 and card.leakage.examples == [f"dog/{leaked.name}"]


def test_train_split_feeds_the_ood_distance_check(plan_dir: Path, folder_export: Path) -> None:
    """Issue #17: the k-NN check said "no training set" when `train_split` named one (only train_path fed it)."""
    import os

    from evalaction.datasets import load_plan_datasets
    from evalaction.plan import load_plan
    from evalaction.stages.errors import _train_features
    from evalaction.stages.plan import run_plan

    text = (plan_dir / "evalaction.yml").read_text()
    text = text.replace(
        "  path: data/test.csv\n", f"  path: {os.path.relpath(folder_export, plan_dir)}\n  train_split: train\n"
    )
    (plan_dir / "evalaction.yml").write_text(text.replace("  id_column: id\n", ""))
    loaded = load_plan(plan_dir / "evalaction.yml")
    test, train = load_plan_datasets(loaded)
    plan = run_plan(loaded=loaded, dataset=test, train=train)
    features = _train_features(plan, train, test)
    assert features is not None and features.shape == (6, test.features.shape[1])

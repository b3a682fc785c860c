"""COCO JSON (Roboflow's `coco` export: `<split>/_annotations.coco.json` beside the split's images).

`read_coco_json` parses and checks the file into a `CocoIndex` that a detection reader can reuse; `read_coco`
turns it into a classification test set: an image's label is its image-level `category_id` when it has one,
else the one category its annotations share. An image whose annotations name several categories gets the
label `a|b` (reported as outside the class list); one with none has a missing label.

Roboflow adds a placeholder category named after the dataset, the `supercategory` of every real class and used
by no annotation; it is left out of the class list.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evalaction.datasets.base import Dataset, ReadOptions, count_missing_labels, encode_labels, safe_cause
from evalaction.exceptions import InvalidDataset

if TYPE_CHECKING:
    from evalaction.plan import DatasetSpec

ANNOTATIONS_FILE = "_annotations.coco.json"


@dataclass
class CocoImage:
    id: int | str
    file_name: str
    width: int | None
    height: int | None
    category_id: int | None  # image-level category (classification exports that carry one)
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass
class CocoIndex:
    """A parsed COCO file: images in file order, categories by id, annotations grouped by image id."""

    path: Path
    images: list[CocoImage]
    categories: dict[int, dict[str, Any]]
    annotations: dict[int | str, list[dict[str, Any]]]

    def class_names(self) -> list[str]:
        """Category names in id order, without Roboflow's placeholder parent category."""
        used = {a.get("category_id") for anns in self.annotations.values() for a in anns}
        used |= {im.category_id for im in self.images if im.category_id is not None}
        parents = {str(c.get("supercategory")) for c in self.categories.values()}
        return [
            str(c["name"])
            for cid, c in sorted(self.categories.items())
            if cid in used or str(c["name"]) not in parents
        ]

    def image_labels(self) -> list[str]:
        """One label per image (see the module docstring)."""
        labels = []
        for im in self.images:
            if im.category_id is not None:
                labels.append(self._name(im.category_id, im))
                continue
            cats = sorted({a["category_id"] for a in self.annotations.get(im.id, []) if "category_id" in a})
            labels.append("|".join(self._name(c, im) for c in cats))
        return labels

    def _name(self, cid: int, im: CocoImage) -> str:
        if cid not in self.categories:
            raise InvalidDataset(
                f"{self.path.name}: image {im.file_name!r} names category_id {cid}, not in `categories` "
                f"(ids {sorted(self.categories)[:10]}); fix the export"
            )
        return str(self.categories[cid]["name"])


def _need(obj: Any, key: str, kind: type | tuple[type, ...], where: str, path: Path) -> Any:
    if not isinstance(obj, dict) or key not in obj:
        raise InvalidDataset(f"{path.name}: {where} has no `{key}`; expected a COCO file (images, categories)")
    value = obj[key]
    if not isinstance(value, kind):
        raise InvalidDataset(
            f"{path.name}: {where} `{key}` should be {getattr(kind, '__name__', kind)}, found "
            f"{type(value).__name__}; fix the export"
        )
    return value


def read_coco_json(path: Path) -> CocoIndex:
    """Parse and check a COCO JSON file."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidDataset(
            f"{path.name}: cannot read as COCO JSON ({safe_cause(exc)}); fix or re-export the file"
        ) from None
    images_raw = _need(doc, "images", list, "the file", path)
    cats_raw = _need(doc, "categories", list, "the file", path)
    anns_raw = doc.get("annotations", []) if isinstance(doc, dict) else []
    if not isinstance(anns_raw, list):
        raise InvalidDataset(f"{path.name}: `annotations` should be a list, found {type(anns_raw).__name__}")
    categories: dict[int, dict[str, Any]] = {}
    for i, c in enumerate(cats_raw):
        cid = _need(c, "id", int, f"categories[{i}]", path)
        _need(c, "name", (str, int), f"categories[{i}]", path)
        if cid in categories:
            raise InvalidDataset(f"{path.name}: category id {cid} appears twice in `categories`; fix the export")
        categories[cid] = c
    images: list[CocoImage] = []
    seen: set[int | str] = set()
    for i, im in enumerate(images_raw):
        iid = _need(im, "id", (int, str), f"images[{i}]", path)
        name = _need(im, "file_name", str, f"images[{i}]", path)
        if iid in seen:
            raise InvalidDataset(f"{path.name}: image id {iid!r} appears twice in `images`; fix the export")
        seen.add(iid)
        cat = im.get("category_id")
        images.append(
            CocoImage(
                id=iid,
                file_name=name,
                width=im.get("width"),
                height=im.get("height"),
                category_id=cat if isinstance(cat, int) else None,
                fields=im,
            )
        )
    annotations: dict[int | str, list[dict[str, Any]]] = {}
    for i, a in enumerate(anns_raw):
        iid = _need(a, "image_id", (int, str), f"annotations[{i}]", path)
        if iid not in seen:
            raise InvalidDataset(
                f"{path.name}: annotations[{i}] points at image_id {iid!r}, not in `images`; fix the export"
            )
        annotations.setdefault(iid, []).append(a)
    return CocoIndex(path=path, images=images, categories=categories, annotations=annotations)


def find_annotations(path: Path, split: str | None) -> tuple[Path, str | None]:
    """The COCO file: `path` itself, or `<export>/<split>/_annotations.coco.json`."""
    from evalaction.datasets.images import choose_split

    if path.is_file():
        return path, split
    folder, chosen = choose_split(path, split)
    candidates = [folder / ANNOTATIONS_FILE, *sorted(folder.glob("*.json"))]
    for c in candidates:
        if c.is_file():
            return c, chosen
    raise InvalidDataset(
        f"{folder}: expected {ANNOTATIONS_FILE} (a Roboflow COCO export), found no .json file; "
        "fix `dataset.path` or `dataset.split`"
    )


def _slice_value(im: CocoImage, col: str) -> str | None:
    if col in im.fields:
        return str(im.fields[col])
    extra = im.fields.get("extra")
    if isinstance(extra, dict) and col in extra:
        return str(extra[col])
    return None


def read_coco(path: Path, spec: DatasetSpec, task: str, options: ReadOptions | None = None) -> Dataset:
    """A classification test set from a COCO file and the images beside it."""
    import numpy as np

    from evalaction.datasets.images import decode_images

    options = options or ReadOptions()
    if task == "regression":
        raise InvalidDataset(f"{path.name}: COCO files hold class labels; use a table for regression targets")
    ann_path, split = find_annotations(path, options.split)
    index = read_coco_json(ann_path)
    if not index.images:
        raise InvalidDataset(f"{ann_path}: expected at least one image, found none; fix the export")
    folder = ann_path.parent
    files = []
    for im in index.images:
        f = (folder / im.file_name).resolve()
        if folder.resolve() not in f.parents:
            raise InvalidDataset(f"{ann_path.name}: file_name {im.file_name!r} leaves the export's folder; fix it")
        if not f.is_file():
            raise InvalidDataset(
                f"{ann_path.name}: image {im.file_name!r} is listed but not in {folder}; re-download the export"
            )
        files.append(f)
    slices: dict[str, np.ndarray] = {}
    for col in spec.slice_columns:
        values = [_slice_value(im, col) for im in index.images]
        if all(v is None for v in values):
            raise InvalidDataset(
                f"{ann_path.name}: `dataset.slice_columns` names {col!r}, a field no image has; fix the plan"
            )
        slices[col] = np.array(["None" if v is None else v for v in values], dtype=object)
    decoded = decode_images(files, options)
    raw = np.array(index.image_labels(), dtype=object)
    y, classes = encode_labels(raw, spec.class_names or index.class_names(), task, ann_path.name)
    missing_labels = count_missing_labels(raw, task)
    return Dataset(
        source=ann_path,
        format="coco",
        ids=np.array([im.file_name for im in index.images], dtype=object),
        raw_labels=raw,
        y=y,
        classes=classes,
        features=decoded.features,
        slices=slices,
        missing_values=missing_labels,
        missing_labels=missing_labels,
        row_hashes=decoded.row_hashes,
        content_sha256=decoded.content_sha256,
        perceptual_hashes=decoded.perceptual_hashes,
        features_digest=decoded.digest,
        split=split,
    )

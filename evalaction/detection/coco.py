"""COCO ground truth and COCO results files: read, check, normalise, and hand to pycocotools.

Checks fail with one line naming the file, the entry, the field, what was expected, what was found and the fix:
unknown image or category ids, negative box sizes, missing fields, non-finite numbers, duplicate ids.

Normalisation, so that pycocotools evaluates what the user meant:
- ground-truth annotations are re-numbered 1..N. pycocotools stores the matched annotation's id in `dtMatches`
  and `accumulate` reads 0 as "unmatched" (cocoeval.py), so the detection that matches an annotation with id 0
  (Roboflow exports start at 0) would count as a false positive;
- `iscrowd` defaults to 0 and a missing `area` to the box area (pycocotools reads both for every annotation);
- Roboflow's placeholder category (named after the dataset, the `supercategory` of every real class, used by
  no annotation) is left out of the class list.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import io
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evalaction.exceptions import InvalidDataset, ModelOutputInvalid

if TYPE_CHECKING:
    from pycocotools.coco import COCO

ROBOFLOW_ANNOTATIONS = "_annotations.coco.json"
MAX_DETS = 100  # what COCO's AP counts per image and category (cocoeval.py Params.maxDets[-1])

ImageId = int | str


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Silence pycocotools, which prints progress to stdout (and stdout is the CLI's verdict line)."""
    with contextlib.redirect_stdout(io.StringIO()):
        yield


@dataclass
class GroundTruth:
    """A checked COCO ground-truth file, normalised for pycocotools (see the module docstring)."""

    path: Path
    images_dir: Path
    images: list[dict[str, Any]]  # id, file_name, width, height (None when absent)
    categories: list[dict[str, Any]]  # id, name, supercategory
    annotations: list[dict[str, Any]]  # id 1..N, image_id, category_id, bbox [x, y, w, h], area, iscrowd
    source_ids: list[Any]  # the file's own annotation ids, in `annotations` order
    class_ids: list[int]  # evaluated category ids (placeholders dropped), ascending
    warnings: list[str] = field(default_factory=list)
    _by_id: dict[ImageId, dict[str, Any]] = field(init=False, repr=False)

    @property
    def class_names(self) -> list[str]:
        names = self.category_names
        return [names[c] for c in self.class_ids]

    @property
    def category_names(self) -> dict[int, str]:
        return {int(c["id"]): str(c["name"]) for c in self.categories}

    @property
    def image_ids(self) -> list[ImageId]:
        return [im["id"] for im in self.images]

    def image(self, image_id: ImageId) -> dict[str, Any]:
        return self._by_id[image_id]

    def __post_init__(self) -> None:
        self._by_id = {im["id"]: im for im in self.images}

    def dataset(self) -> dict[str, Any]:
        """A fresh copy of the COCO dict (pycocotools writes `ignore` flags into the annotations it evaluates)."""
        return {
            "images": copy.deepcopy(self.images),
            "categories": copy.deepcopy(self.categories),
            "annotations": copy.deepcopy(self.annotations),
        }

    def coco(self) -> COCO:
        """The ground truth as a pycocotools COCO object, built in memory."""
        return coco_from_dict(self.dataset())

    def fingerprint(self) -> str:
        """sha256 over images, categories and annotations: the same fingerprint means the same test set."""
        doc = {
            "images": [[im["id"], im["file_name"]] for im in self.images],
            "categories": [[c["id"], c["name"]] for c in self.categories],
            "annotations": [
                [a["image_id"], a["category_id"], a["bbox"], a["iscrowd"], a["area"]] for a in self.annotations
            ],
        }
        return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()


def coco_from_dict(dataset: dict[str, Any]) -> COCO:
    """A pycocotools COCO object from a dict (no file, no prints)."""
    from pycocotools.coco import COCO

    c = COCO()
    c.dataset = dataset
    with quiet():
        c.createIndex()
    return c


def coco_results(gt_coco: COCO, detections: list[dict[str, Any]]) -> COCO:
    """Detections as a pycocotools results object: `COCO.loadRes` on copies (it writes into the dicts it gets).

    loadRes cannot take an empty list (it reads `anns[0]`), so no detections give an empty results object by
    hand, as loadRes would build it.
    """
    if detections:
        with quiet():
            return gt_coco.loadRes([dict(d, bbox=list(d["bbox"])) for d in detections])
    return coco_from_dict(
        {
            "images": list(gt_coco.dataset["images"]),
            "categories": copy.deepcopy(gt_coco.dataset["categories"]),
            "annotations": [],
        }
    )


# ------------------------------------------------------------------------------------------------- reading


def find_coco_file(path: Path, split: str | None = None) -> Path:
    """`path` itself, or the COCO file of an export folder's split (`<export>/test/_annotations.coco.json`), found
    as the COCO classification reader finds it (evalaction/datasets/coco.py)."""
    from evalaction.datasets.coco import find_annotations

    if path.is_file():
        return path
    if not path.exists():
        raise InvalidDataset(
            f"{path}: expected a COCO JSON file or a Roboflow COCO export folder (with {ROBOFLOW_ANNOTATIONS}), "
            "found neither; point `dataset.path` at the annotations file"
        )
    return find_annotations(path, split)[0]


def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InvalidDataset(f"{path.name}: cannot read as {what} ({first}); fix or re-export the file") from None


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _field(obj: Any, key: str, where: str, path: Path, expected: str) -> Any:
    if not isinstance(obj, dict):
        raise InvalidDataset(f"{path.name}: {where} should be an object, found {type(obj).__name__}; fix the file")
    if key not in obj:
        raise InvalidDataset(f"{path.name}: {where} has no `{key}`; expected {expected}; add it")
    return obj[key]


def check_bbox(
    bbox: Any, where: str, label: str, error: type[InvalidDataset] | type[ModelOutputInvalid]
) -> list[float]:
    """[x, y, width, height] as four finite numbers with width, height >= 0."""
    if not isinstance(bbox, list | tuple) or len(bbox) != 4 or not all(_is_number(v) for v in bbox):
        raise error(
            f"{label}: {where} `bbox` should be four finite numbers [x, y, width, height], found "
            f"{_short(bbox)}; fix the file"
        )
    x, y, w, h = (float(v) for v in bbox)
    if w < 0 or h < 0:
        raise error(
            f"{label}: {where} has a negative box size (width {w:g}, height {h:g}); COCO boxes are "
            "[x, y, width, height], convert [x1, y1, x2, y2] boxes first"
        )
    return [x, y, w, h]


def _short(v: Any) -> str:
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


def placeholder_categories(categories: list[dict[str, Any]], used: set[int]) -> set[int]:
    """Roboflow's parent category: no annotation uses it, and its name is the supercategory of other classes."""
    parents = {str(c.get("supercategory")) for c in categories}
    return {int(c["id"]) for c in categories if int(c["id"]) not in used and str(c["name"]) in parents}


def load_ground_truth(path: Path, images_dir: Path | None = None, split: str | None = None) -> GroundTruth:
    """Read and check a COCO ground-truth file (or a Roboflow COCO export folder, at `split`)."""
    path = find_coco_file(path, split)
    doc = _read_json(path, "COCO JSON")
    if not isinstance(doc, dict):
        raise InvalidDataset(
            f"{path.name}: expected a COCO object with images, categories and annotations, found a "
            f"{type(doc).__name__}; a list of detections is a results file, not ground truth"
        )
    for key in ("images", "categories", "annotations"):
        value = _field(doc, key, "the file", path, f"a list of {key}")
        if not isinstance(value, list):
            raise InvalidDataset(f"{path.name}: `{key}` should be a list, found {type(value).__name__}; fix it")

    categories: list[dict[str, Any]] = []
    cat_ids: set[int] = set()
    for i, c in enumerate(doc["categories"]):
        cid = _field(c, "id", f"categories[{i}]", path, "an integer id")
        name = _field(c, "name", f"categories[{i}]", path, "a class name")
        if not isinstance(cid, int) or isinstance(cid, bool):
            raise InvalidDataset(f"{path.name}: categories[{i}] `id` should be an integer, found {_short(cid)}")
        if cid in cat_ids:
            raise InvalidDataset(f"{path.name}: category id {cid} appears twice in `categories`; fix the file")
        cat_ids.add(cid)
        categories.append({"id": cid, "name": str(name), "supercategory": c.get("supercategory", "")})

    images: list[dict[str, Any]] = []
    image_ids: set[ImageId] = set()
    id_types: set[type] = set()
    for i, im in enumerate(doc["images"]):
        iid = _field(im, "id", f"images[{i}]", path, "an integer or string id")
        name = _field(im, "file_name", f"images[{i}]", path, "the image's file name")
        if type(iid) not in (int, str):
            raise InvalidDataset(
                f"{path.name}: images[{i}] `id` should be an integer or a string, found {_short(iid)}"
            )
        if iid in image_ids:
            raise InvalidDataset(f"{path.name}: image id {iid!r} appears twice in `images`; fix the file")
        image_ids.add(iid)
        id_types.add(type(iid))
        size = []
        for key in ("width", "height"):
            v = im.get(key)
            if v is not None and (not _is_number(v) or v <= 0):
                raise InvalidDataset(
                    f"{path.name}: images[{i}] `{key}` should be a positive number, found {_short(v)}"
                )
            size.append(None if v is None else int(v))
        images.append({"id": iid, "file_name": str(name), "width": size[0], "height": size[1]})
    if len(id_types) > 1:
        raise InvalidDataset(f"{path.name}: image ids mix integers and strings; use one type for every image id")
    if not images:
        raise InvalidDataset(f"{path.name}: expected at least one image in `images`, found none; fix the file")

    annotations: list[dict[str, Any]] = []
    source_ids: list[Any] = []
    filled_area = 0
    for i, a in enumerate(doc["annotations"]):
        where = f"annotations[{i}]"
        iid = _field(a, "image_id", where, path, "the id of an image in `images`")
        cid = _field(a, "category_id", where, path, "the id of a category in `categories`")
        if iid not in image_ids:
            raise InvalidDataset(
                f"{path.name}: {where} has image_id {iid!r}, not in `images`; fix the id or add the image"
            )
        if cid not in cat_ids:
            raise InvalidDataset(
                f"{path.name}: {where} has category_id {cid!r}, not in `categories` "
                f"(ids {sorted(cat_ids)[:10]}); fix the id or add the category"
            )
        bbox = check_bbox(
            _field(a, "bbox", where, path, "[x, y, width, height]"), where, path.name, InvalidDataset
        )
        area = a.get("area")
        if area is None:
            area = bbox[2] * bbox[3]
            filled_area += 1
        elif not _is_number(area) or area < 0:
            raise InvalidDataset(f"{path.name}: {where} `area` should be a number >= 0, found {_short(area)}")
        crowd = a.get("iscrowd", 0)
        if crowd not in (0, 1, True, False):
            raise InvalidDataset(f"{path.name}: {where} `iscrowd` should be 0 or 1, found {_short(crowd)}")
        annotations.append(
            {
                "id": len(annotations) + 1,
                "image_id": iid,
                "category_id": cid,
                "bbox": bbox,
                "area": float(area),
                "iscrowd": int(crowd),
            }
        )
        source_ids.append(a.get("id"))

    used = {a["category_id"] for a in annotations}
    placeholders = placeholder_categories(categories, used)
    class_ids = sorted(c["id"] for c in categories if c["id"] not in placeholders)
    names: dict[str, int] = {}
    for c in sorted(categories, key=lambda c: c["id"]):
        if c["id"] in placeholders:
            continue
        if c["name"] in names:
            raise InvalidDataset(
                f"{path.name}: categories {names[c['name']]} and {c['id']} are both named {c['name']!r}; "
                "class names must be unique (reports and gates name classes); rename one"
            )
        names[c["name"]] = c["id"]
    warnings: list[str] = []
    if filled_area:
        warnings.append(f"{filled_area} annotations have no `area`; their box area is used for the size buckets")
    if placeholders:
        dropped = ", ".join(repr(c["name"]) for c in categories if c["id"] in placeholders)
        warnings.append(f"placeholder category {dropped} (no annotations, parent of the classes) is not a class")
    folder = images_dir if images_dir is not None else path.parent
    return GroundTruth(
        path=path,
        images_dir=folder,
        images=images,
        categories=categories,
        annotations=annotations,
        source_ids=source_ids,
        class_ids=class_ids,
        warnings=warnings,
    )


def load_results(path: Path, gt: GroundTruth, role: str) -> list[dict[str, Any]]:
    """Read and check a COCO results file: a list of {image_id, category_id, bbox, score}."""
    doc = _read_json(path, "a COCO results JSON")
    if isinstance(doc, dict) and isinstance(doc.get("annotations"), list):
        doc = doc["annotations"]  # some tools wrap the list; the entries are what matters
    if not isinstance(doc, list):
        raise ModelOutputInvalid(
            f"{role} results {path.name}: expected a JSON list of detections "
            f"({{image_id, category_id, bbox, score}}), found a {type(doc).__name__}; export COCO results"
        )
    return check_detections(doc, gt, f"{role} results {path.name}")


def check_detections(items: list[Any], gt: GroundTruth, label: str) -> list[dict[str, Any]]:
    """Check detections against the ground truth's image and category ids; return them normalised."""
    image_ids = set(gt.image_ids)
    cat_ids = {c["id"] for c in gt.categories}
    out: list[dict[str, Any]] = []
    for i, d in enumerate(items):
        where = f"detection [{i}]"
        if not isinstance(d, dict):
            raise ModelOutputInvalid(
                f"{label}: {where} should be an object, found {type(d).__name__}; fix the file"
            )
        for key, expected in (
            ("image_id", "the id of a ground-truth image"),
            ("category_id", "a category id"),
            ("bbox", "[x, y, width, height]"),
            ("score", "a confidence in [0, 1]"),
        ):
            if key not in d:
                hint = " (map file names to the ground truth's image ids)" if key == "image_id" else ""
                raise ModelOutputInvalid(f"{label}: {where} has no `{key}`; expected {expected}; add it{hint}")
        iid, cid, score = d["image_id"], d["category_id"], d["score"]
        if iid not in image_ids:
            raise ModelOutputInvalid(
                f"{label}: {where} has image_id {iid!r}, not an image of the ground truth "
                f"({len(image_ids)} images); evaluate on the same set, or fix the ids"
            )
        if cid not in cat_ids:
            raise ModelOutputInvalid(
                f"{label}: {where} has category_id {cid!r}, not in the ground truth's categories "
                f"(ids {sorted(cat_ids)[:10]}); map the model's classes to the dataset's category ids"
            )
        if not _is_number(score):
            raise ModelOutputInvalid(f"{label}: {where} `score` should be a finite number, found {_short(score)}")
        bbox = check_bbox(d["bbox"], where, label, ModelOutputInvalid)
        out.append({"image_id": iid, "category_id": int(cid), "bbox": bbox, "score": float(score)})
    return out


def count_over_max_dets(detections: list[dict[str, Any]]) -> int:
    """Image-category pairs with more than 100 detections (COCO's AP ignores all but the 100 best)."""
    from collections import Counter

    counts = Counter((d["image_id"], d["category_id"]) for d in detections)
    return sum(1 for n in counts.values() if n > MAX_DETS)

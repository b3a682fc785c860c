"""Regenerate the shapes detection demo: images, COCO ground truth, and two COCO results files.

    python examples/shapes/make_shapes.py          # writes data/ and models/ next to this script

Images: 128 x 128 PNGs with 1-4 flat-coloured circles, squares and upright triangles (sides 10-110 px) on a flat
background, overlapping little. Ground truth: the tight box of each shape and, as in COCO, the shape's pixel
area as `area` (so a triangle's size bucket follows its area, not its box).

The two "models" are a deterministic simulated detector, not a network: for every ground-truth shape it draws,
with the model's own probabilities, whether the shape is found (small shapes less often), whether its class is
confused, how far the box is jittered (relative to the shape's size), whether a duplicate box is added; plus a
few background boxes per image. Scores are higher for well-placed boxes, rounded to 3 decimals as many
exporters do (so some scores tie). The baseline is noisier overall; the candidate localises circles and squares
better but confuses and misses triangles more, so the report has a trade-off to show. Everything follows from
the seed; rerunning this script reproduces the committed files.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

SEED = 7
N_IMAGES = 60
SIZE = 128
CLASSES = ["circle", "square", "triangle"]


@dataclass(frozen=True)
class Profile:
    """How one simulated detector behaves, per class where it matters."""

    find: dict[str, float]  # probability of finding a medium or large shape
    small_find: float  # multiplier for shapes under 32^2 pixels of area
    confuse: dict[str, float]  # probability of predicting another class
    jitter: dict[str, float]  # box-edge noise, as a fraction of the shape's size
    duplicate: float
    background: float  # expected background boxes per image


BASELINE = Profile(
    find={"circle": 0.86, "square": 0.86, "triangle": 0.92},
    small_find=0.70,
    confuse={"circle": 0.07, "square": 0.07, "triangle": 0.03},
    jitter={"circle": 0.11, "square": 0.11, "triangle": 0.06},
    duplicate=0.10,
    background=0.9,
)
CANDIDATE = Profile(
    find={"circle": 0.95, "square": 0.95, "triangle": 0.80},
    small_find=0.85,
    confuse={"circle": 0.03, "square": 0.03, "triangle": 0.12},
    jitter={"circle": 0.05, "square": 0.05, "triangle": 0.10},
    duplicate=0.06,
    background=0.6,
)


def _shape_mask(kind: str, x: int, y: int, s: int) -> tuple[list[tuple[float, float]] | None, list[int]]:
    """Polygon (None for circles) and tight box [x, y, w, h] of a shape of side s at (x, y)."""
    if kind == "triangle":
        return [(x + s / 2, y), (x + s, y + s), (x, y + s)], [x, y, s, s]
    return None, [x, y, s, s]


def _iou(a: list[int], b: list[int]) -> float:
    ix = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


def make_images(root: Path, rng: np.random.Generator) -> dict:
    """Draw the images and return the COCO ground truth."""
    images, annotations = [], []
    (root / "images").mkdir(parents=True, exist_ok=True)
    for i in range(N_IMAGES):
        background = tuple(int(v) for v in rng.integers(170, 250, 3))
        img = Image.new("RGB", (SIZE, SIZE), background)
        boxes: list[list[int]] = []
        for _ in range(int(rng.integers(1, 5))):
            for _attempt in range(20):
                s = int(np.exp(rng.uniform(np.log(10), np.log(110))))
                x, y = int(rng.integers(0, SIZE - s + 1)), int(rng.integers(0, SIZE - s + 1))
                if all(_iou([x, y, s, s], b) < 0.2 for b in boxes):
                    break
            else:
                continue
            kind = CLASSES[int(rng.integers(0, 3))]
            color = tuple(int(v) for v in rng.integers(10, 150, 3))
            mask = Image.new("L", (SIZE, SIZE), 0)
            poly, bbox = _shape_mask(kind, x, y, s)
            for canvas, fill in ((img, color), (mask, 255)):
                d = ImageDraw.Draw(canvas)
                if kind == "circle":
                    d.ellipse([x, y, x + s - 1, y + s - 1], fill=fill)
                elif kind == "square":
                    d.rectangle([x, y, x + s - 1, y + s - 1], fill=fill)
                else:
                    d.polygon(poly, fill=fill)
            boxes.append(bbox)
            annotations.append(
                {
                    "id": len(annotations),  # 0-based, as Roboflow exports them
                    "image_id": i,
                    "category_id": CLASSES.index(kind) + 1,
                    "bbox": bbox,
                    "area": int((np.asarray(mask) > 0).sum()),
                    "iscrowd": 0,
                }
            )
        name = f"shapes_{i:03d}.png"
        img.save(root / "images" / name, optimize=True)
        images.append({"id": i, "file_name": name, "width": SIZE, "height": SIZE})
    categories = [{"id": 0, "name": "shapes", "supercategory": "none"}]  # Roboflow's placeholder parent
    categories += [{"id": k + 1, "name": c, "supercategory": "shapes"} for k, c in enumerate(CLASSES)]
    return {"images": images, "categories": categories, "annotations": annotations}


def simulate(gt: dict, profile: Profile, rng: np.random.Generator) -> list[dict]:
    """The simulated detector's COCO results (see the module docstring)."""
    names = {c["id"]: c["name"] for c in gt["categories"]}
    out = []

    def emit(image_id: int, cat: int, box: np.ndarray, score: float) -> None:
        x1, y1 = np.clip(box[:2], 0, SIZE)
        x2, y2 = np.clip(box[:2] + box[2:], 0, SIZE)
        if x2 - x1 >= 1 and y2 - y1 >= 1:
            out.append(
                {
                    "image_id": image_id,
                    "category_id": int(cat),
                    "bbox": [
                        round(float(x1), 1),
                        round(float(y1), 1),
                        round(float(x2 - x1), 1),
                        round(float(y2 - y1), 1),
                    ],
                    "score": round(float(np.clip(score, 0.01, 0.999)), 3),
                }
            )

    for ann in gt["annotations"]:
        kind = names[ann["category_id"]]
        box = np.asarray(ann["bbox"], dtype=float)
        p = profile.find[kind] * (profile.small_find if ann["area"] < 32**2 else 1.0)
        if rng.random() >= p:
            continue
        noise = rng.normal(0, profile.jitter[kind], 4) * np.tile(box[2:], 2)
        found = box + np.array([noise[0], noise[1], noise[2] - noise[0], noise[3] - noise[1]])
        quality = float(np.exp(-np.abs(noise).sum() / box[2:].sum() * 4))
        cat = ann["category_id"]
        if rng.random() < profile.confuse[kind]:
            cat = int(rng.choice([c for c in (1, 2, 3) if c != cat]))
        emit(ann["image_id"], cat, found, 0.45 + 0.5 * quality + rng.normal(0, 0.08))
        if rng.random() < profile.duplicate:
            emit(ann["image_id"], cat, found + rng.normal(0, 0.08, 4) * np.tile(box[2:], 2), rng.uniform(0.2, 0.6))
    for image in gt["images"]:
        for _ in range(int(rng.poisson(profile.background))):
            s = rng.uniform(8, 50)
            xy = rng.uniform(0, SIZE - s, 2)
            emit(image["id"], int(rng.integers(1, 4)), np.array([*xy, s, s]), rng.uniform(0.05, 0.7))
    out.sort(key=lambda d: (d["image_id"], -d["score"]))
    return out


def _write_json(path: Path, doc: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, separators=(",", ":")) + "\n", encoding="utf-8")


def main(root: Path | None = None) -> None:
    root = root or Path(__file__).resolve().parent
    rng = np.random.default_rng(SEED)
    gt = make_images(root / "data", rng)
    _write_json(root / "data" / "annotations.json", gt)
    _write_json(root / "models" / "baseline.json", simulate(gt, BASELINE, np.random.default_rng(SEED + 1)))
    _write_json(root / "models" / "candidate.json", simulate(gt, CANDIDATE, np.random.default_rng(SEED + 2)))


if __name__ == "__main__":
    main()

"""Small COCO ground truths and detections for the detection tests, built in memory or written to files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from evalaction.detection.coco import GroundTruth, load_ground_truth


def ground_truth(
    anns: list[dict[str, Any]], n_images: int = 2, classes: str = "AB", size: int = 200
) -> GroundTruth:
    """A ground truth with images 1..n and categories 1..len(classes); `anns` give image_id, category_id, bbox."""
    images = [{"id": i + 1, "file_name": f"{i + 1}.png", "width": size, "height": size} for i in range(n_images)]
    cats = [{"id": k + 1, "name": c, "supercategory": ""} for k, c in enumerate(classes)]
    full = [{"id": j + 1, "area": a["bbox"][2] * a["bbox"][3], "iscrowd": 0, **a} for j, a in enumerate(anns)]
    return GroundTruth(
        path=Path("gt.json"),
        images_dir=Path("."),
        images=images,
        categories=cats,
        annotations=full,
        source_ids=[a["id"] for a in full],
        class_ids=[c["id"] for c in cats],
    )


def det(image_id: Any, category_id: int, bbox: list[float], score: float) -> dict[str, Any]:
    return {"image_id": image_id, "category_id": category_id, "bbox": list(bbox), "score": score}


def random_case(seed: int, n_images: int = 12, n_classes: int = 3, ties: bool = True) -> tuple[dict, list[dict]]:
    """A random COCO dict (with crowd boxes and mask-like areas) and detections near and away from the boxes.

    With `ties`, scores are rounded to one decimal so that equal scores occur within and across images.
    """
    rng = np.random.default_rng(seed)
    images = [{"id": i + 1, "file_name": f"{i}.png", "width": 200, "height": 200} for i in range(n_images)]
    cats = [{"id": c + 1, "name": f"c{c}", "supercategory": ""} for c in range(n_classes)]
    anns: list[dict] = []
    dets: list[dict] = []

    def score() -> float:
        s = float(rng.uniform())
        return round(s, 1) if ties else s

    for im in images:
        for _ in range(int(rng.integers(0, 5))):
            w, h = (float(v) for v in rng.uniform(5, 120, 2))
            x, y = (float(v) for v in rng.uniform(0, 80, 2))
            c = int(rng.integers(1, n_classes + 1))
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": im["id"],
                    "category_id": c,
                    "bbox": [x, y, w, h],
                    "area": w * h * float(rng.uniform(0.5, 1)),
                    "iscrowd": int(rng.random() < 0.1),
                }
            )
            for _ in range(int(rng.integers(0, 3))):
                j = rng.normal(0, 8, 4)
                cat = c if rng.random() < 0.8 else int(rng.integers(1, n_classes + 1))
                box = [x + j[0], y + j[1], max(1.0, w + j[2]), max(1.0, h + j[3])]
                dets.append(det(im["id"], cat, [float(v) for v in box], score()))
        for _ in range(int(rng.integers(0, 3))):
            dets.append(
                det(
                    im["id"],
                    int(rng.integers(1, n_classes + 1)),
                    [float(v) for v in rng.uniform(0, 100, 4)],
                    score(),
                )
            )
    return {"images": images, "categories": cats, "annotations": anns}, dets


def write_case(tmp: Path, doc: dict, dets: list[dict]) -> tuple[Path, Path, GroundTruth]:
    """The case as files (gt.json, results.json) and loaded back through evalaction's reader."""
    gt_path, res_path = tmp / "gt.json", tmp / "results.json"
    gt_path.write_text(json.dumps(doc))
    res_path.write_text(json.dumps(dets))
    return gt_path, res_path, load_ground_truth(gt_path)

"""The image-level bootstrap of mAP: re-accumulating per resample vs re-running pycocotools per resample.

Each resample of a paired bootstrap needs mAP for both models on the resampled images. The reference, measured
in the same run, does what the definition says: build the resampled COCO set (images copied under new ids) and
run COCOeval evaluate + accumulate on it, restricted like evalaction to what mAP reads (all areas, 100 dets). evalaction runs evaluate() once per model and re-accumulates from the
per-image results (evalaction/detection/bootstrap.py). Both give the same precision arrays (checked here on the
timed resamples); the script prints the time per resample of each and the speed-up, and FAILs under 20x.

    python benchmarks/bench_detection_bootstrap.py [n_images]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from evalaction.detection.bootstrap import ImageBootstrap  # noqa: E402
from evalaction.detection.metrics import evaluate  # noqa: E402
from tests.unit.detection_cases import random_case  # noqa: E402
from tests.unit.test_detection_bootstrap import _gt  # noqa: E402

TARGET = 20.0


def _reference(doc: dict, dets: list[dict], counts: np.ndarray):  # noqa: ANN202 (pycocotools is untyped)
    """COCOeval on the resampled set (image i copied counts[i] times under new consecutive ids)."""
    import json

    from pycocotools.cocoeval import COCOeval

    from evalaction.detection.coco import coco_from_dict, coco_results, quiet

    images, anns, ds = [], [], []
    by_image: dict = {}
    for a in doc["annotations"]:
        by_image.setdefault(a["image_id"], ([], []))[0].append(a)
    for d in dets:
        by_image.setdefault(d["image_id"], ([], []))[1].append(d)
    for i, im in enumerate(sorted(doc["images"], key=lambda im: im["id"])):
        a_list, d_list = by_image.get(im["id"], ([], []))
        for _ in range(int(counts[i])):
            new_id = len(images) + 1
            images.append(dict(im, id=new_id))
            anns += [dict(a, id=len(anns) + 1 + j, image_id=new_id) for j, a in enumerate(a_list)]
            ds += [dict(d, image_id=new_id) for d in d_list]
    gt = coco_from_dict(
        json.loads(json.dumps({"images": images, "categories": doc["categories"], "annotations": anns}))
    )
    E = COCOeval(gt, coco_results(gt, ds), "bbox")
    E.params.areaRng, E.params.areaRngLbl, E.params.maxDets = [[0, 1e10]], ["all"], [100]
    with quiet():
        E.evaluate()
        E.accumulate()
    return E


def main() -> int:
    n_images = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    doc, dets = random_case(0, n_images=n_images, n_classes=5, ties=False)
    print(f"{n_images} images, {len(doc['annotations'])} boxes, {len(dets)} detections, 5 classes")
    gt = _gt(doc)
    rng = np.random.default_rng(1)
    draws = [np.bincount(rng.integers(0, n_images, n_images), minlength=n_images) for _ in range(5)]

    t0 = time.perf_counter()
    refs = [_reference(doc, dets, counts) for counts in draws]
    per_ref = (time.perf_counter() - t0) / len(draws)

    t0 = time.perf_counter()
    E = evaluate(gt, dets)
    boot = ImageBootstrap(E, {("all", 100)})
    setup = time.perf_counter() - t0
    reps = 50
    t0 = time.perf_counter()
    for _ in range(reps // len(draws)):
        arrays = [boot.arrays(counts) for counts in draws]
    per_ours = (time.perf_counter() - t0) / reps

    for (precision, _), ref in zip(arrays, refs, strict=True):
        assert np.array_equal(precision, ref.eval["precision"]), "re-accumulation differs"
    ratio = per_ref / per_ours
    print(f"pycocotools on each resampled set  {per_ref * 1000:8.1f} ms / resample (reference)")
    print(f"re-accumulation (evalaction)       {per_ours * 1000:8.1f} ms / resample  (+ {setup:.2f} s once)")
    print(
        f"{'PASS' if ratio >= TARGET else 'FAIL'}: {ratio:.0f}x faster per resample (target {TARGET:.0f}x); equal arrays"
    )
    return 0 if ratio >= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())

"""Paired image-level bootstrap of a COCO metric's delta: resample images (not boxes), the same images for both
models, and recompute the metric on each resample exactly as pycocotools would.

Why images: boxes within an image are not independent (one bad image yields several errors), so the image is
the sampling unit (Efron & Tibshirani 1993, ch. 6, resampling the independent units).

How, efficiently: a resample is a count c_i >= 0 per image. pycocotools' per-image matching (`evaluateImg`)
depends only on the image itself, so `COCOeval.evaluate()` runs once per model; each resample only repeats
`accumulate()` with image i's per-image results repeated c_i times. `ImageBootstrap.arrays(counts)` does that
without building a COCO set: per (category, area range, max dets), the detections are sorted once by score
(mergesort, as accumulate does); a resample tiles each run of same-score detections of one image c_i times in
place, which is exactly the order accumulate's stable sort gives when image i is copied c_i times under
consecutive new ids. Cumulative true/false positives, recall, the precision envelope and its values at the 101
recall thresholds then follow accumulate's formulas, so the precision and recall arrays equal, bit for bit,
those of pycocotools run on the resampled set (tests/unit/test_detection_bootstrap.py checks this against
COCOeval on a re-identified copy of the resampled images).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from evalaction.detection.metrics import PER_CLASS, STATS, StatSpec, summarize_value
from evalaction.plan import parse_metric_ref

if TYPE_CHECKING:
    import numpy as np
    from pycocotools.cocoeval import COCOeval


@dataclass
class _Block:
    """The detections of one (category, area range, max dets) cell, sorted once by descending score."""

    tp: np.ndarray  # (T, D) bool: matched and not ignored, in sorted order
    fp: np.ndarray  # (T, D) bool: unmatched and not ignored
    group_start: np.ndarray  # (G,) first sorted position of each run of equal scores within one image
    group_len: np.ndarray  # (G,)
    group_image: np.ndarray  # (G,) image index of each run
    singletons: bool  # every run has length 1 (no tied scores within an image): a plain np.repeat
    npig: np.ndarray  # (I,) non-ignored ground-truth boxes per image


def spec_of(ref: str) -> tuple[StatSpec, str | None]:
    """`map` -> (its StatSpec, None); `ap[cat]` -> (per-class spec, "cat")."""
    name, cls = parse_metric_ref(ref)
    if cls is None:
        return STATS[name], None
    return PER_CLASS[name], cls


class ImageBootstrap:
    """One model's per-image COCO evaluation, re-accumulated for any image multiplicities."""

    def __init__(self, E: COCOeval, cells: set[tuple[str, int]]) -> None:
        """`E` after evaluate(); `cells`: the (area label, max dets) pairs the wanted metrics read."""
        p = E.params
        self.params = p
        self.n_images = len(p.imgIds)
        self.cat_ids = [int(c) for c in p.catIds]
        self.area_labels = [lbl for lbl in p.areaRngLbl if any(lbl == a for a, _ in cells)]
        self.max_dets = [m for m in p.maxDets if any(m == d for _, d in cells)]
        n_img, n_area = self.n_images, len(p.areaRng)
        self.blocks: dict[tuple[int, int, int], _Block | None] = {}
        for k in range(len(self.cat_ids)):
            for a_out, label in enumerate(self.area_labels):
                a0 = p.areaRngLbl.index(label)
                base = k * n_area * n_img + a0 * n_img
                per_image = E.evalImgs[base : base + n_img]
                for m_out, max_det in enumerate(self.max_dets):
                    self.blocks[k, a_out, m_out] = _block(per_image, max_det, len(p.iouThrs))

    def arrays(self, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """precision[T, R, K, A, M] and recall[T, K, A, M] as accumulate() computes them on the resample
        where image i appears counts[i] times (A, M: this object's area labels and max dets)."""
        import numpy as np

        p = self.params
        T, R, K = len(p.iouThrs), len(p.recThrs), len(self.cat_ids)
        A, M = len(self.area_labels), len(self.max_dets)
        precision = -np.ones((T, R, K, A, M))
        recall = -np.ones((T, K, A, M))
        rows = np.arange(T)[:, None]
        for (k, a, m), block in self.blocks.items():
            if block is None:
                continue
            npig = int(np.dot(counts, block.npig))
            if npig == 0:
                continue  # accumulate leaves -1: no ground truth of this class in this resample
            idx = _tiled_order(block, counts)
            nd = len(idx)
            if nd == 0:
                recall[:, k, a, m] = 0
                precision[:, :, k, a, m] = 0
                continue
            tp_int = np.cumsum(block.tp[:, idx], axis=1)
            tp_sum = tp_int.astype(float)
            fp_sum = np.cumsum(block.fp[:, idx], axis=1).astype(float)
            pr = tp_sum / (fp_sum + tp_sum + np.spacing(1))
            # the precision envelope: accumulate's backwards loop `pr[i-1] = max(pr[i-1], pr[i])`
            pr = np.maximum.accumulate(pr[:, ::-1], axis=1)[:, ::-1]
            # accumulate's searchsorted(rc, recThrs, "left") for every IoU row at once, in integers: recall
            # rc = tp / npig takes the values levels[tp], so rc >= thr <=> tp >= the first level index k_r
            # reaching thr; rows are offset by t * (nd + 1) so one searchsorted serves all of them.
            levels = np.arange(npig + 1) / npig
            recall[:, k, a, m] = levels[tp_int[:, -1]]
            k_r = np.searchsorted(levels, p.recThrs, side="left")
            offsets = rows * (nd + 1)
            inds = np.searchsorted((tp_int + offsets).ravel(), (k_r[None, :] + offsets).ravel(), side="left")
            inds = inds.reshape(T, R) - rows * nd
            ok = inds < nd  # accumulate's try/except: thresholds past the last recall stay 0
            precision[:, :, k, a, m] = np.where(ok, pr[rows, np.minimum(inds, nd - 1)], 0.0)
        return precision, recall

    def value(self, ref: str, precision: np.ndarray, recall: np.ndarray, class_index: dict[str, int]) -> float:
        """The metric `ref` (`map`, `ap[cat]`) from arrays of `arrays()`; NaN where pycocotools gives -1."""
        spec, cls = spec_of(ref)
        v = summarize_value(
            precision,
            recall,
            spec,
            iou_thrs=self.params.iouThrs,
            area_labels=self.area_labels,
            max_dets=self.max_dets,
            k=None if cls is None else class_index[cls],
        )
        return float("nan") if v < 0 else v


def _block(per_image: list[dict[str, Any] | None], max_det: int, n_thr: int) -> _Block | None:
    """Concatenate one cell's per-image results in image order and sort by score as accumulate does."""
    import numpy as np

    scores, dtm, dtig, image = [], [], [], []
    npig = np.zeros(len(per_image), dtype=np.int64)
    for i, e in enumerate(per_image):
        if e is None:
            continue
        s = np.asarray(e["dtScores"][:max_det], dtype=float)
        scores.append(s)
        dtm.append(np.asarray(e["dtMatches"])[:, :max_det].reshape(n_thr, len(s)))
        dtig.append(np.asarray(e["dtIgnore"])[:, :max_det].reshape(n_thr, len(s)))
        image.append(np.full(len(s), i, dtype=np.int64))
        npig[i] = int(np.count_nonzero(np.asarray(e["gtIgnore"]) == 0))
    if not scores:
        return None
    all_scores = np.concatenate(scores)
    order = np.argsort(-all_scores, kind="mergesort")
    matched = np.concatenate(dtm, axis=1)[:, order] != 0
    ignored = np.concatenate(dtig, axis=1)[:, order].astype(bool)
    img = np.concatenate(image)[order]
    s_sorted = all_scores[order]
    new_group = np.ones(len(order), dtype=bool)
    new_group[1:] = (s_sorted[1:] != s_sorted[:-1]) | (img[1:] != img[:-1])
    starts = np.flatnonzero(new_group)
    lengths = np.diff(np.append(starts, len(order)))
    return _Block(
        tp=matched & ~ignored,
        fp=~matched & ~ignored,
        group_start=starts,
        group_len=lengths,
        group_image=img[starts],
        singletons=bool((lengths == 1).all()),
        npig=npig,
    )


def _tiled_order(block: _Block, counts: np.ndarray) -> np.ndarray:
    """Sorted positions of the resample's detections: each run of tied scores of image i repeated counts[i] times
    as a whole (copies of an image sit next to each other, so the stable sort keeps each copy's run together)."""
    import numpy as np

    w = counts[block.group_image]
    if block.singletons:
        return np.repeat(block.group_start, w)
    rep = block.group_len * w
    total = int(rep.sum())
    gid = np.repeat(np.arange(len(rep)), rep)
    offset = np.arange(total) - (np.cumsum(rep) - rep)[gid]
    order: np.ndarray = block.group_start[gid] + offset % block.group_len[gid]
    return order


def cells_for(refs: list[str]) -> set[tuple[str, int]]:
    """The (area label, max dets) pairs the metrics `refs` read."""
    return {(spec.area, spec.max_dets) for spec, _ in map(spec_of, refs)}


def paired_image_bootstrap(
    base: ImageBootstrap,
    cand: ImageBootstrap,
    refs: list[str],
    *,
    class_index: dict[str, int],
    n_resamples: int,
    seed: int,
) -> dict[str, np.ndarray]:
    """Metric -> (n_resamples,) deltas candidate - baseline, both on the SAME resampled images each time.

    Image i is drawn counts[i] ~ Multinomial(n, 1/n) times (n = number of test images), as
    `rng.integers(0, n, n)` then `bincount`; a metric undefined on a resample (no ground truth of a class) is NaN.
    """
    import numpy as np

    n = cand.n_images
    rng = np.random.default_rng(seed)
    out = {ref: np.empty(n_resamples) for ref in refs}
    for b in range(n_resamples):
        counts = np.bincount(rng.integers(0, n, size=n), minlength=n)
        _deltas_into(out, b, base, cand, refs, counts, class_index)
    return out


def jackknife_deltas(
    base: ImageBootstrap,
    cand: ImageBootstrap,
    refs: list[str],
    *,
    class_index: dict[str, int],
    max_groups: int = 200,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Metric -> the delta with each image left out in turn, for BCa's acceleration (Efron & Tibshirani 1993,
    eq. 14.15). Past `max_groups` images, random groups of images are left out instead (delete-a-group
    jackknife, Shao & Tu 1995, sec. 2.3), as evalaction.stats.bootstrap does for large samples."""
    import numpy as np

    n = cand.n_images
    if n <= max_groups:
        groups = [np.array([i]) for i in range(n)]
    else:
        groups = np.array_split(np.random.default_rng([seed, 1]).permutation(n), max_groups)
    out = {ref: np.empty(len(groups)) for ref in refs}
    for g, members in enumerate(groups):
        counts = np.ones(n, dtype=np.int64)
        counts[members] = 0
        _deltas_into(out, g, base, cand, refs, counts, class_index)
    return out


def _deltas_into(
    out: dict[str, np.ndarray],
    row: int,
    base: ImageBootstrap,
    cand: ImageBootstrap,
    refs: list[str],
    counts: np.ndarray,
    class_index: dict[str, int],
) -> None:
    arrays = cand.arrays(counts), base.arrays(counts)
    for ref in refs:
        out[ref][row] = cand.value(ref, *arrays[0], class_index) - base.value(ref, *arrays[1], class_index)

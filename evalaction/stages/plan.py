"""Stage 1: the plan and the test set's card (size, classes, balance, duplicates, stray labels, missing values)."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from evalaction.artifacts import DatasetCard, PlanResult

if TYPE_CHECKING:
    from evalaction.config import LoadedPlan
    from evalaction.datasets import Dataset


def dataset_fingerprint(ds: Dataset) -> str:
    """sha256 over ids, labels and feature bytes: two runs with the same fingerprint used the same test set."""
    import numpy as np

    h = hashlib.sha256()
    h.update("\x1f".join(map(str, ds.ids)).encode())
    h.update(b"\x1e")
    h.update("\x1f".join(map(str, ds.raw_labels)).encode())
    h.update(b"\x1e")
    h.update(np.ascontiguousarray(ds.features, dtype=np.float64).tobytes())
    return h.hexdigest()


def _row_hashes(x: object) -> list[bytes]:
    import numpy as np

    arr = np.ascontiguousarray(x, dtype=np.float64)
    return [hashlib.blake2b(row.tobytes(), digest_size=16).digest() for row in arr]


def dataset_card(ds: Dataset, task: str, train: Dataset | None = None) -> DatasetCard:
    """Facts about the test set that decide whether a verdict on it can be trusted."""
    import numpy as np

    hashes = _row_hashes(ds.features)
    duplicates = len(hashes) - len(set(hashes))
    duplicate_ids = len(ds.ids) - len(set(map(str, ds.ids)))
    warnings: list[str] = []
    class_counts: dict[str, int] = {}
    outside: dict[str, int] = {}
    absent: list[str] = []
    if task != "regression":
        counts = np.bincount(ds.y[ds.y >= 0], minlength=len(ds.classes))
        class_counts = {c: int(n) for c, n in zip(ds.classes, counts, strict=True)}
        absent = [c for c, n in class_counts.items() if n == 0]
        for raw, code in zip(ds.raw_labels, ds.y, strict=True):
            if code < 0:
                key = "(missing)" if raw is None or raw != raw or raw == "" else str(raw)
                outside[key] = outside.get(key, 0) + 1
        if outside:
            warnings.append(
                f"{sum(outside.values())} samples have labels outside the class list "
                f"({', '.join(list(outside)[:5])}); they count as errors for every model"
            )
        if absent:
            warnings.append(
                f"classes with no test sample: {', '.join(absent)}; their per-class metrics are undefined"
            )
    if duplicates:
        warnings.append(f"{duplicates} samples repeat an earlier sample exactly; they weigh twice in every metric")
    if duplicate_ids:
        warnings.append(f"{duplicate_ids} ids repeat; ids should identify one sample each")
    if ds.missing_values:
        warnings.append(f"{ds.missing_values} missing values in features or labels")
    overlap = None
    if train is not None:
        train_hashes = set(_row_hashes(train.features))
        overlap = sum(1 for h in hashes if h in train_hashes)
        if overlap:
            warnings.append(f"{overlap} test samples also appear in the training set (leakage)")
    slices = {
        col: {str(v): int(n) for v, n in zip(*np.unique(vals.astype(str), return_counts=True), strict=True)}
        for col, vals in ds.slices.items()
    }
    return DatasetCard(
        source=str(ds.source),
        format=ds.format,
        n_samples=len(ds),
        n_features=int(ds.features.shape[1]) if ds.features.ndim == 2 else None,
        classes=list(ds.classes),
        class_counts=class_counts,
        duplicate_samples=duplicates,
        duplicate_ids=duplicate_ids,
        labels_outside_classes=outside,
        missing_values=ds.missing_values,
        slices=slices,
        classes_absent=absent,
        train_overlap=overlap,
        fingerprint=dataset_fingerprint(ds),
        warnings=warnings,
    )


def run_plan(*, loaded: LoadedPlan, dataset: Dataset, train: Dataset | None = None) -> PlanResult:
    """Validate the test set against the plan and describe it."""
    return PlanResult(
        plan=loaded.plan,
        plan_path=str(loaded.path),
        base_dir=str(loaded.base_dir),
        dataset=dataset_card(dataset, loaded.plan.task, train),
    )

"""The dataset every stage sees: ids, labels encoded against the class list, slices, and features in batches."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from evalaction.errors import InvalidDataset

if TYPE_CHECKING:
    import numpy as np

    from evalaction.config import DatasetSpec


@dataclass
class Dataset:
    """A loaded test set.

    `y` holds class indices into `classes` (classification; -1 for a label outside the class list) or float
    targets (regression). `features` is the raw feature array, one row per sample (preprocessing belongs to the
    model, not the data).
    """

    source: Path
    format: str
    ids: np.ndarray
    raw_labels: np.ndarray
    y: np.ndarray
    classes: list[str]
    features: np.ndarray
    slices: dict[str, np.ndarray] = field(default_factory=dict)
    missing_values: int = 0

    def __len__(self) -> int:
        return len(self.ids)

    def batches(self, batch_size: int) -> Iterator[tuple[int, np.ndarray]]:
        """Yield (start index, raw feature rows) in order."""
        for start in range(0, len(self), batch_size):
            yield start, self.features[start : start + batch_size]


def _natural_sorted(values: list[str]) -> list[str]:
    try:
        return sorted(values, key=float)
    except ValueError:
        return sorted(values)


def encode_labels(
    raw: np.ndarray, class_names: list[str] | None, task: str, source: str
) -> tuple[np.ndarray, list[str]]:
    """Encode labels as class indices (classification) or floats (regression)."""
    import numpy as np

    if task == "regression":
        try:
            return raw.astype(np.float64), []
        except (TypeError, ValueError):
            raise InvalidDataset(
                f"{source}: expected numeric regression targets in the label column, found e.g. {raw[0]!r}; "
                "fix the label column or set `task`"
            ) from None
    as_text = np.array([_label_text(v) for v in raw], dtype=object)
    classes = list(class_names) if class_names else _natural_sorted(sorted({str(v) for v in as_text if v != ""}))
    index = {c: i for i, c in enumerate(classes)}
    y = np.fromiter((index.get(v, -1) for v in as_text), dtype=np.int64, count=len(as_text))
    return y, classes


def _label_text(v: object) -> str:
    import math

    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def load_dataset(spec: DatasetSpec, base_dir: Path, task: str) -> Dataset:
    """Read the plan's test set with the reader its format names."""
    path = (base_dir / spec.path).resolve()
    fmt = spec.resolved_format
    if fmt in ("csv", "parquet"):
        from evalaction.datasets.tabular import read_table

        return read_table(path, spec, fmt, task)
    if fmt in ("npz", "npy"):
        from evalaction.datasets.arrays import read_arrays

        return read_arrays(path, spec, fmt, task)
    from evalaction.datasets.images import read_image_folder

    return read_image_folder(path, spec, task)

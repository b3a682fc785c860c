"""The dataset every stage sees: ids, labels encoded against the class list, slices, and features in batches.

The floor every reader stands on (tables, arrays, image folders, COCO JSON): it imports none of them. The
factory that picks a reader, `evalaction.datasets.load`, is the floor above.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from evalaction.errors import InvalidDataset

if TYPE_CHECKING:
    import numpy as np


@dataclass(frozen=True)
class ReadOptions:
    """How a reader decodes samples; derived from the models' preprocessing by `read_options_for`.

    `image_size` is (height, width); `float32` stores table features as float32 (see `read_options_for` for when
    that is exact); `features=False` keeps only ids, labels and hashes (a training set read for leakage).
    """

    image_size: tuple[int, int] | None = None
    grayscale: bool = False
    float32: bool = False
    features: bool = True
    split: str | None = None


@dataclass
class Dataset:
    """A loaded test set.

    `y` holds class indices into `classes` (classification; -1 for a label outside the class list or a missing
    label) or float targets (regression). `features` holds one row per sample (preprocessing belongs to the
    model, not the data): table columns as float64 (float32 where exact), image pixels as uint8 in channel-first
    (C, H, W) order, flattened.

    Hashes, filled by the readers and computed on demand otherwise:
    - `row_hashes`: a 16-byte blake2b per sample over its canonical content (float64 feature values; decoded
      pixels for images), so equal samples have equal hashes whatever the storage dtype;
    - `content_sha256`: images only, the sha256 of each file's bytes (what `sha256sum` prints);
    - `perceptual_hashes`: images only, the 64-bit dHash of each image (near-duplicates);
    - `features_digest`: sha256 over every sample's content in order (the fingerprint's content part).
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
    missing_labels: int = 0
    row_hashes: np.ndarray | None = None
    content_sha256: np.ndarray | None = None
    perceptual_hashes: np.ndarray | None = None
    features_digest: str | None = None
    split: str | None = None
    origin: str | None = None
    has_ids: bool = True  # False when `ids` are row numbers (no id column): they say nothing across files
    feature_names: list[str] = field(default_factory=list)  # table columns; empty for arrays/images

    def __len__(self) -> int:
        return len(self.ids)

    def batches(self, batch_size: int) -> Iterator[tuple[int, np.ndarray]]:
        """Yield (start index, raw feature rows) in order."""
        for start in range(0, len(self), batch_size):
            yield start, self.features[start : start + batch_size]

    def hashes(self) -> np.ndarray:
        """Per-sample content hashes (computed from the features, in chunks, when the reader gave none)."""
        if self.row_hashes is None:
            from evalaction.datasets.hashing import FeatureHasher

            hasher = FeatureHasher()
            for _, chunk in self.batches(65_536):
                hasher.add(chunk)
            self.row_hashes, self.features_digest = hasher.row_hashes, hasher.hexdigest()
        return self.row_hashes

    def digest(self) -> str:
        """sha256 over every sample's content, in order."""
        if self.features_digest is None:
            self.hashes()
        assert self.features_digest is not None  # set by hashes()
        return self.features_digest


def _natural_sorted(values: list[str]) -> list[str]:
    try:
        return sorted(values, key=float)
    except ValueError:
        return sorted(values)


def encode_labels(
    raw: np.ndarray, class_names: list[str] | None, task: str, source: str
) -> tuple[np.ndarray, list[str]]:
    """Encode labels as class indices (classification; -1 outside the list or missing) or floats (regression)."""
    import numpy as np

    if task == "regression":
        try:
            return raw.astype(np.float64), []
        except (TypeError, ValueError):
            raise InvalidDataset(
                f"{source}: expected numeric regression targets in the label column, found e.g. {raw[0]!r}; "
                "fix the label column or set `task`"
            ) from None
    as_text = label_texts(raw)
    classes = list(class_names) if class_names else _natural_sorted(sorted({str(v) for v in as_text if v != ""}))
    index = {c: i for i, c in enumerate(classes)}
    y = np.fromiter((index.get(v, -1) for v in as_text), dtype=np.int64, count=len(as_text))
    return y, classes


def label_texts(raw: np.ndarray) -> list[str]:
    """Labels as the text the class list uses: 7.0 -> "7", None/NaN/"" -> "" (missing).

    Labels take few distinct values, so each distinct value is converted once (numeric arrays through
    `np.unique`, others through a memo keyed by type and value, so True and 1 stay apart).
    """
    import numpy as np

    arr = np.asarray(raw)
    if arr.dtype.kind in "iuf":
        uniq, inverse = np.unique(arr, return_inverse=True)
        texts = [_label_text(v.item()) for v in uniq]
        return [texts[i] for i in inverse.reshape(-1)]
    memo: dict[tuple[type, object], str] = {}
    out = []
    for v in arr:
        try:
            text = memo[(type(v), v)]
        except KeyError:
            text = memo[(type(v), v)] = _label_text(v)
        except TypeError:  # an unhashable value
            text = _label_text(v)
        out.append(text)
    return out


def _label_text(v: object) -> str:
    import math

    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if hasattr(v, "item") and not isinstance(v, str | bytes):  # numpy scalars
        return _label_text(v.item())  # type: ignore[attr-defined]
    return str(v)


def count_missing_labels(raw: np.ndarray, task: str) -> int:
    """Samples with no label: None, NaN or an empty string."""
    import numpy as np

    if task == "regression":
        try:
            return int(np.isnan(raw.astype(np.float64)).sum())
        except (TypeError, ValueError):
            return 0
    return sum(1 for t in label_texts(raw) if t == "")

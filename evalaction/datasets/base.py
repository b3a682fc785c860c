"""The dataset every stage sees: ids, labels encoded against the class list, slices, and features in batches.

The floor every reader stands on (tables, arrays, image folders, COCO JSON): it imports none of them. The
factory that picks a reader, `evalaction.datasets.load`, is the floor above.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from evalaction.exceptions import InvalidDataset

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
    float32_inputs: bool = False  # some model takes float32: a value beyond float32's range is invalid


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
    invalid_values: int = 0  # NaN/inf/float32-overflow feature cells (rows dropped with `invalid_values: drop`)
    dropped_rows: int = 0

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


def few_names(names: list[str], n: int = 10, width: int = 40) -> str:
    """Column names for an error message: the first `n`, each cut to `width` characters (never a whole row)."""
    shown = ", ".join(c if len(c) <= width else c[: width - 3] + "..." for c in names[:n])
    return f"[{shown}{', ...' if len(names) > n else ''}]"


def safe_cause(exc: BaseException) -> str:
    """A reader's exception in one short line that quotes no cell or row of the file.

    pyarrow and numpy put the offending text into their messages (`invalid value 'ghp_...'`, `got 1: <the row>`);
    the file may hold anything, and the message may become a public annotation.
    """
    import re

    text = str(exc).strip()
    text = text.splitlines()[0] if text else type(exc).__name__
    text = re.sub(r"(got \d+)\s*:.*$", r"\1", text)
    text = re.sub(r"'[^']*'|\"[^\"]*\"", "(value not shown)", text)
    text = re.sub(r"<[^<>]* object at 0x[0-9a-fA-F]+>", "the file", text)
    return text if len(text) <= 120 else text[:117] + "..."


def screen_invalid_values(ds: Dataset, policy: str, options: ReadOptions, source: str) -> Dataset:
    """NaN, +-inf and (for float32 models) values beyond float32's range in the features: named by row id and
    column and refused (`fail`), their rows dropped (`drop`), or passed on (`keep`); counted either way.

    Left in, they reach the model and come back as "NaN outputs; check the model", blaming the wrong party.
    """
    import numpy as np

    x = ds.features
    if x.size == 0 or x.dtype.kind != "f":
        return ds
    f32_max = float(np.finfo(np.float32).max)
    bad_rows: list[int] = []
    n_bad = 0
    first: tuple[int, int, float] | None = None
    for start in range(0, len(x), 65_536):
        chunk = x[start : start + 65_536]
        bad = ~np.isfinite(chunk)
        if options.float32_inputs and x.dtype != np.float32:
            with np.errstate(invalid="ignore"):
                bad |= np.abs(chunk) > f32_max
        if bad.any():
            n_bad += int(bad.sum())
            rows = np.flatnonzero(bad.any(axis=1))
            bad_rows.extend((rows + start).tolist())
            if first is None:
                r = int(rows[0])
                c = int(np.flatnonzero(bad[r])[0])
                first = (start + r, c, float(chunk[r, c]))
    ds.invalid_values = n_bad
    if first is None or policy == "keep":
        return ds
    row, col, value = first
    column = ds.feature_names[col] if col < len(ds.feature_names) else f"feature {col}"
    if np.isnan(value):
        what = "NaN"
    elif np.isinf(value):
        what = "infinite, or beyond float32's range" if x.dtype == np.float32 else "infinite"
    else:
        what = f"{value:.3g}, beyond float32's range"
    if policy == "fail":
        raise InvalidDataset(
            f"{source}: expected finite feature values, found {n_bad} invalid (NaN, infinite or beyond float32) in "
            f"{len(bad_rows)} rows, first row id {_cut_id(ds.ids[row])!r} column {_cut_id(column)!r} ({what}); "
            "fix the test set, or set `dataset.invalid_values: drop` (or `keep`)"
        )
    keep = np.ones(len(ds), dtype=bool)
    keep[bad_rows] = False
    if not keep.any():
        raise InvalidDataset(
            f"{source}: every row has an invalid feature value (NaN, infinite or beyond float32), e.g. row id "
            f"{_cut_id(ds.ids[row])!r} column {_cut_id(column)!r}; fix the test set"
        )
    return _take(ds, keep, dropped=len(bad_rows))


def _cut_id(value: object) -> str:
    text = str(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _take(ds: Dataset, keep: np.ndarray, *, dropped: int) -> Dataset:
    """The dataset without the dropped rows; hashes and the digest are recomputed from what is left."""
    import dataclasses

    def sub(a: np.ndarray | None) -> np.ndarray | None:
        return None if a is None else a[keep]

    return dataclasses.replace(
        ds,
        ids=ds.ids[keep],
        raw_labels=ds.raw_labels[keep],
        y=ds.y[keep],
        features=ds.features[keep],
        slices={k: v[keep] for k, v in ds.slices.items()},
        row_hashes=None,
        features_digest=None,
        content_sha256=sub(ds.content_sha256),
        perceptual_hashes=sub(ds.perceptual_hashes),
        dropped_rows=dropped,
    )


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
                f"{source}: expected numeric regression targets in the label column, found text; "
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
        return _label_text(v.item())
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

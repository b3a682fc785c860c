"""NumPy `.npz` (features, labels, optional ids and slices) and `.npy` (a structured or 2-D array) test sets."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evalaction.datasets.base import Dataset, ReadOptions, count_missing_labels, encode_labels, safe_cause
from evalaction.exceptions import InvalidDataset

if TYPE_CHECKING:
    from evalaction.plan import DatasetSpec


def read_arrays(path: Path, spec: DatasetSpec, fmt: str, task: str, options: ReadOptions | None = None) -> Dataset:
    """Read an .npz (named arrays) or .npy (2-D, label last) test set; arrays are loaded whole."""
    options = options or ReadOptions()
    if path.is_dir():
        raise InvalidDataset(
            f"{path}: expected a {fmt} file, found a folder; fix `dataset.path` or `dataset.format`"
        )
    with contextlib.ExitStack() as stack:  # the file is ours to close: np.load(path) leaks it on a broken .npz
        try:
            file = stack.enter_context(open(path, "rb"))
        except OSError as exc:
            raise InvalidDataset(
                f"{path.name}: cannot read as {fmt} ({safe_cause(exc)}); check `dataset.path`"
            ) from None
        return _read_open(file, path, spec, fmt, task, options)


def _read_open(file: Any, path: Path, spec: DatasetSpec, fmt: str, task: str, options: ReadOptions) -> Dataset:
    import numpy as np

    try:
        # allow_pickle=False: an object array in a test set could run code when loaded
        loaded = np.load(file, allow_pickle=False)
    except Exception as exc:
        raise InvalidDataset(
            f"{path.name}: cannot read as {fmt} ({safe_cause(exc)}); object arrays are refused, save plain arrays"
        ) from None
    try:
        return _read_loaded(loaded, path, spec, fmt, task, options)
    except ValueError as exc:
        if "allow_pickle" not in str(exc):
            raise
        named = [k for k in getattr(loaded, "files", []) if _holds_objects(loaded, k)]
        which = f"array {named[0]!r}" if named else "the array"
        raise InvalidDataset(
            f"{path.name}: {which} holds Python objects (loading it would unpickle, which is refused); save plain "
            "numeric or string arrays (`np.asarray(x, dtype=float)`)"
        ) from None
    finally:
        if hasattr(loaded, "close"):
            loaded.close()


def _holds_objects(loaded: Any, key: str) -> bool:
    try:
        loaded[key]
    except ValueError:
        return True
    return False


def _read_loaded(loaded: Any, path: Path, spec: DatasetSpec, fmt: str, task: str, options: ReadOptions) -> Dataset:
    import numpy as np

    from evalaction.datasets.hashing import FeatureHasher

    if fmt == "npy":
        arr = np.asarray(loaded)
        if arr.ndim != 2 or arr.shape[1] < 2:
            raise InvalidDataset(
                f"{path.name}: expected a 2-D array whose last column is the label, found shape {arr.shape}; "
                "or save features and labels in an .npz"
            )
        x, raw = arr[:, :-1].astype(np.float64), arr[:, -1]
        ids = np.array([str(i) for i in range(len(arr))], dtype=object)
        slices: dict[str, np.ndarray] = {}
    else:
        keys = list(loaded.files)
        for role, key in (("features_key", spec.features_key), ("label_column", spec.label_column)):
            if key not in keys:
                raise InvalidDataset(
                    f"{path.name}: `dataset.{role}` {key!r} is not an array in the file; found {keys}"
                )
        x = loaded[spec.features_key]
        raw = loaded[spec.label_column]
        if len(x) != len(raw):
            raise InvalidDataset(
                f"{path.name}: {spec.features_key!r} has {len(x)} rows but {spec.label_column!r} has {len(raw)}; "
                "they must match"
            )
        if spec.id_column:
            if spec.id_column not in keys:
                raise InvalidDataset(
                    f"{path.name}: `dataset.id_column` {spec.id_column!r} is not an array; found {keys}"
                )
            ids = loaded[spec.id_column].astype(str).astype(object)
        else:
            ids = np.array([str(i) for i in range(len(x))], dtype=object)
        slices = {}
        for col in spec.slice_columns:
            if col not in keys:
                raise InvalidDataset(f"{path.name}: slice {col!r} is not an array in the file; found {keys}")
            slices[col] = loaded[col].astype(str).astype(object)
        x = x.reshape(len(x), -1).astype(np.float64)
    hasher = FeatureHasher()
    for start in range(0, len(x), 65_536):
        hasher.add(x[start : start + 65_536])
    missing = int(np.isnan(x).sum())
    if not options.features:
        x = np.empty((len(x), 0))
    elif options.float32:
        with np.errstate(over="ignore"):  # beyond float32 becomes inf, named by screen_invalid_values
            x = x.astype(np.float32)
    y, classes = encode_labels(raw, spec.class_names, task, path.name)
    missing_labels = count_missing_labels(raw, task)
    return Dataset(
        source=path,
        format=fmt,
        ids=ids,
        raw_labels=raw,
        y=y,
        classes=classes,
        features=x,
        slices=slices,
        missing_values=missing + missing_labels,
        missing_labels=missing_labels,
        row_hashes=hasher.row_hashes,
        features_digest=hasher.hexdigest(),
        has_ids=fmt == "npz" and spec.id_column is not None,
    )

"""CSV and Parquet test sets."""

from __future__ import annotations

import fnmatch
from pathlib import Path
from typing import TYPE_CHECKING

from evalaction.datasets.base import Dataset, encode_labels
from evalaction.errors import InvalidDataset

if TYPE_CHECKING:
    from evalaction.config import DatasetSpec


def read_table(path: Path, spec: DatasetSpec, fmt: str, task: str) -> Dataset:
    import numpy as np
    import pandas as pd

    try:
        frame = pd.read_csv(path) if fmt == "csv" else pd.read_parquet(path)
    except Exception as exc:  # pandas raises many types; name the file and the cause in one line
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InvalidDataset(
            f"{path.name}: cannot read as {fmt} ({first}); check the file and `dataset.format`"
        ) from None
    if len(frame) == 0:
        raise InvalidDataset(f"{path.name}: expected at least one sample, found an empty table; fix the test set")
    columns = [str(c) for c in frame.columns]
    frame.columns = columns
    for role, col in (("label_column", spec.label_column), ("id_column", spec.id_column)):
        if col is not None and col not in columns:
            raise InvalidDataset(
                f"{path.name}: `dataset.{role}` {col!r} is not a column; found columns {_few(columns)}; fix the plan"
            )
    for col in spec.slice_columns:
        if col not in columns:
            raise InvalidDataset(
                f"{path.name}: `dataset.slice_columns` names {col!r}, not a column; found {_few(columns)}; fix the plan"
            )
    reserved = {spec.label_column, spec.id_column, *spec.slice_columns}
    if spec.feature_columns:
        features: list[str] = []
        for pattern in spec.feature_columns:
            hits = [c for c in columns if fnmatch.fnmatchcase(c, pattern) and c not in reserved]
            if not hits:
                raise InvalidDataset(
                    f"{path.name}: `dataset.feature_columns` pattern {pattern!r} matches no column; "
                    f"found {_few(columns)}; fix the pattern"
                )
            features.extend(h for h in hits if h not in features)
    else:
        features = [c for c in columns if c not in reserved]
    if not features:
        raise InvalidDataset(
            f"{path.name}: no feature columns left after label/id/slices; set `dataset.feature_columns`"
        )
    feat = frame[features]
    non_numeric = [c for c in features if not pd.api.types.is_numeric_dtype(feat[c])]
    if non_numeric:
        raise InvalidDataset(
            f"{path.name}: feature column {non_numeric[0]!r} is not numeric; encode it or leave it out of "
            "`dataset.feature_columns`"
        )
    x = feat.to_numpy(dtype=np.float64)
    raw = frame[spec.label_column].to_numpy()
    missing = int(np.isnan(x).sum()) + int(frame[spec.label_column].isna().sum())
    y, classes = encode_labels(raw, spec.class_names, task, path.name)
    ids = (
        frame[spec.id_column].astype(str).to_numpy()
        if spec.id_column
        else np.array([str(i) for i in range(len(frame))], dtype=object)
    )
    slices = {c: frame[c].astype(str).to_numpy() for c in spec.slice_columns}
    return Dataset(
        source=path,
        format=fmt,
        ids=ids,
        raw_labels=raw,
        y=y,
        classes=classes,
        features=x,
        slices=slices,
        missing_values=missing,
    )


def _few(columns: list[str]) -> str:
    shown = ", ".join(columns[:8])
    return f"[{shown}{', ...' if len(columns) > 8 else ''}]"

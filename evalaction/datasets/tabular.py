"""CSV and Parquet test sets, read in chunks with pyarrow.

Only the columns the plan uses are read, 65,536 rows at a time. Each chunk is hashed as float64 (duplicates,
leakage, the fingerprint) and then kept as float64, or as float32 when `ReadOptions.float32` says that changes
no model input (see `read_options_for`). No pandas frame of the whole table is built: a Parquet test set costs
its feature array (1e6 rows x 50 features: 400 MB as float64, 200 MB as float32) plus ids and labels; a CSV one
briefly twice the feature array while its chunks are joined (its row count is not known up front).
Measured by `benchmarks/bench_large_table.py`.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from evalaction.datasets.base import (
    Dataset,
    ReadOptions,
    count_missing_labels,
    encode_labels,
    few_names,
    label_texts,
    safe_cause,
)
from evalaction.exceptions import InvalidDataset

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

    from evalaction.plan import DatasetSpec

CHUNK_ROWS = 65_536
CSV_BLOCK_BYTES = 8 << 20  # pyarrow's CSV block: types are fixed up front, so blocks may differ


def read_table(path: Path, spec: DatasetSpec, fmt: str, task: str, options: ReadOptions | None = None) -> Dataset:
    """Read a CSV or Parquet test set (or, with `options.features=False`, only its ids, labels and hashes)."""
    import numpy as np

    from evalaction.datasets.hashing import FeatureHasher

    options = options or ReadOptions()
    if path.is_dir():
        raise InvalidDataset(
            f"{path}: expected a {fmt} file, found a folder; fix `dataset.path` or `dataset.format`"
        )
    names, types = _schema(path, fmt)
    features = _feature_columns(path.name, names, types, spec)
    label_col, id_col = spec.label_column, spec.id_column
    wanted = list(dict.fromkeys([*features, label_col, *([id_col] if id_col else []), *spec.slice_columns]))
    dtype = np.float32 if options.float32 else np.float64
    n_known = _parquet_rows(path) if fmt == "parquet" else None
    out = np.empty((n_known, len(features)), dtype=dtype) if (n_known is not None and options.features) else None
    hasher = FeatureHasher()
    chunks: list[np.ndarray] = []
    labels: list[np.ndarray] = []
    ids: list[np.ndarray] = []
    slices: dict[str, list[np.ndarray]] = {c: [] for c in spec.slice_columns}
    missing_x = 0
    n = 0
    for batch in _batches(path, fmt, wanted, features, task, spec):
        x = hasher.add(np.column_stack([_as_float(batch.column(c)) for c in features]))
        missing_x += int(np.isnan(x).sum())
        with np.errstate(over="ignore"):  # beyond float32 becomes inf, named by screen_invalid_values
            if out is not None:
                out[n : n + len(x)] = x
            elif options.features:
                chunks.append(x.astype(dtype) if dtype is np.float32 else x)
        n += len(x)
        labels.append(_label_values(batch.column(label_col), task))
        if id_col:
            ids.append(batch.column(id_col).cast("string").to_numpy(zero_copy_only=False))
        for c in spec.slice_columns:
            slices[c].append(_shared_strings(batch.column(c)))
    if n == 0:
        raise InvalidDataset(f"{path.name}: expected at least one sample, found an empty table; fix the test set")
    if out is not None:
        feats = out
    elif options.features:
        feats = np.concatenate(chunks) if len(chunks) > 1 else chunks[0]
    else:
        feats = np.empty((n, 0), dtype=dtype)
    raw = np.concatenate(labels)
    if fmt == "csv" and task != "regression":
        raw = _numeric_label_text(raw)
    y, classes = encode_labels(raw, spec.class_names, task, path.name)
    missing_labels = count_missing_labels(raw, task)
    return Dataset(
        source=path,
        format=fmt,
        ids=_join_ids(ids) if id_col else np.array([str(i) for i in range(n)], dtype=object),
        raw_labels=raw,
        y=y,
        classes=classes,
        features=feats,
        slices={c: np.concatenate(parts) for c, parts in slices.items()},
        missing_values=missing_x + missing_labels,
        missing_labels=missing_labels,
        row_hashes=hasher.row_hashes,
        features_digest=hasher.hexdigest(),
        has_ids=id_col is not None,
        feature_names=features if options.features else [],
    )


def _first_line(exc: BaseException) -> str:
    return safe_cause(exc)  # never a cell or a row of the file


def _schema(path: Path, fmt: str) -> tuple[list[str], list[pa.DataType]]:
    """Column names and types (CSV: inferred from the first block)."""
    try:
        if fmt == "parquet":
            import pyarrow.parquet as pq

            schema = pq.ParquetFile(path).schema_arrow
        else:
            import pyarrow.csv as pacsv

            with pacsv.open_csv(path, read_options=pacsv.ReadOptions(block_size=CSV_BLOCK_BYTES)) as reader:
                schema = reader.schema
    except Exception as exc:  # pyarrow raises several types; name the file and the cause in one line
        raise InvalidDataset(
            f"{path.name}: cannot read as {fmt} ({_first_line(exc)}); check the file and `dataset.format`"
        ) from None
    return [str(n) for n in schema.names], list(schema.types)


def _parquet_rows(path: Path) -> int:
    import pyarrow.parquet as pq

    return int(pq.ParquetFile(path).metadata.num_rows)


def _is_numeric(t: pa.DataType) -> bool:
    import pyarrow as pa

    return bool(
        pa.types.is_integer(t)
        or pa.types.is_floating(t)
        or pa.types.is_boolean(t)
        or pa.types.is_decimal(t)
        or pa.types.is_null(t)
    )


def _feature_columns(source: str, names: list[str], types: list[pa.DataType], spec: DatasetSpec) -> list[str]:
    for role, col in (("label_column", spec.label_column), ("id_column", spec.id_column)):
        if col is not None and col not in names:
            raise InvalidDataset(
                f"{source}: `dataset.{role}` {col!r} is not a column; found columns {_few(names)}; fix the plan"
            )
    for col in spec.slice_columns:
        if col not in names:
            raise InvalidDataset(
                f"{source}: `dataset.slice_columns` names {col!r}, not a column; found {_few(names)}; fix the plan"
            )
    reserved = {spec.label_column, spec.id_column, *spec.slice_columns}
    if spec.feature_columns:
        features: list[str] = []
        for pattern in spec.feature_columns:
            hits = [c for c in names if fnmatch.fnmatchcase(c, pattern) and c not in reserved]
            if not hits:
                raise InvalidDataset(
                    f"{source}: `dataset.feature_columns` pattern {pattern!r} matches no column; "
                    f"found {_few(names)}; add the column to the test set or fix `dataset.feature_columns`"
                )
            features.extend(h for h in hits if h not in features)
    else:
        features = [c for c in names if c not in reserved]
    if not features:
        raise InvalidDataset(
            f"{source}: no feature columns left after label/id/slices; set `dataset.feature_columns`"
        )
    kinds = dict(zip(names, types, strict=True))
    non_numeric = [c for c in features if not _is_numeric(kinds[c])]
    if non_numeric:
        raise InvalidDataset(
            f"{source}: feature column {non_numeric[0]!r} is not numeric (found {kinds[non_numeric[0]]}); encode it "
            "or leave it out of `dataset.feature_columns`"
        )
    return features


def _batches(
    path: Path, fmt: str, wanted: list[str], features: list[str], task: str, spec: DatasetSpec
) -> Iterator[pa.RecordBatch]:
    import pyarrow as pa

    try:
        if fmt == "parquet":
            import pyarrow.parquet as pq

            yield from pq.ParquetFile(path).iter_batches(batch_size=CHUNK_ROWS, columns=wanted)
            return
        import pyarrow.csv as pacsv

        # every chunk gets the same types: features float64, labels text (classification), the rest text
        types: dict[str, pa.DataType] = {c: pa.string() for c in wanted}
        types.update({c: pa.float64() for c in features})
        if task == "regression":
            types[spec.label_column] = pa.float64()
        with pacsv.open_csv(
            path,
            read_options=pacsv.ReadOptions(block_size=CSV_BLOCK_BYTES),
            convert_options=pacsv.ConvertOptions(column_types=types, include_columns=wanted),
        ) as reader:
            for batch in reader:
                if len(batch) > CHUNK_ROWS:
                    for start in range(0, len(batch), CHUNK_ROWS):
                        yield batch.slice(start, CHUNK_ROWS)
                else:
                    yield batch
    except (pa.ArrowInvalid, pa.ArrowTypeError, OSError) as exc:
        raise InvalidDataset(
            f"{path.name}: cannot read as {fmt} ({_first_line(exc)}); fix the named column's values"
        ) from None


def _join_ids(parts: list[np.ndarray]) -> np.ndarray:
    import numpy as np

    ids = np.concatenate(parts).astype(object, copy=False)
    ids[ids == None] = ""  # noqa: E711 - elementwise comparison with None on an object array
    return ids


def _shared_strings(col: pa.Array) -> np.ndarray:
    """A column as an object array of text in which equal values share one str (slices take few values)."""
    import numpy as np

    encoded = col.cast("string").dictionary_encode()
    words = np.array([*encoded.dictionary.to_pylist(), "None"], dtype=object)
    codes = encoded.indices.fill_null(len(words) - 1).to_numpy(zero_copy_only=False)
    text: np.ndarray = words[codes.astype(np.int64)]
    return text


def _as_float(col: pa.Array) -> np.ndarray:
    """A numeric column as float64, nulls as NaN."""
    import numpy as np
    import pyarrow as pa

    if pa.types.is_null(col.type):
        return np.full(len(col), np.nan)
    return np.asarray(col.cast(pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)


def _label_values(col: pa.Array, task: str) -> np.ndarray:
    import numpy as np
    import pyarrow as pa

    if task == "regression":
        return _as_float(col)
    if pa.types.is_integer(col.type) or pa.types.is_floating(col.type):
        return np.asarray(col.to_numpy(zero_copy_only=False))  # nulls become NaN: missing labels
    return np.asarray(col.to_pylist(), dtype=object)


def _numeric_label_text(raw: np.ndarray) -> np.ndarray:
    """CSV labels arrive as text; when every one is a number, normalize them like a numeric column (7.0 -> "7")."""
    import numpy as np

    values = [v for v in raw if v not in (None, "")]
    try:
        numbers = [float(v) for v in values]
    except (TypeError, ValueError):
        return raw
    if not numbers:
        return raw
    out = [None if v in (None, "") else float(v) for v in raw]
    return np.array(label_texts(np.array(out, dtype=object)), dtype=object)


def _few(columns: list[str]) -> str:
    return few_names(columns)

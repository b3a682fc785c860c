"""The dataset every stage sees: ids, labels encoded against the class list, slices, and features in batches.

`load_dataset` picks the reader the plan's format names (tables, arrays, image folders, COCO JSON), fetching a
Roboflow version into the cache first when the plan names one. `load_plan_datasets` loads the test set and, for
the leakage check, the training data (ids and content hashes only: a training set's features are never kept).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from evalaction.errors import InvalidDataset, InvalidPlan

if TYPE_CHECKING:
    import numpy as np

    from evalaction.config import DatasetSpec, LoadedPlan, Plan
    from evalaction.datasets.sources import DataSources


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


def load_dataset(
    spec: DatasetSpec,
    base_dir: Path,
    task: str,
    *,
    options: ReadOptions | None = None,
    sources: DataSources | None = None,
) -> Dataset:
    """Read the plan's test set with the reader its format names (fetching a Roboflow version first)."""
    options = options or ReadOptions()
    fmt = spec.resolved_format
    origin = None
    if spec.roboflow is not None:
        from evalaction.datasets.roboflow import fetch_roboflow
        from evalaction.datasets.sources import DataSources

        fetched = fetch_roboflow(spec.roboflow, sources or DataSources())
        path = fetched.path
        origin = f"roboflow {spec.roboflow.key}" + (" (cache hit)" if fetched.cache_hit else " (downloaded)")
        if options.split is None:
            options = _replace(options, split=spec.roboflow.split)
    else:
        assert spec.path is not None  # DatasetSpec guarantees path or roboflow
        path = (base_dir / spec.path).resolve()
        if options.split is None and spec.split is not None:
            options = _replace(options, split=spec.split)
    if fmt in ("csv", "parquet"):
        from evalaction.datasets.tabular import read_table

        ds = read_table(path, spec, fmt, task, options)
    elif fmt in ("npz", "npy"):
        from evalaction.datasets.arrays import read_arrays

        ds = read_arrays(path, spec, fmt, task, options)
    elif fmt == "coco":
        from evalaction.datasets.coco import read_coco

        ds = read_coco(path, spec, task, options)
    else:
        from evalaction.datasets.images import read_image_folder

        ds = read_image_folder(path, spec, task, options)
    if origin is not None:
        ds.origin = origin
    if options.features:
        ds = screen_invalid_values(ds, spec.invalid_values, options, path.name)
    return ds


def _replace(options: ReadOptions, **changes: object) -> ReadOptions:
    import dataclasses

    return dataclasses.replace(options, **changes)  # type: ignore[arg-type]


def read_options_for(plan: Plan) -> ReadOptions:
    """Decoding options from the models' preprocessing.

    Images are decoded once, at the candidate's `image_size` and `grayscale`; a baseline that asks for another
    size is refused (the test set would differ between the models). Table features are stored as float32 when
    every model casts to float32 with `scale: 1, shift: 0` and no mean/std: then float32(x) is exactly what each
    model sees, so halving the memory changes no prediction. Otherwise they stay float64.
    """
    specs = [plan.models.candidate] + ([plan.models.baseline] if plan.models.baseline else [])
    cand = plan.models.candidate.preprocessing
    for role, spec in zip(("candidate", "baseline"), specs, strict=False):
        pre = spec.preprocessing
        if (pre.image_size, pre.grayscale) != (cand.image_size, cand.grayscale):
            raise InvalidPlan(
                f"`models.{role}.preprocessing`: expected image_size {cand.image_size} and grayscale "
                f"{cand.grayscale} like the candidate, found {pre.image_size} and {pre.grayscale}; the test set is "
                "decoded once, so give both models the same image_size and grayscale"
            )
    exact32 = all(
        s.preprocessing.dtype == "float32"
        and s.preprocessing.scale == 1.0
        and s.preprocessing.shift == 0.0
        and s.preprocessing.mean is None
        for s in specs
    )
    size = cand.image_size
    if size is not None and len(size) != 2:
        raise InvalidPlan(
            f"`models.candidate.preprocessing.image_size`: expected [height, width], found {size}; give two numbers"
        )
    return ReadOptions(
        image_size=(int(size[0]), int(size[1])) if size else None,
        grayscale=cand.grayscale,
        float32=exact32,
        float32_inputs=any(s.preprocessing.dtype == "float32" for s in specs),
    )


def load_plan_datasets(loaded: LoadedPlan, sources: DataSources | None = None) -> tuple[Dataset, Dataset | None]:
    """The test set, and the training data named by `train_path` or `train_split` (hashes only) for leakage."""
    p = loaded.plan
    options = read_options_for(p)
    dataset = load_dataset(p.dataset, loaded.base_dir, p.task, options=options, sources=sources)
    train = None
    train_options = _replace(options, features=False)
    if p.dataset.train_path:
        spec = p.dataset.model_copy(update={"path": p.dataset.train_path, "roboflow": None, "split": None})
        train = load_dataset(spec, loaded.base_dir, p.task, options=train_options, sources=sources)
    elif p.dataset.train_split:
        train = load_dataset(
            p.dataset,
            loaded.base_dir,
            p.task,
            options=_replace(train_options, split=p.dataset.train_split),
            sources=sources,
        )
    _check_class_refs(loaded, dataset)
    return dataset, train


def _check_class_refs(loaded: LoadedPlan, dataset: Dataset) -> None:
    """`recall[eleven]` and `negative_flips[eleven]` name a class of the test set, checked when it is read (the
    plan stage), not first at the verdict."""
    from evalaction.config import parse_metric_ref

    p = loaded.plan
    if not dataset.classes:
        return
    refs = [("gates.thresholds", r) for r in p.gates.thresholds] + [
        ("gates.vs_baseline", r) for r in p.gates.vs_baseline
    ]
    refs += [("metrics.compute", r) for r in p.metrics.compute] + [("gates.errors", r) for r in p.gates.errors]
    for where, ref in refs:
        try:
            cls_name = parse_metric_ref(ref)[1]
        except ValueError:
            continue
        if cls_name is None or cls_name == "*" or "=" in cls_name or cls_name in dataset.classes:
            continue
        raise InvalidPlan(
            f"{loaded.path.name}: `{where}.{ref}`: expected a class of the test set, found {cls_name!r}; use one "
            f"of {few_names(list(dataset.classes))}"
        )

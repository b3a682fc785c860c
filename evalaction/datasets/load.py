"""Pick the reader the plan's format names and load the test set (and the training data, for leakage).

`load_dataset` picks the reader (tables, arrays, image folders, COCO JSON), fetching a Roboflow version into the
cache first when the plan names one. `load_plan_datasets` loads the test set and, for the leakage check, the
training data (ids and content hashes; the features too when it is a table or an array file, small beside the
test set, which the errors stage's distance check would otherwise read again). The readers import
`evalaction.datasets.base`, never this module, so the import graph has no cycle.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

from evalaction.datasets.base import Dataset, ReadOptions, few_names, screen_invalid_values
from evalaction.exceptions import InvalidPlan

if TYPE_CHECKING:
    from evalaction.datasets.sources import DataSources
    from evalaction.plan import DatasetSpec, LoadedPlan, Plan


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
    """The test set, and the training data named by `train_path` or `train_split` for leakage (hashes; for a
    `train_path` table or array file the features too, which the errors stage's distance check uses)."""
    p = loaded.plan
    options = read_options_for(p)
    dataset = load_dataset(p.dataset, loaded.base_dir, p.task, options=options, sources=sources)
    train = None
    train_options = _replace(options, features=False)
    if p.dataset.train_path:
        spec = p.dataset.model_copy(update={"path": p.dataset.train_path, "roboflow": None, "split": None})
        if spec.resolved_format in ("csv", "parquet", "npz", "npy"):  # kept for the errors stage's k-NN
            train_options = options
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
    from evalaction.plan import parse_metric_ref

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

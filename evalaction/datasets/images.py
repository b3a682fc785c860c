"""Image folders: `root/<class>/*.png|jpg`, one subfolder per class."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from evalaction.datasets.base import Dataset, encode_labels
from evalaction.errors import InvalidDataset

if TYPE_CHECKING:
    from evalaction.config import DatasetSpec

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}


def read_image_folder(root: Path, spec: DatasetSpec, task: str) -> Dataset:
    import numpy as np
    from PIL import Image

    if task == "regression":
        raise InvalidDataset(f"{root.name}: image folders hold class labels; use a table for regression targets")
    files: list[tuple[str, Path]] = []
    for sub in sorted(p for p in root.iterdir() if p.is_dir()):
        files.extend((sub.name, f) for f in sorted(sub.iterdir()) if f.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise InvalidDataset(
            f"{root}: expected class subfolders holding images (root/<class>/*.png), found none; fix `dataset.path`"
        )
    arrays = []
    shape = None
    for _label, f in files:
        try:
            with Image.open(f) as img:
                img = img.convert("L")
                arr = np.asarray(img, dtype=np.float64)
        except Exception as exc:
            raise InvalidDataset(f"{f}: cannot read as an image ({exc}); remove or replace the file") from None
        if shape is None:
            shape = arr.shape
        elif arr.shape != shape:
            raise InvalidDataset(
                f"{f}: expected {shape[1]}x{shape[0]} pixels like the first image, found {arr.shape[1]}x{arr.shape[0]}; "
                "resize the images to one size"
            )
        arrays.append(arr.reshape(-1))
    raw = np.array([label for label, _ in files], dtype=object)
    y, classes = encode_labels(raw, spec.class_names, task, root.name)
    ids = np.array([str(f.relative_to(root)) for _, f in files], dtype=object)
    return Dataset(
        source=root,
        format="image_folder",
        ids=ids,
        raw_labels=raw,
        y=y,
        classes=classes,
        features=np.stack(arrays),
        slices={},
    )

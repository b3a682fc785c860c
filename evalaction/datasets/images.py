"""Image folders: `root/<class>/*.png|jpg`, one subfolder per class (Roboflow's `folder` export adds a level of
`train/ valid/ test/` split folders, chosen by `dataset.split`, default `test`).

Images are decoded one at a time into one preallocated uint8 array: RGB (or grayscale with
`preprocessing.grayscale`), resized to `preprocessing.image_size` when set, stored channel-first (C, H, W) and
flattened, so `preprocessing: {scale: 0.00392156862745098, input_shape: [3, H, W]}` gives a model its usual
input. 1,000 RGB images at 224x224 cost 150 MB. While decoding, each image also gets the sha256 of its file
bytes, a hash of its decoded pixels (exact duplicates), and its dHash (near-duplicates).
"""

from __future__ import annotations

import hashlib
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from evalaction.datasets.base import Dataset, ReadOptions, count_missing_labels, encode_labels, safe_cause
from evalaction.exceptions import InvalidDataset

if TYPE_CHECKING:
    import numpy as np

    from evalaction.plan import DatasetSpec

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}
SPLIT_NAMES = ("train", "valid", "val", "test")


def choose_split(root: Path, split: str | None) -> tuple[Path, str | None]:
    """The folder holding the requested split of an export (`root/test`), or `root` itself when it has none.

    With no split named, an export whose only subfolders are split names (train/valid/test) gives its `test`.
    """
    if not root.is_dir():
        raise InvalidDataset(f"{root}: expected a folder, found none; fix `dataset.path`")
    subdirs = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if split is not None:
        if (root / split).is_dir():
            return root / split, split
        if root.name == split:
            return root, split
        raise InvalidDataset(
            f"{root}: expected a `{split}` split folder, found {subdirs or 'no folders'}; "
            "set `dataset.split` (or `roboflow.split`) to one of them"
        )
    if subdirs and set(subdirs) <= set(SPLIT_NAMES):
        if "test" in subdirs:
            return root / "test", "test"
        raise InvalidDataset(
            f"{root}: an export with splits {subdirs} but no `test`; set `dataset.split` to the one to evaluate"
        )
    return root, None


@dataclass
class DecodedImages:
    """What decoding a list of image files gives, in file order."""

    features: np.ndarray  # (N, C*H*W) uint8, or (N, 0) when features were not asked for
    row_hashes: np.ndarray  # (N,) S16 over decoded pixels
    content_sha256: np.ndarray  # (N,) sha256 hex of the file bytes
    perceptual_hashes: np.ndarray  # (N,) uint64 dHash
    digest: str  # sha256 over the files' sha256 digests, in order


def decode_images(files: list[Path], options: ReadOptions) -> DecodedImages:
    """Decode images one at a time into a preallocated uint8 array (channel-first, flattened)."""
    import io

    import numpy as np
    from PIL import Image

    from evalaction.datasets.hashing import dhash, pixel_hash

    mode = "L" if options.grayscale else "RGB"
    n = len(files)
    out: np.ndarray | None = None
    first: tuple[Path, tuple[int, ...]] | None = None
    row_hashes = np.empty(n, dtype="S16")
    shas = np.empty(n, dtype=object)
    phashes = np.empty(n, dtype=np.uint64)
    digest = hashlib.sha256()
    warned = False
    for i, f in enumerate(files):
        data = f.read_bytes()
        sha = hashlib.sha256(data)
        shas[i] = sha.hexdigest()
        digest.update(sha.digest())
        try:
            # PIL warns (DecompressionBombWarning, truncated EXIF...) through `warnings`, which would print raw
            # source lines on stderr; they are caught and said once, in one line
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                with Image.open(io.BytesIO(data)) as img:
                    img.load()
                    phashes[i] = dhash(img)
                    converted = img.convert(mode)
        except Exception as exc:  # PIL raises many types for a broken file
            raise InvalidDataset(
                f"{f}: cannot read as an image ({safe_cause(exc)}); remove or replace the file"
            ) from None
        if caught and not warned:
            warned = True
            said = safe_cause(Exception(str(caught[0].message)))
            print(f"warning: {f}: {said} (further image warnings not shown)", file=sys.stderr)
        pixels = np.asarray(converted)
        row_hashes[i] = pixel_hash(pixels, mode)
        if not options.features:
            continue
        if options.image_size is not None:
            height, width = options.image_size
            if converted.size != (width, height):
                pixels = np.asarray(converted.resize((width, height), Image.Resampling.BILINEAR))
        chw = pixels[None, :, :] if pixels.ndim == 2 else pixels.transpose(2, 0, 1)
        if first is None:
            first = (f, chw.shape)
            out = np.empty((n, chw.size), dtype=np.uint8)
        elif chw.shape != first[1]:
            raise InvalidDataset(
                f"{f}: expected {first[1][2]}x{first[1][1]} pixels like {first[0].name}, found "
                f"{chw.shape[2]}x{chw.shape[1]}; set `preprocessing.image_size: [height, width]` to resize"
            )
        assert out is not None
        out[i] = chw.reshape(-1)
    features = out if out is not None else np.empty((n, 0), dtype=np.uint8)
    return DecodedImages(features, row_hashes, shas, phashes, digest.hexdigest())


def read_image_folder(root: Path, spec: DatasetSpec, task: str, options: ReadOptions | None = None) -> Dataset:
    """Read `root/<class>/*` (after choosing the split of an export)."""
    import numpy as np

    options = options or ReadOptions()
    if task == "regression":
        raise InvalidDataset(f"{root.name}: image folders hold class labels; use a table for regression targets")
    if spec.slice_columns:
        raise InvalidDataset(
            f"{root.name}: an image folder has no columns to slice by, found `dataset.slice_columns` "
            f"{spec.slice_columns}; drop them, or use a COCO export whose images carry those fields"
        )
    folder, split = choose_split(root, options.split)
    files: list[tuple[str, Path]] = []
    for sub in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        files.extend(
            (sub.name, f) for f in sorted(sub.iterdir()) if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES
        )
    if not files:
        raise InvalidDataset(
            f"{folder}: expected class subfolders holding images (<class>/*.png|jpg), found none; "
            "fix `dataset.path` or `dataset.split`"
        )
    inside = root.resolve()
    for _, f in files:
        # a symlink in the folder (an image, or a class folder) must not reach out of it: the report shows images
        if not f.resolve().is_relative_to(inside):
            raise InvalidDataset(
                f"{f}: a symlink pointing out of the test set's folder {root}; replace it with the file itself"
            )
    decoded = decode_images([f for _, f in files], options)
    raw = np.array([label for label, _ in files], dtype=object)
    y, classes = encode_labels(raw, spec.class_names, task, folder.name)
    missing_labels = count_missing_labels(raw, task)
    return Dataset(
        source=folder,
        format="image_folder",
        ids=np.array([f.relative_to(folder).as_posix() for _, f in files], dtype=object),
        raw_labels=raw,
        y=y,
        classes=classes,
        features=decoded.features,
        slices={},
        missing_values=missing_labels,
        missing_labels=missing_labels,
        row_hashes=decoded.row_hashes,
        content_sha256=decoded.content_sha256,
        perceptual_hashes=decoded.perceptual_hashes,
        features_digest=decoded.digest,
        split=split,
    )

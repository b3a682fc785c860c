"""Curation checks on a test set: duplicates, near-duplicates, leakage, labels, class balance, slice coverage.

Pure functions over a `Dataset` (plus the training data or manifest for leakage); the plan stage puts their
results in the dataset card and `stages/plan.py:curation_gates` turns them into gates.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from evalaction.artifacts import Leakage
from evalaction.datasets.base import safe_cause
from evalaction.exceptions import InvalidDataset

if TYPE_CHECKING:
    from evalaction.datasets.base import Dataset

_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")
EXAMPLES = 10


@dataclass
class Manifest:
    """A training manifest: sample ids and sha256 file hashes, one per line (`sha256sum` output works)."""

    path: Path
    ids: set[str] = field(default_factory=set)
    sha256: set[str] = field(default_factory=set)


def read_manifest(path: Path) -> Manifest:
    """Lines of 64 hex digits are file hashes; other lines are ids. `<hash>  <file>` keeps the hash; `#` comments."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidDataset(
            f"{path.name}: cannot read the training manifest ({safe_cause(exc)}); give a UTF-8 text file"
        ) from None
    manifest = Manifest(path)
    for line in text.splitlines():
        entry = line.strip()
        if not entry or entry.startswith("#"):
            continue
        first = entry.split()[0]
        if _SHA256.match(first):
            manifest.sha256.add(first.lower())
        else:
            manifest.ids.add(entry)
    return manifest


def duplicate_groups(ds: Dataset) -> list[list[int]]:
    """Groups (size >= 2) of sample indices whose content is exactly equal, in first-seen order."""
    import numpy as np

    hashes = ds.hashes()
    if len(hashes) == 0:
        return []
    _, first, inverse, counts = np.unique(hashes, return_index=True, return_inverse=True, return_counts=True)
    dup_keys = np.flatnonzero(counts > 1)
    if len(dup_keys) == 0:
        return []
    # every duplicated row, grouped by its content with one stable sort (no Python loop over rows)
    rows = np.flatnonzero(np.isin(inverse, dup_keys))
    keys = inverse.reshape(-1)[rows]
    order = np.argsort(keys, kind="stable")
    groups = [g.tolist() for g in np.split(rows[order], np.flatnonzero(np.diff(keys[order])) + 1)]
    return sorted(groups, key=lambda g: g[0])


def near_duplicates(ds: Dataset, max_distance: int) -> list[list[int]] | None:
    """Groups of images within `max_distance` dHash bits of each other; None for a test set without images."""
    from evalaction.datasets.hashing import near_duplicate_groups

    if ds.perceptual_hashes is None:
        return None
    return near_duplicate_groups(ds.perceptual_hashes, max_distance)


def extra_members(groups: list[list[int]]) -> int:
    """Samples that repeat an earlier member of their group (a group of k counts k - 1)."""
    return sum(len(g) - 1 for g in groups)


def find_leakage(
    test: Dataset, train: Dataset | None, manifest: Manifest | None, near_distance: int
) -> Leakage | None:
    """Test samples whose content (or id) is in the training data; None when no training data was given."""
    import numpy as np

    if train is None and manifest is None:
        return None
    n = len(test)
    by_content = np.zeros(n, dtype=bool)
    by_id = np.zeros(n, dtype=bool)
    near = None
    sources = []
    test_ids = test.ids.astype(str)
    if train is not None:
        sources.append(f"training data {train.source.name} ({len(train)} samples)")
        by_content |= np.isin(test.hashes(), train.hashes())
        if test.content_sha256 is not None and train.content_sha256 is not None:
            by_content |= np.isin(test.content_sha256.astype(str), train.content_sha256.astype(str))
        # image ids are paths inside their folder: train/cat/1.png and test/cat/1.png are different images
        is_images = test.content_sha256 is not None or train.content_sha256 is not None
        if test.has_ids and train.has_ids and not is_images:
            by_id |= np.isin(test_ids, train.ids.astype(str))
        if test.perceptual_hashes is not None and train.perceptual_hashes is not None:
            from evalaction.datasets.hashing import near_matches

            close = near_matches(test.perceptual_hashes, train.perceptual_hashes, near_distance)
            near = close
    if manifest is not None:
        sources.append(
            f"manifest {manifest.path.name} ({len(manifest.ids)} ids, {len(manifest.sha256)} file hashes)"
        )
        if manifest.sha256 and test.content_sha256 is not None:
            by_content |= np.isin(test.content_sha256.astype(str), np.array(sorted(manifest.sha256)))
        if manifest.ids and test.has_ids:
            by_id |= np.isin(test_ids, np.array(sorted(manifest.ids), dtype=str))
    leaked = by_content | by_id
    near_only = None if near is None else int((near & ~leaked).sum())
    return Leakage(
        n=int(leaked.sum()),
        by_content=int(by_content.sum()),
        by_id=int(by_id.sum()),
        near=near_only,
        sources=sources,
        examples=[str(test.ids[i]) for i in np.flatnonzero(leaked)[:EXAMPLES]],
    )


def class_counts(ds: Dataset) -> dict[str, int]:
    """Samples per class of the class list (0 for an absent class)."""
    import numpy as np

    counts = np.bincount(ds.y[ds.y >= 0], minlength=len(ds.classes))
    return {c: int(n) for c, n in zip(ds.classes, counts, strict=True)}


def class_balance(counts: dict[str, int]) -> tuple[float | None, tuple[str, int] | None]:
    """(smallest count / largest count, (rarest class, its count)); (None, None) without classes."""
    if not counts:
        return None, None
    rarest = min(counts.items(), key=lambda kv: (kv[1], list(counts).index(kv[0])))
    largest = max(counts.values())
    return (rarest[1] / largest if largest else 0.0), rarest


def slice_counts(ds: Dataset) -> dict[str, dict[str, int]]:
    """Slice column -> value -> samples."""
    import numpy as np

    return {
        col: {str(v): int(n) for v, n in zip(*np.unique(vals.astype(str), return_counts=True), strict=True)}
        for col, vals in ds.slices.items()
    }


def slice_coverage(ds: Dataset, required: dict[str, list[str]]) -> dict[str, dict[str, int]]:
    """For each slice: samples of every required value (0 when absent), else of every value seen."""
    seen = slice_counts(ds)
    out: dict[str, dict[str, int]] = {}
    for col, counts in seen.items():
        wanted = required.get(col)
        out[col] = {str(v): counts.get(str(v), 0) for v in wanted} if wanted else dict(counts)
    return out

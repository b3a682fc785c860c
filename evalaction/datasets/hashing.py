"""Content hashes (exact duplicates, leakage, the fingerprint) and perceptual hashes (near-duplicate images).

Pure numpy + PIL; no I/O. The dHash follows Krawetz, "Kind of Like That" (hackerfactor.com, 2013) and matches
`imagehash.dhash` bit for bit: the image in grayscale, resized to 9x8 with Lanczos, one bit per horizontally
adjacent pixel pair (`right > left`), row-major, the first bit the most significant.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    from PIL.Image import Image

ROW_HASH_BYTES = 16


class FeatureHasher:
    """Hash feature rows chunk by chunk: a 16-byte blake2b per row and a running sha256 over all rows.

    Rows are hashed as float64 with -0.0 folded into 0.0, so a row hashes the same whether it was stored as
    int, float32 or float64 (when the values are equal).
    """

    def __init__(self) -> None:
        self._parts: list[np.ndarray] = []
        self._sha = hashlib.sha256()

    def add(self, chunk: np.ndarray) -> np.ndarray:
        """Hash `chunk` (rows x features); return it as the canonical float64 array."""
        import numpy as np

        rows = np.ascontiguousarray(chunk, dtype=np.float64).reshape(len(chunk), -1) + 0.0  # -0.0 -> 0.0
        self._sha.update(rows.data)
        width = rows.shape[1] * 8
        buf = rows.data.cast("B")
        digests = [
            hashlib.blake2b(buf[i * width : (i + 1) * width], digest_size=ROW_HASH_BYTES).digest()
            for i in range(len(rows))
        ]
        self._parts.append(np.array(digests, dtype=f"S{ROW_HASH_BYTES}"))
        return rows

    @property
    def row_hashes(self) -> np.ndarray:
        import numpy as np

        if not self._parts:
            return np.empty(0, dtype=f"S{ROW_HASH_BYTES}")
        if len(self._parts) > 1:
            self._parts = [np.concatenate(self._parts)]
        return self._parts[0]

    def hexdigest(self) -> str:
        return self._sha.hexdigest()


def pixel_hash(pixels: np.ndarray, mode: str) -> bytes:
    """16-byte blake2b over an image's mode, shape and decoded pixels (equal pixels, equal hash)."""
    h = hashlib.blake2b(digest_size=ROW_HASH_BYTES)
    h.update(f"{mode}:{pixels.shape}".encode())
    h.update(memoryview(pixels.tobytes()))
    return h.digest()


def dhash(image: Image, hash_size: int = 8) -> int:
    """Difference hash of a PIL image as a 64-bit integer (hash_size 8)."""
    import numpy as np
    from PIL import Image as PILImage

    small = image.convert("L").resize((hash_size + 1, hash_size), PILImage.Resampling.LANCZOS)
    px = np.asarray(small, dtype=np.int16)
    bits = (px[:, 1:] > px[:, :-1]).reshape(-1)
    value = 0
    for b in bits:
        value = (value << 1) | int(b)
    return value


_POP8 = None


def popcount64(x: np.ndarray) -> np.ndarray:
    """Number of set bits of each uint64."""
    import numpy as np

    if hasattr(np, "bitwise_count"):  # numpy >= 2.0
        counted: np.ndarray = np.bitwise_count(x).astype(np.int64)
        return counted
    global _POP8
    if _POP8 is None:
        _POP8 = np.array([bin(i).count("1") for i in range(256)], dtype=np.int64)
    b = np.ascontiguousarray(x, dtype=np.uint64).view(np.uint8).reshape(*x.shape, 8)
    summed: np.ndarray = _POP8[b].sum(axis=-1)
    return summed


def _bands(max_distance: int) -> list[tuple[int, int]]:
    """(shift, width) of max_distance + 1 bands covering 64 bits.

    Pigeonhole: two 64-bit hashes within Hamming distance d differ in at most d bands, so with d + 1 bands they
    agree exactly on at least one; only hashes sharing a band value need comparing (Manku et al., "Detecting
    near-duplicates for web crawling", WWW 2007).
    """
    n = max_distance + 1
    widths = [64 // n + (1 if i < 64 % n else 0) for i in range(n)]
    out, shift = [], 0
    for w in widths:
        out.append((shift, w))
        shift += w
    return out


def _band_keys(values: np.ndarray, shift: int, width: int) -> np.ndarray:
    import numpy as np

    mask = np.uint64((1 << width) - 1) if width < 64 else np.uint64(0xFFFFFFFFFFFFFFFF)
    return (values >> np.uint64(shift)) & mask


def close_pairs(values: np.ndarray, max_distance: int) -> set[tuple[int, int]]:
    """Index pairs (i < j) of distinct uint64 `values` within Hamming distance `max_distance`."""
    import numpy as np

    pairs: set[tuple[int, int]] = set()
    if max_distance <= 0 or len(values) < 2:
        return pairs
    for shift, width in _bands(max_distance):
        keys = _band_keys(values, shift, width)
        order = np.argsort(keys, kind="stable")
        sorted_keys = keys[order]
        cuts = np.flatnonzero(np.diff(sorted_keys)) + 1
        for bucket in np.split(order, cuts):
            if len(bucket) < 2:
                continue
            bucket = np.sort(bucket)
            for start in range(0, len(bucket), 2048):  # bounded memory for a large bucket
                rows = bucket[start : start + 2048]
                dist = popcount64(values[rows][:, None] ^ values[bucket][None, :])
                ii, jj = np.nonzero(dist <= max_distance)
                for a, b in zip(rows[ii], bucket[jj], strict=True):
                    if a < b:
                        pairs.add((int(a), int(b)))
    return pairs


def near_duplicate_groups(hashes: np.ndarray, max_distance: int) -> list[list[int]]:
    """Groups (size >= 2) of sample indices linked by perceptual distance <= max_distance, in first-seen order.

    Identical hashes are always grouped; groups are connected components (a~b, b~c puts a, b, c together).
    """
    import numpy as np

    uniq, inverse = np.unique(np.asarray(hashes, dtype=np.uint64), return_inverse=True)
    parent = list(range(len(uniq)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for a, b in close_pairs(uniq, max_distance):
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    members: dict[int, list[int]] = {}
    for i, u in enumerate(inverse.reshape(-1)):
        members.setdefault(find(int(u)), []).append(i)
    groups = [g for g in members.values() if len(g) > 1]
    return sorted(groups, key=lambda g: g[0])


def near_matches(query: np.ndarray, reference: np.ndarray, max_distance: int) -> np.ndarray:
    """For each query hash: is some reference hash within Hamming distance `max_distance`?"""
    import numpy as np

    query = np.asarray(query, dtype=np.uint64)
    ref = np.unique(np.asarray(reference, dtype=np.uint64))
    hit = np.isin(query, ref)
    if max_distance <= 0 or len(ref) == 0:
        return hit
    q_uniq, q_inv = np.unique(query, return_inverse=True)
    q_hit = np.isin(q_uniq, ref)
    for shift, width in _bands(max_distance):
        rkeys = _band_keys(ref, shift, width)
        order = np.argsort(rkeys, kind="stable")
        rsorted = rkeys[order]
        qkeys = _band_keys(q_uniq, shift, width)
        lo = np.searchsorted(rsorted, qkeys, side="left")
        hi = np.searchsorted(rsorted, qkeys, side="right")
        for i in np.flatnonzero((hi > lo) & ~q_hit):
            cands = ref[order[lo[i] : hi[i]]]
            if (popcount64(cands ^ q_uniq[i]) <= max_distance).any():
                q_hit[i] = True
    return q_hit[q_inv.reshape(-1)]

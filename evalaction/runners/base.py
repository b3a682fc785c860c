"""The runner protocol, shared preprocessing and output checks, and safe-file checks before any load."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from evalaction.errors import CannotLoadModel, LfsPointerInsteadOfWeights, ModelOutputInvalid

if TYPE_CHECKING:
    import numpy as np

    from evalaction.config import ModelSpec, Preprocessing

LFS_POINTER_PREFIX = b"version https://git-lfs.github.com/spec/v1"


@dataclass
class ModelOutput:
    """Scores for every sample, in dataset order, with the timing of each batch."""

    scores: np.ndarray  # (N, K) probabilities for classification; (N,) for regression
    batch_index: np.ndarray  # (N,) which batch each sample ran in
    batch_latency_ms: np.ndarray  # (n_batches,)
    wall_s: float
    info: dict[str, str] = field(default_factory=dict)


class ModelRunner(Protocol):
    name: str
    provider: str
    threads: int

    def run(self, batches: Iterable[tuple[int, np.ndarray]], n_samples: int) -> ModelOutput: ...


def check_model_file(path: Path, role: str) -> None:
    """Refuse empty files and Git LFS pointers before any framework touches them."""
    size = path.stat().st_size
    if size == 0:
        raise CannotLoadModel(f"{role} model {path.name}: the file is empty (0 bytes); commit the real weights")
    with path.open("rb") as fh:
        head = fh.read(len(LFS_POINTER_PREFIX))
    if head == LFS_POINTER_PREFIX:
        raise LfsPointerInsteadOfWeights(
            f"{role} model {path.name}: found a Git LFS pointer ({size} bytes), not the weights; "
            "fetch them with `git lfs pull`, or set `lfs: true` on actions/checkout"
        )


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def preprocess(x: np.ndarray, pre: Preprocessing) -> np.ndarray:
    """Raw feature rows -> the model's input batch: x*scale+shift, reshape, per-channel (x-mean)/std, dtype."""
    import numpy as np

    out = x.astype(np.float64) * pre.scale + pre.shift
    if pre.input_shape:
        out = out.reshape(len(x), *pre.input_shape)
    if pre.mean is not None and pre.std is not None:
        channels = out.shape[1] if out.ndim > 1 else 1
        mean = np.asarray(pre.mean, dtype=np.float64)
        std = np.asarray(pre.std, dtype=np.float64)
        if len(mean) not in (1, channels):
            raise CannotLoadModel(
                f"preprocessing: {len(mean)} mean/std values for {channels} channels; give one per channel"
            )
        shape = (1, -1) + (1,) * (out.ndim - 2)
        out = (out - mean.reshape(shape)) / std.reshape(shape)
    return out.astype(pre.dtype)


def to_scores(raw: np.ndarray, spec: ModelSpec, task: str, n_classes: int, model_name: str) -> np.ndarray:
    """Model outputs -> probabilities (N, K), or predictions (N,) for regression; NaN/inf and bad sums refused."""
    import numpy as np

    out = np.asarray(raw, dtype=np.float64)
    if not np.isfinite(out).all():
        bad = (
            int((~np.isfinite(out)).any(axis=tuple(range(1, out.ndim))).sum())
            if out.ndim > 1
            else int((~np.isfinite(out)).sum())
        )
        raise ModelOutputInvalid(
            f"{model_name}: {bad} samples have NaN or infinite outputs; check the model and its preprocessing"
        )
    if task == "regression":
        return out.reshape(len(out))
    if out.ndim == 1 or (out.ndim == 2 and out.shape[1] == 1):
        if task != "binary":
            raise ModelOutputInvalid(
                f"{model_name}: one output column for a {task} task with {n_classes} classes; "
                "export per-class outputs"
            )
        pos = out.reshape(len(out))
        pos = 1.0 / (1.0 + np.exp(-pos)) if spec.outputs == "logits" else pos
        out = np.stack([1.0 - pos, pos], axis=1)
    elif out.ndim != 2:
        raise ModelOutputInvalid(f"{model_name}: expected outputs of shape (N, {n_classes}), found {out.shape}")
    elif spec.outputs == "logits":
        shifted = out - out.max(axis=1, keepdims=True)
        e = np.exp(shifted)
        out = e / e.sum(axis=1, keepdims=True)
    if out.shape[1] != n_classes:
        raise ModelOutputInvalid(
            f"{model_name}: outputs {out.shape[1]} classes but the plan has {n_classes}; "
            "fix `dataset.class_names` or the model"
        )
    if spec.outputs == "probabilities":
        sums = out.sum(axis=1)
        if np.abs(sums - 1.0).max() > 1e-3 or out.min() < -1e-6:
            raise ModelOutputInvalid(
                f"{model_name}: outputs are not probabilities (row sums range {sums.min():.3g}..{sums.max():.3g}); "
                "set `outputs: logits` for this model"
            )
    return out


def open_runner(spec: ModelSpec, path: Path, role: str, *, threads: int) -> ModelRunner:
    """The runner for the model's format, after the safe-file checks."""
    check_model_file(path, role)
    fmt = spec.resolved_format
    if fmt == "onnx":
        from evalaction.runners.onnx import OnnxRunner

        return OnnxRunner(path, spec, role=role, threads=threads)
    raise CannotLoadModel(f"{role} model {path.name}: unsupported format {fmt!r}")  # pragma: no cover - Literal

"""The runner protocol, the shared batch loop, preprocessing, output checks, and safe-file checks before any load.

    open_runner(spec, path, ...) ─► check_model_file (missing, empty, LFS pointer)
                                 ─► check_pickle (pickle-based formats need `allow_pickle`, never for forks)
                                 ─► OnnxRunner | TorchRunner | PredictionsRunner
    runner.run(source, batch_size=..., progress=..., check=...) ─► ModelOutput (raw outputs, dataset order)
    to_scores(raw, spec, ...)   ─► probabilities (N, K) / regression predictions (N,)

`open_runner` lives in `evalaction.runners.factory`, the floor above this module and the runners.
Runners never read the environment or print: progress goes through a `ProgressHook` the caller hands in.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

from evalaction.exceptions import (
    CannotLoadModel,
    LfsPointerInsteadOfWeights,
    ModelOutputInvalid,
    UnsafeModelFormat,
)
from evalaction.formats import KINDS, MissingModule, ModelKind, is_pickle_file, model_kind

if TYPE_CHECKING:
    import numpy as np

    from evalaction.plan import ModelSpec, Preprocessing
    from evalaction.runners.progress import ProgressHook

LFS_POINTER_PREFIX = b"version https://git-lfs.github.com/spec/v1"


class BatchSource(Protocol):
    """What a runner reads: the test set's ids and its raw feature rows in order (a `Dataset` is one)."""

    ids: np.ndarray

    def __len__(self) -> int: ...

    def batches(self, batch_size: int) -> Iterator[tuple[int, np.ndarray]]: ...


OutputCheck = Callable[["np.ndarray"], object]
"""Called on the first batch's raw output, so a wrong model fails before the whole test set has run."""


@dataclass
class ModelOutput:
    """Raw model outputs for every sample, in dataset order, with the timing of each batch."""

    scores: np.ndarray  # (N, K) raw outputs (logits or probabilities), or (N,) for regression
    batch_index: np.ndarray  # (N,) which batch each sample ran in
    batch_latency_ms: np.ndarray  # (n_batches,) wall time of the model call alone
    batch_finished_at: np.ndarray  # (n_batches,) Unix time (s) each batch finished
    wall_s: float
    outputs: Literal["logits", "probabilities"] | None = None  # overrides the spec (own one-hot predictions)
    warnings: list[str] = field(default_factory=list)


class ModelRunner(Protocol):
    name: str  # onnxruntime | torch | predictions-file | modal
    kind: str  # onnx | torchscript | torch.export | state_dict | predictions
    provider: str
    device: str
    threads: int

    def versions(self) -> dict[str, str]: ...

    def run(
        self,
        source: BatchSource,
        *,
        batch_size: int,
        progress: ProgressHook | None = None,
        check: OutputCheck | None = None,
    ) -> ModelOutput: ...


# ------------------------------------------------------------------------------------------ safe-file checks


def check_model_file(path: Path, role: str) -> None:
    """Refuse missing and empty files and Git LFS pointers before any framework touches them."""
    if not path.is_file():
        raise CannotLoadModel(f"{role} model {path}: no such file; fix the model's `path` (or the override)")
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


def check_pickle(spec: ModelSpec, path: Path, role: str, kind: str | ModelKind, *, untrusted: bool) -> None:
    """Pickle-based weights run code when loaded: refuse them unless the plan allows it, and always for forks."""
    if spec.allow_pickle and not untrusted:
        return
    row = kind if isinstance(kind, ModelKind) else next((k for k in KINDS if k.kind == kind and k.pickle), None)
    what = row.pickle_what if row is not None and row.pickle_what else f"{kind} files are pickle-based"
    if untrusted:
        raise UnsafeModelFormat(
            f"{role} model {path.name}: {what} and this pull request comes from a fork, so it is never unpickled "
            "(`allow_pickle` is ignored for forks); export the model to ONNX or save its state_dict as safetensors"
        )
    raise UnsafeModelFormat(
        f"{role} model {path.name}: {what}, and unpickling can run code; export to ONNX or save the state_dict "
        "as safetensors, or set `allow_pickle: true` on the model if you trust this file"
    )


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# ---------------------------------------------------------------------------------------------- preprocessing


def preprocess(x: np.ndarray, pre: Preprocessing) -> np.ndarray:
    """Raw feature rows -> the model's input batch: x*scale+shift, reshape, per-channel (x-mean)/std, dtype.

    The arithmetic is done in float64 and cast once at the end. This is the reference definition; the batch
    loop uses `Preprocessor`, which gives bit-identical results with less work per batch.
    """
    import numpy as np

    out = x if x.dtype == np.float64 else x.astype(np.float64)
    if pre.scale != 1.0:
        out = out * pre.scale
    if pre.shift != 0.0:
        out = out + pre.shift
    if pre.input_shape:
        _check_sample_size(out, pre.input_shape)
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
    return out.astype(pre.dtype, copy=False)


def _check_sample_size(x: np.ndarray, input_shape: list[int]) -> None:
    want = math.prod(input_shape)
    per_row = math.prod(x.shape[1:]) if x.ndim > 1 else 1
    if per_row != want:
        raise CannotLoadModel(
            f"preprocessing: `input_shape` {input_shape} holds {want} values but each sample has "
            f"{per_row}; fix `preprocessing.input_shape`, or `dataset.feature_columns` if a feature column is missing"
        )


class Preprocessor:
    """`preprocess` for a stream of batches: the plan is read once and outputs land in one reused buffer.

    Scale and shift run in float64 into a reused work buffer and are cast once into the reused output buffer,
    so the values are bit-identical to `preprocess` with no allocation per batch. The returned array is a view
    that the next call overwrites: feed it to the model before asking for the next batch.
    """

    def __init__(self, pre: Preprocessing) -> None:
        import numpy as np

        self.pre = pre
        self.scale, self.shift = float(pre.scale), float(pre.shift)
        self.shape = tuple(pre.input_shape) if pre.input_shape else None
        self.dtype = np.dtype(pre.dtype)
        # mean/std and integer inputs are rare: they take the reference path
        self.fused = pre.mean is None and self.dtype.kind == "f"
        self._buffer: np.ndarray | None = None
        self._work: np.ndarray = np.empty((0, 0))
        self._checked: tuple[int, ...] | None = None

    def __call__(self, x: np.ndarray) -> np.ndarray:
        import numpy as np

        if not self.fused:
            return preprocess(x, self.pre)
        if x.dtype.kind != "f":
            x = x.astype(np.float64)
        # float32 rows (a reader's compact storage) are used as they are: widening them to float64 is exact, and
        # the ufuncs below do it on the fly
        n = len(x)
        if x.shape[1:] != self._checked:  # every batch of a stream has the same row shape: check it once
            if self.shape is not None:
                _check_sample_size(x, list(self.shape))
            self._checked = x.shape[1:]
        sample = self.shape if self.shape is not None else x.shape[1:]
        if self.scale == 1.0 and self.shift == 0.0 and x.dtype == self.dtype:
            return x.reshape(n, *sample)  # nothing to compute: no copy
        buf = self._buffer
        if buf is None or len(buf) < n or buf.shape[1:] != sample:
            buf = self._buffer = np.empty((n, *sample), dtype=self.dtype)
            self._work = np.empty((n, math.prod(sample)), dtype=np.float64)
        out = buf[:n]
        flat, src = out.reshape(n, -1), x.reshape(n, -1)
        if self.scale == 1.0 and self.shift == 0.0:
            np.copyto(flat, src, casting="same_kind")
            return out
        # float64 arithmetic into a reused work buffer, then one cast: numpy's fused "compute and cast" ufunc
        # path (out= of another dtype) is several times slower on small batches
        work = flat if self.dtype == np.float64 else self._work[:n]
        # numpy scalars, not Python floats: a Python float would let a float32 `src` pick a float32 loop
        if self.scale != 1.0:
            np.multiply(src, np.float64(self.scale), out=work)
            if self.shift != 0.0:
                np.add(work, np.float64(self.shift), out=work)
        else:
            np.add(src, np.float64(self.shift), out=work)
        if work is not flat:
            np.copyto(flat, work, casting="same_kind")
        return out


# ------------------------------------------------------------------------------------------------ batch loop


def run_batches(
    source: BatchSource,
    *,
    batch_size: int,
    preprocessing: Preprocessing,
    predict: Callable[[np.ndarray, int], np.ndarray],
    model_name: str,
    progress: ProgressHook | None = None,
    check: OutputCheck | None = None,
) -> ModelOutput:
    """Feed the source batch by batch to `predict(x, batch_number)`; outputs go into one preallocated array.

    Only per-batch work happens here (no per-sample Python), so the loop costs the same for 8 or 8192 rows.
    """
    import numpy as np

    n = len(source)
    batch_index = np.empty(n, dtype=np.int32)
    latencies: list[float] = []
    finished: list[float] = []
    out: np.ndarray | None = None
    prepare = Preprocessor(preprocessing)
    perf, now = time.perf_counter, time.time
    started = perf()
    for b, (start, rows) in enumerate(source.batches(batch_size)):
        try:
            x = prepare(rows)
        except CannotLoadModel as exc:  # preprocessing errors do not know the model: name it (issue 14)
            raise CannotLoadModel(f"{model_name}: {exc}") from None
        t0 = perf()
        y = predict(x, b)
        t1 = perf()
        stop = start + len(rows)
        if out is None:
            if y.ndim == 0 or len(y) != len(rows):
                raise ModelOutputInvalid(
                    f"{model_name}: batch 0 has {len(rows)} samples but the output has shape {list(y.shape)}; "
                    "export the model with the batch as the first output axis"
                )
            if check is not None:
                check(y)
            out = np.empty((n, *y.shape[1:]), dtype=y.dtype)
        out[start:stop] = y
        batch_index[start:stop] = b
        latencies.append((t1 - t0) * 1000.0)
        finished.append(now())
        if progress is not None:
            progress.update(len(rows))
    if progress is not None:
        progress.close()
    if out is None:
        raise ModelOutputInvalid(f"{model_name}: the test set produced no batch; check that it has samples")
    return ModelOutput(
        scores=out,
        batch_index=batch_index,
        batch_latency_ms=np.asarray(latencies),
        batch_finished_at=np.asarray(finished),
        wall_s=perf() - started,
    )


def first_line(exc: BaseException, limit: int = 200) -> str:
    """An exception's first line, for one-line error messages."""
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:limit]


# ----------------------------------------------------------------------------------------------- output check


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
        if out.ndim > 2 or (out.ndim == 2 and out.shape[1] != 1):
            raise ModelOutputInvalid(
                f"{model_name}: expected one output per sample for regression, found shape {list(out.shape)}; "
                "set `output_name` or export a single output"
            )
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
        raise ModelOutputInvalid(
            f"{model_name}: expected outputs of shape (N, {n_classes}), found {list(out.shape)}; "
            "set `output_name` or flatten the model's output"
        )
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


# ------------------------------------------------------------------------------------------------ the factory


def resolve_kind(spec: ModelSpec, path: Path, role: str) -> ModelKind:
    """The model's row in `evalaction.formats`: a safetensors file without `module` is refused here."""
    try:
        return model_kind(path, spec.format, spec.module)
    except MissingModule as exc:
        raise CannotLoadModel(f"{role} model {exc}") from None


def check_safe(spec: ModelSpec, path: Path, role: str, *, untrusted: bool = False) -> str:
    """Every check that needs no framework: the file, pickle suffixes, the pickle gate. Returns the model kind."""
    check_model_file(path, role)
    if is_pickle_file(path):
        raise UnsafeModelFormat(
            f"{role} model {path.name}: pickled models are never loaded (unpickling runs code); export it to ONNX "
            "(scikit-learn: skl2onnx with zipmap off) or save torch weights as safetensors"
        )
    row = resolve_kind(spec, path, role)
    if row.pickle:
        check_pickle(spec, path, role, row, untrusted=untrusted)
    if untrusted and row.module:
        # the module would be imported from the fork's checkout: importing it runs the fork's code
        raise UnsafeModelFormat(
            f"{role} model {path.name}: a pull request from a fork cannot load weights into `module: "
            f"{spec.module}` (importing it runs the fork's code); evaluate an ONNX export, or re-run the "
            "evaluation from a trusted workflow_dispatch"
        )
    return row.kind

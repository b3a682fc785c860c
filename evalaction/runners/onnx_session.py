"""The one place an ONNX Runtime session is made: file checks, external-data checks, options, providers.

Used by the ONNX runner (inference and attributions), readiness (profiling, INT8 trials) and the detection
runner, so every session of a run is built the same way:

    open_onnx_session(path, role=..., threads=..., device=...)
        -> check_model_file         missing, empty, Git LFS pointer
        -> check_external_data      every external tensor file is inside the model's folder and present
        -> session_options          `threads` intra-op threads (0: ONNX Runtime's default), one graph node
                                    at a time (reproducible runs), errors-only logging
        -> choose_providers         CUDA first when the plan's device asks for it or `auto` finds it
        -> ort.InferenceSession     any failure -> CannotLoadModel, one line

An ONNX file may keep its weights in other files named by a relative `location` (external data). The model
comes from a pull request, so a location is untrusted: one that leaves the model's folder (`../../.env`, an
absolute path, a symlink out) would have ONNX Runtime read a file the PR does not contain. It is refused
before ONNX Runtime sees the file.
`readiness/_memprobe.py` opens its own session: it runs as a bare script in a child process, without
evalaction on the path, on a file this module has already checked and opened.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evalaction.exceptions import CannotLoadModel, UnsafeModelFormat
from evalaction.runners.base import check_model_file, first_line

if TYPE_CHECKING:
    import onnxruntime as ort

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"


def choose_providers(device: str, available: list[str], role: str, name: str) -> list[str]:
    """ONNX Runtime execution providers for the plan's device: CUDA first when asked for or present."""
    cuda = CUDA in available
    if device == "cuda" and not cuda:
        raise CannotLoadModel(
            f"{role} model {name}: `inference.device: cuda` but ONNX Runtime has no CUDA provider "
            f"(available: {', '.join(available)}); install onnxruntime-gpu or set `inference.device: cpu`"
        )
    if device in ("cuda", "auto") and cuda:
        return [CUDA, CPU]
    return [CPU]


def session_options(threads: int = 0) -> ort.SessionOptions:
    """`threads` intra-op threads (0: ONNX Runtime's default), sequential execution, errors-only logging."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = max(0, int(threads))
    # one graph node at a time: intra-op threads do the parallel work, and runs stay reproducible
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3  # errors only: ONNX Runtime's warnings are not about the model under test
    return options


def open_onnx_session(path: Path, *, role: str, threads: int = 0, device: str = "cpu") -> ort.InferenceSession:
    """A checked ONNX Runtime session for the model at `path` (see the module docstring for the steps)."""
    import onnxruntime as ort

    check_model_file(path, role)
    check_external_data(path, role)
    providers = choose_providers(device, ort.get_available_providers(), role, path.name)
    try:
        return ort.InferenceSession(str(path), session_options(threads), providers=providers)
    except Exception as exc:  # onnxruntime raises its own types; the first line is what helps
        raise CannotLoadModel(
            f"{role} model {path.name}: ONNX Runtime cannot load it ({first_line(exc)}); check that it is a "
            "complete ONNX file (not truncated, not another format)"
        ) from exc


def check_external_data(path: Path, role: str) -> None:
    """Refuse external-data locations outside the model's folder, and name a missing one."""
    stat = path.stat()
    locations = _external_locations(str(path.resolve()), stat.st_mtime_ns, stat.st_size)
    folder = path.resolve().parent
    for location in locations:
        target = (folder / location).resolve()
        if Path(location).is_absolute() or (target != folder and folder not in target.parents):
            raise UnsafeModelFormat(
                f"{role} model {path.name}: its weights name the external data file {location!r}, outside the "
                "model's folder; keep external data beside the .onnx file (onnx.save_model(..., "
                "location='weights.bin'))"
            )
        if not target.is_file():
            raise CannotLoadModel(
                f"{role} model {path.name}: its weights are in the external data file {location!r}, which is "
                "missing; commit it beside the .onnx file (with `git lfs pull` if it is stored in LFS)"
            )


@functools.lru_cache(maxsize=64)
def _external_locations(path: str, mtime_ns: int, size: int) -> tuple[str, ...]:
    """The `location` of every external tensor (cached per file version: a run opens a model several times)."""
    from evalaction.runners import onnx_proto

    try:
        model = onnx_proto.load_model(path)
    except Exception:  # not parseable here: ONNX Runtime's own error, one line, says more
        return ()
    external = onnx_proto.external_location()
    found = {
        entry.value
        for tensor in _tensors(model.graph)
        if tensor.data_location == external
        for entry in tensor.external_data
        if entry.key == "location"
    }
    return tuple(sorted(found))


def _tensors(graph: Any) -> Iterator[Any]:
    """Every TensorProto of a graph: initializers, sparse initializers, node attributes, and subgraphs'."""
    yield from graph.initializer
    for sparse in graph.sparse_initializer:
        yield sparse.values
        yield sparse.indices
    for node in graph.node:
        for attribute in node.attribute:
            if attribute.HasField("t"):
                yield attribute.t
            yield from attribute.tensors
            if attribute.HasField("g"):
                yield from _tensors(attribute.g)
            for subgraph in attribute.graphs:
                yield from _tensors(subgraph)

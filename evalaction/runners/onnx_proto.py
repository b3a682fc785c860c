"""ONNX model files read as protobuf messages, without importing the `onnx` package.

`import onnx` costs ~0.7 s of CPU (its `ml_dtypes` dependency alone ~0.6 s), more than everything a small run
does with a model (issue #16). The checks that only need the ModelProto (external-data locations, parameter
count, opset domains) use the message classes generated from ONNX's own schema, `onnx/onnx_ml_pb2.py`, loaded
from the installed `onnx` package's folder under a private module name. The classes are the same ones
`onnx.ModelProto` names: the file registers `onnx/onnx-ml.proto` in protobuf's default pool, and a later
`import onnx` (the INT8 quantizer, the torch export) gets the same descriptors back from that pool.

`onnx.load(path, load_external_data=False)` is `ModelProto.FromString(file bytes)`; `load_model` is exactly that.
"""

from __future__ import annotations

import functools
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

_PRIVATE_NAME = "evalaction._onnx_ml_pb2"


@functools.cache
def pb2() -> ModuleType:
    """The module generated from onnx-ml.proto (ModelProto, TensorProto, ...), loaded once."""
    if "onnx" in sys.modules:  # already paid for: the package's own module
        import onnx.onnx_ml_pb2

        return onnx.onnx_ml_pb2
    spec = importlib.util.find_spec("onnx")
    folders = [] if spec is None else list(spec.submodule_search_locations or [])
    source = next((Path(f) / "onnx_ml_pb2.py" for f in folders if (Path(f) / "onnx_ml_pb2.py").is_file()), None)
    if source is None:  # an unusual install: the package import always works
        import onnx.onnx_ml_pb2

        return onnx.onnx_ml_pb2
    module_spec = importlib.util.spec_from_file_location(_PRIVATE_NAME, source)
    assert module_spec is not None and module_spec.loader is not None
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[_PRIVATE_NAME] = module
    module_spec.loader.exec_module(module)
    return module


def load_model(path: Path | str) -> Any:
    """The file's ModelProto, external data not loaded. Raises protobuf's DecodeError for a non-ONNX file."""
    model = pb2().ModelProto()
    model.ParseFromString(Path(path).read_bytes())
    return model


def tensor_type(name: str) -> int:
    """A TensorProto.DataType value by name ("FLOAT", "INT8", ...)."""
    return int(pb2().TensorProto.DataType.Value(name))


def external_location() -> int:
    """TensorProto.EXTERNAL (the DataLocation of a tensor whose bytes live in another file)."""
    return int(pb2().TensorProto.EXTERNAL)


def traditional_ml_only(model: Any) -> list[str] | None:
    """The operator types of a graph made only of ai.onnx.ml operators (a scikit-learn export through skl2onnx:
    TreeEnsembleClassifier, LinearClassifier, Scaler, ...), else None. ONNX Runtime's quantizer has no INT8
    form for any of them: it rewrites standard (ai.onnx) and some com.microsoft operators only."""
    nodes = list(model.graph.node)
    if not nodes or any(node.domain != "ai.onnx.ml" for node in nodes):
        return None
    return sorted({node.op_type for node in nodes})

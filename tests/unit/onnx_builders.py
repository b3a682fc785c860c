"""Tiny ONNX classifiers built with onnx.helper for the readiness tests: input `input` (N, 1, 8, 8)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def _save(nodes: list, inits: dict[str, np.ndarray], path: Path, batch: str | int = "N") -> Path:
    graph = helper.make_graph(
        nodes,
        path.stem,
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [batch, 1, 8, 8])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [batch, 10])],
        [numpy_helper.from_array(a, n) for n, a in inits.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def mlp(path: Path, hidden: int, seed: int = 0, batch: str | int = "N") -> Path:
    """Flatten -> Gemm(64, hidden) -> Relu -> Gemm(hidden, 10): 64h + h + 10h + 10 parameters."""
    rng = np.random.default_rng(seed)
    inits = {
        "W1": (rng.normal(size=(64, hidden)) / 8).astype(np.float32),
        "b1": rng.normal(size=hidden).astype(np.float32) * 0.1,
        "W2": (rng.normal(size=(hidden, 10)) / np.sqrt(hidden)).astype(np.float32),
        "b2": np.zeros(10, np.float32),
    }
    nodes = [
        helper.make_node("Flatten", ["input"], ["flat"], axis=1),
        helper.make_node("Gemm", ["flat", "W1", "b1"], ["h"]),
        helper.make_node("Relu", ["h"], ["r"]),
        helper.make_node("Gemm", ["r", "W2", "b2"], ["logits"]),
    ]
    return _save(nodes, inits, path, batch)


def fp16_mlp(path: Path, seed: int = 0) -> Path:
    """A float32 interface around an fp16 MatMul: neither INT8 quantizer yields a loadable model."""
    rng = np.random.default_rng(seed)
    nodes = [
        helper.make_node("Flatten", ["input"], ["flat"], axis=1),
        helper.make_node("Cast", ["flat"], ["half"], to=TensorProto.FLOAT16),
        helper.make_node("MatMul", ["half", "W"], ["out"]),
        helper.make_node("Cast", ["out"], ["logits"], to=TensorProto.FLOAT),
    ]
    return _save(nodes, {"W": rng.normal(size=(64, 10)).astype(np.float16)}, path)


def digits_like(n: int, seed: int = 0) -> np.ndarray:
    """(n, 1, 8, 8) float32 inputs in [0, 1], like scaled sklearn digits."""
    return np.random.default_rng(seed).uniform(0, 1, size=(n, 1, 8, 8)).astype(np.float32)

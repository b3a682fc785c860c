"""Tiny tabular models in every format evalaction reads, for the combination matrix (built at test time, seeded).

One test set per task (200 rows, 8 features, `slice` column) drawn from a known linear model; the candidate is
that model, the baseline the same with noisy weights, so the candidate is the better one by construction.
Each model is a `nets.lin:Lin` (one linear layer) saved as ONNX (written with onnx.helper), a safetensors
state_dict, TorchScript, a torch.export program (.pt2), and a predictions CSV computed in numpy.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np

N_ROWS, N_FEATURES = 200, 8
TASKS = ("binary", "multiclass", "regression")
FORMATS = ("onnx", "safetensors", "torchscript", "torch.export", "predictions")
SUFFIX = {
    "onnx": "onnx",
    "safetensors": "safetensors",
    "torchscript": "pt",
    "torch.export": "pt2",
    "predictions": "csv",
}
N_OUT = {"binary": 2, "multiclass": 3, "regression": 1}

MODULE_SOURCE = textwrap.dedent(
    """
    import torch
    from torch import nn


    class Lin(nn.Module):
        def __init__(self, n_in: int = 8, n_out: int = 2) -> None:
            super().__init__()
            self.fc = nn.Linear(n_in, n_out)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fc(x)
    """
)


def task_data(task: str, seed: int = 0) -> tuple[np.ndarray, np.ndarray, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """Features (N, 8), labels, and {role: (weight (K, 8), bias (K,))} for candidate and baseline."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(N_ROWS, N_FEATURES))
    k = N_OUT[task]
    w = rng.normal(size=(k, N_FEATURES))
    b = rng.normal(size=k) * 0.1
    if task == "regression":
        w *= 10.0
        y = x @ w[0] + b[0] + rng.normal(scale=5.0, size=N_ROWS)
    else:
        y = (x @ w.T + b + rng.gumbel(size=(N_ROWS, k)) * 0.5).argmax(axis=1)
    noisy = w + rng.normal(scale=1.5 * float(np.abs(w).mean()), size=w.shape)
    return x, y, {"candidate": (w, b), "baseline": (noisy, b)}


def write_dataset(folder: Path, task: str) -> None:
    x, y, _ = task_data(task)
    cols = [f"f{j}" for j in range(N_FEATURES)]
    lines = ["id,label,slice," + ",".join(cols)]
    for i in range(N_ROWS):
        label = f"{y[i]:.6f}" if task == "regression" else str(int(y[i]))
        lines.append(f"r{i},{label},{'ab'[i % 2]}," + ",".join(f"{v:.6f}" for v in x[i]))
    (folder / "data.csv").write_text("\n".join(lines) + "\n")


def _onnx(path: Path, w: np.ndarray, b: np.ndarray) -> None:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph(
        [helper.make_node("Gemm", ["input", "W", "B"], ["output"], transB=1)],
        "lin",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", N_FEATURES])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", len(b)])],
        [numpy_helper.from_array(w.astype(np.float32), "W"), numpy_helper.from_array(b.astype(np.float32), "B")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def _module(w: np.ndarray, b: np.ndarray):  # type: ignore[no-untyped-def]
    import torch
    from torch import nn

    class Lin(nn.Module):  # the same layout as MODULE_SOURCE's, so its state_dict loads there
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(N_FEATURES, len(b))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fc(x)

    m = Lin()
    with torch.no_grad():
        m.fc.weight.copy_(torch.from_numpy(w.astype(np.float32)))
        m.fc.bias.copy_(torch.from_numpy(b.astype(np.float32)))
    return m.eval()


def _predictions(path: Path, task: str, x: np.ndarray, w: np.ndarray, b: np.ndarray) -> None:
    out = x.astype(np.float32) @ w.T.astype(np.float32) + b.astype(np.float32)
    if task == "regression":
        lines = ["id,pred"] + [f"r{i},{out[i, 0]:.6f}" for i in range(N_ROWS)]
    else:
        lines = ["id," + ",".join(f"score:{c}" for c in range(len(b)))]
        lines += [f"r{i}," + ",".join(f"{v:.6f}" for v in out[i]) for i in range(N_ROWS)]
    path.write_text("\n".join(lines) + "\n")


def build(root: Path, formats: tuple[str, ...] = FORMATS) -> Path:
    """root/<task>/{data.csv, nets/lin.py, <role>.<suffix> for every format}; returns root."""
    import warnings

    import torch

    for task in TASKS:
        folder = root / task
        (folder / "nets").mkdir(parents=True, exist_ok=True)
        (folder / "nets" / "__init__.py").write_text("")
        (folder / "nets" / "lin.py").write_text(MODULE_SOURCE)
        write_dataset(folder, task)
        x, _, weights = task_data(task)
        for role, (w, b) in weights.items():
            module = _module(w, b)
            for fmt in formats:
                path = folder / f"{role}.{SUFFIX[fmt]}"
                if fmt == "onnx":
                    _onnx(path, w, b)
                elif fmt == "safetensors":
                    from safetensors.torch import save_file

                    save_file(module.state_dict(), str(path))
                elif fmt == "torchscript":
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore", DeprecationWarning)
                        torch.jit.save(torch.jit.script(module), str(path))
                elif fmt == "torch.export":
                    example = torch.zeros(4, N_FEATURES)
                    program = torch.export.export(
                        module, (example,), dynamic_shapes=({0: torch.export.Dim("batch")},)
                    )
                    torch.export.save(program, str(path))
                else:
                    _predictions(path, task, x, w, b)
    return root


# ------------------------------------------------------------------------------------------------- detection

SHAPES = Path(__file__).resolve().parents[1] / "examples" / "shapes"
N_BOX_IMAGES = 8


def write_box_images(folder: Path, seed: int = 0) -> None:
    """gt.json and images/: one bright box per 96 x 80 image, for the ONNX box-of-bright-pixels detector."""
    import json

    from PIL import Image

    rng = np.random.default_rng(seed)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    images, anns = [], []
    for i in range(N_BOX_IMAGES):
        w, h = 96, 80
        x, y = int(rng.integers(0, 50)), int(rng.integers(0, 40))
        bw, bh = int(rng.integers(20, w - x)), int(rng.integers(16, h - y))
        pixels = np.zeros((h, w, 3), dtype=np.uint8)
        pixels[y : y + bh, x : x + bw] = 255
        Image.fromarray(pixels).save(folder / "images" / f"{i}.png")
        images.append({"id": i, "file_name": f"{i}.png", "width": w, "height": h})
        anns.append(
            {"id": i, "image_id": i, "category_id": 1, "bbox": [x, y, bw, bh], "area": bw * bh, "iscrowd": 0}
        )
    doc = {"images": images, "categories": [{"id": 1, "name": "box"}], "annotations": anns}
    (folder / "gt.json").write_text(json.dumps(doc))

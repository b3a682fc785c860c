"""A model as a Captum forward function: raw features (N, *sample_shape) in, class probabilities (N, K) out."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evalaction.config import TORCH_SUFFIXES
from evalaction.errors import CannotLoadModel
from evalaction.runners.base import check_model_file, preprocess, to_scores

if TYPE_CHECKING:
    import numpy as np
    import torch

    from evalaction.config import ModelSpec, Preprocessing


@dataclass
class ExplainableModel:
    """What an attribution method needs from a model."""

    role: str
    forward: Callable[[torch.Tensor], torch.Tensor]
    differentiable: bool  # gradient methods (Integrated Gradients, Saliency) need a torch module
    kind: str  # "onnx" or "torch"


class OnnxForward:
    """An ONNX Runtime session behind a torch-in, torch-out function, so Captum's perturbation methods run on it.

    Captum hands in a torch batch (perturbed copies of the inputs); it is flattened to raw feature rows, passed
    through `prepare` (the plan's preprocessing, the very function inference uses), run in chunks of
    `batch_size`, and turned into probabilities by `to_probabilities`. Gradients do not flow through it.
    """

    def __init__(
        self,
        session: Any,
        *,
        input_name: str,
        output_name: str,
        prepare: Callable[[np.ndarray], np.ndarray],
        to_probabilities: Callable[[np.ndarray], np.ndarray],
        batch_size: int = 256,
    ) -> None:
        self.session = session
        self.input_name, self.output_name = input_name, output_name
        self.prepare, self.to_probabilities = prepare, to_probabilities
        self.batch_size = max(1, batch_size)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        import numpy as np
        import torch

        rows = x.detach().cpu().numpy().reshape(len(x), -1)
        chunks = []
        for start in range(0, len(rows), self.batch_size):
            feed = self.prepare(rows[start : start + self.batch_size])
            (out,) = self.session.run([self.output_name], {self.input_name: feed})
            chunks.append(self.to_probabilities(np.asarray(out)))
        out = torch.from_numpy(np.concatenate(chunks, axis=0))
        return out.to(x.dtype) if x.is_floating_point() else out


def torch_preprocess(x: torch.Tensor, pre: Preprocessing) -> torch.Tensor:
    """`runners.base.preprocess` in torch, so gradients reach the raw features: x*scale+shift, reshape, normalize."""
    import torch

    out = x.reshape(len(x), -1).to(torch.float64) * pre.scale + pre.shift
    if pre.input_shape:
        out = out.reshape(len(x), *pre.input_shape)
    if pre.mean is not None and pre.std is not None:
        shape = (1, -1) + (1,) * (out.ndim - 2)
        mean = torch.tensor(pre.mean, dtype=torch.float64).reshape(shape)
        std = torch.tensor(pre.std, dtype=torch.float64).reshape(shape)
        out = (out - mean) / std
    return out.to(getattr(torch, pre.dtype))


def torch_probabilities(out: torch.Tensor, outputs: str) -> torch.Tensor:
    """`runners.base.to_scores` in torch: softmax (or sigmoid for one binary column) when the model gives logits."""
    import torch

    if out.ndim == 1 or (out.ndim == 2 and out.shape[1] == 1):
        pos = out.reshape(len(out))
        pos = torch.sigmoid(pos) if outputs == "logits" else pos
        return torch.stack([1.0 - pos, pos], dim=1)
    return torch.softmax(out, dim=1) if outputs == "logits" else out


class TorchForward:
    """A torch module with the plan's preprocessing and output conversion; differentiable end to end."""

    def __init__(self, module: Callable[[torch.Tensor], torch.Tensor], spec: ModelSpec) -> None:
        self.module, self.spec = module, spec

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        out = self.module(torch_preprocess(x, self.spec.preprocessing))
        return torch_probabilities(out, self.spec.outputs)


def load_torch_module(path: Path, role: str) -> Any:
    """A TorchScript archive (`.pt`, `.pth`, `.ts`) or a `torch.export` program (`.pt2`), on the CPU.

    Neither format unpickles arbitrary Python objects (TorchScript has its own restricted loader; `.pt2` is a
    serialized graph), so loading one runs no code hidden in the file. Plain pickled modules are refused.
    """
    import torch

    try:
        if path.suffix.lower() == ".pt2":
            return torch.export.load(str(path)).module()
        module = torch.jit.load(str(path), map_location="cpu")  # type: ignore[no-untyped-call]
        module.eval()
        return module
    except Exception as exc:
        first = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
        raise CannotLoadModel(
            f"{role} model {path.name}: cannot load it as TorchScript or a torch.export program ({first}); "
            "save it with torch.jit.save or torch.export.save, or export it to ONNX"
        ) from None


def open_explainable(
    path: Path, spec: ModelSpec, *, role: str, task: str, n_classes: int, threads: int = 0, batch_size: int = 256
) -> ExplainableModel:
    """The model at `path` as a forward function: torch files (by suffix) stay differentiable, anything else
    runs through ONNX Runtime."""
    check_model_file(path, role)
    if path.suffix.lower() in TORCH_SUFFIXES:
        forward = TorchForward(load_torch_module(path, role), spec)
        return ExplainableModel(role=role, forward=forward, differentiable=True, kind="torch")
    from evalaction.runners.onnx import OnnxRunner

    runner = OnnxRunner(path, spec, role=role, threads=threads)
    name = f"{role} model {path.name}"
    onnx_forward = OnnxForward(
        runner.session,
        input_name=runner.input_name,
        output_name=runner.output_name,
        prepare=lambda rows: preprocess(rows, spec.preprocessing),
        to_probabilities=lambda raw: to_scores(raw, spec, task, n_classes, name),
        batch_size=batch_size,
    )
    return ExplainableModel(role=role, forward=onnx_forward, differentiable=False, kind="onnx")

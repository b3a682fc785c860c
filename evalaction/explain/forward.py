"""A model as a Captum forward function: raw features (N, *sample_shape) in, class probabilities (N, K) out
(regression: the prediction, (N, 1)).

Which forward a model gets comes from its row in `evalaction.formats`: torch kinds (TorchScript, torch.export,
a state_dict loaded into its `module`) stay differentiable for Captum's gradient methods; ONNX runs through
ONNX Runtime for the perturbation methods; a predictions or COCO results file has no model to attribute.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evalaction.exceptions import CannotLoadModel
from evalaction.runners.base import check_model_file, preprocess, resolve_kind, to_scores

if TYPE_CHECKING:
    import numpy as np
    import torch

    from evalaction.plan import ModelSpec, Preprocessing


@dataclass
class ExplainableModel:
    """What an attribution method needs from a model."""

    role: str
    forward: Callable[[torch.Tensor], torch.Tensor]
    differentiable: bool  # gradient methods (Integrated Gradients, Saliency) need a torch module
    kind: str  # "onnx" or "torch"


def not_explainable(spec: ModelSpec, path: Path) -> str | None:
    """Why a model has nothing to attribute (a predictions or COCO results file), or None when it has."""
    from evalaction.formats import model_kind

    try:
        row = model_kind(path, spec.format, spec.module)
    except ValueError:
        return None  # a torch file missing its `module`: opening it reports that
    return row.no_explainer if row.explainer is None else None


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


def torch_probabilities(out: torch.Tensor, outputs: str, task: str = "multiclass") -> torch.Tensor:
    """`runners.base.to_scores` in torch: softmax (or sigmoid for one binary column) when the model gives logits;
    for regression the prediction itself, as one column."""
    import torch

    if task == "regression":
        return out.reshape(len(out), 1)

    if out.ndim == 1 or (out.ndim == 2 and out.shape[1] == 1):
        pos = out.reshape(len(out))
        pos = torch.sigmoid(pos) if outputs == "logits" else pos
        return torch.stack([1.0 - pos, pos], dim=1)
    return torch.softmax(out, dim=1) if outputs == "logits" else out


class TorchForward:
    """A torch module with the plan's preprocessing and output conversion; differentiable end to end."""

    def __init__(
        self, module: Callable[[torch.Tensor], torch.Tensor], spec: ModelSpec, task: str = "multiclass"
    ) -> None:
        self.module, self.spec, self.task = module, spec, task

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        out = self.module(torch_preprocess(x, self.spec.preprocessing))
        if isinstance(out, dict | tuple | list):
            out = _select_output(out, self.spec.output_name)
        return torch_probabilities(out, self.spec.outputs, self.task)


def _select_output(out: Any, name: str | None) -> Any:
    """The output inference evaluates: a dict entry by `output_name`, or a tuple item (first by default)."""
    if isinstance(out, dict):
        return out[name if name is not None else next(iter(out))]
    return out[int(name) if name is not None and name.isdigit() else 0]


def load_torch_module(
    path: Path, spec: ModelSpec, role: str, *, kind: str, code_root: Path | None = None, loaded: Any = None
) -> Any:
    """The torch module on the CPU: the one inference already loaded (`loaded`) when it lives on the CPU, else
    loaded again by the torch runner (TorchScript, a torch.export program, or a state_dict into its `module`)."""
    if loaded is not None and _on_cpu(loaded):
        return loaded
    from evalaction.runners.torch import TorchRunner

    return TorchRunner(path, spec, role=role, kind=kind, device="cpu", code_root=code_root).model


def _on_cpu(module: Any) -> bool:
    try:
        return all(p.device.type == "cpu" for p in module.parameters())
    except Exception:  # a module without parameters(): load it again to be sure
        return False


def open_explainable(
    path: Path,
    spec: ModelSpec,
    *,
    role: str,
    task: str,
    n_classes: int,
    threads: int = 0,
    batch_size: int = 256,
    code_root: Path | None = None,
    loaded: Any = None,
) -> ExplainableModel:
    """The model at `path` as a forward function, by its row in `evalaction.formats`: torch kinds stay
    differentiable, ONNX runs through ONNX Runtime. A predictions file is refused (see `not_explainable`)."""
    check_model_file(path, role)
    row = resolve_kind(spec, path, role)
    if row.explainer == "gradient":
        module = load_torch_module(path, spec, role, kind=row.kind, code_root=code_root, loaded=loaded)
        forward = TorchForward(module, spec, task)
        return ExplainableModel(role=role, forward=forward, differentiable=True, kind="torch")
    if row.explainer is None:
        raise CannotLoadModel(f"{role} model {path.name}: {row.no_explainer}")
    from evalaction.runners.onnx import OnnxRunner

    runner = OnnxRunner(path, spec, role=role, threads=threads)
    name = f"{role} model {path.name}"

    def scores(raw: np.ndarray) -> np.ndarray:
        out = to_scores(raw, spec, task, n_classes, name)
        return out.reshape(len(out), 1) if task == "regression" else out

    onnx_forward = OnnxForward(
        runner.session,
        input_name=runner.input_name,
        output_name=runner.output_name,
        prepare=lambda rows: preprocess(rows, spec.preprocessing),
        to_probabilities=scores,
        batch_size=batch_size,
    )
    return ExplainableModel(role=role, forward=onnx_forward, differentiable=False, kind="onnx")

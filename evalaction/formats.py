"""The model formats: one table, read by the plan (format inference), the runners, the explainer and readiness.

    kind          format        suffixes                          runner       explainer     profiler      pickle
    onnx          onnx          .onnx                             onnx         perturbation  onnx          no
    torchscript   torch         .pt .pth .ts .jit .torchscript    torch        gradient      torch_export  yes
    torch.export  torch         .pt2                              torch        gradient      torch_export  yes
    state_dict    torch         .safetensors + `module`           torch        gradient      torch_export  no
    state_dict    torch         .pt .pth + `module`               torch        gradient      torch_export  yes*
    predictions   predictions   .csv .parquet .pq                 predictions  -             -             no
    coco_results  coco_results  .json                             coco_results -             -             no

    * torch.load(weights_only=True): the restricted unpickler, still gated by `allow_pickle`.

A file's kind follows from its format (the plan's `format`, else its suffix, else onnx), its suffix and whether
the plan names a `module`. Nothing here imports a framework: `evalaction --help` and the plan validator read it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePath
from typing import Literal

ModelFormat = Literal["onnx", "coco_results", "torch", "predictions"]
Explainer = Literal["gradient", "perturbation"]
Profiler = Literal["onnx", "torch_export"]


@dataclass(frozen=True)
class ModelKind:
    """What a model file is, and which part of evalaction handles it at each stage."""

    kind: str  # onnx | torchscript | torch.export | state_dict | predictions | coco_results
    format: ModelFormat
    suffixes: tuple[str, ...]
    runner: str  # the runner module under evalaction/runners (coco_results: evalaction/detection)
    explainer: Explainer | None  # gradient: Captum's gradient methods; perturbation: occlusion-style methods
    profiler: Profiler | None  # onnx: profiled as is; torch_export: exported to ONNX first
    pickle: bool  # loading it unpickles: refused unless `allow_pickle`, and always for forks
    module: bool  # needs the plan's `module` (a state_dict holds only weights)
    pickle_what: str = ""  # how an error names the pickle in this kind
    save_hint: str = ""  # how to save a file of this kind, for load errors
    no_explainer: str = ""  # the reason line when there is nothing to attribute
    no_profiler: str = ""  # the reason line when there is nothing to profile


_TORCH_SAVE = "save it with torch.jit.script(model).save(path)"
_EXPORT_SAVE = "save it with torch.export.save(torch.export.export(model, args), path)"
_STATE_SAVE = "save it with safetensors.torch.save_file(model.state_dict(), path)"

ONNX = ModelKind("onnx", "onnx", (".onnx",), "onnx", "perturbation", "onnx", False, False)
TORCHSCRIPT = ModelKind(
    "torchscript",
    "torch",
    (".pt", ".pth", ".ts", ".jit", ".torchscript"),
    "torch",
    "gradient",
    "torch_export",
    True,
    False,
    pickle_what="a TorchScript archive is pickle-based",
    save_hint=_TORCH_SAVE,
)
TORCH_EXPORT = ModelKind(
    "torch.export",
    "torch",
    (".pt2",),
    "torch",
    "gradient",
    "torch_export",
    True,
    False,
    pickle_what="a torch.export .pt2 archive holds pickled tensors",
    save_hint=_EXPORT_SAVE,
)
SAFETENSORS = ModelKind(
    "state_dict",
    "torch",
    (".safetensors",),
    "torch",
    "gradient",
    "torch_export",
    False,
    True,
    save_hint=_STATE_SAVE,
)
PICKLED_STATE_DICT = ModelKind(
    "state_dict",
    "torch",
    (".pt", ".pth"),
    "torch",
    "gradient",
    "torch_export",
    True,
    True,
    pickle_what="a .pt/.pth state_dict is a pickle",
    save_hint=_STATE_SAVE,
)
PREDICTIONS = ModelKind(
    "predictions",
    "predictions",
    (".csv", ".parquet", ".pq"),
    "predictions",
    None,
    None,
    False,
    False,
    no_explainer="no model to attribute: the model is a predictions file",
    no_profiler="no model to profile: the model is a predictions file",
)
COCO_RESULTS = ModelKind(
    "coco_results",
    "coco_results",
    (".json",),
    "coco_results",
    None,
    None,
    False,
    False,
    no_explainer="no model to attribute: the model is a COCO results file",
    no_profiler="no model to profile: the model is a COCO results file",
)

KINDS: tuple[ModelKind, ...] = (
    ONNX,
    TORCHSCRIPT,
    TORCH_EXPORT,
    SAFETENSORS,
    PICKLED_STATE_DICT,
    PREDICTIONS,
    COCO_RESULTS,
)

# suffix -> format, for a plan that leaves `format` out (first kind listing a suffix wins: .pt is torch)
SUFFIX_FORMATS: dict[str, ModelFormat] = {}
for _k in KINDS:
    for _s in _k.suffixes:
        SUFFIX_FORMATS.setdefault(_s, _k.format)

# Files that are nothing but a pickle: loading one runs whatever code it names, so they are never loaded.
PICKLE_SUFFIXES = frozenset({".pkl", ".pickle", ".joblib", ".dill", ".cloudpickle"})


class MissingModule(ValueError):
    """A weights-only file (safetensors) without the `module` to load it into."""


def format_of(path: str | PurePath, fmt: ModelFormat | None = None) -> ModelFormat:
    """The plan's `format`, else the one the suffix implies, else onnx."""
    if fmt is not None:
        return fmt
    return SUFFIX_FORMATS.get(PurePath(path).suffix.lower(), "onnx")


def model_kind(path: str | PurePath, fmt: ModelFormat | None = None, module: str | None = None) -> ModelKind:
    """The row of the table for a model file: its format, then (for torch) its suffix and `module`.

    Raises `MissingModule` for a safetensors file without `module` (the caller words the error for its field).
    """
    resolved = format_of(path, fmt)
    if resolved == "onnx":
        return ONNX
    if resolved == "predictions":
        return PREDICTIONS
    if resolved == "coco_results":
        return COCO_RESULTS
    suffix = PurePath(path).suffix.lower()
    if suffix in TORCH_EXPORT.suffixes:
        return TORCH_EXPORT
    if suffix in SAFETENSORS.suffixes:
        if module is None:
            raise MissingModule(
                f"{PurePath(path).name}: a safetensors file holds only weights; set `module: "
                "package.module:Class` (and `module_kwargs`) to name the nn.Module to load them into"
            )
        return SAFETENSORS
    return PICKLED_STATE_DICT if module is not None else TORCHSCRIPT


def is_pickle_file(path: str | PurePath) -> bool:
    """A bare pickle (.pkl, .joblib, ...): never loaded, whatever the plan says."""
    return PurePath(path).suffix.lower() in PICKLE_SUFFIXES

"""The runner factory: the checks that need no framework, then the runner for the model's format.

It stands above `evalaction.runners.base` and the runners (onnx, torch, predictions), which import `base`
and never this module, so the import graph has no cycle; the runners are imported when a model needs one.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from evalaction.exceptions import CannotLoadModel
from evalaction.runners.base import ModelRunner, check_safe

if TYPE_CHECKING:
    from evalaction.plan import ModelSpec


def open_runner(
    spec: ModelSpec,
    path: Path,
    role: str,
    *,
    threads: int = 0,
    device: str = "auto",
    classes: list[str] | None = None,
    task: str = "multiclass",
    untrusted: bool = False,
    code_root: Path | None = None,
    id_column: str | None = None,
) -> ModelRunner:
    """The runner for the model's format, after the safe-file and pickle checks.

    `untrusted` (a pull request from a fork) refuses every pickle-based format whatever the plan says;
    `code_root` is the folder put on sys.path to import a state_dict's `module`; `classes`, `task` and
    `id_column` serve the predictions-file runner.
    """
    kind = check_safe(spec, path, role, untrusted=untrusted)
    fmt = spec.resolved_format
    if fmt == "onnx":
        from evalaction.runners.onnx import OnnxRunner

        return OnnxRunner(path, spec, role=role, threads=threads, device=device)
    if fmt == "torch":
        from evalaction.runners.torch import TorchRunner

        return TorchRunner(path, spec, role=role, kind=kind, threads=threads, device=device, code_root=code_root)
    if fmt == "predictions":
        from evalaction.runners.predictions import PredictionsRunner

        return PredictionsRunner(path, spec, role=role, classes=classes or [], task=task, id_column=id_column)
    raise CannotLoadModel(f"{role} model {path.name}: unsupported format {fmt!r}")  # pragma: no cover - Literal

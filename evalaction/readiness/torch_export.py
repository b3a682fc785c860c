"""Export a torch module to ONNX so readiness can profile it with ONNX Runtime like any other model.

Uses torch.onnx's torch.export-based exporter with the batch axis dynamic and the weights inside the
one .onnx file; a TorchScript module, which torch.export cannot trace, goes through torch.onnx's
TorchScript-based exporter instead. An export is only trusted after ONNX Runtime reproduces torch's outputs on the example
input and on a second input of another batch size and other values: a trace that baked an input into
a constant (x.numpy(), data-dependent Python branches) fails that check and is reported as not
exported, with the reason, never profiled as if it were the model.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from evalaction.readiness.models import TorchExport
from evalaction.readiness.profile import exception_line

EXPORTER = "torch.onnx.export (dynamo)"
SCRIPT_EXPORTER = "torch.onnx.export (TorchScript)"


def _root_cause(exc: BaseException) -> str:
    """The first line of the innermost cause: the exporter wraps the useful error in generic ones."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    return exception_line(exc)


def _not_exported(reason: str, exporter: str = EXPORTER) -> TorchExport:
    return TorchExport(
        exported=False,
        exporter=exporter,
        reason=reason,
        note=f"The torch model was not profiled: it could not be exported to ONNX ({reason}).",
    )


def export_torch_to_onnx(
    module: Any,
    example_input: np.ndarray,
    path: Path,
    *,
    input_name: str = "input",
    output_name: str = "logits",
    atol: float = 1e-4,
    rtol: float = 1e-3,
    seed: int = 0,
) -> TorchExport:
    """Export `module` (one float32 tensor in, one tensor out) to `path`, then check it against torch.

    `example_input` is (N, ...) float32; its first axis becomes the dynamic batch axis. The check
    passes when every output element satisfies |onnx - torch| <= atol + rtol * |torch| (np.allclose).
    """
    import onnx
    import onnxruntime as ort
    import torch

    if isinstance(module, torch.nn.Module) and not isinstance(module, torch.fx.GraphModule):
        module.eval()  # a torch.export program's module() is already inference-only and refuses eval()
    scripted = isinstance(module, torch.jit.ScriptModule)
    exporter = SCRIPT_EXPORTER if scripted else EXPORTER
    x = np.ascontiguousarray(example_input, dtype=np.float32)
    # torch.export specialises a dimension of size 0 or 1, so the example batch must hold >= 2 rows
    example = x[np.arange(max(2, x.shape[0])) % x.shape[0]]
    second = example[np.arange(example.shape[0] + 1) % example.shape[0]]
    second = second + np.random.default_rng(seed).normal(0.0, 0.1, second.shape).astype(np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        # the exporter prints progress and graph dumps; the result carries what matters
        with (
            warnings.catch_warnings(),
            contextlib.redirect_stdout(io.StringIO()),
            contextlib.redirect_stderr(io.StringIO()),
        ):
            warnings.simplefilter("ignore")
            if scripted:
                torch.onnx.export(
                    module,
                    (torch.from_numpy(example),),
                    str(path),
                    input_names=[input_name],
                    output_names=[output_name],
                    dynamic_axes={input_name: {0: "batch"}, output_name: {0: "batch"}},
                    dynamo=False,
                )
            else:
                torch.onnx.export(
                    module,
                    (torch.from_numpy(example),),
                    str(path),
                    input_names=[input_name],
                    output_names=[output_name],
                    dynamic_shapes=({0: torch.export.Dim("batch")},),
                    external_data=False,
                    dynamo=True,
                    verbose=False,
                )
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        max_diff = 0.0
        for batch in (example, second):
            with torch.no_grad():
                expected = module(torch.from_numpy(batch)).detach().numpy()
            got = session.run(None, {input_name: batch})[0]
            if got.shape != expected.shape or not np.allclose(got, expected, atol=atol, rtol=rtol):
                diff = float(np.max(np.abs(got - expected))) if got.shape == expected.shape else float("inf")
                return _not_exported(
                    exporter=exporter,
                    reason=f"ONNX Runtime's outputs differ from torch's on a {batch.shape[0]}-row input "
                    f"(max |diff| {diff:.3g}, shapes {list(got.shape)} vs {list(expected.shape)}); "
                    "the export does not reproduce the model",
                )
            max_diff = max(max_diff, float(np.max(np.abs(got - expected))))
    except Exception as exc:  # the exporter raises many types; a refusal is a result to report
        return _not_exported(_root_cause(exc), exporter)
    model = onnx.load(str(path), load_external_data=False)
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    return TorchExport(
        exported=True,
        onnx_path=str(path),
        exporter=exporter,
        opset=opset,
        max_abs_diff=max_diff,
        note=(
            f"Profiled {path.name}, exported from the torch model with {exporter}, opset {opset}; "
            f"ONNX Runtime matches torch within {max_diff:.1e} on two inputs."
        ),
    )

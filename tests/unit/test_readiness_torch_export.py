"""Torch-to-ONNX export: a CNN exports and matches torch; a model that cannot be exported says why."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

from evalaction.readiness.torch_export import export_torch_to_onnx
from tests.unit.onnx_builders import digits_like


class _DataDependentBranch(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.sum() > 0:  # a Python branch on a tensor value: torch.export cannot trace it
            return x.flatten(1)[:, :10]
        return -x.flatten(1)[:, :10]


class _Noisy(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1)[:, :10] + torch.rand_like(x.flatten(1)[:, :10])


def test_a_cnn_exports_to_one_file_that_matches_torch(tmp_path: Path) -> None:
    torch.manual_seed(0)
    cnn = torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(256, 10)
    )
    x = digits_like(1)  # a one-row example still gets a dynamic batch axis
    result = export_torch_to_onnx(cnn, x, tmp_path / "cnn.onnx")
    assert result.exported, result.reason
    assert result.onnx_path == str(tmp_path / "cnn.onnx") and result.opset is not None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cnn.onnx"]  # external_data=False
    assert result.max_abs_diff is not None and result.max_abs_diff < 1e-4
    assert "exported from the torch model" in result.note

    session = ort.InferenceSession(result.onnx_path, providers=["CPUExecutionProvider"])
    batch = digits_like(5, seed=2)
    with torch.no_grad():
        expected = cnn(torch.from_numpy(batch)).numpy()
    np.testing.assert_allclose(session.run(None, {"input": batch})[0], expected, atol=1e-5)


def test_a_model_torch_export_cannot_trace_is_reported_not_raised(tmp_path: Path) -> None:
    result = export_torch_to_onnx(_DataDependentBranch(), digits_like(2), tmp_path / "m.onnx")
    assert not result.exported and result.onnx_path is None
    assert result.reason is not None and "data-dependent" in result.reason
    assert "\x1b[" not in result.reason and "\n" not in result.reason
    assert result.note.startswith("The torch model was not profiled")


def test_an_export_that_does_not_reproduce_torch_is_not_trusted(tmp_path: Path) -> None:
    result = export_torch_to_onnx(_Noisy(), digits_like(2), tmp_path / "m.onnx")
    assert not result.exported
    assert result.reason is not None and "differ from torch's" in result.reason

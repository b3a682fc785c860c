"""Small real models and the digits test set for the runner tests (built at test time, seeded; nothing downloaded).

The torch CNN has the demo candidate's shape (two 3x3 conv layers, a linear head, 8x8 digits in, 10 logits out).
Its class lives in a tiny "repository under evaluation" written to a temp folder (`nets/digits.py`), so the
state_dict runner imports it exactly as it would import a user's module: `module: nets.digits:DigitCNN`.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from tests.conftest import DEMO

MODULE_SOURCE = '''
import torch
from torch import nn


class DigitCNN(nn.Module):
    def __init__(self, channels: int = 4) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, channels, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(channels, 2 * channels, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(2 * channels * 2 * 2, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class TwoHeads(DigitCNN):
    """The same network returning a dict of outputs, to pick one by `output_name`."""

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        logits = self.head(self.features(x))
        return {"logits": logits, "probs": torch.softmax(logits, dim=1)}
'''

DIGITS_PRE = {"scale": 0.0625, "input_shape": [1, 8, 8]}


def write_repo(root: Path) -> Path:
    """A repository holding the model's class: root/nets/digits.py."""
    (root / "nets").mkdir(parents=True, exist_ok=True)
    (root / "nets" / "__init__.py").write_text("")
    (root / "nets" / "digits.py").write_text(MODULE_SOURCE)
    return root


def build_torch_models(root: Path, *, export: bool = True) -> dict[str, Any]:
    """A seeded DigitCNN saved as TorchScript, torch.export (.pt2), safetensors and a .pt state_dict."""
    import importlib.util

    import torch
    from safetensors.torch import save_file

    write_repo(root)
    spec = importlib.util.spec_from_file_location("_test_digits_nets", root / "nets" / "digits.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    torch.manual_seed(0)
    model = mod.DigitCNN(channels=4).eval()
    paths = {
        "torchscript": root / "cnn.ts",
        "safetensors": root / "cnn.safetensors",
        "pt": root / "cnn.pt",
    }
    with warnings.catch_warnings():
        warnings.simplefilter(
            "ignore", DeprecationWarning
        )  # torch 2.10+ deprecates TorchScript; users still ship it
        torch.jit.script(model).save(str(paths["torchscript"]))
    save_file(model.state_dict(), str(paths["safetensors"]))
    torch.save(model.state_dict(), paths["pt"])
    if export:
        example = (torch.zeros(3, 1, 8, 8),)
        program = torch.export.export(model, example, dynamic_shapes=({0: torch.export.Dim("batch")},))
        paths["export"] = root / "cnn.pt2"
        torch.export.save(program, str(paths["export"]))
    return {"model": model, "paths": paths, "root": root}


def torch_reference(model: Any, x: Any) -> Any:
    """The framework's own output for preprocessed inputs."""
    import torch

    with torch.no_grad():
        return model(torch.from_numpy(x)).numpy()


def digits_dataset(task: str = "multiclass") -> Any:
    """The demo's 360-sample digits test set, as the stages see it."""
    from evalaction.datasets import load_dataset
    from evalaction.plan import DatasetSpec

    spec = DatasetSpec(
        path="data/test.csv",
        label_column="label",
        id_column="id",
        feature_columns=["p*"],
        class_names=[str(k) for k in range(10)],
        slice_columns=["ink"],
    )
    return load_dataset(spec, DEMO, task)


def digits_inputs(dataset: Any) -> Any:
    """The CNN's inputs for the whole test set: pixels / 16 as float32 (N, 1, 8, 8)."""
    import numpy as np

    return (dataset.features * 0.0625).reshape(len(dataset), 1, 8, 8).astype(np.float32)


class EvilPickle:
    """Unpickling this creates `target`: the proof that a loader ran code from a file."""

    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.write_text, (self.target, "pwned"))


def write_evil_pickle(path: Path, target: Path) -> Path:
    import pickle

    path.write_bytes(pickle.dumps(EvilPickle(target)))
    return path

"""The torch runner: TorchScript, torch.export and state_dicts equal torch's own outputs; pickle never runs code."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from evalaction.exceptions import CannotLoadModel, ModelOutputInvalid, UnsafeModelFormat
from evalaction.plan import ModelSpec, Preprocessing
from evalaction.runners.factory import open_runner
from evalaction.runners.torch import TorchRunner, resolve_device
from tests.runner_models import (
    DIGITS_PRE,
    build_torch_models,
    digits_dataset,
    digits_inputs,
    torch_reference,
    write_evil_pickle,
)

pytest.importorskip("torch")

MODULE = "nets.digits:DigitCNN"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return build_torch_models(tmp_path_factory.mktemp("repo"))


@pytest.fixture(scope="module")
def digits():  # type: ignore[no-untyped-def]
    return digits_dataset()


def _spec(path: Path, **kw: Any) -> ModelSpec:
    return ModelSpec(path=path.name, outputs="logits", preprocessing=Preprocessing(**DIGITS_PRE), **kw)


@pytest.mark.parametrize(
    ("key", "extra", "kind"),
    [
        ("torchscript", {"allow_pickle": True}, "torchscript"),
        ("export", {"allow_pickle": True}, "torch.export"),
        ("safetensors", {"module": MODULE, "module_kwargs": {"channels": 4}}, "state_dict"),
        ("pt", {"module": MODULE, "module_kwargs": {"channels": 4}, "allow_pickle": True}, "state_dict"),
    ],
)
def test_each_torch_format_equals_torch(built, digits, key: str, extra: dict[str, Any], kind: str) -> None:  # type: ignore[no-untyped-def]
    path = built["paths"][key]
    runner = open_runner(_spec(path, **extra), path, "candidate", threads=1, device="cpu", code_root=built["root"])
    assert isinstance(runner, TorchRunner) and runner.kind == kind and runner.device == "cpu"
    out = runner.run(digits, batch_size=50)
    want = torch_reference(built["model"], digits_inputs(digits))
    np.testing.assert_allclose(out.scores, want, atol=1e-5, rtol=0)
    assert out.batch_index.max() == 7 and len(out.batch_latency_ms) == 8


def test_dict_output_selected_by_name(built, digits) -> None:  # type: ignore[no-untyped-def]
    import torch

    path = built["paths"]["safetensors"]
    spec = _spec(path, module="nets.digits:TwoHeads", module_kwargs={"channels": 4}, output_name="probs")
    out = open_runner(spec, path, "candidate", code_root=built["root"]).run(digits, batch_size=128)
    want = torch.softmax(torch.from_numpy(torch_reference(built["model"], digits_inputs(digits))), dim=1).numpy()
    np.testing.assert_allclose(out.scores, want, atol=1e-6)
    bad = _spec(path, module="nets.digits:TwoHeads", module_kwargs={"channels": 4}, output_name="prob")
    with pytest.raises(ModelOutputInvalid) as err:
        open_runner(bad, path, "candidate", code_root=built["root"]).run(digits, batch_size=128)
    assert str(err.value) == (
        "candidate model cnn.safetensors: `output_name` 'prob' is not among the outputs ['logits', 'probs']; fix it"
    )


def test_repo_modules_are_not_left_in_sys_modules(built) -> None:  # type: ignore[no-untyped-def]
    path = built["paths"]["safetensors"]
    open_runner(
        _spec(path, module=MODULE, module_kwargs={"channels": 4}), path, "candidate", code_root=built["root"]
    )
    assert "nets" not in sys.modules and "nets.digits" not in sys.modules
    assert str(built["root"]) not in sys.path


def test_threads_are_restored_after_the_run(built, digits) -> None:  # type: ignore[no-untyped-def]
    import torch

    before = torch.get_num_threads()
    path = built["paths"]["torchscript"]
    open_runner(_spec(path, allow_pickle=True), path, "candidate", threads=1).run(digits, batch_size=180)
    assert torch.get_num_threads() == before


# -------------------------------------------------------------------------------------------------- safety


@pytest.mark.parametrize(
    ("name", "extra", "what"),
    [
        ("evil.pt", {"module": MODULE}, "a .pt/.pth state_dict is a pickle"),
        ("evil.ts", {}, "a TorchScript archive is pickle-based"),
        ("evil.pt2", {}, "a torch.export .pt2 archive holds pickled tensors"),
    ],
)
def test_pickle_refused_without_allow_pickle(tmp_path: Path, name: str, extra: dict[str, Any], what: str) -> None:
    target = tmp_path / "pwned.txt"
    path = write_evil_pickle(tmp_path / name, target)
    with pytest.raises(UnsafeModelFormat) as err:
        open_runner(_spec(path, **extra), path, "candidate", code_root=tmp_path)
    assert str(err.value) == (
        f"candidate model {name}: {what}, and unpickling can run code; export to ONNX or save the state_dict as "
        "safetensors, or set `allow_pickle: true` on the model if you trust this file"
    )
    assert not target.exists()


@pytest.mark.parametrize(("name", "extra"), [("evil.pt", {"module": MODULE}), ("evil.ts", {})])
def test_allowed_pickle_still_never_runs_code(built, tmp_path: Path, name: str, extra: dict[str, Any]) -> None:  # type: ignore[no-untyped-def]
    """With `allow_pickle`, a .pt goes through torch.load(weights_only=True) and a TorchScript load needs a zip."""
    target = tmp_path / "pwned.txt"
    path = write_evil_pickle(tmp_path / name, target)
    with pytest.raises(CannotLoadModel) as err:
        open_runner(_spec(path, allow_pickle=True, **extra), path, "candidate", code_root=built["root"])
    assert str(err.value).startswith(f"candidate model {name}: torch cannot load it as ")
    assert "\n" not in str(err.value)
    assert not target.exists()


def test_forks_never_unpickle_even_when_allowed(built, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = built["paths"]["torchscript"]
    with pytest.raises(UnsafeModelFormat) as err:
        open_runner(_spec(path, allow_pickle=True), path, "candidate", untrusted=True)
    assert str(err.value) == (
        "candidate model cnn.ts: a TorchScript archive is pickle-based and this pull request comes from a fork, so "
        "it is never unpickled (`allow_pickle` is ignored for forks); export the model to ONNX or save its "
        "state_dict as safetensors"
    )
    # safetensors is not pickle, but its `module` would be imported from the fork's checkout: refused too
    st = built["paths"]["safetensors"]
    spec = _spec(st, module=MODULE, module_kwargs={"channels": 4})
    with pytest.raises(UnsafeModelFormat, match=r"importing it runs the fork's code"):
        open_runner(spec, st, "candidate", untrusted=True, code_root=built["root"])
    assert open_runner(spec, st, "candidate", untrusted=False, code_root=built["root"]).kind == "state_dict"


# ------------------------------------------------------------------------------------------------ bad models


def test_safetensors_without_module(built) -> None:  # type: ignore[no-untyped-def]
    path = built["paths"]["safetensors"]
    with pytest.raises(CannotLoadModel) as err:
        open_runner(_spec(path), path, "candidate")
    assert str(err.value) == (
        "candidate model cnn.safetensors: a safetensors file holds only weights; set `module: "
        "package.module:Class` (and `module_kwargs`) to name the nn.Module to load them into"
    )


@pytest.mark.parametrize(
    ("module", "kwargs", "message"),
    [
        (
            "nets.missing:DigitCNN",
            {},
            "candidate model cnn.safetensors: cannot import `module: nets.missing:DigitCNN` under {root} (No module "
            "named 'nets.missing'); check the module path and class name (relative to the plan's folder)",
        ),
        (
            "nets.digits:Nope",
            {},
            "candidate model cnn.safetensors: cannot import `module: nets.digits:Nope` under {root} (module "
            "'nets.digits' has no attribute 'Nope'); check the module path and class name (relative to the plan's "
            "folder)",
        ),
        (
            MODULE,
            {"channles": 4},
            "candidate model cnn.safetensors: `nets.digits:DigitCNN(**module_kwargs)` failed (DigitCNN.__init__() got "
            "an unexpected keyword argument 'channles'); fix `module_kwargs`",
        ),
    ],
    ids=["no-module", "no-class", "bad-kwargs"],
)
def test_module_errors_are_one_line(built, module: str, kwargs: dict[str, Any], message: str) -> None:  # type: ignore[no-untyped-def]
    path = built["paths"]["safetensors"]
    with pytest.raises(CannotLoadModel) as err:
        open_runner(_spec(path, module=module, module_kwargs=kwargs), path, "candidate", code_root=built["root"])
    assert str(err.value) == message.format(root=built["root"].resolve())


def test_weights_that_do_not_fit_the_module(built) -> None:  # type: ignore[no-untyped-def]
    path = built["paths"]["safetensors"]
    spec = _spec(path, module=MODULE, module_kwargs={"channels": 8})
    with pytest.raises(CannotLoadModel) as err:
        open_runner(spec, path, "candidate", code_root=built["root"])
    msg = str(err.value)
    assert msg.startswith("candidate model cnn.safetensors: the weights do not fit `nets.digits:DigitCNN` (")
    assert msg.endswith("check `module_kwargs` (layer sizes)") and "\n" not in msg


def test_input_shape_mismatch_names_the_fix(built, digits) -> None:  # type: ignore[no-untyped-def]
    path = built["paths"]["torchscript"]
    spec = ModelSpec(path=path.name, outputs="logits", allow_pickle=True)  # no input_shape: (N, 64)
    with pytest.raises(ModelOutputInvalid) as err:
        open_runner(spec, path, "candidate").run(digits, batch_size=64)
    msg = str(err.value)
    assert msg.startswith("candidate model cnn.ts: inference failed on batch 0 (")
    assert "check `preprocessing.input_shape` and `dtype`" in msg and "\n" not in msg


def test_cuda_requested_without_a_gpu() -> None:
    import torch

    if torch.cuda.is_available():  # pragma: no cover - GPU machines
        pytest.skip("a GPU is present")
    with pytest.raises(
        CannotLoadModel, match=r"^candidate model m.pt: `inference.device: cuda` but torch sees no CUDA"
    ):
        resolve_device("cuda", "candidate", "m.pt")
    assert resolve_device("auto", "candidate", "m.pt") == "cpu"

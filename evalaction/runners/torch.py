"""PyTorch runner: TorchScript, torch.export programs (.pt2), and state_dicts loaded into a module of the repo.

    kind          file                          loaded with                                   pickle?
    torchscript   .pt/.pth/.ts/.jit (a zip)     torch.jit.load                                yes
    torch.export  .pt2                          torch.export.load(...).module()               yes
    state_dict    .safetensors + `module`       safetensors.torch.load_file                   no
    state_dict    .pt/.pth + `module`           torch.load(weights_only=True)                 yes (restricted)

Pickle-based kinds are refused before this module is reached unless the plan sets `allow_pickle: true`, and
always for pull requests from forks (`runners.base.check_pickle`). The model runs in eval mode under
`torch.inference_mode()`, batch by batch, on the plan's device.
"""

from __future__ import annotations

import importlib
import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evalaction.exceptions import CannotLoadModel, ModelOutputInvalid
from evalaction.formats import KINDS
from evalaction.runners.base import ModelOutput, first_line, run_batches

if TYPE_CHECKING:
    import numpy as np

    from evalaction.plan import ModelSpec
    from evalaction.runners.base import BatchSource, OutputCheck
    from evalaction.runners.progress import ProgressHook


def resolve_device(device: str, role: str, name: str) -> str:
    """`auto` -> cuda when torch sees a GPU, else cpu; `cuda` without a GPU is an error."""
    import torch

    has_cuda = torch.cuda.is_available()
    if device == "cuda" and not has_cuda:
        raise CannotLoadModel(
            f"{role} model {name}: `inference.device: cuda` but torch sees no CUDA device "
            f"(torch {torch.__version__}); run on a GPU machine or set `inference.device: cpu`"
        )
    return "cuda" if device in ("cuda", "auto") and has_cuda else "cpu"


def import_module_class(ref: str, code_root: Path | None, model_name: str) -> Any:
    """`package.module:Class` imported with `code_root` first on sys.path; the repo's modules are not cached.

    Modules newly imported from `code_root` are dropped from sys.modules afterwards, so a second model from
    another checkout (the baseline's base branch) imports its own code, not the first one's.
    """
    module_name, _, attr = ref.partition(":")
    if module_name.endswith(".py"):
        return _class_from_file(module_name, attr, ref, code_root, model_name)
    root = str(code_root.resolve()) if code_root is not None else None
    top = module_name.split(".")[0]
    shadowed: dict[str, Any] = {}
    if root is not None:
        # a module of the same name imported from elsewhere (say `model`) must not stand in for the repo's own
        cached = sys.modules.get(top)
        if cached is not None and not (getattr(cached, "__file__", None) or "").startswith(root):
            shadowed = {n: m for n, m in sys.modules.items() if n == top or n.startswith(top + ".")}
            for name in shadowed:
                del sys.modules[name]
    before = set(sys.modules)
    if root is not None:
        sys.path.insert(0, root)
    try:
        module = importlib.import_module(module_name)
        _check_module_file(module, ref, root, model_name)
        obj: Any = module
        for part in attr.split("."):
            obj = getattr(obj, part)
        _check_class(obj, ref, model_name)
    except (ImportError, AttributeError) as exc:
        where = f" under {root}" if root else ""
        raise CannotLoadModel(
            f"{model_name}: cannot import `module: {ref}`{where} ({first_line(exc)}); "
            "check the module path and class name (relative to the plan's folder)"
        ) from None
    finally:
        if root is not None:
            sys.path.remove(root)
            for name in set(sys.modules) - before:
                file = getattr(sys.modules[name], "__file__", None) or ""
                if file.startswith(root):
                    del sys.modules[name]
            sys.modules.update(shadowed)
    return obj


def _check_module_file(module: Any, ref: str, root: str | None, model_name: str) -> None:
    """The plan's `module` must be the repository's code: a stdlib or installed module (`os:system`) is refused
    even when it was already imported (load_plan refuses it first; this guards callers that skip the plan)."""
    file = getattr(module, "__file__", None)
    if root is None:
        return
    if file is None or not Path(file).resolve().is_relative_to(root):
        raise CannotLoadModel(
            f"{model_name}: `module: {ref}` is not a module of the repository under {root}; name a class "
            "defined in a Python file of the repository"
        )


def _check_class(obj: Any, ref: str, model_name: str) -> None:
    if not isinstance(obj, type):
        raise CannotLoadModel(
            f"{model_name}: `module: {ref}` names a {type(obj).__name__}, not a class; name the nn.Module class"
        )


def _class_from_file(file: str, attr: str, ref: str, code_root: Path | None, model_name: str) -> Any:
    """`path/to/file.py:Class`: the file (inside `code_root`) loaded as a module of its own, never cached."""
    import importlib.util

    root = (code_root or Path.cwd()).resolve()
    path = (root / file).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        raise CannotLoadModel(
            f"{model_name}: `module: {ref}`: expected a Python file inside {root}, found none; fix the path"
        )
    name = f"_evalaction_module_{abs(hash(str(path)))}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise CannotLoadModel(f"{model_name}: `module: {ref}`: cannot load {path.name} as Python; fix the path")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(path.parent))  # so the file can import its siblings
    try:
        spec.loader.exec_module(module)
        obj: Any = module
        for part in attr.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError, SyntaxError) as exc:
        raise CannotLoadModel(
            f"{model_name}: cannot import `module: {ref}` ({first_line(exc)}); check the file and class name"
        ) from None
    finally:
        sys.path.remove(str(path.parent))
    _check_class(obj, ref, model_name)
    return obj


class TorchRunner:
    name = "torch"

    def __init__(
        self,
        path: Path,
        spec: ModelSpec,
        *,
        role: str,
        kind: str,
        threads: int = 0,
        device: str = "auto",
        code_root: Path | None = None,
    ) -> None:
        import torch

        self.path, self.spec, self.role, self.kind = path, spec, role, kind
        self.model_name = f"{role} model {path.name}"
        self.device = resolve_device(device, role, path.name)
        self.provider = f"torch:{self.device}"
        self.threads = threads
        self.model = self._load(torch, code_root)
        self._torch_dtype = getattr(torch, spec.preprocessing.dtype)

    def versions(self) -> dict[str, str]:
        import torch

        out: dict[str, str] = {"torch": str(torch.__version__)}
        if self.path.suffix.lower() == ".safetensors":
            import safetensors

            out["safetensors"] = safetensors.__version__
        return out

    # ------------------------------------------------------------------------------------------------- loading

    def _load(self, torch: Any, code_root: Path | None) -> Any:
        try:
            if self.kind == "torchscript":
                with warnings.catch_warnings():
                    # torch 2.10+ deprecates TorchScript in favour of torch.export; users' archives still load
                    warnings.simplefilter("ignore", DeprecationWarning)
                    model = torch.jit.load(str(self.path), map_location=self.device)
            elif self.kind == "torch.export":
                model = torch.export.load(str(self.path)).module()
            else:
                model = self._load_state_dict(torch, code_root)
        except CannotLoadModel:
            raise
        except Exception as exc:
            hint = next(k.save_hint for k in KINDS if k.kind == self.kind)
            raise CannotLoadModel(
                f"{self.model_name}: torch cannot load it as {self.kind} ({first_line(exc)}); check that the "
                f"file is complete and of that kind: {hint}"
            ) from None
        if self.kind != "torch.export":
            # an exported program's module() has no train/eval switch; the others go to eval mode
            model = model.to(self.device)
            model.eval()
        else:
            model = model.to(self.device)
        return model

    def _load_state_dict(self, torch: Any, code_root: Path | None) -> Any:
        assert self.spec.module is not None  # formats.model_kind guarantees it
        if self.path.suffix.lower() == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(self.path), device="cpu")
        else:
            # the restricted unpickler: tensors and containers only, no arbitrary globals
            state = torch.load(str(self.path), map_location="cpu", weights_only=True)
        if not isinstance(state, dict):
            raise CannotLoadModel(
                f"{self.model_name}: expected a state_dict (a mapping of tensor names to tensors), found "
                f"{type(state).__name__}; save `model.state_dict()`"
            )
        cls = import_module_class(self.spec.module, code_root, self.model_name)
        try:
            module = cls(**self.spec.module_kwargs)
        except Exception as exc:
            raise CannotLoadModel(
                f"{self.model_name}: `{self.spec.module}(**module_kwargs)` failed ({first_line(exc)}); "
                "fix `module_kwargs`"
            ) from None
        missing, unexpected = _key_mismatch(module.state_dict().keys(), state.keys())
        if missing or unexpected:
            raise CannotLoadModel(
                f"{self.model_name}: the weights do not fit `{self.spec.module}`: {len(missing)} missing keys "
                f"{missing[:3]}, {len(unexpected)} unexpected {unexpected[:3]}; check `module` and `module_kwargs`"
            )
        try:
            module.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            raise CannotLoadModel(
                f"{self.model_name}: the weights do not fit `{self.spec.module}` ({first_line(exc)}); check "
                "`module_kwargs` (layer sizes)"
            ) from None
        return module

    # --------------------------------------------------------------------------------------------------- running

    def _select(self, out: Any) -> Any:
        """The output to evaluate: a tensor, a dict entry by `output_name`, or a tuple item (first by default)."""
        name = self.spec.output_name
        if isinstance(out, dict):
            key = name if name is not None else next(iter(out))
            if key not in out:
                raise ModelOutputInvalid(
                    f"{self.model_name}: `output_name` {key!r} is not among the outputs {list(out)}; fix it"
                )
            return out[key]
        if isinstance(out, tuple | list):
            index = int(name) if name is not None and name.isdigit() else 0
            if name is not None and not name.isdigit():
                raise ModelOutputInvalid(
                    f"{self.model_name}: the model returns a {type(out).__name__} of {len(out)}; set "
                    "`output_name` to an index like '0'"
                )
            return out[index]
        return out

    def predict(self, x: np.ndarray, batch: int = 0) -> np.ndarray:
        """Raw output for one preprocessed batch."""
        import torch

        tensor = torch.from_numpy(x)
        if self.device != "cpu":
            tensor = tensor.to(self.device, non_blocking=True)
        try:
            with torch.inference_mode():
                out = self._select(self.model(tensor))
        except ModelOutputInvalid:
            raise
        except Exception as exc:
            raise ModelOutputInvalid(
                f"{self.model_name}: inference failed on batch {batch} ({first_line(exc)}); check "
                "`preprocessing.input_shape` and `dtype` against the model's input (a torch.export program "
                "also needs a dynamic batch axis: export with `dynamic_shapes`)"
            ) from None
        if not isinstance(out, torch.Tensor):
            raise ModelOutputInvalid(
                f"{self.model_name}: the selected output is a {type(out).__name__}, not a tensor; set `output_name`"
            )
        return out.detach().float().cpu().numpy() if out.dtype != torch.float64 else out.cpu().numpy()

    def run(
        self,
        source: BatchSource,
        *,
        batch_size: int,
        progress: ProgressHook | None = None,
        check: OutputCheck | None = None,
    ) -> ModelOutput:
        import torch

        previous = torch.get_num_threads()
        if self.threads > 0:
            torch.set_num_threads(self.threads)
        try:
            return run_batches(
                source,
                batch_size=batch_size,
                preprocessing=self.spec.preprocessing,
                predict=self.predict,
                model_name=self.model_name,
                progress=progress,
                check=check,
            )
        finally:
            torch.set_num_threads(previous)


def _key_mismatch(want: Any, got: Any) -> tuple[list[str], list[str]]:
    want_set, got_set = set(want), set(got)
    return sorted(want_set - got_set), sorted(got_set - want_set)

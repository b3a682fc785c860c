"""ONNX Runtime runner: one InferenceSession (from `runners.onnx_session`), fed batch by batch from the test set.

Also runs scikit-learn models exported with skl2onnx: with `zipmap` off they have a `label` (int64) and a
`probabilities` (float) output, and the default output is the first floating-point one, i.e. `probabilities`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from evalaction.exceptions import CannotLoadModel, ModelOutputInvalid
from evalaction.runners.base import ModelOutput, first_line, run_batches
from evalaction.runners.onnx_session import open_onnx_session

if TYPE_CHECKING:
    import numpy as np

    from evalaction.plan import ModelSpec
    from evalaction.runners.base import BatchSource, OutputCheck
    from evalaction.runners.progress import ProgressHook

# ONNX tensor element types <-> numpy dtypes, for the input check and its message
_ONNX_DTYPES = {
    "tensor(float)": "float32",
    "tensor(double)": "float64",
    "tensor(int64)": "int64",
    "tensor(float16)": "float16",
    "tensor(int32)": "int32",
}
_FLOAT_OUTPUTS = ("tensor(float)", "tensor(double)", "tensor(float16)")


class OnnxRunner:
    name = "onnxruntime"
    kind = "onnx"

    def __init__(self, path: Path, spec: ModelSpec, *, role: str, threads: int = 0, device: str = "auto") -> None:
        self.path, self.spec, self.role = path, spec, role
        self.model_name = f"{role} model {path.name}"
        self.session = open_onnx_session(path, role=role, threads=threads, device=device)
        self.provider = self.session.get_providers()[0]
        self.device = "cuda" if self.provider == "CUDAExecutionProvider" else "cpu"
        self.threads = threads
        inputs = {i.name: i for i in self.session.get_inputs()}
        outputs = {o.name: o for o in self.session.get_outputs()}
        self.input_name = spec.input_name or next(iter(inputs))
        if self.input_name not in inputs:
            raise CannotLoadModel(
                f"{self.model_name}: `input_name` {self.input_name!r} is not an input; found {list(inputs)}"
            )
        if len(inputs) > 1:
            raise CannotLoadModel(
                f"{self.model_name}: the model has {len(inputs)} inputs {list(inputs)}; evalaction feeds one "
                "tensor: export a single-input model"
            )
        if spec.output_name is not None:
            self.output_name = spec.output_name
            if self.output_name not in outputs:
                raise CannotLoadModel(
                    f"{self.model_name}: `output_name` {self.output_name!r} is not an output; found {list(outputs)}"
                )
        else:
            floats = [o for o, meta in outputs.items() if meta.type in _FLOAT_OUTPUTS]
            self.output_name = floats[0] if floats else next(iter(outputs))
        out_type = outputs[self.output_name].type
        if out_type.startswith(("seq(", "map(")):
            raise CannotLoadModel(
                f"{self.model_name}: output {self.output_name!r} is a {out_type} (scikit-learn's ZipMap); "
                "re-export with skl2onnx `options={'zipmap': False}`, or set `output_name` to a tensor output"
            )
        meta = inputs[self.input_name]
        self.input_shape = list(meta.shape)
        self.input_dtype = _ONNX_DTYPES.get(meta.type)
        want_dtype = spec.preprocessing.dtype
        if self.input_dtype is not None and self.input_dtype != want_dtype:
            raise CannotLoadModel(
                f"{self.model_name}: input {self.input_name!r} wants {meta.type} ({self.input_dtype}), the "
                f"plan feeds {want_dtype}; set `preprocessing.dtype: {self.input_dtype}`"
            )
        # bound once: the batch loop then costs one dict and one call per batch on top of ONNX Runtime itself
        self._run = self.session.run
        self._outputs = [self.output_name]
        self._shape_checked = False

    def versions(self) -> dict[str, str]:
        import onnxruntime

        return {"onnxruntime": onnxruntime.__version__}

    def predict(self, x: np.ndarray, batch: int = 0) -> np.ndarray:
        """Raw output for one preprocessed batch."""
        self._check_shape(x)
        try:
            return self._run(self._outputs, {self.input_name: x})[0]  # type: ignore[no-any-return]
        except Exception as exc:
            raise ModelOutputInvalid(
                f"{self.model_name}: inference failed on batch {batch} ({first_line(exc)}); "
                "check `preprocessing.input_shape` and `dtype` against the model's input"
            ) from None

    def run(
        self,
        source: BatchSource,
        *,
        batch_size: int,
        progress: ProgressHook | None = None,
        check: OutputCheck | None = None,
    ) -> ModelOutput:
        self._shape_checked = False
        return run_batches(
            source,
            batch_size=batch_size,
            preprocessing=self.spec.preprocessing,
            predict=self._predict_fast,
            model_name=self.model_name,
            progress=progress,
            check=check,
        )

    def _predict_fast(self, x: np.ndarray, batch: int) -> np.ndarray:
        if not self._shape_checked:
            # every batch has the same trailing shape, so checking the first one is enough
            self._check_shape(x)
            self._shape_checked = True
        try:
            return self._run(self._outputs, {self.input_name: x})[0]  # type: ignore[no-any-return]
        except Exception as exc:
            raise ModelOutputInvalid(
                f"{self.model_name}: inference failed on batch {batch} ({first_line(exc)}); "
                "check `preprocessing.input_shape` and `dtype` against the model's input"
            ) from None

    def _check_shape(self, x: np.ndarray) -> None:
        want = self.input_shape
        if want and isinstance(want[0], int) and want[0] != x.shape[0]:
            raise CannotLoadModel(
                f"{self.model_name}: input {self.input_name!r} has a fixed batch size of {want[0]}, the plan "
                f"feeds batches of {x.shape[0]}; re-export with a dynamic batch axis (torch.onnx.export "
                "`dynamic_axes`/`dynamic_shapes`) or set `inference.batch_size` to it"
            )
        if len(want) != x.ndim or any(
            isinstance(w, int) and w != g for w, g in zip(want[1:], x.shape[1:], strict=False)
        ):
            raise CannotLoadModel(
                f"{self.model_name}: input {self.input_name!r} wants shape {want}, "
                f"the data gives {list(x.shape)}; set `preprocessing.input_shape`, or check "
                "`dataset.feature_columns` when a feature column is missing from the test set"
            )

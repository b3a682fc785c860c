"""ONNX Runtime runner: one InferenceSession, fed batch by batch."""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from evalaction.errors import CannotLoadModel, ModelOutputInvalid
from evalaction.runners.base import ModelOutput, preprocess

if TYPE_CHECKING:
    import numpy as np

    from evalaction.config import ModelSpec


class OnnxRunner:
    name = "onnxruntime"

    def __init__(self, path: Path, spec: ModelSpec, *, role: str, threads: int = 0) -> None:
        import onnxruntime as ort

        self.path, self.spec, self.role = path, spec, role
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:
            first = str(exc).splitlines()[0][:200]
            raise CannotLoadModel(
                f"{role} model {path.name}: ONNX Runtime cannot load it ({first}); check that it is a complete "
                "ONNX file (not truncated, not another format)"
            ) from None
        self.provider = self.session.get_providers()[0]
        self.threads = threads
        inputs = {i.name: i for i in self.session.get_inputs()}
        outputs = [o.name for o in self.session.get_outputs()]
        self.input_name = spec.input_name or next(iter(inputs))
        if self.input_name not in inputs:
            raise CannotLoadModel(
                f"{role} model {path.name}: `input_name` {self.input_name!r} is not an input; found {list(inputs)}"
            )
        self.output_name = spec.output_name or outputs[0]
        if self.output_name not in outputs:
            raise CannotLoadModel(
                f"{role} model {path.name}: `output_name` {self.output_name!r} is not an output; found {outputs}"
            )
        self.input_shape = list(inputs[self.input_name].shape)

    def run(self, batches: Iterable[tuple[int, np.ndarray]], n_samples: int) -> ModelOutput:
        import numpy as np

        chunks: list[np.ndarray] = []
        batch_index = np.empty(n_samples, dtype=np.int32)
        latencies: list[float] = []
        started = time.perf_counter()
        for b, (start, rows) in enumerate(batches):
            x = preprocess(rows, self.spec.preprocessing)
            self._check_shape(x)
            t0 = time.perf_counter()
            try:
                (out,) = self.session.run([self.output_name], {self.input_name: x})
            except Exception as exc:
                first = str(exc).splitlines()[0][:200]
                raise ModelOutputInvalid(
                    f"{self.role} model {self.path.name}: inference failed on batch {b} ({first}); "
                    "check `preprocessing.input_shape` and `dtype` against the model's input"
                ) from None
            latencies.append((time.perf_counter() - t0) * 1000.0)
            chunks.append(out)
            batch_index[start : start + len(rows)] = b
        return ModelOutput(
            scores=np.concatenate(chunks, axis=0),
            batch_index=batch_index,
            batch_latency_ms=np.asarray(latencies),
            wall_s=time.perf_counter() - started,
        )

    def _check_shape(self, x: np.ndarray) -> None:
        want = self.input_shape
        if len(want) != x.ndim or any(
            isinstance(w, int) and w != g for w, g in zip(want[1:], x.shape[1:], strict=False)
        ):
            raise CannotLoadModel(
                f"{self.role} model {self.path.name}: input {self.input_name!r} wants shape {want}, "
                f"the data gives {list(x.shape)}; set `preprocessing.input_shape`"
            )

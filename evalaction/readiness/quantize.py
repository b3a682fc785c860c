"""An INT8 trial of the fp32 candidate: dynamic and static (QDQ) quantization with ONNX Runtime.

Each trial reports size, latency timed interleaved with the fp32 candidate, and the accuracy delta
against the fp32 candidate on the same samples. A quantizer or runtime that refuses the model (an op
without an INT8 kernel) gives a skipped trial with the reason, never a crash. On small models INT8 is
often slower (quantize/dequantize overhead dominates), so every trial says in one sentence whether it
pays. Static calibration uses a seeded random slice of the test set; accuracies are computed on the
rest, so the calibration samples never grade the model they calibrated.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

from evalaction.exceptions import BadInput, CannotLoadModel, EvalActionError
from evalaction.readiness.models import LatencyStats, QuantizationReport, QuantizationTrial, SlownessTest
from evalaction.readiness.profile import (
    DEFAULT_TIMING,
    Timing,
    batch_of,
    check_sample,
    exception_line,
    input_name,
    latency_stats,
    model_file_stats,
    slowness_of,
    static_batch_size,
    time_batch,
)
from evalaction.runners import onnx_proto
from evalaction.runners.onnx_session import open_onnx_session

if TYPE_CHECKING:
    import onnxruntime as ort

Method = Literal["dynamic", "static"]
_PREDICT_BATCH = 256
_CALIBRATION_BATCH = 32


def argmax_labels(out: np.ndarray) -> np.ndarray:
    """Class indices from one output: argmax of (N, C) scores, or (N,) integer labels as they are."""
    if out.ndim == 2 and np.issubdtype(out.dtype, np.floating):
        return np.asarray(out.argmax(axis=1))
    if out.ndim == 1 and np.issubdtype(out.dtype, np.integer):
        return out
    raise BadInput(
        f"Expected the model's output to be (N, classes) scores or (N,) integer labels, "
        f"found {out.dtype} {list(out.shape)}; name the class-score output in `output_name`."
    )


def predict_labels(
    session: ort.InferenceSession,
    name: str,
    inputs: np.ndarray,
    *,
    output: str | None = None,
    to_labels: Callable[[np.ndarray], np.ndarray] = argmax_labels,
) -> np.ndarray:
    """Class indices for `inputs`: `to_labels` of the named output (default: the first), in batches."""
    fixed = static_batch_size(session)
    step = fixed or _PREDICT_BATCH
    chunks = []
    for start in range(0, inputs.shape[0], step):
        chunk = inputs[start : start + step]
        rows = chunk.shape[0]
        if fixed is not None and rows != fixed:
            chunk = batch_of(chunk, fixed)
        out = session.run(None if output is None else [output], {name: chunk})[0]
        chunks.append(to_labels(np.asarray(out))[:rows])
    return np.concatenate(chunks)


def calibration_split(n: int, calibration_size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Sorted row indices (calibration, evaluation): a seeded random slice of at most half the rows.

    Random, not the first rows, because test sets are often sorted by class and a one-class slice
    calibrates the activation ranges badly; at most half, so the accuracy rests on enough rows.
    """
    order = np.random.default_rng(seed).permutation(n)
    k = min(calibration_size, n // 2)
    return np.sort(order[:k]), np.sort(order[k:])


class _SliceReader:
    """A CalibrationDataReader over fixed batches of the calibration slice."""

    def __init__(self, name: str, inputs: np.ndarray, batch: int) -> None:
        self._batches: Iterator[dict[str, np.ndarray]] = iter(
            [{name: batch_of(inputs[s : s + batch], batch)} for s in range(0, inputs.shape[0], batch)]
        )

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._batches, None)


def _quantize(method: Method, source: Path, target: Path, reader: _SliceReader) -> None:
    from onnxruntime import quantization as q

    if method == "dynamic":
        q.quantize_dynamic(source, target, weight_type=q.QuantType.QInt8)
    else:
        # the ORT defaults for CPU: QDQ, uint8 activations, int8 weights, min-max calibration
        q.quantize_static(
            source,
            target,
            reader,
            quant_format=q.QuantFormat.QDQ,
            activation_type=q.QuantType.QUInt8,
            weight_type=q.QuantType.QInt8,
        )


def _quantized_session(
    method: Method, source: Path, target: Path, reader: _SliceReader, threads: int
) -> tuple[ort.InferenceSession | None, str | None]:
    """Quantize and load the INT8 model: (session, None), or (None, why it could not be done)."""
    try:
        _quantize(method, source, target, reader)
        _check_weights_quantized(target)
        return open_onnx_session(target, role=f"{method} INT8", threads=threads), None
    except NothingQuantized as exc:
        return None, str(exc)
    except CannotLoadModel as exc:
        return None, exception_line(exc.__cause__ or exc)
    except Exception as exc:  # the quantizer raises many types; a refusal is a result to report
        return None, exception_line(exc)


def _preprocess(candidate: Path, workdir: Path) -> tuple[Path, str | None]:
    """Run ORT's quant_pre_process (shape inference + graph optimisation); fall back to the original."""
    from onnxruntime.quantization import quant_pre_process

    target = workdir / f"{candidate.stem}.pre.onnx"
    try:
        # Symbolic shape inference exists for transformers with symbolic dims and imports sympy (~4 s);
        # ONNX's own shape inference covers models whose only dynamic dim is the batch.
        quant_pre_process(candidate, target, skip_symbolic_shape=True)
    except Exception as exc:  # the pre-processor raises whatever its passes raise
        return candidate, f"pre-processing skipped ({exception_line(exc)}); quantized the original graph"
    return target, None


class NothingQuantized(EvalActionError):
    """The quantizer ran but left every weight in floating point."""


def _no_standard_operators(candidate: Path) -> str | None:
    """Why no quantizer can work on the model, when all its operators are traditional-ML ones (ai.onnx.ml, as
    a scikit-learn export has), decided from the file alone: the quantizer's import costs ~1 s. None when the
    quantizer should try."""
    ops = onnx_proto.traditional_ml_only(onnx_proto.load_model(candidate))
    if ops is None:
        return None
    return (
        f"nothing to quantize: every operator is a traditional-ML one (ai.onnx.ml: {', '.join(ops)}), and ONNX "
        "Runtime's quantizer has INT8 forms for standard ONNX operators only"
    )


def _check_weights_quantized(path: Path) -> None:
    """Raise NothingQuantized unless the model holds an INT8/UINT8 weight tensor (not a zero point)."""
    model = onnx_proto.load_model(path)
    eight_bit = (onnx_proto.tensor_type("INT8"), onnx_proto.tensor_type("UINT8"))
    if not any(i.data_type in eight_bit and len(i.dims) > 0 for i in model.graph.initializer):
        raise NothingQuantized(
            "no weight was quantized to INT8: the quantizer found no op with float32 weights it supports"
        )


def _verdict_sentence(
    method: Method,
    size_ratio: float,
    slowness: Sequence[SlownessTest],
    delta: float,
    tolerance: float,
) -> tuple[bool, str]:
    """Whether the trial pays (smaller, not significantly slower, accuracy within tolerance) and why."""
    label = f"{method.capitalize()} INT8"
    problems = []
    if size_ratio >= 1.0:
        problems.append(f"it is not smaller ({size_ratio:.0%} of the fp32 size)")
    slower = [
        f"{s.ratio:.2f}x at batch {s.batch_size} ({s.confidence:.0%} CI {s.ci_low:.2f}-{s.ci_high:.2f})"
        for s in slowness
        if s.significantly_slower
    ]
    if slower:
        problems.append(f"it is slower than fp32: {', '.join(slower)}")
    if delta < -tolerance:
        problems.append(f"accuracy drops {-delta * 100:.1f} pt (tolerance {tolerance * 100:.1f} pt)")
    if problems:
        return False, f"{label} does not pay on this model: {'; '.join(problems)}."
    speed = ", ".join(
        f"{s.ratio:.2f}x the fp32 median latency at batch {s.batch_size} [{s.ci_low:.2f}, {s.ci_high:.2f}]"
        for s in slowness
    )
    return True, f"{label} pays: {size_ratio:.0%} of the fp32 size, {speed}, accuracy {delta * 100:+.1f} pt."


def quantization_trial(
    candidate: Path,
    *,
    inputs: np.ndarray,
    labels: np.ndarray,
    workdir: Path,
    methods: Sequence[Method] = ("dynamic", "static"),
    timing: Timing = DEFAULT_TIMING,
    calibration_size: int = 128,
    accuracy_tolerance: float = 0.01,
    preprocess: bool = True,
    output: str | None = None,
    to_labels: Callable[[np.ndarray], np.ndarray] = argmax_labels,
) -> QuantizationReport:
    """Quantize `candidate` to INT8 with each method; compare size, latency and accuracy with fp32.

    `inputs` (N, ...) float32 and `labels` (N,) class indices are the test set. At most half of it
    (`calibration_size` rows, drawn with `timing.seed`) calibrates static quantization; every accuracy is
    computed on the other rows. `accuracy_tolerance` is a fraction (0.01 = 1 point). `preprocess`
    runs ORT's quant_pre_process first, as its documentation recommends. Predictions are
    `to_labels(model output)`, from the output named `output` (default: the first).
    """
    x = check_sample(inputs)
    if x.dtype != np.float32:
        raise BadInput(
            f"Expected float32 inputs for INT8 quantization, found {x.dtype}; "
            "turn `readiness.quantization` off for this model."
        )
    y = np.asarray(labels)
    if y.shape != (x.shape[0],) or not np.issubdtype(y.dtype, np.integer):
        raise BadInput(
            f"Expected one integer class label per input row ({x.shape[0]}), found {y.dtype} "
            f"{list(y.shape)}; pass the test set's labels as class indices."
        )
    if calibration_size < 1 or x.shape[0] < 2:
        raise BadInput(
            f"Expected calibration_size >= 1 and at least 2 test rows, found {calibration_size} and "
            f"{x.shape[0]}; fix `readiness.quantization.calibration_size` or the test set."
        )
    sizes = timing.sizes()
    workdir.mkdir(parents=True, exist_ok=True)
    calibration_rows, evaluation = calibration_split(x.shape[0], calibration_size, timing.seed)
    calibration, x_eval, y_eval = x[calibration_rows], x[evaluation], y[evaluation]

    fp32 = open_onnx_session(candidate, role="candidate", threads=timing.threads)
    name = input_name(fp32, x, candidate)
    fp32_size = model_file_stats(candidate)[0]
    fp32_pred = predict_labels(fp32, name, x_eval, output=output, to_labels=to_labels)
    fp32_accuracy = float(np.mean(fp32_pred == y_eval))
    nothing = _no_standard_operators(candidate)
    if nothing is not None:  # before the quantizer's import (issue #16: `onnx` alone is ~0.7 s)
        return QuantizationReport(
            candidate_path=str(candidate),
            fp32_file_size_bytes=fp32_size,
            preprocessed=False,
            preprocess_note="not run: nothing to quantize",
            calibration_size=int(calibration_rows.size),
            n_eval=int(evaluation.size),
            accuracy_tolerance=accuracy_tolerance,
            trials=tuple(
                QuantizationTrial(
                    method=method,
                    status="skipped",
                    reason=nothing,
                    fp32_accuracy=fp32_accuracy,
                    note=f"{method.capitalize()} INT8 skipped: {nothing}.",
                )
                for method in methods
            ),
        )
    source, preprocess_note = (
        _preprocess(candidate, workdir) if preprocess else (candidate, "pre-processing turned off in the plan")
    )

    fixed = static_batch_size(fp32)
    trials = []
    for method in methods:
        target = workdir / f"{candidate.stem}.int8-{method}.onnx"
        reader = _SliceReader(name, calibration, fixed or _CALIBRATION_BATCH)
        int8, reason = _quantized_session(method, source, target, reader, timing.threads)
        if int8 is None:
            trials.append(
                QuantizationTrial(
                    method=method,
                    status="skipped",
                    reason=reason,
                    fp32_accuracy=fp32_accuracy,
                    note=f"{method.capitalize()} INT8 skipped: {reason}.",
                )
            )
            continue
        pred = predict_labels(int8, name, x_eval, output=output, to_labels=to_labels)
        accuracy = float(np.mean(pred == y_eval))
        size = target.stat().st_size
        latency: list[LatencyStats] = []
        fp32_latency: list[LatencyStats] = []
        slowness: list[SlownessTest] = []
        for b in sizes if fixed is None else [fixed]:
            t_int8, t_fp32 = time_batch([int8, fp32], [name, name], [x, x], b, timing)
            latency.append(latency_stats(t_int8, b))
            fp32_latency.append(latency_stats(t_fp32, b))
            slowness.append(slowness_of(t_int8, t_fp32, b, timing))
        delta = accuracy - fp32_accuracy
        pays, note = _verdict_sentence(method, size / fp32_size, slowness, delta, accuracy_tolerance)
        trials.append(
            QuantizationTrial(
                method=method,
                status="ok",
                model_path=str(target),
                file_size_bytes=size,
                size_ratio=size / fp32_size,
                latency=tuple(latency),
                fp32_latency=tuple(fp32_latency),
                slowness=tuple(slowness),
                accuracy=accuracy,
                fp32_accuracy=fp32_accuracy,
                accuracy_delta=delta,
                agreement=float(np.mean(pred == fp32_pred)),
                pays=pays,
                note=note,
            )
        )
    return QuantizationReport(
        candidate_path=str(candidate),
        fp32_file_size_bytes=fp32_size,
        preprocessed=source != candidate,
        preprocess_note=preprocess_note,
        calibration_size=int(calibration_rows.size),
        n_eval=int(evaluation.size),
        accuracy_tolerance=accuracy_tolerance,
        trials=tuple(trials),
    )

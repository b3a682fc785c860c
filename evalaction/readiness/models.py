"""Typed results of the readiness library: latency, memory, size, the slowness test, INT8 and torch export.

Frozen pydantic models, JSON-serialisable, so a report can be re-rendered from results.json without
profiling again. `evalaction/artifacts.py` imports (or absorbs) them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class LatencyStats(_Frozen):
    """Latency of one model at one batch size, from `repeats` timed runs after a warm-up."""

    batch_size: int
    repeats: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    mean_ms: float
    # samples per second at the median latency: batch_size / p50. Not sum-based: on a shared runner one
    # 10 ms hiccup among 200 runs of 20 us would cut a sum-based rate by two thirds.
    throughput_per_s: float
    # the raw per-run timings in run order, so percentiles can be recomputed and plotted
    timings_ms: tuple[float, ...]


class SlownessTest(_Frozen):
    """Whether a model is significantly slower than a reference, from paired interleaved timings.

    `ratio` is median(model) / median(reference); the interval is a paired percentile bootstrap over
    the interleaved iterations. `significantly_slower` holds when the interval's lower bound exceeds
    1 + margin, i.e. a one-sided test at level (1 - confidence) / 2 that the slowdown exceeds the margin.
    """

    batch_size: int
    n_pairs: int
    ratio: float
    ci_low: float
    ci_high: float
    confidence: float
    margin: float
    significantly_slower: bool
    method: str


class ModelProfile(_Frozen):
    """Size, load time, peak memory and latency of one ONNX model."""

    path: str
    file_size_bytes: int
    # sum over the graph's initializers of the product of their dimensions
    parameter_count: int
    # median over interleaved session constructions
    load_time_ms: float
    # peak resident memory of loading and running the model, above a bare interpreter; None when unmeasured
    peak_memory_bytes: int | None
    memory_note: str | None = None
    latency: tuple[LatencyStats, ...]

    def at_batch(self, batch_size: int) -> LatencyStats | None:
        """The latency at `batch_size`, or None when it was not profiled."""
        return next((s for s in self.latency if s.batch_size == batch_size), None)


class ReadinessProfile(_Frozen):
    """Candidate and baseline profiled alike, timed interleaved in one process."""

    candidate: ModelProfile
    baseline: ModelProfile | None
    # candidate against baseline, one per batch size; empty without a baseline
    slowness: tuple[SlownessTest, ...]
    threads: int
    warmup: int
    memory_method: str

    def slowness_at(self, batch_size: int) -> SlownessTest | None:
        """The candidate-vs-baseline test at `batch_size`, or None."""
        return next((s for s in self.slowness if s.batch_size == batch_size), None)


class QuantizationTrial(_Frozen):
    """One INT8 quantization of the fp32 candidate: size, latency and accuracy against the fp32 model."""

    method: Literal["dynamic", "static"]
    status: Literal["ok", "skipped"]
    # why the trial was skipped (the quantizer or ONNX Runtime refused the model)
    reason: str | None = None
    model_path: str | None = None  # relative to the output folder (the readiness stage makes it so)
    file_size_bytes: int | None = None
    # int8 size / fp32 size
    size_ratio: float | None = None
    latency: tuple[LatencyStats, ...] = ()
    # the fp32 candidate, timed interleaved with this INT8 model
    fp32_latency: tuple[LatencyStats, ...] = ()
    # INT8 against fp32, one per batch size
    slowness: tuple[SlownessTest, ...] = ()
    accuracy: float | None = None
    fp32_accuracy: float | None = None
    # accuracy - fp32_accuracy on the same evaluation samples
    accuracy_delta: float | None = None
    # share of evaluation samples where INT8 and fp32 predict the same class
    agreement: float | None = None
    pays: bool | None = None
    note: str


class QuantizationReport(_Frozen):
    """The INT8 trial of the candidate: pre-processing, calibration and one trial per method."""

    candidate_path: str
    fp32_file_size_bytes: int
    preprocessed: bool
    preprocess_note: str | None = None
    calibration_size: int
    # samples the accuracies were computed on: the test set minus the calibration slice
    n_eval: int
    accuracy_tolerance: float
    trials: tuple[QuantizationTrial, ...]


class TorchExport(_Frozen):
    """A torch module exported to ONNX for profiling, or why it could not be."""

    exported: bool
    onnx_path: str | None = None
    exporter: str
    opset: int | None = None
    # largest |onnx - torch| over the check inputs
    max_abs_diff: float | None = None
    reason: str | None = None
    note: str

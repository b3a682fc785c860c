"""Profile ONNX models for deployment: latency, throughput, load time, peak memory, size, parameters.

Candidate and baseline are timed INTERLEAVED in one process (A B, B A, A B, ...) so that whatever the
runner does meanwhile (a noisy neighbour, frequency scaling, a cache flush) hits both models alike; the
order alternates every iteration so neither model always runs second on a warm cache. Each iteration
gives a pair of latencies, and `paired_slowness` decides on the pairs whether the candidate is
significantly slower, so runner noise does not flip a gate.

onnxruntime is imported inside the functions (`evalaction --help` never loads it); the model file is read as a
ModelProto without the `onnx` package (`runners/onnx_proto.py`). Nothing is timed while the figure process is
drawing: `profile_models` waits for it, while the memory probes run, before its first timing.
"""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from evalaction.exceptions import BadInput, CannotLoadModel, EvalActionError
from evalaction.readiness.models import LatencyStats, ModelProfile, ReadinessProfile, SlownessTest
from evalaction.report import drawing
from evalaction.runners import onnx_proto
from evalaction.runners.onnx_session import open_onnx_session

if TYPE_CHECKING:
    import onnxruntime as ort

# Latencies are paired per iteration, so a run needs at least this many pairs to say anything.
MIN_PAIRS = 20
# Timing stops before `repeats` once every model's p95 is known to within +-P95_TOLERANCE (relative) at
# P95_CONFIDENCE: a slow model is not run hundreds of times to learn what 60 runs already pin down.
P95_TOLERANCE = 0.05
P95_CONFIDENCE = 0.90
P95_CHECK_EVERY = 10
MEMORY_METHOD = (
    "peak resident memory (VmHWM on Linux, else ru_maxrss) of a child process that loads the model "
    "and runs every profiled batch size, minus that of a child that only imports numpy and "
    "onnxruntime and loads the input"
)
_MEMPROBE = Path(__file__).with_name("_memprobe.py")
# numpy dtype -> ONNX Runtime's tensor element type name
_ORT_TYPES = {
    "float32": "float",
    "float64": "double",
    "float16": "float16",
    "int64": "int64",
    "int32": "int32",
    "uint8": "uint8",
    "bool": "bool",
}


class MemoryProbeFailed(EvalActionError):
    """The child process that measures peak memory did not report."""


@dataclass(frozen=True)
class Timing:
    """How to time models: batch sizes (1 is always added), runs, threads, and the slowness test."""

    batch_sizes: tuple[int, ...] = (1,)
    repeats: int = 200
    warmup: int = 10
    threads: int = 1
    # cap on the timing of one batch size; at least MIN_PAIRS iterations run regardless
    time_budget_s: float | None = None
    # a slowdown within this fraction is not "significantly slower"
    margin: float = 0.05
    confidence: float = 0.95
    seed: int = 0

    def sizes(self) -> list[int]:
        """Batch 1 and the configured sizes, ascending, after checking the settings."""
        sizes = sorted({1, *self.batch_sizes})
        if sizes[0] < 1:
            raise BadInput(f"Expected batch sizes >= 1, found {sizes[0]}; fix `readiness.batch_sizes`.")
        if self.threads < 1:
            raise BadInput(f"Expected `readiness.threads` >= 1, found {self.threads}; set it to 1 or more.")
        if self.repeats < MIN_PAIRS:
            raise BadInput(f"Expected `readiness.repeats` >= {MIN_PAIRS}, found {self.repeats}; raise it.")
        return sizes


DEFAULT_TIMING = Timing()


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def exception_line(exc: BaseException) -> str:
    """`Type: first non-empty line` of an exception, colour codes removed: a reason fit for one line."""
    lines = [line.strip() for line in _ANSI.sub("", str(exc)).splitlines() if line.strip()]
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


def model_file_stats(path: Path) -> tuple[int, int]:
    """Return (size in bytes on disk incl. external data files, parameter count) of an ONNX model.

    The parameter count is the sum over the main graph's weight initializers (floating point, or
    8-bit for quantized weights) of the product of their dims. Integer initializers of other widths
    are shapes and indices an exporter adds (a Reshape's target), not parameters; weights held in
    Constant nodes or subgraphs are not counted.
    """
    weight_types = {onnx_proto.tensor_type(t) for t in ("FLOAT", "DOUBLE", "FLOAT16", "BFLOAT16", "INT8", "UINT8")}
    external_data = onnx_proto.external_location()
    model = _load_onnx(path)
    size = path.stat().st_size
    external: set[str] = set()
    count = 0
    for init in model.graph.initializer:
        if init.data_type in weight_types:
            count += int(np.prod(init.dims, dtype=np.int64))
        if init.data_location == external_data:
            external.update(e.value for e in init.external_data if e.key == "location")
    for location in sorted(external):
        data_file = path.parent / location
        if data_file.is_file():
            size += data_file.stat().st_size
    return size, count


def _load_onnx(path: Path) -> Any:
    if not path.is_file():
        raise CannotLoadModel(f"Expected an ONNX model at {path}, found no file; check the path in the plan.")
    try:
        return onnx_proto.load_model(path)
    except Exception as exc:  # onnx raises DecodeError/ValueError/... for anything that is not ONNX
        raise CannotLoadModel(
            f"Expected an ONNX model at {path}, could not parse it ({type(exc).__name__}); "
            "export the model to ONNX or point the plan at the .onnx file."
        ) from exc


def input_name(session: ort.InferenceSession, sample: np.ndarray, path: Path) -> str:
    """The model's single input name, after checking `sample` (N, ...) fits that input's type and shape."""
    inputs = session.get_inputs()
    if len(inputs) != 1:
        names = ", ".join(i.name for i in inputs)
        raise BadInput(
            f"Expected {path} to take one input, found {len(inputs)} ({names}); "
            "readiness profiling feeds a single tensor, export the model with one input."
        )
    spec = inputs[0]
    expected = f"tensor({_ORT_TYPES[sample.dtype.name]})"
    if spec.type != expected:
        raise BadInput(
            f"Expected input `{spec.name}` of {path} to be {expected} like the sample, found {spec.type}; "
            "set `preprocessing.dtype` in the plan to the model's input type."
        )
    static = [(i, d) for i, d in enumerate(spec.shape[1:], start=1) if isinstance(d, int)]
    bad = [(i, d) for i, d in static if i >= sample.ndim or sample.shape[i] != d]
    if bad or len(spec.shape) != sample.ndim:
        raise BadInput(
            f"Expected a sample shaped like input `{spec.name}` {list(spec.shape)} of {path}, "
            f"found {list(sample.shape)}; pass test-set rows in the model's input layout."
        )
    return str(spec.name)


def static_batch_size(session: ort.InferenceSession) -> int | None:
    """The model's fixed batch size, or None when its first input dimension is symbolic."""
    first = session.get_inputs()[0].shape[0] if session.get_inputs()[0].shape else None
    return first if isinstance(first, int) else None


def check_sample(sample: np.ndarray) -> np.ndarray:
    """Return `sample` as a C-contiguous numeric (N, ...) array, N >= 1, or raise BadInput."""
    array = np.asarray(sample)
    if array.ndim < 1 or array.shape[0] == 0:
        raise BadInput(
            f"Expected a sample input with at least one row (N, ...), found shape {list(array.shape)}; "
            "pass a slice of the test set."
        )
    if array.dtype.name not in _ORT_TYPES:
        raise BadInput(
            f"Expected a sample input of dtype {', '.join(_ORT_TYPES)}, found {array.dtype}; "
            "set `preprocessing.dtype` in the plan."
        )
    return np.ascontiguousarray(array)


def batch_of(sample: np.ndarray, batch_size: int) -> np.ndarray:
    """The first `batch_size` rows of `sample`, cycling through it when it has fewer rows."""
    if batch_size < 1:
        raise BadInput(f"Expected batch sizes >= 1, found {batch_size}; fix `readiness.batch_sizes`.")
    rows = np.arange(batch_size) % sample.shape[0]
    return np.ascontiguousarray(sample[rows])


def p95_interval(timings: np.ndarray, confidence: float = P95_CONFIDENCE) -> tuple[float, float] | None:
    """Distribution-free interval for the 95th percentile from order statistics: the ranks n q -+ z sqrt(n q
    (1 - q)) of the sorted timings (the binomial count of runs below the true p95, normal approximation;
    Conover 1999, "Practical Nonparametric Statistics", 3.2); None while n is too small for the upper rank."""
    import math
    from statistics import NormalDist

    n, q = len(timings), 0.95
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    half = z * math.sqrt(n * q * (1 - q))
    lo, hi = math.floor(n * q - half), math.ceil(n * q + half)
    if lo < 1 or hi > n:
        return None
    ordered = np.sort(timings)
    return float(ordered[lo - 1]), float(ordered[hi - 1])


def p95_is_tight(timings: np.ndarray, tolerance: float = P95_TOLERANCE) -> bool:
    """The p95's interval lies within +-tolerance of the p95 itself."""
    interval = p95_interval(timings)
    if interval is None:
        return False
    p95 = float(np.percentile(timings, 95))
    return interval[0] >= p95 * (1 - tolerance) and interval[1] <= p95 * (1 + tolerance)


def interleaved_latencies(
    sessions: Sequence[ort.InferenceSession],
    feeds: Sequence[dict[str, np.ndarray]],
    *,
    repeats: int,
    warmup: int,
    time_budget_s: float | None = None,
    stop_when_tight: bool = True,
) -> np.ndarray:
    """Time the sessions interleaved; return latencies in ms, shape (len(sessions), n_iterations).

    Iteration i runs the sessions in an order rotated by i (A B, B A for two), so a position effect
    such as a cache warmed by the previous call cancels out. Timing stops after `repeats` iterations (the
    cap), or once `time_budget_s` has passed and at least MIN_PAIRS iterations are in (the floor), or, with
    `stop_when_tight`, once every session's p95 is known within +-P95_TOLERANCE (`p95_is_tight`, checked
    every P95_CHECK_EVERY iterations; it needs about 60 runs, so the default 50 repeats are unaffected).
    """
    k = len(sessions)
    for _ in range(warmup):
        for session, feed in zip(sessions, feeds, strict=True):
            session.run(None, feed)
    timings = np.empty((k, repeats), dtype=np.float64)
    clock = time.perf_counter_ns
    start = clock()
    done = 0
    for i in range(repeats):
        for j in range(k):
            m = (i + j) % k
            t0 = clock()
            sessions[m].run(None, feeds[m])
            timings[m, i] = clock() - t0
        done = i + 1
        if time_budget_s is not None and done >= MIN_PAIRS and (clock() - start) / 1e9 > time_budget_s:
            break
        if (
            stop_when_tight
            and done >= MIN_PAIRS
            and done < repeats
            and done % P95_CHECK_EVERY == 0
            and all(p95_is_tight(timings[m, :done]) for m in range(k))
        ):
            break
    return timings[:, :done] / 1e6


def latency_stats(timings_ms: np.ndarray, batch_size: int) -> LatencyStats:
    """Percentiles (numpy's linear interpolation), mean and throughput of one model's timings."""
    t = np.asarray(timings_ms, dtype=np.float64)
    p50, p95, p99 = np.percentile(t, [50, 95, 99])
    return LatencyStats(
        batch_size=batch_size,
        repeats=int(t.size),
        p50_ms=float(p50),
        p95_ms=float(p95),
        p99_ms=float(p99),
        mean_ms=float(t.mean()),
        throughput_per_s=float(batch_size / (p50 / 1e3)),
        timings_ms=tuple(float(x) for x in t),
    )


def paired_slowness(
    model_ms: np.ndarray,
    reference_ms: np.ndarray,
    *,
    batch_size: int,
    margin: float = 0.05,
    confidence: float = 0.95,
    n_resamples: int = 2000,
    seed: int = 0,
) -> SlownessTest:
    """Is `model` significantly slower than `reference`, on paired per-iteration latencies?

    Statistic: r = median(model) / median(reference). Interval: paired percentile bootstrap (Efron &
    Tibshirani 1993, ch. 13), resampling iterations so each resample keeps the A/B pairs that shared
    the runner's state. Decision: slower iff the lower bound exceeds 1 + margin, a one-sided test at
    level (1 - confidence) / 2 that the slowdown exceeds the margin. Medians, not p95, because tail
    percentiles of a few hundred runs move with single hiccups; the margin keeps a real but
    negligible difference (a few percent of layout noise) from failing a gate. Pure numpy: importing
    scipy.stats for this alone would cost every pipeline run about two seconds.
    """
    a = np.asarray(model_ms, dtype=np.float64)
    b = np.asarray(reference_ms, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1 or a.size < MIN_PAIRS:
        raise BadInput(
            f"Expected two equal-length timing series of >= {MIN_PAIRS} paired runs, "
            f"found shapes {a.shape} and {b.shape}; time the models interleaved."
        )
    rng = np.random.default_rng(seed)
    ratios = np.empty(n_resamples)
    chunk = max(1, 2_000_000 // a.size)  # resamples per step, so the index matrix stays near 16 MB
    for start in range(0, n_resamples, chunk):
        rows = rng.integers(0, a.size, size=(min(chunk, n_resamples - start), a.size))
        ratios[start : start + len(rows)] = np.median(a[rows], axis=1) / np.median(b[rows], axis=1)
    low, high = (float(q) for q in np.quantile(ratios, [(1 - confidence) / 2, (1 + confidence) / 2]))
    return SlownessTest(
        batch_size=batch_size,
        n_pairs=int(a.size),
        ratio=float(np.median(a) / np.median(b)),
        ci_low=low,
        ci_high=high,
        confidence=confidence,
        margin=margin,
        significantly_slower=low > 1.0 + margin,
        method=f"paired percentile bootstrap of the median ratio, {n_resamples} resamples, seed {seed}",
    )


def _probe_command(sample_file: Path, threads: int, model: Path | None, batch_sizes: Sequence[int]) -> list[str]:
    command = [sys.executable, str(_MEMPROBE), str(sample_file), str(threads)]
    if model is not None:
        command += [str(model), *(str(b) for b in batch_sizes)]
    return command


def measure_peak_memory(
    models: Sequence[Path],
    samples: Sequence[np.ndarray],
    *,
    batch_sizes: Sequence[int],
    threads: int,
    timeout_s: float = 300.0,
) -> list[int]:
    """Peak resident memory in bytes of loading and running each model, each in a fresh child process.

    Each child is a new interpreter (no memory left over from the parent or from another model) that
    loads one model and runs each batch size of its sample; its peak RSS minus that of a bare child
    (numpy, onnxruntime and the first sample loaded, no session) is the model's cost. The children run
    concurrently: the peak is per process, so they do not disturb each other's number (see _memprobe
    for why the peak is read from /proc/self/status and not from ru_maxrss). Negative differences
    (allocator noise on tiny models) are reported as 0.
    """
    with MemoryProbes(models, samples, batch_sizes=batch_sizes, threads=threads, timeout_s=timeout_s) as probes:
        return probes.peaks()


class MemoryProbes:
    """The children of `measure_peak_memory`, started on construction, so the caller can do other untimed work
    (wait for the figure process) while they run; `peaks()` collects them, leaving the block stops any left."""

    def __init__(
        self,
        models: Sequence[Path],
        samples: Sequence[np.ndarray],
        *,
        batch_sizes: Sequence[int],
        threads: int,
        timeout_s: float = 300.0,
    ) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="evalaction-mem-")
        self.timeout_s = timeout_s
        self.children: list[subprocess.Popen[str]] = []
        try:
            files = []
            for k, sample in enumerate(samples):
                files.append(Path(self._tmp.name) / f"sample{k}.npy")
                np.save(files[-1], check_sample(sample), allow_pickle=False)
            self.labels = ["the bare interpreter", *(str(m) for m in models)]
            commands = [_probe_command(files[0], threads, None, batch_sizes)]
            commands += [_probe_command(f, threads, m, batch_sizes) for f, m in zip(files, models, strict=True)]
            for c in commands:
                self.children.append(
                    subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                )
        except BaseException:
            self.close()
            raise

    def peaks(self) -> list[int]:
        """Each model's peak minus the bare child's, in bytes (0 when negative)."""
        peaks = [
            _probe_peak(c, label, self.timeout_s) for c, label in zip(self.children, self.labels, strict=True)
        ]
        return [max(0, p - peaks[0]) for p in peaks[1:]]

    def close(self) -> None:
        for child in self.children:  # after a failure, stop the probes still running
            if child.poll() is None:
                child.kill()
                child.communicate()
        self._tmp.cleanup()

    def __enter__(self) -> MemoryProbes:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _probe_peak(child: subprocess.Popen[str], label: str, timeout_s: float) -> int:
    try:
        out, err = child.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise MemoryProbeFailed(
            f"The memory probe for {label} ran over {timeout_s:.0f} s; "
            "lower the batch sizes or set `readiness.measure_memory: false` in the plan."
        ) from None
    if child.returncode != 0:
        last = (err.strip().splitlines() or ["no output"])[-1]
        raise MemoryProbeFailed(
            f"The memory probe for {label} exited with {child.returncode}: {last}; "
            "run the model once by hand to see why."
        )
    return int(json.loads(out)["maxrss_bytes"])


ROLES = ("candidate", "baseline")  # the order of `paths` in profile_models


def _load_time_ms(paths: Sequence[Path], threads: int, load_repeats: int) -> tuple[list[float], list[Any]]:
    """Median session-construction time per model (candidate, then baseline), interleaved; also the last
    sessions built."""
    times: list[list[float]] = [[] for _ in paths]
    sessions: list[Any] = [None] * len(paths)
    for i in range(load_repeats):
        for j in range(len(paths)):
            m = (i + j) % len(paths)
            t0 = time.perf_counter_ns()
            sessions[m] = open_onnx_session(paths[m], role=ROLES[m], threads=threads)
            times[m].append((time.perf_counter_ns() - t0) / 1e6)
    return [float(np.median(t)) for t in times], sessions


def time_batch(
    sessions: Sequence[ort.InferenceSession],
    names: Sequence[str],
    samples: Sequence[np.ndarray],
    size: int,
    timing: Timing,
) -> np.ndarray:
    """Interleaved latencies (ms) of each session on a `size`-row batch of its sample: (k, n)."""
    return interleaved_latencies(
        sessions,
        [{n: batch_of(x, size)} for n, x in zip(names, samples, strict=True)],
        repeats=timing.repeats,
        warmup=timing.warmup,
        time_budget_s=timing.time_budget_s,
    )


def slowness_of(model_ms: np.ndarray, reference_ms: np.ndarray, size: int, timing: Timing) -> SlownessTest:
    """`paired_slowness` with the margin, confidence and seed of `timing`."""
    return paired_slowness(
        model_ms,
        reference_ms,
        batch_size=size,
        margin=timing.margin,
        confidence=timing.confidence,
        seed=timing.seed,
    )


def _check_batch_sizes(session: ort.InferenceSession, path: Path, sizes: Sequence[int]) -> None:
    fixed = static_batch_size(session)
    if fixed is not None and any(s != fixed for s in sizes):
        raise BadInput(
            f"Expected {path} to accept batch sizes {list(sizes)}, found a fixed batch of {fixed}; "
            f"export it with a dynamic batch axis or set `readiness.batch_sizes` to [{fixed}]."
        )


def profile_models(
    *,
    candidate: Path,
    baseline: Path | None,
    sample: np.ndarray,
    baseline_sample: np.ndarray | None = None,
    timing: Timing = DEFAULT_TIMING,
    load_repeats: int = 3,
    measure_memory: bool = True,
) -> ReadinessProfile:
    """Profile the candidate and (when given) the baseline alike, timed interleaved.

    Batch size 1 is always profiled, then each of `timing.batch_sizes`; `sample` rows are cycled to
    fill a batch. `baseline_sample` is the same rows preprocessed for the baseline, when its
    preprocessing differs (default: `sample`).
    """
    sizes = timing.sizes()
    paths = [candidate] if baseline is None else [candidate, baseline]
    samples = [check_sample(sample)]
    if baseline is not None:
        samples.append(check_sample(sample if baseline_sample is None else baseline_sample))
    stats_on_disk = [model_file_stats(p) for p in paths]
    for m, (path, x) in enumerate(zip(paths, samples, strict=True)):  # the input checks, before any child starts
        session = open_onnx_session(path, role=ROLES[m], threads=timing.threads)
        input_name(session, x, path)
        _check_batch_sizes(session, path, sizes)
    peaks: list[int | None] = [None] * len(paths)
    memory_note: str | None = "memory measurement turned off in the plan"
    with contextlib.ExitStack() as stack:
        probes = None
        if measure_memory:
            probes = stack.enter_context(MemoryProbes(paths, samples, batch_sizes=sizes, threads=timing.threads))
        # nothing is timed beside another process: the figures (drawn in a second process by the CLI and the
        # action) are finished while the memory probes run, and both are done before the first timing
        drawing.wait()
        if probes is not None:
            peaks = list(probes.peaks())
            memory_note = None
    load_ms, sessions = _load_time_ms(paths, timing.threads, load_repeats)
    names = [input_name(s, x, p) for s, x, p in zip(sessions, samples, paths, strict=True)]

    latency: list[list[LatencyStats]] = [[] for _ in paths]
    slowness: list[SlownessTest] = []
    for size in sizes:
        timings = time_batch(sessions, names, samples, size, timing)
        for m, series in enumerate(timings):
            latency[m].append(latency_stats(series, size))
        if baseline is not None:
            slowness.append(slowness_of(timings[0], timings[1], size, timing))
    profiles = [
        ModelProfile(
            path=str(p),
            file_size_bytes=size_count[0],
            parameter_count=size_count[1],
            load_time_ms=load,
            peak_memory_bytes=peak,
            memory_note=memory_note,
            latency=tuple(lat),
        )
        for p, size_count, load, peak, lat in zip(paths, stats_on_disk, load_ms, peaks, latency, strict=True)
    ]
    return ReadinessProfile(
        candidate=profiles[0],
        baseline=profiles[1] if baseline is not None else None,
        slowness=tuple(slowness),
        threads=timing.threads,
        warmup=timing.warmup,
        memory_method=MEMORY_METHOD,
    )

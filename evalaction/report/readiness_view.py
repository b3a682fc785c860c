"""The readiness evidence as table rows and sentences, shared by the markdown and the HTML report.

Pure formatting of a ReadinessResult (no I/O), so both templates show the same numbers the verdict's
gates cite.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from evalaction.artifacts import ModelReadiness, ReadinessResult
    from evalaction.readiness.models import LatencyStats, ModelProfile, QuantizationReport, SlownessTest


def human_bytes(n: float | None) -> str:
    """1234567 -> `1.2 MB` (SI units, as the budgets' `model_size_mb`)."""
    if n is None:
        return "n/a"
    for unit in ("B", "kB", "MB", "GB"):
        if abs(n) < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    raise AssertionError("unreachable")  # pragma: no cover


def rate(per_s: float) -> str:
    """Samples per second, short: `812/s`, `37.4k/s`, `1.2M/s`."""
    if per_s >= 1e6:
        return f"{per_s / 1e6:.1f}M/s"
    return f"{per_s / 1e3:.1f}k/s" if per_s >= 1e3 else f"{per_s:.0f}/s"


def _ms(x: float) -> str:
    return f"{x:.3g}"


def _percentiles(s: LatencyStats | None) -> str:
    return "n/a" if s is None else f"{_ms(s.p50_ms)} / {_ms(s.p95_ms)} / {_ms(s.p99_ms)} ms"


def slowness_sentence(s: SlownessTest, what: str = "candidate / baseline") -> str:
    """`batch 1: candidate / baseline 1.20x [1.19, 1.22], significantly slower (margin 5%)`."""
    judged = "significantly slower" if s.significantly_slower else "not significantly slower"
    return (
        f"batch {s.batch_size}: {what} median latency {s.ratio:.2f}x "
        f"({s.confidence:.0%} CI {s.ci_low:.2f}-{s.ci_high:.2f}, {s.n_pairs} interleaved pairs), "
        f"{judged} (margin {s.margin:.0%})"
    )


@dataclass
class ReadinessView:
    headers: list[str] = field(default_factory=list)
    rows: list[tuple[str, list[str]]] = field(default_factory=list)
    slowness: list[str] = field(default_factory=list)
    int8_caption: str = ""
    int8_headers: list[str] = field(default_factory=list)
    int8_rows: list[tuple[str, list[str]]] = field(default_factory=list)
    int8_notes: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _model_rows(profiles: list[ModelProfile]) -> list[tuple[str, list[str]]]:
    sizes = sorted({s.batch_size for p in profiles for s in p.latency})
    rows = [(f"p50 / p95 / p99 (batch {b})", [_percentiles(p.at_batch(b)) for p in profiles]) for b in sizes]
    rows += [
        (
            f"throughput (batch {b})",
            [rate(s.throughput_per_s) if (s := p.at_batch(b)) else "n/a" for p in profiles],
        )
        for b in sizes
    ]
    rows += [
        ("peak memory", [human_bytes(p.peak_memory_bytes) for p in profiles]),
        ("model size", [human_bytes(p.file_size_bytes) for p in profiles]),
        ("parameters", [f"{p.parameter_count:,}" if p.parameter_count else "n/a (see note)" for p in profiles]),
        ("session load", [f"{p.load_time_ms:.3g} ms" for p in profiles]),
    ]
    return rows


def _headline_rows(heads: list[ModelReadiness]) -> list[tuple[str, list[str]]]:
    rows = [
        (
            "p50 / p95 / p99 (batch 1)",
            [f"{_ms(h.latency_p50_ms)} / {_ms(h.latency_p95_ms)} / {_ms(h.latency_p99_ms)} ms" for h in heads],
        ),
        ("model size", [human_bytes(h.size_mb * 1e6) for h in heads]),
        ("session load", [f"{h.load_s * 1e3:.3g} ms" for h in heads]),
    ]
    if any(h.throughput_per_s is not None for h in heads):
        rows.insert(
            1, ("throughput (batch 1)", [rate(h.throughput_per_s) if h.throughput_per_s else "n/a" for h in heads])
        )
    if any(h.peak_memory_mb is not None for h in heads):
        rows.append(
            (
                "peak memory",
                [human_bytes(h.peak_memory_mb * 1e6) if h.peak_memory_mb is not None else "n/a" for h in heads],
            )
        )
    return rows


def _int8(view: ReadinessView, q: QuantizationReport) -> None:
    ok = [t for t in q.trials if t.status == "ok"]
    reasons = {t.reason for t in q.trials}
    if not ok and len(reasons) == 1 and None not in reasons:  # one reason for every method: say it once
        view.int8_caption = f"INT8 trial of the candidate: not run, {next(iter(reasons))}."
        view.int8_notes = []
        return
    view.int8_caption = (
        f"INT8 trial of the candidate: static calibrated on {q.calibration_size} test rows, "
        f"accuracies on the other {q.n_eval}" + ("" if q.preprocessed else f" ({q.preprocess_note})") + "."
    )
    view.int8_notes = [t.note for t in q.trials]
    if not ok:
        return
    view.int8_headers = ["fp32", *(t.method for t in ok)]
    fp32_acc = ok[0].fp32_accuracy
    view.int8_rows = [
        (
            "model size",
            [
                human_bytes(q.fp32_file_size_bytes),
                *(f"{human_bytes(t.file_size_bytes)} ({t.size_ratio:.0%})" for t in ok),
            ],
        ),
        (
            "accuracy",
            [
                "n/a" if fp32_acc is None else f"{fp32_acc:.4f}",
                *(f"{t.accuracy:.4f} ({(t.accuracy_delta or 0) * 100:+.1f} pt)" for t in ok),
            ],
        ),
    ]
    for b in [s.batch_size for s in ok[0].slowness]:
        cells = ["1.00x"]
        for t in ok:
            s = next((x for x in t.slowness if x.batch_size == b), None)
            cells.append("n/a" if s is None else f"{s.ratio:.2f}x [{s.ci_low:.2f}, {s.ci_high:.2f}]")
        view.int8_rows.append((f"median latency vs fp32 (batch {b})", cells))


def readiness_view(readiness: ReadinessResult) -> ReadinessView:
    """Rows for the models table, the slowness sentences, the INT8 table, and the notes."""
    view = ReadinessView()
    profile = readiness.profile
    if profile is not None:
        profiles = [p for p in (profile.baseline, profile.candidate) if p is not None]
        view.headers = ["baseline", "candidate"] if profile.baseline is not None else ["candidate"]
        view.rows = _model_rows(profiles)
        view.slowness = [slowness_sentence(s) for s in profile.slowness]
        memory = f"Peak memory: {profile.memory_method}."
        view.notes.append(
            f"Timed interleaved in one process, {profile.threads} thread(s), after {profile.warmup} warm-up runs. {memory}"
        )
        if any(p.parameter_count == 0 for p in profiles):
            view.notes.append(
                "Parameters are counted from the ONNX graph's weight initializers; a model that keeps its weights "
                "in node attributes (scikit-learn models exported with skl2onnx: trees, linear coefficients) has "
                "none to count, so n/a means not counted, not zero weights."
            )
    elif readiness.candidate is not None:
        # headline numbers without a full profile (detection times its ONNX models itself): show those
        heads = [h for h in (readiness.baseline, readiness.candidate) if h is not None]
        view.headers = ["baseline", "candidate"] if readiness.baseline is not None else ["candidate"]
        view.rows = _headline_rows(heads)
        view.notes.append(f"Batch 1, {heads[-1].repeats} timed runs per model.")
    if readiness.quantization is not None:
        _int8(view, readiness.quantization)
    view.notes += [e.note for e in readiness.torch_export.values()]
    view.notes += readiness.notes
    return view

"""Readiness profile: sizes, percentiles, the paired slowness test and peak memory, on tiny ONNX models."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest
from scipy import stats

from evalaction.exceptions import BadInput, CannotLoadModel
from evalaction.readiness.profile import (
    Timing,
    batch_of,
    latency_stats,
    measure_peak_memory,
    model_file_stats,
    paired_slowness,
    profile_models,
)
from tests.unit.onnx_builders import digits_like, mlp


def test_size_and_parameter_count_are_exact(tmp_path: Path) -> None:
    path = mlp(tmp_path / "m.onnx", hidden=32)
    size, params = model_file_stats(path)
    assert size == path.stat().st_size
    assert params == 64 * 32 + 32 + 32 * 10 + 10
    # an int64 shape initializer (what exporters add for Reshape) is not a parameter
    model = onnx.load(str(path))
    model.graph.initializer.append(onnx.numpy_helper.from_array(np.array([-1, 64], np.int64), "shape"))
    onnx.save(model, str(tmp_path / "with_shape.onnx"))
    assert model_file_stats(tmp_path / "with_shape.onnx")[1] == params


def test_size_counts_external_data(tmp_path: Path) -> None:
    path = mlp(tmp_path / "m.onnx", hidden=256)
    model = onnx.load(str(path))
    external = tmp_path / "ext.onnx"
    onnx.save(model, str(external), save_as_external_data=True, location="ext.data", size_threshold=0)
    size, params = model_file_stats(external)
    assert size == external.stat().st_size + (tmp_path / "ext.data").stat().st_size
    assert params == 64 * 256 + 256 + 256 * 10 + 10


def test_latency_stats_equal_numpy() -> None:
    t = np.random.default_rng(3).lognormal(mean=-2.0, sigma=0.5, size=157)
    stats = latency_stats(t, batch_size=8)
    p50, p95, p99 = np.percentile(t, [50, 95, 99])
    assert (stats.p50_ms, stats.p95_ms, stats.p99_ms) == (p50, p95, p99)
    assert stats.mean_ms == pytest.approx(t.mean())
    assert stats.throughput_per_s == pytest.approx(8 / (np.median(t) / 1000))
    assert stats.timings_ms == tuple(t)


def test_paired_slowness_on_synthetic_timings() -> None:
    rng = np.random.default_rng(0)
    # shared runner noise per iteration (what interleaving pairs away) and a little independent noise
    shared = rng.lognormal(0.0, 0.3, size=300)
    base = shared * rng.lognormal(0.0, 0.02, size=300)
    slower = 1.5 * shared * rng.lognormal(0.0, 0.02, size=300)
    same = shared * rng.lognormal(0.0, 0.02, size=300)

    result = paired_slowness(slower, base, batch_size=1, n_resamples=4000)
    assert result.significantly_slower
    assert result.ratio == pytest.approx(np.median(slower) / np.median(base))
    assert result.ci_low < 1.5 < result.ci_high
    reference = stats.bootstrap(
        (slower, base),
        lambda x, y, axis=-1: np.median(x, axis=axis) / np.median(y, axis=axis),
        paired=True,
        vectorized=True,
        n_resamples=8000,
        method="percentile",
        rng=np.random.default_rng(1),
    ).confidence_interval
    assert result.ci_low == pytest.approx(reference.low, rel=0.015)
    assert result.ci_high == pytest.approx(reference.high, rel=0.015)

    assert not paired_slowness(same, base, batch_size=1).significantly_slower
    # 3 % slower is real but inside the default 5 % margin; with no margin it counts
    three = 1.03 * shared * rng.lognormal(0.0, 0.005, size=300)
    tight = shared * rng.lognormal(0.0, 0.005, size=300)
    assert not paired_slowness(three, tight, batch_size=1).significantly_slower
    assert paired_slowness(three, tight, batch_size=1, margin=0.0).significantly_slower


def test_paired_slowness_rejects_unpaired_series() -> None:
    with pytest.raises(BadInput, match="equal-length"):
        paired_slowness(np.ones(30), np.ones(31), batch_size=1)


def test_heavier_model_is_significantly_slower_and_a_copy_is_not(tmp_path: Path) -> None:
    base = mlp(tmp_path / "base.onnx", hidden=64)
    heavy = mlp(tmp_path / "heavy.onnx", hidden=8192)
    copy = Path(shutil.copy(base, tmp_path / "copy.onnx"))
    x = digits_like(32)
    timing = Timing(batch_sizes=(16,), repeats=100, warmup=5)

    slow = profile_models(candidate=heavy, baseline=base, sample=x, timing=timing, measure_memory=False)
    assert [s.batch_size for s in slow.slowness] == [1, 16]
    assert all(s.significantly_slower for s in slow.slowness)
    assert slow.slowness_at(1) is not None and slow.slowness_at(1).ratio > 2

    same = profile_models(candidate=copy, baseline=base, sample=x, timing=timing, measure_memory=False)
    assert not any(s.significantly_slower for s in same.slowness)

    # the reported percentiles are numpy's on the recorded timings, for every model and batch size
    for profile in (slow.candidate, slow.baseline):
        assert profile is not None
        assert profile.load_time_ms > 0
        for lat in profile.latency:
            # at most the 100 asked for: timing stops earlier once the p95 is pinned down (p95_is_tight)
            assert 20 <= lat.repeats == len(lat.timings_ms) <= 100
            p50, p95, p99 = np.percentile(np.array(lat.timings_ms), [50, 95, 99])
            assert (lat.p50_ms, lat.p95_ms, lat.p99_ms) == (p50, p95, p99)
    assert slow.candidate.parameter_count == 64 * 8192 + 8192 + 8192 * 10 + 10
    assert slow.candidate.memory_note is not None and slow.candidate.peak_memory_bytes is None


def test_time_budget_stops_early_but_keeps_minimum_pairs(tmp_path: Path) -> None:
    model = mlp(tmp_path / "m.onnx", hidden=16)
    timing = Timing(repeats=10_000, warmup=1, time_budget_s=0.0)
    profile = profile_models(
        candidate=model, baseline=model, sample=digits_like(4), timing=timing, measure_memory=False
    )
    assert profile.candidate.latency[0].repeats == 20
    assert profile.slowness[0].n_pairs == 20


def test_peak_memory_is_positive_and_grows_with_the_model(tmp_path: Path) -> None:
    small = mlp(tmp_path / "small.onnx", hidden=16)
    big = mlp(tmp_path / "big.onnx", hidden=65536)  # 4.9 M parameters, about 20 MB of weights
    small_bytes, big_bytes = measure_peak_memory([small, big], [digits_like(8)] * 2, batch_sizes=[1, 8], threads=1)
    assert small_bytes > 0
    weights = (64 * 65536 + 65536 * 10) * 4
    assert big_bytes - small_bytes > weights // 2


def test_batches_cycle_through_the_sample() -> None:
    x = digits_like(3)
    batch = batch_of(x, 7)
    assert batch.shape == (7, 1, 8, 8)
    np.testing.assert_array_equal(batch[3:6], x)


def test_bad_inputs_get_one_line_errors(tmp_path: Path) -> None:
    model = mlp(tmp_path / "m.onnx", hidden=8)
    with pytest.raises(CannotLoadModel, match="found no file"):
        model_file_stats(tmp_path / "missing.onnx")
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"not a model at all")
    with pytest.raises(CannotLoadModel, match="could not parse"):
        model_file_stats(garbage)
    with pytest.raises(BadInput, match=r"shaped like input `input`"):
        profile_models(candidate=model, baseline=None, sample=np.zeros((4, 64), np.float32), measure_memory=False)
    with pytest.raises(BadInput, match=r"to be tensor\(double\) like the sample, found tensor\(float\)"):
        profile_models(
            candidate=model, baseline=None, sample=digits_like(2).astype(np.float64), measure_memory=False
        )
    with pytest.raises(BadInput, match="repeats"):
        profile_models(candidate=model, baseline=None, sample=digits_like(2), timing=Timing(repeats=5))
    fixed = mlp(tmp_path / "fixed.onnx", hidden=8, batch=1)
    with pytest.raises(BadInput, match="fixed batch of 1"):
        profile_models(
            candidate=fixed,
            baseline=None,
            sample=digits_like(2),
            timing=Timing(batch_sizes=(64,)),
            measure_memory=False,
        )
    with pytest.raises(BadInput, match="at least one row"):
        profile_models(candidate=model, baseline=None, sample=np.zeros((0, 1, 8, 8), np.float32))


def test_p95_interval_covers_the_true_p95_at_its_confidence() -> None:
    """The order-statistic ranks give at least the stated coverage by the exact binomial (scipy)."""
    from evalaction.readiness.profile import p95_interval

    for n in (60, 100, 400):
        x = np.arange(1, n + 1, dtype=float)  # the values are the ranks
        interval = p95_interval(x, confidence=0.90)
        assert interval is not None
        lo, hi = int(interval[0]), int(interval[1])
        # the true p95 lies in [x_(lo), x_(hi)) unless fewer than lo or at least hi runs fall below it
        coverage = stats.binom.cdf(hi - 1, n, 0.95) - stats.binom.cdf(lo - 1, n, 0.95)
        assert coverage >= 0.88
    assert p95_interval(np.ones(30)) is None  # too few runs for the upper rank


def test_timing_stops_once_the_p95_is_tight_and_not_before(monkeypatch: pytest.MonkeyPatch) -> None:
    from evalaction.readiness import profile

    class Session:
        def run(self, *_: object) -> None:
            pass

    def clock_with(steps: np.ndarray):  # type: ignore[no-untyped-def]
        ticks = iter(np.cumsum(np.repeat(steps, 2)))  # each run: one call before and one after
        return lambda: int(next(ticks))

    # every run takes 1 ms: tight at the first check where the interval exists
    steady = np.full(100_000, 1_000_000)
    monkeypatch.setattr(profile.time, "perf_counter_ns", clock_with(steady))
    t = profile.interleaved_latencies([Session(), Session()], [{}, {}], repeats=1_000, warmup=0)
    assert t.shape[0] == 2 and 20 <= t.shape[1] <= 100 and t.shape[1] % profile.P95_CHECK_EVERY == 0
    # one run in ten takes 5x longer: the p95 sits on the edge of the slow runs and never pins down
    rng = np.random.default_rng(0)
    noisy = np.where(rng.random(100_000) < 0.07, 5_000_000, 1_000_000)
    monkeypatch.setattr(profile.time, "perf_counter_ns", clock_with(noisy))
    t = profile.interleaved_latencies([Session(), Session()], [{}, {}], repeats=300, warmup=0)
    assert t.shape[1] == 300
    # and the rule can be switched off
    monkeypatch.setattr(profile.time, "perf_counter_ns", clock_with(steady))
    t = profile.interleaved_latencies([Session()], [{}], repeats=300, warmup=0, stop_when_tight=False)
    assert t.shape[1] == 300


def _late_figure(path: Path) -> Path:
    import time

    time.sleep(0.3)  # with the child's start (~0.6 s), still drawing when readiness reaches its first timing
    path.write_bytes(b"png")
    return path


def test_nothing_is_timed_while_figures_are_still_being_drawn(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The figure process is finished (and the memory probes collected) before the first session is timed."""
    from evalaction.readiness import profile
    from evalaction.report import drawing

    model = mlp(tmp_path / "m.onnx", hidden=8)
    figure = tmp_path / "late.png"
    seen: list[bool] = []
    real = profile._load_time_ms

    def load_time_ms(*args: object, **kwargs: object) -> object:
        seen.append(figure.is_file())
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(profile, "_load_time_ms", load_time_ms)
    with drawing.in_background():
        drawing.draw(_late_figure, figure)
        result = profile.profile_models(
            candidate=model, baseline=None, sample=digits_like(8), timing=Timing(batch_sizes=(4,), repeats=20)
        )
    assert seen == [True]
    assert result.candidate.peak_memory_bytes is not None

"""The plan's readiness settings and the gates issue 8 adds: slices, `[*]`, error limits, override."""

from __future__ import annotations

from pathlib import Path

import pytest

from evalaction.exceptions import InvalidPlan
from evalaction.plan import parse_plan

BASE = """\
task: multiclass
dataset: {path: t.csv, slice_columns: [ink]}
models: {candidate: {path: c.onnx}, baseline: {path: b.onnx}}
metrics: {primary: accuracy}
"""


def _plan(extra: str):  # type: ignore[no-untyped-def]
    return parse_plan(BASE + extra, Path("evalaction.yml"))


def test_readiness_defaults_and_settings() -> None:
    spec = _plan("").readiness
    assert spec.batch_sizes is None and spec.threads == 1 and spec.slowness_margin == 0.05
    assert spec.quantization.enabled and spec.quantization.methods == ["dynamic", "static"]
    spec = _plan(
        "readiness: {batch_sizes: [1, 32], latency_repeats: 40, quantization: {methods: [dynamic]}}\n"
    ).readiness
    assert spec.batch_sizes == [1, 32] and spec.latency_repeats == 40
    assert spec.quantization.methods == ["dynamic"]


def test_gates_accept_slices_every_class_error_limits_and_an_override() -> None:
    gates = _plan(
        "gates:\n"
        "  thresholds: {'accuracy[ink=light]': '>= 0.9', 'accuracy[ink=*]': '>= 0.8', 'recall[*]': '>= 0.7'}\n"
        "  errors: {negative_flips: 10, 'negative_flips[7]': {max: 2, blocking: false}}\n"
        "  budgets: {latency_ratio: 1.1, load_time_ms: 50}\n"
        "  override: {label: ship-it}\n"
        "  allow_no_gates: true\n"
    ).gates
    assert gates.errors["negative_flips"].max == 10 and not gates.errors["negative_flips[7]"].blocking
    assert gates.override is not None and gates.override.label == "ship-it"
    assert gates.count == 3 + 2 + 2 and gates.allow_no_gates


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            "gates: {thresholds: {'accuracy[size=big]': '>= 0.9'}}\n",
            "expected a column of `dataset.slice_columns`, found 'size'; add `size` to `dataset.slice_columns`",
        ),
        (
            "gates: {vs_baseline: {'accuracy[ink=light]': not_worse}}\n",
            "slices gate in `gates.thresholds`",
        ),
        ("gates: {vs_baseline: {'recall[*]': not_worse}}\n", "`[*]` gates in `gates.thresholds`"),
        (
            "gates: {errors: {flips: 3}}\n",
            "expected `negative_flips` or `negative_flips[class]`, found 'flips'; rename the key",
        ),
        ("readiness: {latency_repeats: 2}\n", "`readiness.latency_repeats`"),
    ],
)
def test_bad_gates_give_one_line(extra: str, message: str) -> None:
    with pytest.raises(InvalidPlan) as info:
        _plan(extra)
    assert "\n" not in str(info.value)
    assert message in str(info.value)

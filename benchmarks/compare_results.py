"""Are two runs' results.json the same, timings aside? Proves a speed change changed no result.

Drops what is a measurement of this machine (stage timings, wall and CPU seconds, latencies, throughputs, memory
peaks, the readiness repetition counts and slowness ratios, start times, and the reason text of the latency gate that quotes them) and
compares the rest value by value. Floats are equal when within `--rtol` (default 0: bit-equal); every difference is
printed with its JSON path.
Usage: python benchmarks/compare_results.py OUT_BEFORE OUT_AFTER [--rtol 1e-9]
(each argument a run's output folder or its results.json). Exit 0 when equal, 1 when not.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from pathlib import Path
from typing import Any

# keys whose values measure this machine, not the models
_TIMING_KEY = re.compile(
    r"(^|_)(s|ms|seconds|timings|latency|throughput_per_s|samples_per_s|repeats|started_at)$"
    r"|^(slowness|timings_ms|peak_memory_bytes|peak_memory_mb|memory_note|load_s|load_time_ms|trials)$"
)
# gates whose observed value is a latency or a memory peak
_TIMING_GATE = re.compile(r"latency|memory|throughput")


def _strip(node: Any, path: str = "") -> Any:
    if isinstance(node, dict):
        if _TIMING_GATE.search(str(node.get("name", ""))) and node.get("kind") == "budget":
            return {k: v for k, v in node.items() if k not in ("observed", "reason")}
        return {k: _strip(v, f"{path}.{k}") for k, v in node.items() if not _TIMING_KEY.search(k)}
    if isinstance(node, list):
        return [_strip(v, f"{path}[{i}]") for i, v in enumerate(node)]
    return node


def differences(a: Any, b: Any, rtol: float = 0.0, path: str = "$") -> list[str]:
    """Every place where `a` and `b` differ, as 'path: a != b'."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = [f"{path}.{k}: only in the first" for k in a.keys() - b.keys()]
        out += [f"{path}.{k}: only in the second" for k in b.keys() - a.keys()]
        for k in sorted(a.keys() & b.keys()):
            out += differences(a[k], b[k], rtol, f"{path}.{k}")
        return out
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{path}: {len(a)} items != {len(b)} items"]
        return [
            d for i, (x, y) in enumerate(zip(a, b, strict=True)) for d in differences(x, y, rtol, f"{path}[{i}]")
        ]
    if isinstance(a, float) and isinstance(b, float | int) or isinstance(b, float) and isinstance(a, int):
        if a == b or (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=rtol, abs_tol=0.0):
            return []
        return [f"{path}: {a!r} != {b!r}"]
    return [] if a == b else [f"{path}: {a!r} != {b!r}"]


def load(path: Path) -> Any:
    """A run's results.json with the machine's measurements dropped."""
    if path.is_dir():
        path = path / "results.json"
    return _strip(json.loads(path.read_text()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--rtol", type=float, default=0.0, help="relative tolerance for floats (default 0)")
    args = parser.parse_args(argv)
    diffs = differences(load(args.before), load(args.after), args.rtol)
    for d in diffs[:50]:
        print(d)
    if len(diffs) > 50:
        print(f"... and {len(diffs) - 50} more")
    print(
        f"{'EQUAL' if not diffs else 'DIFFERENT'}: {len(diffs)} difference(s), timings aside (rtol {args.rtol:g})"
    )
    return 0 if not diffs else 1


if __name__ == "__main__":
    sys.exit(main())

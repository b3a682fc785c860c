"""`evalaction --help` must answer in under 0.5 s: heavy modules load only inside the stages that need them.

Prints the median wall time of `evalaction --help` over several runs, the same for a bare `python -c pass` measured
in the same run (the reference), their ratio, and PASS/FAIL against the 0.5 s target.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

RUNS = 7
TARGET_S = 0.5


def _median_wall(cmd: list[str]) -> float:
    times = []
    for _ in range(RUNS):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> int:
    bare = _median_wall([sys.executable, "-c", "pass"])
    cli = _median_wall([sys.executable, "-m", "evalaction.cli", "--help"])
    print(f"python -c pass      {bare * 1000:7.1f} ms (reference)")
    print(f"evalaction --help   {cli * 1000:7.1f} ms  ratio {cli / bare:.2f}x")
    ok = cli < TARGET_S
    print(f"{'PASS' if ok else 'FAIL'}: evalaction --help {cli:.3f} s vs target {TARGET_S} s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

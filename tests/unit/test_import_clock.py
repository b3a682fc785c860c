"""The --debug import clock: counts only time spent importing, outermost imports once, and leaves modules intact."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

CHILD = r"""
import json, sys, time
sys.path.insert(0, sys.argv[1])
from evalaction.import_clock import ImportClock
clock = ImportClock().install()
before = clock.seconds
t0 = time.perf_counter()
for _ in range(200_000):  # work that is not an import
    pass
work = time.perf_counter() - t0
after_work = clock.seconds
t0 = time.perf_counter()
import outer  # imports inner, which spins for a measured while
wall = time.perf_counter() - t0
print(json.dumps({"work_counted": after_work - before, "import_counted": clock.seconds - after_work,
                  "import_wall": wall, "inner_spin": outer.inner.SPIN, "value": outer.VALUE}))
"""


def test_import_seconds_count_imports_once_and_nothing_else(tmp_path: Path) -> None:
    (tmp_path / "inner.py").write_text(
        "import time\nt0 = time.perf_counter()\nwhile time.perf_counter() - t0 < 0.05:\n    pass\n"
        "SPIN = time.perf_counter() - t0\n"
    )
    (tmp_path / "outer.py").write_text("import inner\nVALUE = 42\n")
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(root)], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    got = json.loads(out.stdout)
    assert got["value"] == 42  # the module still works through the timed loader
    assert got["work_counted"] == 0.0
    # the nested import is inside the outer one: counted once, so at most the wall time of the import
    assert got["inner_spin"] <= got["import_counted"] <= got["import_wall"]

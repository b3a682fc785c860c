"""A 1e6-row test set must fit in memory comfortably: evalaction reads tables in pyarrow chunks.

Writes a 1e6-row x 50-feature Parquet table (plus id, label and a slice) to a temp folder, then measures, each
in a fresh process, the peak memory above the imports of:
  reference   pandas.read_parquet + frame[features].to_numpy(float64)   (the whole-frame way)
  evalaction  read_table(...)                   (float64 features: a model that scales its input)
  evalaction  read_table(..., float32=True)     (float32 features: exact for float32 models with scale 1)
and prints each one's peak, wall time, and ratio against the reference. Target: evalaction's float64 peak at
most 1.5x its own feature array (on top: 1e6 id strings, labels, 16-byte hashes, one chunk in flight).
Usage: python benchmarks/bench_large_table.py [rows]
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

N_FEATURES = 50
TARGET = 1.5

_CHILD = r"""
import json, resource, sys, time
import numpy as np, pandas as pd, pyarrow.parquet
from evalaction.plan import DatasetSpec
from evalaction.datasets.base import ReadOptions
from evalaction.datasets.tabular import read_table

path, how = sys.argv[1], sys.argv[2]
def rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
before = rss_mb()
t0, c0 = time.perf_counter(), time.process_time()
if how == "pandas":
    frame = pd.read_parquet(path)
    x = frame[[c for c in frame.columns if c.startswith("f")]].to_numpy(np.float64)
    n = len(x)
else:
    spec = DatasetSpec(path=path, id_column="id", slice_columns=["region"], feature_columns=["f*"])
    ds = read_table(__import__("pathlib").Path(path), spec, "parquet", "multiclass",
                    ReadOptions(float32=(how == "float32")))
    x, n = ds.features, len(ds)
print(json.dumps({"peak_mb": rss_mb() - before, "wall_s": time.perf_counter() - t0, "n": n,
                  "cpu_s": time.process_time() - c0,
                  "features_mb": x.nbytes / 2**20}))
"""


def _write(path: Path, rows: int) -> None:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(0)
    writer = None
    for start in range(0, rows, 100_000):
        n = min(100_000, rows - start)
        cols = {
            "id": pa.array([f"s{i:07d}" for i in range(start, start + n)]),
            "label": pa.array(rng.integers(0, 10, n)),
            "region": pa.array(rng.choice(["eu", "us", "apac"], n)),
        }
        feats = rng.integers(0, 256, (n, N_FEATURES)).astype(np.float64)  # pixel-like values
        cols.update({f"f{j:02d}": pa.array(feats[:, j]) for j in range(N_FEATURES)})
        table = pa.table(cols)
        writer = writer or pq.ParquetWriter(path, table.schema)
        writer.write_table(table)
    assert writer is not None
    writer.close()


def _measure(path: Path, how: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, str(path), how],
        check=True,
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> int:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "large.parquet"
        _write(path, rows)
        print(f"{rows} rows x {N_FEATURES} features, {path.stat().st_size / 2**20:.0f} MB of Parquet")
        ref = _measure(path, "pandas")
        print(
            f"reference  pandas frame + float64   peak {ref['peak_mb']:7.0f} MB  {ref['wall_s']:6.2f} s wall {ref['cpu_s']:6.2f} s cpu"
        )
        ok = True
        for how in ("float64", "float32"):
            m = _measure(path, how)
            over = m["peak_mb"] / m["features_mb"]
            print(
                f"evalaction {how:<7} chunks            peak {m['peak_mb']:7.0f} MB  {m['wall_s']:6.2f} s wall {m['cpu_s']:6.2f} s cpu  "
                f"ratio {m['peak_mb'] / ref['peak_mb']:.2f}x of the reference, {over:.2f}x its feature array"
            )
            if how == "float64":
                ok = over <= TARGET
    print(f"{'PASS' if ok else 'FAIL'}: float64 peak within {TARGET}x of the feature array")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

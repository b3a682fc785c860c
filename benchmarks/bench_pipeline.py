"""The whole pipeline at every size: a small PR's verdict in <= 3 s, 1e5 rows in <= 5 s, 1e6 rows in <= 30 s and 2 GB.

A generated binary tabular test set (30 float features, an id, a slice column, a training set a quarter its size
for the leakage check) and two ONNX models from scikit-learn via skl2onnx (a logistic regression baseline, a
depth-8 decision tree candidate), run with the default stages (metrics with plots, errors with attributions,
compare, readiness) through the CLI in a child process, so each run's wall time, CPU time and peak RSS are its own
(`os.wait4`).
The floor, measured in the same run in a child process of its own: read the same Parquet file to float32,
both models' raw ONNX Runtime `session.run` over every row, and scikit-learn's accuracy and ROC AUC for both.
Floor and evalaction alternate (F E, E F, ...) so load from other processes hits both alike.

Printed per size: per-stage seconds (median over repeats), process wall and CPU seconds, peak RSS, the ratio of
evalaction's wall time to the floor's with a 90 % interval (t on the log of the paired ratios), and for the two
largest sizes the fitted exponent of each stage's cost (log t2/t1 over log n2/n1: 1 is linear).
A target counts as met only when its interval's worse end meets it (one repeat decides nothing: use >= 3).
Targets: rows <= 1,000: process <= 3 s; 1e5: <= 5 s; 1e6: <= 30 s and peak RSS <= 2 GB.
The machine's load averages are printed next to each size: timings on a shared machine are only comparable
within a run.

Usage: python benchmarks/bench_pipeline.py [--sizes 228,1000,100000] [--repeats 3] [--workdir DIR] [--debug]
                                          [--root SOURCE_TREE] [--against SOURCE_TREE]
  --workdir keeps generated data and models between invocations (generation at 1e6 takes ~10 s);
  --debug passes --debug to the CLI (per-stage import vs work split, where the CLI prints it);
  --root runs another checkout's evalaction (main, for a before/after table) on the same data;
  --against runs a second tree (the code before a change) interleaved with it, on the same data under the same
  load, and prints the paired wall and CPU ratios with intervals and whether results.json is equal.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _stats  # noqa: E402  (benchmarks/ is not a package: scripts run from anywhere)

ROOT = Path(__file__).resolve().parents[1]
N_FEATURES = 30
TRAIN_ROWS = 20_000  # the models' own training data (not the plan's train set)
SEGMENTS = np.array(["north", "south", "east", "west"])
STAGES = ("plan", "inference", "metrics", "errors", "compare", "readiness", "verdict", "report")

PLAN = """\
version: 1
name: bench {rows} rows
task: binary
dataset:
  path: data/test.parquet
  label_column: label
  id_column: id
  slice_columns: [segment]
  train_path: data/train.parquet
models:
  baseline:
    path: models/baseline.onnx
    output_name: probabilities
    preprocessing: {{dtype: float32}}
  candidate:
    path: models/candidate.onnx
    output_name: probabilities
    preprocessing: {{dtype: float32}}
metrics:
  primary: accuracy
gates:
  thresholds:
    accuracy: ">= 0.7"
"""

_FLOOR = r"""
import json, sys, time
t0 = time.perf_counter()
import numpy as np, onnxruntime as ort, pyarrow.parquet as pq
from sklearn.metrics import accuracy_score, roc_auc_score
table = pq.read_table(sys.argv[1])
x = np.column_stack([table.column(f"f{j:02d}").to_numpy() for j in range(30)]).astype(np.float32)
y = table.column("label").to_numpy()
out = {}
for role in ("baseline", "candidate"):
    s = ort.InferenceSession(f"{sys.argv[2]}/{role}.onnx", providers=["CPUExecutionProvider"])
    p = np.concatenate([s.run(["probabilities"], {s.get_inputs()[0].name: x[a:a + 65536]})[0]
                        for a in range(0, len(x), 65536)])
    out[role] = [accuracy_score(y, p.argmax(axis=1)), roc_auc_score(y, p[:, 1])]
print(json.dumps(out))
"""


def _rows_of(text: str) -> int:
    return int(float(text))


def _features(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """30 standard-normal features; the label depends on a few of them, with an interaction a tree can use."""
    x = rng.normal(size=(n, N_FEATURES))
    logit = 1.2 * x[:, 0] - 0.8 * x[:, 1] + 0.5 * x[:, 2] + 1.5 * x[:, 3] * x[:, 4] + 0.3 * x[:, 5:10].sum(axis=1)
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    return x, y


def _models(folder: Path) -> None:
    from skl2onnx import to_onnx
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.tree import DecisionTreeClassifier

    if (folder / "candidate.onnx").is_file():
        return
    folder.mkdir(parents=True, exist_ok=True)
    x, y = _features(np.random.default_rng(1), TRAIN_ROWS)
    models = {
        "baseline": make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)),
        "candidate": DecisionTreeClassifier(max_depth=8, random_state=0),
    }
    for role, model in models.items():
        model.fit(x, y)
        onx = to_onnx(model, x[:1].astype(np.float32), options={"zipmap": False}, target_opset=17)
        (folder / f"{role}.onnx").write_bytes(onx.SerializeToString())


def _table(path: Path, rows: int, seed: int, prefix: str) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    writer = None
    for start in range(0, rows, 200_000):
        n = min(200_000, rows - start)
        x, y = _features(rng, n)
        cols = {
            "id": pa.array(np.char.add(prefix, np.arange(start, start + n).astype("U8")).astype(object)),
            "label": pa.array(y),
            "segment": pa.array(SEGMENTS[rng.integers(0, len(SEGMENTS), n)].astype(object)),
        }
        cols.update({f"f{j:02d}": pa.array(x[:, j]) for j in range(N_FEATURES)})
        table = pa.table(cols)
        writer = writer or pq.ParquetWriter(path, table.schema)
        writer.write_table(table)
    assert writer is not None
    writer.close()


def make_case(workdir: Path, rows: int) -> Path:
    """The plan file for `rows` test rows (data written once per workdir)."""
    import shutil

    _models(workdir / "models")
    case = workdir / f"rows_{rows}"
    plan = case / "evalaction.yml"
    if not (case / "data" / "train.parquet").is_file():
        (case / "data").mkdir(parents=True, exist_ok=True)
        _table(case / "data" / "test.parquet", rows, seed=rows, prefix="t")
        _table(case / "data" / "train.parquet", max(rows // 4, 50), seed=rows + 1, prefix="r")
    # the plan's paths stay inside its folder (the plan is untrusted: `..` is refused)
    shutil.copytree(workdir / "models", case / "models", dirs_exist_ok=True)
    plan.write_text(PLAN.format(rows=rows))
    return plan


@dataclass
class Run:
    wall_s: float
    cpu_s: float
    peak_mb: float
    stages: dict[str, float] = field(default_factory=dict)
    stdout: str = ""


def _popen_wait4(argv: list[str], env: dict[str, str], cwd: Path = ROOT) -> Run:
    """Run a child; its wall time, and the CPU time and peak RSS of that child alone (reaped by os.wait4)."""
    t0 = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out:
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read()
    if proc.returncode not in (0, 1):  # 1 is a NO-GO verdict
        raise RuntimeError(f"{' '.join(argv[:6])} exited {proc.returncode}:\n{text[-3000:]}")
    return Run(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, stdout=text)


def run_evalaction(plan: Path, out: Path, debug: bool, root: Path = ROOT) -> Run:
    env = {**os.environ, "PYTHONPATH": str(root)}
    # the console script's function (`console`, `main` in trees older than it), as the installed command runs it
    cli = [sys.executable, "-c", "import evalaction.cli as c; getattr(c, 'console', c.main)()"]
    argv = [*cli, *(["--debug"] if debug else []), "run", "-c", str(plan), "-o", str(out)]
    run = _popen_wait4(argv, env, cwd=root)  # `python -c` puts the working folder first on sys.path
    # the CLI prints "  <stage>  <seconds> s" to stderr as each stage ends (results.json has no report time);
    # with --debug followed by "(imports .. s, work .. s)", echoed below
    run.stages = {m[1]: float(m[2]) for m in re.finditer(r"^  (\w+) +([\d.]+) s\b", run.stdout, re.MULTILINE)}
    return run


def run_floor(plan: Path) -> Run:
    run = _popen_wait4(
        [
            sys.executable,
            "-c",
            _FLOOR,
            str(plan.parent / "data" / "test.parquet"),
            str(plan.parent.parent / "models"),
        ],
        dict(os.environ),
    )
    return run


def print_against(ours: list[Run], others: list[Run], out: Path, other_out: Path) -> None:
    """The --root tree against the --against tree: paired ratios (< 1: --root is faster) and equal results."""
    other_stage = {s: statistics.median(o.stages.get(s, 0.0) for o in others) for s in STAGES}
    print("  --against stages (median s): " + "  ".join(f"{s} {other_stage[s]:.2f}" for s in STAGES))
    for what in ("wall_s", "cpu_s"):
        paired = [getattr(a, what) / getattr(b, what) for a, b in zip(ours, others, strict=True)]
        mid, lo, hi = _stats.interval(paired, log=True)
        print(
            f"  {what[:-2]} this tree / --against {mid:.3f}x [90% {lo:.3f}, {hi:.3f}]  "
            f"(medians {statistics.median(getattr(a, what) for a in ours):.2f} s vs "
            f"{statistics.median(getattr(b, what) for b in others):.2f} s)"
        )
    same = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "compare_results.py"), str(other_out), str(out)],
        capture_output=True,
        text=True,
    )
    print(
        f"  results.json vs --against: {same.stdout.strip().splitlines()[-1] if same.stdout.strip() else same.stderr}"
    )


def target_for(rows: int) -> tuple[float, float | None]:
    """(wall seconds, peak MB or None) the issue sets for this size."""
    if rows <= 1_000:
        return 3.0, None
    if rows <= 100_000:
        return 5.0, None
    return 30.0, 2048.0


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} cores"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="228,1000,100000", help="comma-separated row counts (1e6 allowed)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=None, help="keep data and models here between runs")
    parser.add_argument("--debug", action="store_true", help="run the CLI with --debug")
    parser.add_argument(
        "--root",
        type=Path,
        default=ROOT,
        help="the evalaction source tree to run (e.g. a checkout of main: before/after)",
    )
    parser.add_argument(
        "--against",
        type=Path,
        default=None,
        help="another source tree (the code before a change) run interleaved with --root on the same data: "
        "prints the paired wall and CPU ratios with 90%% intervals and checks results.json is equal",
    )
    args = parser.parse_args(argv)
    sizes = sorted(_rows_of(s) for s in args.sizes.split(","))
    tmp = tempfile.TemporaryDirectory() if args.workdir is None else None
    workdir = args.workdir or Path(tmp.name)  # type: ignore[union-attr]
    workdir.mkdir(parents=True, exist_ok=True)
    ok = True
    medians: dict[int, dict[str, float]] = {}
    try:
        for rows in sizes:
            plan = make_case(workdir, rows)
            load_before = _load()
            ours: list[Run] = []
            floors: list[Run] = []
            others: list[Run] = []
            kinds = ("floor", "ours", "other") if args.against is not None else ("floor", "ours")
            for r in range(args.repeats):
                order = kinds[r % len(kinds) :] + kinds[: r % len(kinds)]  # F E, E F, ...: each goes first in turn
                for which in order:
                    if which == "floor":
                        floors.append(run_floor(plan))
                    elif which == "ours":
                        ours.append(run_evalaction(plan, workdir / f"out_{rows}_{r}", args.debug, args.root))
                    else:
                        others.append(
                            run_evalaction(plan, workdir / f"against_{rows}_{r}", args.debug, args.against)
                        )
            ratios = [o.wall_s / f.wall_s for o, f in zip(ours, floors, strict=True)]
            ratio, r_lo, r_hi = _stats.interval(ratios, log=True)
            wall, w_lo, w_hi = _stats.interval([o.wall_s for o in ours])
            peak = max(o.peak_mb for o in ours)
            stage_med = {s: statistics.median(o.stages.get(s, 0.0) for o in ours) for s in STAGES}
            medians[rows] = {**stage_med, "total": statistics.median(o.wall_s for o in ours)}
            print(f"\n== {rows:,} rows, {args.repeats} repeats ({load_before}; after: {_load()})")
            print("  stages (median s): " + "  ".join(f"{s} {stage_med[s]:.2f}" for s in STAGES))
            print(
                f"  evalaction process  wall {wall:6.2f} s [90% {w_lo:.2f}, {w_hi:.2f}]  "
                f"cpu {statistics.median(o.cpu_s for o in ours):6.2f} s  peak RSS {peak:6.0f} MB"
            )
            print(
                f"  floor (ORT + sklearn) wall {statistics.median(f.wall_s for f in floors):6.2f} s  "
                f"cpu {statistics.median(f.cpu_s for f in floors):6.2f} s  "
                f"peak RSS {max(f.peak_mb for f in floors):6.0f} MB"
            )
            print(f"  ratio evalaction / floor {ratio:.2f}x [90% {r_lo:.2f}, {r_hi:.2f}]")
            if others:
                print_against(ours, others, workdir / f"out_{rows}_0", workdir / f"against_{rows}_0")
            want_s, want_mb = target_for(rows)
            verdict = _stats.decide(w_lo, w_hi, want_s)
            met = verdict == "PASS"
            line = f"  {verdict}: wall <= {want_s:g} s (worse end {w_hi:.2f} s)"
            if want_mb is not None:
                mem_ok = peak <= want_mb
                met = met and mem_ok
                line += f"; peak RSS {peak:.0f} MB {'<=' if mem_ok else '>'} {want_mb:.0f} MB"
            print(line)
            ok = ok and met
        if len(sizes) >= 2 and sizes[-1] >= 10 * sizes[-2]:
            n1, n2 = sizes[-2], sizes[-1]
            scale = math.log(n2 / n1)
            parts = []
            for s in (*STAGES, "total"):
                a, b = medians[n1][s], medians[n2][s]
                parts.append(f"{s} {math.log(b / a) / scale:.2f}" if a > 0.005 and b > 0 else f"{s} -")
            print(f"\nfitted exponent of cost {n1:,} -> {n2:,} rows (1 = linear): " + "  ".join(parts))
    finally:
        if tmp is not None:
            tmp.cleanup()
    print(f"\n{'PASS' if ok else 'FAIL or UNDECIDED'}: every size's targets met at the worse end of its interval")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
